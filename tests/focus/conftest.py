"""Fixtures of the live focus tests: an XMPP server (Debian's Prosody, or ours) and the focus on it."""

import asyncio

import pytest

from jitsi_py.focus.client import Focus
from jitsi_py.settings import Settings

from .harness import FOCUS_PASSWORD, OurXmppServer, ProsodyServer, free_port


def focus_settings(port: int, rest_port: int, **extra: str) -> Settings:
    return Settings.from_values({
        "XMPP_SERVER": "127.0.0.1", "XMPP_PORT": str(port), "JICOFO_AUTH_PASSWORD": FOCUS_PASSWORD,
        "JICOFO_REST_PORT": str(rest_port), "JICOFO_ENABLE_HEALTH_CHECKS": "1",
        "JICOFO_BRIDGE_HEALTH_CHECKS_INTERVAL": "1", "JICOFO_COLIBRI_REQUEST_TIMEOUT": "2", **extra,
    })


@pytest.fixture(params=["prosody", "ours"])
async def xmpp_server(request, tmp_path):
    """The XMPP server under the focus: Debian's Prosody, or ours."""
    server = ProsodyServer(tmp_path) if request.param == "prosody" else OurXmppServer(tmp_path / "cfg")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def focus(xmpp_server):
    focus = Focus(focus_settings(xmpp_server.c2s_port, free_port()))
    await focus.start()
    await asyncio.wait_for(focus.connected.wait(), 15)
    yield focus
    await focus.stop()


async def until(predicate, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


