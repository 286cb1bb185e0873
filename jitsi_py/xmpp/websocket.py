"""XMPP over WebSocket (RFC 7395): one element per text frame, ``<open/>``/``<close/>`` framing.

The frames of one connection are read by one continuous parser under a synthetic root, so the
stanza-size, depth and attribute bounds of ``common/xmlstream.py`` apply as on TCP; a frame that
leaves an element open is ``not-well-formed``. ``?room=``, ``?token=``, ``?prefix=`` and
``?previd=`` of the URL, and the upgrade request's ``Authorization`` token, are kept on the
session. Frames out are written by one flush task per connection, so a fan-out to a thousand
sockets costs no task per stanza.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from xml.etree.ElementTree import Element

from aiohttp import WSMsgType, web

from ..common import ns
from ..common.addresses import Networks
from ..common.aio import Rearm
from ..common.xmlstream import STREAM_CLOSE, StreamError, StreamOpen, XmlStreamParser
from ..settings.fields import Network
from .c2s import C2SSession, SessionLimits
from .router import Router
from .tcp import MAX_WRITE_BUFFER, RateLimit, hibernate

logger = logging.getLogger(__name__)

OPEN = ns.tag(ns.FRAMING, "open")
CLOSE = ns.tag(ns.FRAMING, "close")
CLOSE_FRAME = f'<close xmlns="{ns.FRAMING}"/>'.encode()
SYNTHETIC_ROOT = f"<stream xmlns='{ns.CLIENT}'>".encode()


class FrameParser:
    """Frames in, c2s events out: ``<open/>`` is a StreamOpen, ``<close/>`` the stream's end."""

    def __init__(self, **limits: int) -> None:
        self._parser = XmlStreamParser(**limits)
        self._parser.feed(SYNTHETIC_ROOT)

    def feed(self, frame: bytes) -> list[object]:
        events = self._parser.feed(frame)
        if self._parser.depth != 1:
            raise StreamError("not-well-formed", "a frame must hold complete elements")
        out: list[object] = []
        for event in events:
            if isinstance(event, Element):
                if event.tag == OPEN:
                    out.append(StreamOpen(OPEN, dict(event.attrib)))
                    continue
                if event.tag == CLOSE:
                    out.append(STREAM_CLOSE)
                    continue
            out.append(event)
        return out


def client_address(request: web.Request, trusted_proxies: Networks) -> str | None:
    """The client's IP: the peer's, or the last ``X-Forwarded-For`` hop no trusted proxy wrote."""
    return trusted_proxies.client(request.remote, request.headers.get("X-Forwarded-For"))


def bearer_token(request: web.Request) -> str | None:
    """The token of the ``Authorization`` header, cut as upstream's token modules cut it: what
    follows the first seven characters (``Bearer ``), which are not looked at."""
    value = request.headers.get("Authorization")
    return None if value is None else value[7:]


_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")


def text_frame_header(size: int) -> bytes:
    """RFC 6455 §5.2 header of one unmasked, unfragmented text frame (server to client)."""
    if size < 126:
        return bytes((0x81, size))
    if size < 65536:
        return _HEADER_16.pack(0x81, 126, size)
    return _HEADER_64.pack(0x81, 127, size)


class WebSocketLink:
    """Frames out are framed here and written in one ``transport.write`` per loop turn.

    aiohttp does the handshake, reading and closing; writing every text frame through it costs a
    coroutine and a socket write per frame, and a busy room queues many frames per connection in
    one turn of the loop.
    """

    transport_name = "websocket"
    secure = True  # TLS ends at the proxy in front (Prosody's consider_websocket_secure)
    can_starttls = False

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None, query: dict[str, str],
                 remote_ip: str | None, bearer: str | None = None) -> None:
        self.ws = ws
        self.transport = transport
        self.query = query
        self.remote_ip = remote_ip
        self.bearer = bearer
        self.session: C2SSession | None = None
        self.closing = False
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self.closer: asyncio.Task[None] | None = None

    def send(self, data: bytes) -> None:
        if self.closing:
            return
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        frames, self._out = self._out, []
        transport = self.transport
        if not frames or transport is None or transport.is_closing():
            return
        parts: list[bytes] = []
        for frame in frames:
            parts.append(text_frame_header(len(frame)))
            parts.append(frame)
        transport.write(b"".join(parts))
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER and not self.closing:
            logger.info("websocket peer %s stopped reading; closing", self.remote_ip)
            self.closing = True
            transport.abort()

    def send_open(self, stream_id: str, domain: str) -> None:
        self.send(
            f'<open xmlns="{ns.FRAMING}" from="{domain}" id="{stream_id}" version="1.0" xml:lang="en"/>'.encode()
        )

    def start_tls(self) -> None:
        raise AssertionError("no STARTTLS over WebSocket")

    def restart(self) -> None:
        """The client's next ``<open/>`` frame restarts the stream; the frame parser needs nothing."""

    def close(self, error: bytes | None) -> None:
        if self.closing:
            return
        if error is not None:
            self.send(error)
        self.send(CLOSE_FRAME)
        self.closing = True
        self.closer = asyncio.get_running_loop().create_task(self._close_after_flush())

    async def _close_after_flush(self) -> None:
        self._flush()
        await self.ws.close()

    def attach(self, session: C2SSession) -> None:
        self.session = session


