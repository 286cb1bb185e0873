"""Bridge workers: one full bridge per core of a host, as Jitsi scales over hosts (docs/bridge-media.md §10).

With ``JITSI_PY_BRIDGE_WORKERS=N`` (default: the cores this process may use) ``python -m
jitsi_py.bridge`` is a supervisor of N worker processes. Worker ``i`` is an ordinary bridge with
its own identity: media on ``JVB_PORT + i`` (advertised in its own candidates, so every packet of
an endpoint reaches the process that owns it without any steering), ``<JVB_MUC_NICKNAME>-<i>`` in
the brewery, its own Octo relay id; the focus spreads conferences over the workers by its usual
selection and spans a large conference over several with relays, exactly as over hosts.

The supervisor serves the host's side: the REST port (``/about/health`` healthy when every worker
is, ``/colibri/stats`` summed over workers with each worker's figures under ``workers``, ``/metrics``
with a ``worker`` label, drain and shutdown for the host or for one worker under
``/colibri/workers/<i>/``) and, with colibri-ws on, the colibri-ws port, which it passes to the
worker named by the URL's server id. Workers' own REST ports listen on loopback only
(``JVB_COLIBRI_PORT + 1 + i``). A worker that dies is restarted (backoff 1 s doubling to 30 s); its
conferences are lost with it and the focus moves them, as when a bridge fails. SIGTERM stops every
worker; ``POST /colibri/workers/<i>/shutdown`` drains one (graceful) and it is not restarted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import multiprocessing
import signal
from multiprocessing.connection import Connection
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import WSMsgType, web

from ..common import log as common_log
from ..common.addresses import Networks
from ..common.httpserver import HttpListener
from ..common.startup import Ready, StartupError, binding, unobserved
from ..settings import Settings, SettingsError

logger = logging.getLogger(__name__)

RESTART_FIRST, RESTART_MAX = 1.0, 30.0
STABLE_AFTER = 60.0  # seconds up after which a crash starts the backoff over
STOP_GRACE = 1.2  # seconds a worker gets to leave the brewery and close before it is killed
WORKER_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=5)
LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))


def worker_settings(settings: Settings, index: int) -> Settings:
    """Worker ``index``'s bridge: its own media port, identity and loopback REST; the rest as set."""
    b = settings.bridge
    bridge = dataclasses.replace(
        b, workers=1, port=b.port + index, nickname=f"{b.nickname}-{index}",
        relay_id=f"{b.relay_id}-{index}" if b.relay_id else None,
        advertise_ips=tuple(_shift_port(entry, index) for entry in b.advertise_ips),
        colibri_port=b.colibri_port + 1 + index, http_interfaces=("127.0.0.1",), colibri_rest=True,
        shutdown_rest=True, rest_control_from=LOOPBACK,
        websocket_server_id=f"{b.websocket_server_id}-{index}", websocket_port=b.websocket_port + 1 + index)
    return dataclasses.replace(settings, bridge=bridge)


def _shift_port(entry: str, index: int) -> str:
    """``ip#port`` (a NAT's public port for JVB_PORT) moves with the worker's port; a bare address stays."""
    address, sep, port = entry.rpartition("#")
    if not sep or not port.isdigit():
        return entry
    return f"{address}#{int(port) + index}"


def _worker_main(settings: Settings, index: int, conn: Connection) -> None:
    """A worker process: the bridge service under the one runner every entry point uses."""
    from ..common import runner  # noqa: PLC0415 - the child imports what it runs
    from .service import run_one  # noqa: PLC0415

    common_log.setup(settings.common.log_level, settings.common.log_format, tag=f"worker {index}")
    prog = "jitsi_py.bridge"
    said = runner.Said(prog, quiet=True)  # the supervisor says ready and stopping, once for the host

    def ready(summary: str) -> None:
        conn.send(("ready", summary))

    async def bridge() -> None:
        try:
            await run_one(settings, ready, logging.INFO if index == 0 else logging.DEBUG)
        except (SettingsError, StartupError) as exc:
            conn.send(("failed", str(exc)))  # the supervisor says it, as the host's one line

    code = runner.serve(prog, bridge(), said)
    conn.close()
    raise SystemExit(code)


class Worker:
    def __init__(self, index: int, settings: Settings) -> None:
        self.index = index
        self.settings = worker_settings(settings, index)
        self.process: Any = None
        self.conn: Connection | None = None
        self.ready = asyncio.Event()
        self.retired = False  # drained on request: not restarted
        self.failure: str | None = None  # why it could not start (a taken port): the host's error
        self.restarts = 0
        self.started = 0.0

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.settings.bridge.colibri_port}"


