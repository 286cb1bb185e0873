"""The life of one server under test: configure, spawn, wait until it serves, sample, stop."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path
from typing import Awaitable, Callable

import aiohttp

from ..procstat import Sampler
from ..xmpp_client import Client

DOMAIN = "meet.jitsi"
MUC = "muc.meet.jitsi"
FOCUS = "focus.meet.jitsi"
AUTH = "auth.meet.jitsi"
INTERNAL_MUC = "internal-muc.meet.jitsi"
BREWERY = f"jvbbrewery@{INTERNAL_MUC}"
READY_TIMEOUT = 40.0
STOP_TIMEOUT = 5.0


async def logs_in(http: aiohttp.ClientSession, server: Server, transport: str, *, focus: bool) -> None:
    """What "ready" means to a workload: a login over ``transport`` and, when ``focus``, a conference
    request the focus answers."""
    client = Client(http, transport, server.url(transport), DOMAIN)
    try:
        await client.login()
        if focus:
            await client.conference_request(FOCUS, f"bench-probe@{MUC}")
    finally:
        await client.close()


class ServerFailed(RuntimeError):
    """A server that would not start or serve; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Process:
    """One child process with its log file; `stop` ends it and everything it spawned."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.log = cwd / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.sampler: Sampler | None = None

    async def spawn(self) -> None:
        out = self.log.open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv, cwd=self.cwd, env=self.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=out, stderr=out, start_new_session=True)
        except FileNotFoundError as exc:
            raise ServerFailed(f"{self.name}: {exc}") from exc
        finally:
            out.close()

    def exited(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    def failure(self, what: str) -> ServerFailed:
        return ServerFailed(f"{self.name} {what} (exit {self.exited()}); log {self.log}:\n{log_tail(self.log)}")

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        pgid = self.proc.pid  # its own session: the group holds what it spawned (beam, epmd)
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT)
        except asyncio.TimeoutError:
            pass
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await self.proc.wait()


class Server:
    """Subclasses say how to configure and run; this class runs, checks and measures.

    `probe` is an async callable (server) -> None that logs in once and raises on failure; the
    workload passes its own client so that "ready" means "serves a login".
    """

    name = "server"

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.c2s_port = free_port()
        self.http_port = free_port()
        self.processes: list[Process] = []

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.http_port}/xmpp-websocket"

    @property
    def bosh_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/http-bind"

    def url(self, transport: str) -> str:
        return {"websocket": self.ws_url, "bosh": self.bosh_url, "tcp": f"tcp://127.0.0.1:{self.c2s_port}"}[transport]

    def plan(self) -> list[Process]:
        raise NotImplementedError

    async def start(self, probe: Callable[["Server"], Awaitable[None]]) -> None:
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.processes = self.plan()
        except OSError as exc:
            raise ServerFailed(f"{self.name}: cannot write its configuration: {exc}") from exc
        for process in self.processes:
            await process.spawn()
        deadline = time.monotonic() + READY_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.exited() is not None:
                    raise process.failure("exited while starting")
            try:
                await asyncio.wait_for(probe(self), 5)
                return
            except Exception as exc:  # noqa: BLE001 - whatever the probe hit, it is retried until the deadline
                last_error = exc
            await asyncio.sleep(0.3)
        raise self.processes[0].failure(f"did not serve a login within {READY_TIMEOUT:.0f} s ({last_error!r})")

    def check_alive(self) -> None:
        for process in self.processes:
            if process.exited() is not None:
                raise process.failure("died during the run")

    def start_sampling(self) -> None:
        for process in self.processes:
            process.sampler = Sampler(process.proc.pid)
            process.sampler.start()

    def stop_sampling(self) -> dict:
        """Peak RSS and CPU seconds per process, and their sum under "total"."""
        out: dict = {}
        for process in self.processes:
            if process.sampler is not None:
                out[process.name] = process.sampler.stop()
                process.sampler = None
        out["total"] = {
            "peak_rss_mb": round(sum(v["peak_rss_mb"] for v in out.values()), 1),
            "cpu_s": round(sum(v["cpu_s"] for v in out.values()), 2),
        }
        return out

    async def stop(self) -> None:
        for process in reversed(self.processes):
            await process.stop()

    def version(self) -> str:
        return ""
