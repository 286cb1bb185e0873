"""Jicofo's REST surface on JICOFO_REST_PORT (docs/focus.md §7): health, version, stats, metrics."""

from __future__ import annotations

import platform

from aiohttp import web

from ..common.metrics import CONTENT_TYPE, CollectorRegistry, LoopMonitor, Sampled, render
from .client import Focus
from .room_tracker import VERSION


def make_app(focus: Focus) -> web.Application:
    registry = CollectorRegistry()
    for name, doc, kind in (
        ("conferences", "Conferences the focus runs", "gauge"),
        ("participants", "Participants in all conferences", "gauge"),
        ("bridges", "Bridges in the brewery", "gauge"),
        ("operational_bridges", "Bridges fit for new participants", "gauge"),
        ("conference_requests", "Conference requests answered", "counter"),
        ("conferences_created", "Conferences created", "counter"),
        ("participants_invited", "Jingle session-initiate sent", "counter"),
        ("participants_moved", "Participants moved off a failed bridge", "counter"),
        ("bridge_failures", "Bridges that left or failed", "counter"),
        ("jingle_errors", "Jingle requests answered with an error", "counter"),
    ):
        registry.register(Sampled(f"jicofo_{name}", doc, kind, (),
                                  lambda name=name: {(): float(focus.stats()[name])}))

    async def health(_request: web.Request) -> web.Response:
        stats = focus.stats()
        if not stats["xmpp_connected"]:
            return web.Response(status=500, text="Not connected to the XMPP server")
        if stats["operational_bridges"] == 0:
            return web.Response(status=500, text="No operational bridges available")
        return web.Response(text="OK")

    async def version(_request: web.Request) -> web.Response:
        return web.json_response({"name": "jicofo", "version": VERSION, "os": platform.system()})

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(focus.stats())

    async def debug(_request: web.Request) -> web.Response:
        return web.json_response(focus.debug())

    async def metrics(_request: web.Request) -> web.Response:
        response = web.Response(body=render(registry))
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    app = web.Application()
    LoopMonitor(registry).attach(app)
    if focus.settings.focus.health_checks:
        app.router.add_get("/about/health", health)
    app.router.add_get("/about/version", version)
    app.router.add_get("/stats", stats)
    app.router.add_get("/debug/conferences", debug)
    app.router.add_get("/metrics", metrics)
    return app