class Supervisor:
    def __init__(self, settings: Settings, spawn: Callable[..., Any] | None = None) -> None:
        self.settings = settings
        context = multiprocessing.get_context("spawn")
        self._spawn = spawn or context.Process
        self._pipe = context.Pipe
        self.workers = [Worker(i, settings) for i in range(settings.bridge.workers)]
        self.stopping = False
        self._loop = asyncio.get_running_loop()

    def start(self, worker: Worker) -> None:
        parent, child = self._pipe(duplex=False)
        worker.ready.clear()
        worker.conn = parent
        worker.process = self._spawn(target=_worker_main, args=(worker.settings, worker.index, child),
                                     name=f"jitsi_py.bridge[{worker.index}]", daemon=True)
        worker.process.start()
        child.close()
        worker.started = self._loop.time()
        self._loop.add_reader(parent.fileno(), self._message, worker)

    def _message(self, worker: Worker) -> None:
        conn = worker.conn
        try:
            kind, text = conn.recv()  # type: ignore[union-attr]
        except (EOFError, OSError):
            self._loop.remove_reader(conn.fileno())  # type: ignore[union-attr]
            return
        if kind == "ready":
            worker.ready.set()
        elif kind == "failed":
            worker.failure = text

    async def watch(self, worker: Worker) -> None:
        """Restart the worker whenever it ends unasked, with a growing pause if it keeps failing."""
        backoff = RESTART_FIRST
        while True:
            await self._exited(worker)
            exitcode = worker.process.exitcode
            self._close_conn(worker)
            if self.stopping or worker.retired:
                return
            if worker.failure is not None and not worker.ready.is_set():
                raise StartupError(worker.failure)  # restarting would fail the same way
            up = self._loop.time() - worker.started
            backoff = RESTART_FIRST if up >= STABLE_AFTER else backoff
            logger.warning("bridge: worker %d (udp/%d) ended with %s after %.0f s; restarting in %.0f s",
                           worker.index, worker.settings.bridge.port, _exit_text(exitcode), up, backoff)
            await asyncio.sleep(backoff)
            backoff = min(RESTART_MAX, backoff * 2)
            if self.stopping:
                return
            worker.restarts += 1
            self.start(worker)

    async def _exited(self, worker: Worker) -> None:
        exited = self._loop.create_future()
        sentinel = worker.process.sentinel

        def on_exit() -> None:
            if not exited.done():
                exited.set_result(None)

        self._loop.add_reader(sentinel, on_exit)
        try:
            await exited
        finally:
            self._loop.remove_reader(sentinel)
        worker.process.join()  # reaped: the exit code is there

    def _close_conn(self, worker: Worker) -> None:
        if worker.conn is not None:
            try:
                self._loop.remove_reader(worker.conn.fileno())
            except (ValueError, OSError):
                pass
            worker.conn.close()
            worker.conn = None

    async def stop(self) -> None:
        self.stopping = True
        alive = [w for w in self.workers if w.process is not None and w.process.is_alive()]
        for worker in alive:
            worker.process.terminate()  # SIGTERM: the worker's runner leaves the brewery and closes
        deadline = self._loop.time() + STOP_GRACE
        while any(w.process.is_alive() for w in alive) and self._loop.time() < deadline:
            await asyncio.sleep(0.02)
        for worker in alive:
            if worker.process.is_alive():
                worker.process.kill()
            worker.process.join(1.0)
            self._close_conn(worker)


def _exit_text(code: int | None) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"


# --- the host's HTTP side ---------------------------------------------------------------------------

