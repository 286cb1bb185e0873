"""HTTP sides of the bridge: the private REST API (JVB_COLIBRI_PORT) and colibri-ws (public).

Private (docs/bridge-media.md §9): ``/about/health``, ``/about/version``, ``/metrics``, and with
COLIBRI_REST_ENABLED ``/colibri/stats``, drain, and (with SHUTDOWN_REST_ENABLED too) shutdown. Drain
and shutdown change the bridge: only peers in ``control_from`` may POST them (403 for the rest).
Public: ``/colibri-ws/<server id>/<conference id>/<endpoint id>?pwd=`` carrying the bridge channel.
"""

from __future__ import annotations

import json
import logging
import platform
import secrets

from aiohttp import WSMsgType, web

from ..common.addresses import Networks
from ..common.log import Throttled
from ..common.metrics import CollectorRegistry, LoopMonitor, render
from ..settings.fields import Network
from .channel import ChannelError, MessageHandler, Tasks
from .videobridge import VERSION, Videobridge

log = logging.getLogger(__name__)

WS_HEARTBEAT = 15.0  # keep-alive pings, as JVB


def private_app(bridge: Videobridge, *, colibri_rest: bool, shutdown_rest: bool, control_from: tuple[Network, ...],
                on_shutdown=None) -> web.Application:
    app = web.Application()
    registry = CollectorRegistry()
    LoopMonitor(registry).attach(app)

    refusals = Throttled(log)
    controllers = Networks(control_from)

    def control(handler):
        async def checked(request):
            if request.remote not in controllers:
                refusals.log(logging.WARNING, "bridge: %s %s refused to %s (JITSI_PY_JVB_REST_CONTROL_FROM)",
                             request.method, request.path, request.remote)
                raise web.HTTPForbidden(text="not from here\n")
            return await handler(request)
        return checked

    async def health(request):
        if bridge.healthy:
            return web.Response(status=200)
        return web.Response(status=500, text="unhealthy")

    async def version(request):
        return web.json_response({"name": "JVB", "version": VERSION, "os": platform.system()})

    async def metrics(request):
        lines = []
        for name, value in bridge.stats().items():
            if isinstance(value, bool):
                value = int(value)
            if isinstance(value, (int, float)):
                lines.append(f"# TYPE jitsi_{name} gauge\njitsi_{name} {value}")
        return web.Response(text="\n".join(lines) + "\n" + render(registry).decode(), content_type="text/plain")

    app.router.add_get("/about/health", health)
    app.router.add_get("/about/version", version)
    app.router.add_get("/metrics", metrics)
    if colibri_rest:
        async def stats(request):
            return web.json_response(bridge.stats())

        async def drain(request):
            return web.json_response({"drain": bridge.drain})

        async def drain_set(request):
            bridge.drain = request.match_info["action"] == "enable"
            return web.Response(status=200)

        app.router.add_get("/colibri/stats", stats)
        app.router.add_get("/colibri/drain", drain)
        app.router.add_post("/colibri/drain/{action:enable|disable}", control(drain_set))
        if shutdown_rest:
            async def shutdown(request):
                try:
                    body = await request.json()
                    graceful = body["graceful-shutdown"]
                except (ValueError, KeyError, TypeError):
                    return web.Response(status=400, text='expected {"graceful-shutdown": true|false}')
                bridge.graceful_shutdown = True
                if on_shutdown is not None:
                    on_shutdown(bool(graceful))
                return web.Response(status=200)

            app.router.add_post("/colibri/shutdown", control(shutdown))
    return app


def public_app(bridge: Videobridge, server_id: str) -> web.Application:
    app = web.Application()

    async def colibri_ws(request):
        if request.match_info["server"] != server_id:
            raise web.HTTPNotFound()
        endpoint = bridge.find_endpoint(request.match_info["conference"], request.match_info["endpoint"])
        if endpoint is None:
            raise web.HTTPNotFound()
        if not secrets.compare_digest(request.query.get("pwd", ""), endpoint.ws_password):
            raise web.HTTPForbidden()
        ws = web.WebSocketResponse(heartbeat=WS_HEARTBEAT, max_msg_size=64 * 1024)
        await ws.prepare(request)
        counters = bridge.counters
        previous = getattr(endpoint, "websocket", None)
        if previous is not None:
            await previous.close(message=b"replaced")
        endpoint.websocket = ws

        sends = Tasks()

        def send(message: dict) -> None:
            if not ws.closed:
                sends.start(ws.send_str(json.dumps(message, separators=(",", ":"))))
                counters.web_socket_messages_sent += 1

        handler = MessageHandler(endpoint)
        endpoint.channel = send
        handler.connected(hello=True)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                counters.web_socket_messages_received += 1
                try:
                    handler.receive(msg.data)
                except ChannelError as exc:
                    counters.channel_messages_rejected += 1
                    log.debug("endpoint %s: colibri-ws message refused: %s", endpoint.id, exc)
        finally:
            if endpoint.channel is send:
                endpoint.channel = None
            if getattr(endpoint, "websocket", None) is ws:
                endpoint.websocket = None
        return ws

    app.router.add_get("/colibri-ws/{server}/{conference}/{endpoint}", colibri_ws)
    return app