class WebSocketEndpoint:
    def __init__(self, router: Router, limits: SessionLimits, parser_limits: dict[str, int],
                 rate: float | None, frame_limit: int, trusted_proxies: tuple[Network, ...]) -> None:
        self.router = router
        self.limits = limits
        self.parser_limits = parser_limits
        self.rate = rate
        self.frame_limit = frame_limit
        self.trusted_proxies = Networks(trusted_proxies)
        self.connections: set[WebSocketLink] = set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        # No permessage-deflate: its zlib state costs ~300 KB per connection, and Prosody has none.
        ws = web.WebSocketResponse(protocols=("xmpp",), max_msg_size=self.frame_limit, heartbeat=None,
                                   autoping=True, compress=False)
        if not ws.can_prepare(request).ok:
            # The client's keep-alive is a plain GET on this URL; any answer will do.
            return web.Response(text="XMPP over WebSocket lives here (RFC 7395, subprotocol xmpp).\n")
        if self.router.connections >= self.router.max_connections:
            return web.Response(status=503, text="too many connections\n")
        await ws.prepare(request)
        self.router.connections += 1
        try:
            return await self._serve(request, ws)
        finally:
            self.router.connections -= 1

    async def _serve(self, request: web.Request, ws: web.WebSocketResponse) -> web.WebSocketResponse:
        loop = asyncio.get_running_loop()
        link = WebSocketLink(ws, request.transport, dict(request.query),
                             client_address(request, self.trusted_proxies), bearer_token(request))
        self.connections.add(link)
        self.router.metrics.connections.labels("websocket").inc()
        session = C2SSession(self.router, link, loop.time(), self.limits)  # type: ignore[arg-type]
        link.session = session
        def on_timer(now: float) -> None:
            link.session.handle_timer(now)  # type: ignore[union-attr]
            timer.at(link.session.deadline())  # type: ignore[union-attr]

        timer = Rearm(loop, on_timer)
        timer.at(session.deadline())
        parser = FrameParser(**self.parser_limits)
        limit = RateLimit(self.rate, max(self.rate * 2, 65536), loop.time()) if self.rate else None
        try:
            async for msg in ws:
                if link.closing:
                    break
                if msg.type == WSMsgType.TEXT:
                    data = msg.data.encode()
                elif msg.type == WSMsgType.BINARY:
                    link.session.stream_error("policy-violation", "binary frames are not allowed")
                    break
                else:
                    break
                link.session.heard(loop.time())
                try:
                    events = parser.feed(data)
                except StreamError as exc:
                    link.session.stream_error(exc.condition, exc.text)
                    break
                for event in events:
                    link.session.receive(event, loop.time())
                    if link.session.waiting:
                        await self.router.authenticate(link.session)
                    if link.closing:
                        break
                timer.at(link.session.deadline())
                if limit is not None and not link.session.service_account:
                    pause = limit.delay(len(data), loop.time())
                    if pause > 0:
                        await asyncio.sleep(pause)
            if ws.exception() is not None:
                # aiohttp closes oversized messages with 1009 itself; count it as ours.
                self.router.metrics.stream_errors.labels("policy-violation").inc()
        finally:
            timer.cancel()
            self.connections.discard(link)
            final = link.session
            if final is not None and final.link is link:
                link.closing = True
                hibernate(final, loop)
            if link.closer is not None:
                await link.closer  # our last frames (a stream error, <close/>) go out first
            elif not ws.closed:
                await ws.close()
        return ws
