"""The HTTP port (Prosody's 5280): ``/xmpp-websocket``, ``/http-bind``, ``/health``, ``/metrics``."""

from __future__ import annotations

from aiohttp import web

from ..common.metrics import CONTENT_TYPE, LoopMonitor, render
from .bosh import BoshEndpoint
from .metrics import XmppMetrics
from .websocket import WebSocketEndpoint


def build_app(websocket: WebSocketEndpoint | None, bosh: BoshEndpoint, metrics: XmppMetrics) -> web.Application:
    app = web.Application(client_max_size=bosh.body_limit + 1024)
    LoopMonitor(metrics.registry).attach(app)

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="OK\n")

    async def prometheus(request: web.Request) -> web.Response:
        return web.Response(body=render(metrics.registry), headers={"Content-Type": CONTENT_TYPE})

    routes = [
        web.route("*", "/http-bind", bosh.handle),
        web.get("/health", health),
        web.get("/metrics", prometheus),
    ]
    if websocket is not None:
        routes.append(web.get("/xmpp-websocket", websocket.handle))
    app.add_routes(routes)
    return app
