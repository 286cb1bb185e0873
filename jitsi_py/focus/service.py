"""Wiring of the focus service: the XMPP client and the REST listener, stopped on cancel."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from ..settings import Settings, require_secret
from .client import Focus
from .rest import make_app

log = logging.getLogger("jitsi_py.focus")


async def run(settings: Settings) -> None:
    require_secret("JICOFO_AUTH_PASSWORD", settings.focus.password)
    focus = Focus(settings)
    runner = web.AppRunner(make_app(focus), access_log=None)
    await runner.setup()
    host = "0.0.0.0" if settings.focus.rest_public else "127.0.0.1"
    site = web.TCPSite(runner, host, settings.focus.rest_port)
    await site.start()
    log.info("focus: REST on %s:%d", host, settings.focus.rest_port)
    await focus.start()
    try:
        await asyncio.Event().wait()
    finally:
        await focus.stop()
        await runner.cleanup()
