"""The guard in front of every HTTP listener: the web service, the XMPP server's 5280, the bridge's
REST and colibri-ws ports.

aiohttp serves the requests, but it waits as long as a client likes for a request's head, however
slowly it trickles in, and it counts no connections. Here each accepted connection gets a thin
protocol in front of aiohttp's that refuses it at once beyond the listener's caps, and closes it when
a request's head, and its body when it has one, is not in ``header_timeout`` after its first byte
(the first request's clock starts at the accept, as nginx's client_header_timeout). Between requests
aiohttp's own ``keepalive_timeout`` applies; while a request is being answered (a BOSH long poll, a
WebSocket) no clock runs here.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
from typing import Any, Callable

from aiohttp import web, web_response
from aiohttp.http import HttpProcessingError
from aiohttp.streams import StreamReader

from ..settings.common import HttpLimits
from .addresses import Networks, ip_of, subscriber
from .log import Throttled

logger = logging.getLogger("jitsi_py.http")

# Said instead of aiohttp's "Python/3.x aiohttp/3.y" on every response. aiohttp has no setting for it,
# and answers unparsable requests where no application hook sees the response: its module default
# is the one place that covers every response.
SERVER = "jitsi-py"


class HttpListener:
    """One listening port's guard: its connection counts, and the runner and sites that use it."""

    def __init__(self, name: str, limits: HttpLimits) -> None:
        self.name = name
        self.limits = limits
        self.trusted = Networks(limits.trusted_proxies)
        self.connections = 0
        self.per_address: dict[str, int] = {}
        self.refused = 0
        self.timed_out = 0
        self._log = Throttled(logger)

    def runner(self, app: web.Application, **kwargs: Any) -> web.AppRunner:
        """An AppRunner for ``app`` with this listener's keep-alive timeout and quiet error log."""
        web_response.SERVER_SOFTWARE = SERVER
        app.middlewares.insert(0, _track_requests)
        return web.AppRunner(app, access_log=None, keepalive_timeout=self.limits.keepalive_timeout,
                             logger=_ServerLog(self), **kwargs)

    async def listen(self, runner: web.AppRunner, host: str | list[str] | None, port: int, *,
                     ssl_context: ssl.SSLContext | None = None, reuse_address: bool | None = None) -> GuardedSite:
        site = GuardedSite(runner, self, host, port, ssl_context=ssl_context, reuse_address=reuse_address)
        await site.start()
        return site

    def admit(self, peername: Any) -> str | None:
        """The key the connection counts under ("" when only the listener's cap applies), None if refused."""
        address = peername[0] if isinstance(peername, tuple) else ""
        limits = self.limits
        if self.connections >= limits.max_connections:
            self._refuse(address, "the listener holds %d connections (JITSI_PY_HTTP_MAX_CONNECTIONS)",
                         self.connections)
            return None
        key = self._key(address)
        if key:
            held = self.per_address.get(key, 0)
            if held >= limits.max_connections_per_ip:
                self._refuse(address, "it holds %d connections (JITSI_PY_HTTP_MAX_CONNECTIONS_PER_IP)", held)
                return None
            self.per_address[key] = held + 1
        self.connections += 1
        return key

    def release(self, key: str) -> None:
        self.connections -= 1
        if key:
            left = self.per_address[key] - 1
            if left:
                self.per_address[key] = left
            else:
                del self.per_address[key]

    def warn(self, level: int, msg: str, *args: object, exc_info: BaseException | None = None) -> None:
        self._log.log(level, "http %s: " + msg, self.name, *args, exc_info=exc_info)

    def _key(self, address: str) -> str:
        if ip_of(address) is None or address in self.trusted:
            return ""
        return subscriber(address) or ""

    def _refuse(self, address: str, why: str, *args: object) -> None:
        self.refused += 1
        self.warn(logging.WARNING, "refused a connection from %s: " + why, address, *args)


