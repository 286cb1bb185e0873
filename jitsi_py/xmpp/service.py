"""Wiring of the xmpp service: start its listeners and clients from settings, stop on cancel."""

from __future__ import annotations

import asyncio

from ..common.startup import Ready, unobserved
from ..settings import Settings
from .server import XmppServer


async def run(settings: Settings, ready: Ready = unobserved) -> None:
    server = XmppServer(settings)
    server.create_service_accounts()
    try:
        await server.start()
        ready(f"serving {settings.common.domains.domain}")
        await asyncio.Event().wait()
    finally:
        await server.stop()
