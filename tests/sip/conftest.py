"""A conference mapper for the tests: PIN 123456 is the room ``pinroom``; it records what it was asked."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from aiohttp import web

from ..support.stack import free_port

PIN, ROOM = "123456", "pinroom@muc.meet.jitsi"


@dataclass
class Mapper:
    url: str
    asked: list[str] = field(default_factory=list)


@pytest.fixture
async def aiohttp_mapper():
    port = free_port()
    mapper = Mapper(f"http://127.0.0.1:{port}/conferenceMapper")

    async def lookup(request: web.Request) -> web.Response:
        pin = request.query.get("id", "")
        mapper.asked.append(pin)
        if pin == PIN:
            return web.json_response({"conference": ROOM, "id": int(PIN), "message": "ok"})
        return web.json_response({"conference": False, "id": pin, "message": "no conference for this PIN"})

    app = web.Application()
    app.router.add_get("/conferenceMapper", lookup)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield mapper
    await runner.cleanup()
