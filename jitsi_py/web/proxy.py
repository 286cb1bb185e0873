"""Reverse proxying as nginx's meet.conf does it: plain HTTP requests and WebSocket upgrades.

The caller always supplies the target URL from configuration; nothing here reads a host from the
request. Hop-by-hop headers are dropped both ways, the peer is appended to ``X-Forwarded-For`` as
nginx's ``$proxy_add_x_forwarded_for`` does (a peer that is not a trusted proxy starts the list
afresh: what it wrote there proves nothing), and ``Host`` is replaced when the route asks (nginx
sends ``Host: XMPP_DOMAIN`` to Prosody).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

import aiohttp
from aiohttp import WSMsgType, web

from ..common.addresses import Networks

logger = logging.getLogger("jitsi_py.web.proxy")

HOP_BY_HOP = frozenset(h.lower() for h in (
    "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
    "Transfer-Encoding", "Upgrade", "Host", "Content-Length", "Content-Encoding",
    "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions", "Sec-WebSocket-Accept",
    "Sec-WebSocket-Protocol",
))


def is_websocket_upgrade(request: web.Request) -> bool:
    return (request.headers.get("Upgrade", "").lower() == "websocket"
            and "upgrade" in request.headers.get("Connection", "").lower())


def forwarded_headers(request: web.Request, host: str | None, trusted: Networks) -> dict[str, str]:
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    if host:
        headers["Host"] = host
    if request.remote:
        earlier = request.headers.get("X-Forwarded-For") if request.remote in trusted else None
        headers["X-Forwarded-For"] = f"{earlier}, {request.remote}" if earlier else request.remote
    return headers


class Proxy:
    """One aiohttp client session for every proxied request of a web service."""

    def __init__(self, timeout: float, trusted: Networks, on_websocket: Callable[[int], None] | None = None) -> None:
        self._timeout = timeout
        self._trusted = trusted
        self._session: aiohttp.ClientSession | None = None
        self._on_websocket = on_websocket or (lambda delta: None)
        self._sockets: set[web.WebSocketResponse] = set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=self._timeout),
            auto_decompress=False,
        )

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)
        if self._session is not None:
            await self._session.close()

    async def forward(self, request: web.Request, target: str, host: str | None = None) -> web.StreamResponse:
        assert self._session is not None, "Proxy.start() was not awaited"
        if is_websocket_upgrade(request):
            return await self._websocket(request, target, host)
        body = await request.read()
        try:
            async with self._session.request(
                request.method, target, headers=forwarded_headers(request, host, self._trusted), data=body or None,
                allow_redirects=False,
            ) as upstream:
                payload = await upstream.read()
                headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
                if "Content-Encoding" in upstream.headers:
                    headers["Content-Encoding"] = upstream.headers["Content-Encoding"]
                return web.Response(status=upstream.status, headers=headers, body=payload)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.warning("proxy to %s failed: %s", _no_query(target), exc or type(exc).__name__)
            raise web.HTTPBadGateway(text="the upstream service is not reachable\n") from None

    async def _websocket(self, request: web.Request, target: str, host: str | None) -> web.StreamResponse:
        assert self._session is not None
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        ws_target = "ws" + target[4:] if target.startswith("http") else target
        try:
            upstream = await self._session.ws_connect(
                ws_target, protocols=offered, headers=forwarded_headers(request, host, self._trusted),
                autoping=False, max_msg_size=0,
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise _status_error(exc.status) from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.warning("websocket proxy to %s failed: %s", _no_query(ws_target), exc or type(exc).__name__)
            raise web.HTTPBadGateway(text="the upstream service is not reachable\n") from None
        downstream = web.WebSocketResponse(protocols=(upstream.protocol,) if upstream.protocol else (),
                                           autoping=False, max_msg_size=0)
        await downstream.prepare(request)
        self._sockets.add(downstream)
        self._on_websocket(1)
        try:
            await _pump_both(downstream, upstream)
        finally:
            self._sockets.discard(downstream)
            self._on_websocket(-1)
            await upstream.close()
            await downstream.close()
        return downstream


def _status_error(status: int) -> web.HTTPException:
    """Pass the upstream's refusal on (404 unknown conference, 403 bad password, ...)."""
    if status == 404:
        return web.HTTPNotFound(text="not found upstream\n")
    if status == 403:
        return web.HTTPForbidden(text="refused upstream\n")
    return web.HTTPBadGateway(text=f"the upstream refused the websocket ({status})\n")


async def _pump_both(downstream: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
    async def copy(source, sink) -> None:
        async for msg in source:
            if msg.type == WSMsgType.TEXT:
                await sink.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await sink.send_bytes(msg.data)
            elif msg.type == WSMsgType.PING:
                await sink.ping(msg.data)
            elif msg.type == WSMsgType.PONG:
                await sink.pong(msg.data)
            else:
                break

    tasks = [asyncio.ensure_future(copy(downstream, upstream)), asyncio.ensure_future(copy(upstream, downstream))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _no_query(url: str) -> str:
    """Logged URLs lose their query: it may carry a token or a colibri-ws password."""
    return url.split("?", 1)[0]
