"""XML streams over TCP (RFC 6120): client-to-server with STARTTLS, the glue around ``c2s.py``.

The glue only moves bytes: parse, hand each event to the session (none while it is waiting for
authentication: ``router.authenticate`` runs it, and the next event follows), write what the session
sends, keep one timer at the session's deadline, throttle reading to the per-connection rate
(Prosody's ``mod_limits``: reading pauses, nothing is dropped).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from typing import Callable

from ..common import ns
from ..common.aio import Rearm
from ..common.xmlstream import StreamError, XmlStreamParser, escape_attr
from .c2s import C2SSession, SessionLimits
from .router import Router

logger = logging.getLogger(__name__)

STREAM_HEADER = (
    '<?xml version="1.0"?><stream:stream xmlns="{ns}" xmlns:stream="' + ns.STREAMS + '"'
    ' id="{id}" from="{domain}" version="1.0" xml:lang="en">'
)
MAX_WRITE_BUFFER = 4 * 1024 * 1024  # a peer that stops reading is cut off past this


class RateLimit:
    """Token bucket over bytes read; ``delay(n, now)`` is how long to pause reading (0: none)."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, burst, now

    def delay(self, size: int, now: float) -> float:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate) - size
        self.stamp = now
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class StreamConnection(asyncio.Protocol):
    """One TCP connection carrying an XML stream; the session object decides everything."""

    transport_name = "tcp"
    stream_ns = ns.CLIENT

    def __init__(self, make_session: Callable[["StreamConnection", float], object], parser_limits: dict[str, int],
                 rate: float | None, tls_context: ssl.SSLContext | None) -> None:
        self._make_session = make_session
        self._parser = XmlStreamParser(**parser_limits)
        self._rate = rate
        self._tls_context = tls_context
        self.transport: asyncio.Transport | None = None
        self.session: object = None
        self.secure = False
        self.can_starttls = tls_context is not None
        self.query: dict[str, str] = {}
        self.remote_ip: str | None = None
        self._events: deque[object] = deque()
        self._raw: deque[bytes] = deque()  # bytes that arrived while the session was busy
        self._busy = False
        self._closing = False
        self._limit: RateLimit | None = None
        self._read_paused = False
        self._timer: Rearm | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._router: Router | None = None

    # --- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()
        peer = transport.get_extra_info("peername")
        self.remote_ip = peer[0] if peer else None
        now = self._loop.time()
        if self._rate:
            self._limit = RateLimit(self._rate, max(self._rate * 2, 65536), now)
        self.session = self._make_session(self, now)
        self._timer = Rearm(self._loop, self._on_timer)
        self._rearm()
        router = getattr(self.session, "router", None)
        if router is not None:
            self._router = router
            router.connections += 1
            if router.connections > router.max_connections:
                self.send_open("refused", "localhost")
                self.session.stream_error("resource-constraint", "too many connections")  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        if self._busy:
            self._raw.append(data)
            return
        self._consume(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._router is not None:
            self._router.connections -= 1
            self._router = None
        if self._timer is not None:
            self._timer.cancel()
        session = self.session
        if session is not None and getattr(session, "link", None) is self:
            hibernate(session, self._loop)  # type: ignore[arg-type]

    def eof_received(self) -> bool:
        return False

    # --- feeding -----------------------------------------------------------------------------

    def _consume(self, data: bytes) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        self.session.heard(now)  # type: ignore[attr-defined]
        limit = self._limit
        if limit is not None and not getattr(self.session, "service_account", False):
            pause = limit.delay(len(data), now)
            if pause > 0 and not self._read_paused and self.transport is not None:
                self._read_paused = True
                self.transport.pause_reading()
                loop.call_later(pause, self._resume_reading)
        try:
            self._events.extend(self._parser.feed(data))
        except StreamError as exc:
            self._events.clear()
            self._stream_error(exc)
            return
        self._drain()

    def _drain(self) -> None:
        loop = self._loop
        assert loop is not None
        events = self._events
        while events and not self._closing and not self._busy:
            self.session.receive(events.popleft(), loop.time())  # type: ignore[attr-defined]
            if self.session.waiting:  # type: ignore[attr-defined]
                self._busy = True
                loop.create_task(self._authenticate())
                return
        self._rearm()
        while self._raw and not self._busy and not self._closing:
            self._consume(self._raw.popleft())

    async def _authenticate(self) -> None:
        try:
            await self.session.router.authenticate(self.session)  # type: ignore[attr-defined]
        finally:
            self._busy = False
        if not self._closing:
            self._drain()

    def _stream_error(self, exc: StreamError) -> None:
        session = self.session
        if getattr(session, "state", None) == "opening":
            # RFC 6120 §4.9.1.1: an error before our stream header still goes inside one.
            self.send_open("error", getattr(session, "domain", "") or "localhost")
        session.stream_error(exc.condition, exc.text)  # type: ignore[attr-defined]

    def _resume_reading(self) -> None:
        self._read_paused = False
        if self.transport is not None and not self._closing:
            self.transport.resume_reading()

    def _rearm(self) -> None:
        if self._timer is not None and not self._closing:
            self._timer.at(self.session.deadline())  # type: ignore[attr-defined]

    def _on_timer(self, now: float) -> None:
        self.session.handle_timer(now)  # type: ignore[attr-defined]
        self._rearm()

    # --- Link ----------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or self._closing:
            return
        transport.write(data)
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            logger.info("peer %s stopped reading; closing", self.remote_ip)
            self._closing = True
            transport.abort()

    def send_open(self, stream_id: str, domain: str) -> None:
        self.send(STREAM_HEADER.format(ns=self.stream_ns, id=stream_id, domain=escape_attr(domain)).encode())

    def start_tls(self) -> None:
        assert self._tls_context is not None and self._loop is not None
        self._busy = True
        self._parser.reset()
        # Anything that came in the clear after <starttls/> is an injection attempt (CVE-2011-0411).
        self._events.clear()
        self._raw.clear()
        self._loop.create_task(self._upgrade())

    async def _upgrade(self) -> None:
        assert self._loop is not None and self.transport is not None and self._tls_context is not None
        try:
            self.transport = await self._loop.start_tls(self.transport, self, self._tls_context, server_side=True)
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            logger.info("TLS handshake with %s failed: %s", self.remote_ip, exc)
            self._closing = True
            self.session.connection_lost(self._loop.time())  # type: ignore[attr-defined]
            return
        self.secure = True
        self._busy = False
        self._drain()

    def restart(self) -> None:
        self._parser.reset()
        self._events.clear()

    def close(self, error: bytes | None) -> None:
        if self._closing or self.transport is None:
            return
        if error is not None:
            self.transport.write(error)
        self.transport.write(b"</stream:stream>")
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
        self.transport.close()

    def attach(self, session: object) -> None:
        self.session = session
        self._rearm()


def hibernate(session: C2SSession, loop: asyncio.AbstractEventLoop) -> None:
    """The connection is gone: end the session, or keep it for resumption until its window closes."""
    session.connection_lost(loop.time())
    until = session.hibernating_until
    if until is not None:
        loop.call_at(until, lambda: session.hibernation_check(loop.time()))


def c2s_factory(router: Router, limits: SessionLimits, parser_limits: dict[str, int], rate: float | None,
                tls_context: ssl.SSLContext | None) -> Callable[[], StreamConnection]:
    def make_session(link: StreamConnection, now: float) -> C2SSession:
        router.metrics.connections.labels("tcp").inc()
        return C2SSession(router, link, now, limits)  # type: ignore[arg-type]

    return lambda: StreamConnection(make_session, parser_limits, rate, tls_context)
