"""Wiring of the recorder service: the core, the brewery client, the session's capture, the HTTP port."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Callable

from aiohttp import web

from ..common.httpserver import HttpListener
from ..common.metrics import CollectorRegistry, LoopMonitor, Sampled, render
from ..common.stanzas.jibri import START, STOP, JibriIq
from ..common.startup import Ready, binding, unobserved
from ..settings import Settings, require_secret
from .brewery import BreweryClient
from .session import BeginCapture, Effect, EndCapture, Job, Notify, Publish, Recorder, Refusal

if TYPE_CHECKING:
    from .capture import Capture

log = logging.getLogger(__name__)

HEALTH_PATH = "/jibri/api/v1.0/health"


class RecorderService:
    """The core and the I/O it asks for: effects are carried out as they come out of the core."""

    def __init__(self, settings: Settings) -> None:
        r = settings.recorder
        domains = settings.common.domains
        self.settings = settings
        self.core = Recorder(pending_timeout=r.pending_timeout, empty_timeout=r.empty_timeout,
                             usage_timeout=r.usage_timeout_minutes * 60 or None, single_use=r.single_use)
        self.recorder_password = require_secret("JIBRI_RECORDER_PASSWORD", r.recorder_password)
        self.client = BreweryClient(
            jid=f"{r.user}@{domains.auth}/{r.instance_id}",
            password=require_secret("JIBRI_XMPP_PASSWORD", r.password),
            brewery=f"{domains.jibri_brewery}@{domains.internal_muc}", nickname=r.instance_id,
            server=r.xmpp.server, port=r.xmpp.port, status=self.core.status(), on_request=self.on_request)
        self.captures: dict[str, Capture] = {}
        self.finalize_kills = 0
        self._wake = asyncio.Event()
        self.expired = asyncio.Event()  # single-use mode, after its one session
        self._tasks: set[asyncio.Task] = set()
        # what the focus asks, by the action on the wire
        self._requests: dict[str, Callable[[JibriIq, str], tuple[JibriIq, list[Effect]]]] = {
            START: lambda request, sender: self.core.start(request, sender, self._now()),
            STOP: lambda request, _sender: self.core.stop(request, self._now()),
        }

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    # --- the core's inputs -------------------------------------------------------------------------
    def on_request(self, request: JibriIq, sender: str) -> JibriIq:
        assert request.action is not None  # the client refuses a request without one
        log.info("recorder: %s request from %s (session %s, mode %s)", request.action, sender,
                 request.session_id, request.recording_mode)
        reply, effects = self._requests[request.action](request, sender)
        self.apply(effects)
        return reply

    # --- effects -----------------------------------------------------------------------------------
    def apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            match effect:
                case Publish(status=status):
                    self.client.publish(status)
                case Notify(to=to, iq=iq):
                    log.info("recorder: session %s: status %s%s to %s", iq.session_id, iq.status,
                             f" ({iq.failure_reason}, retry {iq.should_retry})" if iq.failure_reason else "", to)
                    self.client.notify(to, iq)
                case BeginCapture(job=job):
                    try:
                        capture = self._capture(job)
                    except Exception as exc:  # noqa: BLE001 - no session may leave the recorder busy
                        log.exception("recorder: session %s cannot start", job.session_id)
                        now = self._now()
                        self.apply(self.core.failed(job.session_id, f"cannot start: {exc}", True, now)
                                   + self.core.ended(job.session_id, now))
                        continue
                    self.captures[job.session_id] = capture
                    self._spawn(self._session(capture))
                case EndCapture(session_id=sid, reason=reason):
                    log.info("recorder: session %s ends: %s", sid, reason)
                    running = self.captures.get(sid)
                    if running is not None:
                        running.end()
                case Refusal(reason=reason):
                    log.warning("recorder: start refused: %s", reason)
        self._wake.set()

    def _capture(self, job: Job) -> Capture:
        # Loaded with the first session: an idle recorder keeps neither aiortc nor PyAV in memory.
        from .capture import Capture, Reports, where  # noqa: PLC0415

        def report(step: Callable[..., list[Effect]]) -> Callable[..., None]:
            return lambda *args: self.apply(step(job.session_id, *args, self._now()))

        reports = Reports(capturing=report(self.core.capturing), members=report(self.core.members),
                          failed=report(self.core.failed), meeting_ended=report(self.core.meeting_ended))
        return Capture(job, where(self.settings, self.recorder_password), reports)

    async def _session(self, capture: Capture) -> None:
        """However the capture ends (even cancelled), the core hears that the instance is free."""
        sid = capture.job.session_id
        try:
            await capture.run()
        finally:
            self.captures.pop(sid, None)
            self.finalize_kills += capture.finalize_killed
            self.apply(self.core.ended(sid, self._now()))
            log.info("recorder: session %s over; %s", sid, self.core.busy_status.lower())
            if self.core.expired:
                self.expired.set()

    async def deadlines(self) -> None:
        while True:
            deadline = self.core.deadline
            self._wake.clear()
            timeout = None if deadline is None else max(0.0, deadline - self._now())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                self.apply(self.core.tick(self._now()))

    def _spawn(self, work) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for capture in self.captures.values():
            capture.end()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.settings.recorder.stop_timeout + 5)
        for task in self._tasks:
            task.cancel()
        await self.client.stop()

    # --- HTTP --------------------------------------------------------------------------------------
    def http_app(self) -> web.Application:
        app = web.Application()
        registry = CollectorRegistry()
        LoopMonitor(registry).attach(app)
        core = self.core
        for name, doc, kind, read in (
                ("jitsi_py_recorder_busy", "1 while this recorder records or streams", "gauge",
                 lambda: float(core.session is not None)),
                ("jitsi_py_recorder_healthy", "1 while this recorder reports itself healthy", "gauge",
                 lambda: float(core.healthy)),
                ("jitsi_py_recorder_sessions_total", "Recording and streaming sessions accepted", "counter",
                 lambda: float(core.sessions_started)),
                ("jitsi_py_recorder_sessions_failed_total", "Sessions that ended with an error", "counter",
                 lambda: float(core.sessions_failed)),
                ("jitsi_py_recorder_finalize_killed_total",
                 "Finalize scripts killed for running past JITSI_PY_RECORDER_FINALIZE_TIMEOUT", "counter",
                 lambda: float(self.finalize_kills)),
        ):
            registry.register(Sampled(name, doc, kind, (), _unlabelled(read)))

        async def health(_request: web.Request) -> web.Response:
            return web.json_response(core.health())  # always 200, as Jibri's

        async def metrics(_request: web.Request) -> web.Response:
            return web.Response(body=render(registry), content_type="text/plain")

        app.router.add_get(HEALTH_PATH, health)
        app.router.add_get("/metrics", metrics)
        return app


def _unlabelled(read: Callable[[], float]) -> Callable[[], dict[tuple[str, ...], float]]:
    return lambda: {(): read()}


async def run(settings: Settings, ready: Ready = unobserved) -> None:
    """Ready once its HTTP port answers and it sits in the brewery where the focus finds it."""
    r = settings.recorder
    service = RecorderService(settings)
    listener = HttpListener("recorder http", settings.common.http)
    runner = listener.runner(service.http_app())
    await runner.setup()
    deadlines = asyncio.ensure_future(service.deadlines())
    try:
        with binding("JIBRI_HTTP_API_EXTERNAL_PORT", r.http_port):
            await listener.listen(runner, None if "*" in r.http_interfaces else list(r.http_interfaces), r.http_port)
        service.client.start()
        await service.client.joined.wait()
        ready(f"HTTP on {r.http_port}, in {service.client.brewery} as {r.instance_id}, "
              f"recordings in {r.recording_dir}")
        await service.expired.wait()
        log.info("recorder: recorded once in single-use mode (JIBRI_SINGLE_USE_MODE): exiting")
    finally:
        deadlines.cancel()
        await service.close()
        await runner.cleanup()


__all__ = ["RecorderService", "run"]