class GuardedSite(web.BaseSite):
    """A TCP site whose connections pass the listener's guard; a TLS handshake gets the header timeout."""

    def __init__(self, runner: web.AppRunner, listener: HttpListener, host: str | list[str] | None, port: int,
                 *, ssl_context: ssl.SSLContext | None = None, reuse_address: bool | None = None) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._listener = listener
        self._host = host
        self._port = port
        self._reuse_address = reuse_address

    @property
    def name(self) -> str:
        return f"{'https' if self._ssl_context else 'http'} {self._listener.name} port {self.port}"

    @property
    def port(self) -> int:
        """The bound port (settings may say 0: any free one)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        await super().start()
        server, listener = self._runner.server, self._listener
        assert server is not None
        tls = self._ssl_context
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Connection(listener, server), self._host, self._port, ssl=tls,
            reuse_address=self._reuse_address,
            ssl_handshake_timeout=listener.limits.header_timeout if tls is not None else None)


class _Connection(asyncio.Protocol):
    """Forwards one connection to aiohttp's protocol; owns its cap slot and its header clock."""

    __slots__ = ("_listener", "_factory", "_inner", "_transport", "_key", "_deadline", "_busy", "_body")

    def __init__(self, listener: HttpListener, factory: Callable[[], asyncio.Protocol]) -> None:
        self._listener = listener
        self._factory = factory
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._key = ""
        self._deadline: asyncio.TimerHandle | None = None
        self._busy = False
        self._body: StreamReader | None = None  # a request body still arriving, on the header clock

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        key = self._listener.admit(transport.get_extra_info("peername"))
        if key is None:
            transport.abort()
            return
        self._key = key
        self._transport = transport  # type: ignore[assignment]
        self._inner = self._factory()
        self._inner.connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if self._deadline is None and not self._busy:
            self._arm()
        self._inner.data_received(data)
        if self._body is not None and self._body.is_eof():
            self._body = None
            self._disarm()

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        inner, self._inner = self._inner, None
        if inner is None:
            return
        self._disarm()
        self._listener.release(self._key)
        inner.connection_lost(exc)

    def request_started(self, body: StreamReader | None) -> None:
        self._busy = True
        if body is None or body.is_eof():
            self._disarm()
        else:
            self._body = body

    def request_done(self) -> None:
        self._busy = False
        self._body = None

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self._listener.limits.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self._transport is not None and self._inner is not None:
            self._listener.timed_out += 1
            logger.debug("http %s: %s sent no complete request in %.0f s; closed", self._listener.name,
                         self._transport.get_extra_info("peername"), self._listener.limits.header_timeout)
            self._transport.abort()


@web.middleware
async def _track_requests(request: web.Request, handler: Callable) -> web.StreamResponse:
    """Stops the header clock while a request is answered: its head is in, and its body once that is."""
    transport = request.transport
    connection = transport.get_protocol() if transport is not None else None
    if not isinstance(connection, _Connection):
        return await handler(request)
    connection.request_started(request.content if request.can_read_body else None)
    try:
        return await handler(request)
    finally:
        connection.request_done()


class _ServerLog:
    """aiohttp's server ``logger``: a request it cannot parse is the client's doing, one throttled
    warning line without a traceback; anything else is ours, an error with its traceback (throttled
    too: a client may be able to trigger it at will)."""

    def __init__(self, listener: HttpListener) -> None:
        self._listener = listener

    def debug(self, msg: str, *args: object, **kwargs: object) -> None:
        logger.debug("http %s: " + msg, self._listener.name, *args)

    def warning(self, msg: str, *args: object, **kwargs: object) -> None:
        self._listener.warn(logging.WARNING, msg, *args)

    def exception(self, msg: str, *args: object, exc_info: object = True, **kwargs: object) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if isinstance(exc, HttpProcessingError):
            what = " ".join((exc.message or "").split())[:200]
            self._listener.warn(logging.WARNING, "bad request from %s: %d %s", args[0] if args else "?",
                                exc.code, what)
            return
        self._listener.warn(logging.ERROR, msg, *args, exc_info=exc)
