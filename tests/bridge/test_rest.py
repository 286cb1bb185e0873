"""The bridge's REST port as the service runs it: where it listens, who may drain or shut the bridge
down, and a slowloris and an idle flood against it while /about/health keeps answering."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from jitsi_py.bridge import run
from jitsi_py.settings import Settings

from ..support.slowhttp import ATTACKER, idle_flood, lifetime_idle, lifetime_slowloris


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def bridge():
    """Start the service (no XMPP) with extra settings; yields the REST base URL."""
    tasks: list[asyncio.Task] = []

    async def start(**env: str) -> str:
        port = free_port()
        task = asyncio.create_task(run(Settings.from_values({
            "JVB_DISABLE_XMPP": "1", "JVB_PORT": str(free_port(socket.SOCK_DGRAM)), "JVB_COLIBRI_PORT": str(port),
            "JVB_DISABLE_STUN": "1",
        "JITSI_PY_BRIDGE_WORKERS": "1", "COLIBRI_REST_ENABLED": "1", "SHUTDOWN_REST_ENABLED": "1",
            "JITSI_PY_JVB_HTTP_INTERFACES": "127.0.0.1", **env})))
        tasks.append(task)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"{base}/about/health") as response:
                        if response.status == 200:
                            return base
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
        raise AssertionError("the bridge's REST never answered")

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_rest_listens_on_the_configured_interfaces_only(bridge):
    base = await bridge()
    port = int(base.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):  # 127.0.0.2 is loopback too, but not what was asked
        await asyncio.open_connection("127.0.0.2", port)


async def test_drain_and_shutdown_answer_only_the_allowed_addresses(bridge):
    base = await bridge()
    outsider = aiohttp.TCPConnector(local_addr=(ATTACKER, 0))
    async with aiohttp.ClientSession(connector=outsider) as http:
        async with http.post(f"{base}/colibri/drain/enable") as response:
            assert response.status == 403
        async with http.post(f"{base}/colibri/shutdown", json={"graceful-shutdown": False}) as response:
            assert response.status == 403
        async with http.get(f"{base}/colibri/drain") as response:  # reading is harmless
            assert (await response.json()) == {"drain": False}
    async with aiohttp.ClientSession() as http:  # loopback, the default JITSI_PY_JVB_REST_CONTROL_FROM
        async with http.post(f"{base}/colibri/drain/enable") as response:
            assert response.status == 200
        async with http.get(f"{base}/colibri/drain") as response:
            assert (await response.json()) == {"drain": True}
    base = await bridge(JITSI_PY_JVB_REST_CONTROL_FROM="192.0.2.0/24")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/colibri/drain/enable") as response:
            assert response.status == 403


async def test_slowloris_and_idle_flood_while_health_keeps_answering(bridge):
    base = await bridge(JITSI_PY_HTTP_HEADER_TIMEOUT="1", JITSI_PY_HTTP_KEEPALIVE_TIMEOUT="1",
                        JITSI_PY_HTTP_MAX_CONNECTIONS_PER_IP="10", JITSI_PY_HTTP_TRUSTED_PROXIES="192.0.2.1")
    port = int(base.rsplit(":", 1)[1])
    attack = [asyncio.ensure_future(lifetime_slowloris(port, interval=0.3, limit=10)),
              asyncio.ensure_future(lifetime_idle(port, limit=10))]
    await asyncio.sleep(0.2)
    flood = await idle_flood(port, 15, limit=10)
    async with aiohttp.ClientSession() as http:
        for _ in range(10):
            async with http.get(f"{base}/about/health") as response:
                assert response.status == 200
            await asyncio.sleep(0.25)
    held = await flood.lifetimes()
    flood.close()
    slowloris, idle = await asyncio.gather(*attack)
    assert flood.refused == 7 and len(held) == 8  # 10 per address: the slowloris and the idle one
    assert all(life < 2.5 for life in [slowloris, idle, *held]), (slowloris, idle, held)
