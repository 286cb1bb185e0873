"""Wiring of the xmpp service: start its listeners and clients from settings, stop on cancel."""

from __future__ import annotations

import asyncio

from ..settings import Settings
from .server import XmppServer


async def run(settings: Settings) -> None:
    server = XmppServer(settings)
    server.create_service_accounts()
    await server.start()
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()