def host_app(supervisor: Supervisor, http: aiohttp.ClientSession) -> web.Application:
    b = supervisor.settings.bridge
    controllers = Networks(b.rest_control_from)
    workers = supervisor.workers
    app = web.Application()

    async def fetch(worker: Worker, path: str) -> tuple[int, Any]:
        try:
            async with http.get(worker.rest + path, timeout=WORKER_HTTP_TIMEOUT) as response:
                body = await (response.json() if response.content_type == "application/json" else response.text())
                return response.status, body
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            return 0, f"unreachable: {exc.__class__.__name__}"

    async def post(worker: Worker, path: str, body: Any = None) -> int:
        try:
            async with http.post(worker.rest + path, json=body, timeout=WORKER_HTTP_TIMEOUT) as response:
                return response.status
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return 0

    def control(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
        async def checked(request: web.Request) -> web.StreamResponse:
            if request.remote not in controllers:
                raise web.HTTPForbidden(text="not from here\n")
            return await handler(request)
        return checked

    def one(request: web.Request) -> Worker:
        try:
            return workers[int(request.match_info["index"])]
        except (ValueError, IndexError):
            raise web.HTTPNotFound(text="no such worker\n") from None

    async def health(request: web.Request) -> web.Response:
        answers = await asyncio.gather(*(fetch(w, "/about/health") for w in workers))
        sick = [f"worker {w.index}: {status or body}" for w, (status, body) in zip(workers, answers) if status != 200]
        if sick:
            return web.Response(status=500, text="unhealthy: " + "; ".join(sick))
        return web.Response(status=200)

    async def version(request: web.Request) -> web.Response:
        status, body = await fetch(workers[0], "/about/version")
        return web.json_response(body) if status == 200 else web.Response(status=503, text="worker 0 unreachable")

    async def all_stats() -> list[dict]:
        answers = await asyncio.gather(*(fetch(w, "/colibri/stats") for w in workers))
        return [body if status == 200 and isinstance(body, dict) else {} for status, body in answers]

    async def stats(request: web.Request) -> web.Response:
        per_worker = await all_stats()
        return web.json_response(host_stats(supervisor, per_worker))

    async def metrics(request: web.Request) -> web.Response:
        per_worker = await all_stats()
        return web.Response(text=host_metrics(supervisor, per_worker), content_type="text/plain")

    async def drain(request: web.Request) -> web.Response:
        per_worker = await all_stats()
        return web.json_response({"drain": all(s.get("drain", False) for s in per_worker)})

    async def drain_all(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        codes = await asyncio.gather(*(post(w, f"/colibri/drain/{action}") for w in workers))
        return web.Response(status=200 if all(c == 200 for c in codes) else 502)

    async def drain_one(request: web.Request) -> web.Response:
        code = await post(one(request), f"/colibri/drain/{request.match_info['action']}")
        return web.Response(status=200 if code == 200 else 502)

    async def shutdown_body(request: web.Request) -> dict:
        try:
            body = await request.json()
            return {"graceful-shutdown": bool(body["graceful-shutdown"])}
        except (ValueError, KeyError, TypeError):
            raise web.HTTPBadRequest(text='expected {"graceful-shutdown": true|false}') from None

    async def shutdown_all(request: web.Request) -> web.Response:
        body = await shutdown_body(request)
        for worker in workers:
            worker.retired = True
        codes = await asyncio.gather(*(post(w, "/colibri/shutdown", body) for w in workers))
        return web.Response(status=200 if all(c == 200 for c in codes) else 502)

    async def shutdown_one(request: web.Request) -> web.Response:
        worker = one(request)
        body = await shutdown_body(request)
        worker.retired = True
        code = await post(worker, "/colibri/shutdown", body)
        return web.Response(status=200 if code == 200 else 502)

    app.router.add_get("/about/health", health)
    app.router.add_get("/about/version", version)
    app.router.add_get("/metrics", metrics)
    if b.colibri_rest:
        app.router.add_get("/colibri/stats", stats)
        app.router.add_get("/colibri/drain", drain)
        app.router.add_post("/colibri/drain/{action:enable|disable}", control(drain_all))
        app.router.add_post("/colibri/workers/{index}/drain/{action:enable|disable}", control(drain_one))
        if b.shutdown_rest:
            app.router.add_post("/colibri/shutdown", control(shutdown_all))
            app.router.add_post("/colibri/workers/{index}/shutdown", control(shutdown_one))
    return app


def host_stats(supervisor: Supervisor, per_worker: list[dict]) -> dict:
    """Numbers summed over workers (flags true when every worker's is), each worker's own under
    ``workers``."""
    total: dict[str, Any] = {}
    for stats in per_worker:
        for name, value in stats.items():
            if isinstance(value, bool):
                total[name] = total.get(name, True) and value
            elif isinstance(value, (int, float)):
                total[name] = total.get(name, 0) + value
    total["workers"] = [
        {"index": w.index, "port": w.settings.bridge.port, "nickname": w.settings.bridge.nickname,
         "pid": w.process.pid if w.process is not None else None,
         "running": w.process is not None and w.process.is_alive(), "restarts": w.restarts, "stats": stats}
        for w, stats in zip(supervisor.workers, per_worker)]
    return total


def host_metrics(supervisor: Supervisor, per_worker: list[dict]) -> str:
    """Every worker's numeric stats as gauges with a ``worker`` label (``sum without (worker)`` is
    the host's), and the supervisor's own."""
    families: dict[str, list[str]] = {}
    for worker, stats in zip(supervisor.workers, per_worker):
        for name, value in stats.items():
            if isinstance(value, (bool, int, float)):
                families.setdefault(name, []).append(f'jitsi_{name}{{worker="{worker.index}"}} {float(value):g}')
    lines = []
    for name, samples in families.items():
        lines.append(f"# TYPE jitsi_{name} gauge")
        lines.extend(samples)
    lines.append("# TYPE jitsi_bridge_workers gauge")
    lines.append(f"jitsi_bridge_workers {sum(1 for w in supervisor.workers if w.process and w.process.is_alive())}")
    lines.append("# TYPE jitsi_bridge_worker_restarts_total counter")
    lines.extend(f'jitsi_bridge_worker_restarts_total{{worker="{w.index}"}} {w.restarts}' for w in supervisor.workers)
    return "\n".join(lines) + "\n"


def colibri_ws_app(supervisor: Supervisor, http: aiohttp.ClientSession) -> web.Application:
    """colibri-ws for the host: the URL's server id names the worker whose port carries it."""
    by_id = {w.settings.bridge.websocket_server_id: w for w in supervisor.workers}
    app = web.Application()

    async def relay(request: web.Request) -> web.StreamResponse:
        worker = by_id.get(request.match_info["server"])
        if worker is None:
            raise web.HTTPNotFound(text="no such bridge\n")
        upstream_url = (f"http://127.0.0.1:{worker.settings.bridge.websocket_port}{request.path_qs}")
        try:
            async with asyncio.timeout(10):
                upstream = await http.ws_connect(upstream_url)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            raise web.HTTPBadGateway(text="bridge worker unreachable\n") from None
        downstream = web.WebSocketResponse()
        await downstream.prepare(request)

        async def pump(source: Any, sink: Any) -> None:
            async for message in source:
                if message.type == WSMsgType.TEXT:
                    await sink.send_str(message.data)
                elif message.type == WSMsgType.BINARY:
                    await sink.send_bytes(message.data)
                else:
                    break
            await sink.close()

        await asyncio.gather(pump(downstream, upstream), pump(upstream, downstream), return_exceptions=True)
        return downstream

    app.router.add_get("/colibri-ws/{server}/{conference}/{endpoint}", relay)
    return app


async def run_workers(settings: Settings, ready: Ready = unobserved) -> None:
    """Ready when every worker sits in the brewery and the host's HTTP side listens."""
    b = settings.bridge
    supervisor = Supervisor(settings)
    runners: list[web.AppRunner] = []
    watchers: list[asyncio.Task] = []
    http = aiohttp.ClientSession()
    try:
        hosts = None if "*" in b.http_interfaces else list(b.http_interfaces)
        apps = [("bridge rest", "JVB_COLIBRI_PORT", host_app(supervisor, http), b.colibri_port)]
        if b.websocket:
            apps.append(("colibri-ws", "COLIBRI_WEBSOCKET_PORT", colibri_ws_app(supervisor, http), b.websocket_port))
        for name, setting, app, port in apps:
            listener = HttpListener(name, settings.common.http)
            runner = listener.runner(app)
            await runner.setup()
            runners.append(runner)
            with binding(setting, port):
                await listener.listen(runner, hosts, port)
        for worker in supervisor.workers:
            supervisor.start(worker)
        watchers = [asyncio.create_task(supervisor.watch(w)) for w in supervisor.workers]
        all_ready = asyncio.ensure_future(asyncio.gather(*(w.ready.wait() for w in supervisor.workers)))
        # a worker that cannot start ends its watcher with the error before every worker is ready
        await asyncio.wait([all_ready, *watchers], return_when=asyncio.FIRST_COMPLETED)
        for task in watchers:
            if task.done():
                all_ready.cancel()
                task.result()
        await all_ready
        last = b.port + len(supervisor.workers) - 1
        ready(f"{len(supervisor.workers)} workers, media on udp/{b.port}-{last}, HTTP on {b.colibri_port}")
        await asyncio.gather(*watchers)
        # every worker retired (drained and shut down on request): the host is done
    finally:
        await supervisor.stop()
        for task in watchers:
            task.cancel()
        for runner in runners:
            await runner.cleanup()
        await http.close()
