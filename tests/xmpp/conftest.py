"""A live XmppServer on loopback with ephemeral ports, and real slixmpp clients against it."""

from __future__ import annotations

import asyncio
import ssl
from typing import AsyncIterator

import pytest
import slixmpp

from jitsi_py.settings import Settings
from jitsi_py.xmpp.server import XmppServer

PASSWORDS = {"JICOFO_AUTH_PASSWORD": "focus-secret", "JVB_AUTH_PASSWORD": "jvb-secret"}


def make_settings(tmp_path, **extra: str) -> Settings:
    return Settings.from_values({"CONFIG": str(tmp_path), **PASSWORDS, **extra})


@pytest.fixture
def settings_values() -> dict[str, str]:
    """Override in a test module to change the server's environment."""
    return {}


@pytest.fixture
async def server(tmp_path, settings_values) -> AsyncIterator[XmppServer]:
    srv = XmppServer(make_settings(tmp_path, **settings_values))
    srv.create_service_accounts()
    await srv.start("127.0.0.1", {"c2s": 0, "http": 0, "component": 0})
    try:
        yield srv
    finally:
        await srv.stop()


async def connect(server: XmppServer, jid: str, password: str = "", mechanism: str | None = None,
                  plugins: tuple[str, ...] = ()) -> slixmpp.ClientXMPP:
    """A slixmpp client over TCP with STARTTLS, logged in and bound (or AssertionError)."""
    client = slixmpp.ClientXMPP(jid, password, sasl_mech=mechanism)
    client.enable_direct_tls = False
    client.enable_plaintext = False
    client.ssl_context.check_hostname = False
    client.ssl_context.verify_mode = ssl.CERT_NONE
    for plugin in plugins:
        client.register_plugin(plugin)
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    client.add_event_handler("session_start", lambda _e: started.done() or started.set_result("ok"))
    client.add_event_handler("failed_all_auth", lambda _e: started.done() or started.set_result("auth failed"))
    client.connect("127.0.0.1", server.listening.c2s_port)
    outcome = await asyncio.wait_for(started, 15)
    if outcome != "ok":
        client.disconnect()
        raise AssertionError(outcome)
    return client


async def disconnect(*clients: slixmpp.ClientXMPP) -> None:
    """Close each stream and wait for the server's own </stream:stream>."""
    done = [client.disconnect() for client in clients]
    await asyncio.wait_for(asyncio.gather(*done, return_exceptions=True), 10)
