"""Port 5280 under a slowloris and an idle flood: the slow and idle connections are cut at the header
timeout, the flood beyond the per-address cap is refused at once (before any WebSocket upgrade), and
the WebSocket and BOSH sessions of a meeting keep exchanging stanzas meanwhile."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from ..support.slowhttp import idle_flood, lifetime_idle, lifetime_slowloris
from .test_http_transports import _message, bosh_login, post, ws_login


@pytest.fixture
def settings_values() -> dict[str, str]:
    return {"JITSI_PY_HTTP_HEADER_TIMEOUT": "1", "JITSI_PY_HTTP_KEEPALIVE_TIMEOUT": "1",
            "JITSI_PY_HTTP_MAX_CONNECTIONS_PER_IP": "10", "JITSI_PY_HTTP_TRUSTED_PROXIES": "192.0.2.1"}


async def test_slowloris_and_idle_flood_on_5280_while_websocket_and_bosh_sessions_go_on(server):
    port = server.listening.http_port
    ws, jid = await ws_login(server)
    async with aiohttp.ClientSession() as http:
        sid, rid, bosh_jid = await bosh_login(http, server)
        attack = [asyncio.ensure_future(lifetime_slowloris(port, interval=0.3, limit=10)),
                  asyncio.ensure_future(lifetime_idle(port, limit=10))]
        await asyncio.sleep(0.2)
        flood = await idle_flood(port, 15, limit=10)
        # The long poll is held past both timeouts: a request being answered is not idle.
        poll = asyncio.ensure_future(post(http, server, f"rid='{rid}' sid='{sid}'"))
        for i in range(8):
            await ws.send(f'<message xmlns="jabber:client" to="{jid}" id="m{i}"><body>tick {i}</body></message>')
            frame = await asyncio.wait_for(ws.recv(), 5)
            assert f"tick {i}" in frame
            await asyncio.sleep(0.3)
        assert not poll.done()
        server.router.route(_message(bosh_jid, "still here"), None)
        assert "still here" in await asyncio.wait_for(poll, 5)
        held = await flood.lifetimes()
        flood.close()
        slowloris, idle = await asyncio.gather(*attack)
    assert flood.refused == 7 and len(held) == 8  # 10 per address: the slowloris and the idle one
    assert all(life < 2.5 for life in [slowloris, idle, *held]), (slowloris, idle, held)
    await ws.send(f'<message xmlns="jabber:client" to="{jid}"><body>after</body></message>')
    assert "after" in await asyncio.wait_for(ws.recv(), 5)
    await ws.close()
