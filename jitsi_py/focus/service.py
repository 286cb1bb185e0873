"""Wiring of the focus service: the XMPP client and the REST listener, stopped on cancel."""

from __future__ import annotations

import asyncio

from ..common.httpserver import HttpListener
from ..common.startup import Ready, binding, unobserved
from ..settings import Settings, require_secret
from .client import Focus
from .rest import make_app


async def run(settings: Settings, ready: Ready = unobserved) -> None:
    """Ready once logged in: before that no conference can be asked of it."""
    require_secret("JICOFO_AUTH_PASSWORD", settings.focus.password)
    focus = Focus(settings)
    listener = HttpListener("focus rest", settings.common.http)
    runner = listener.runner(make_app(focus))
    await runner.setup()
    host = "0.0.0.0" if settings.focus.rest_public else "127.0.0.1"
    try:
        with binding("JICOFO_REST_PORT", settings.focus.rest_port):
            await listener.listen(runner, host, settings.focus.rest_port)
        await focus.start()
        await focus.connected.wait()
        ready(f"logged in as {focus.xmpp.boundjid.full}, REST on {host}:{settings.focus.rest_port}")
        await asyncio.Event().wait()
    finally:
        await focus.stop()
        await runner.cleanup()
