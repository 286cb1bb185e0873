"""Logins through the whole server: slixmpp (TCP, STARTTLS, SASL PLAIN) against LDAP accounts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl

import pytest
import slixmpp

from jitsi_py.settings import Settings
from jitsi_py.xmpp.server import XmppServer

from .test_ldap import SUFFIX, slapd  # noqa: F401  (the slapd fixture)

pytestmark = pytest.mark.system


class Client(slixmpp.ClientXMPP):
    """Logs in once and reports how it went: "ok", "auth-failed" or "disconnected"."""

    def __init__(self, jid: str, password: str) -> None:
        super().__init__(jid, password)
        self.outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.add_event_handler("session_start", lambda _: self._settle("ok"))
        self.add_event_handler("failed_all_auth", lambda _: self._settle("auth-failed"))
        self.add_event_handler("disconnected", lambda _: self._settle("disconnected"))
        # The server's certificate is self-signed; what is tested here is the login.
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE

    def _settle(self, outcome: str) -> None:
        if not self.outcome.done():
            self.outcome.set_result(outcome)


async def login(port: int, jid: str, password: str) -> str:
    client = Client(jid, password)
    client.connect("127.0.0.1", port)
    try:
        return await asyncio.wait_for(client.outcome, 20)
    finally:
        client.disconnect()
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def running_server(tmp_path, **values: str):
    settings = Settings.from_values({
        "CONFIG": str(tmp_path), "ENABLE_AUTH": "1",
        "JICOFO_AUTH_PASSWORD": "focus-secret", "JVB_AUTH_PASSWORD": "jvb-secret", **values,
    })
    server = XmppServer(settings)
    server.create_service_accounts()
    listening = await server.start("127.0.0.1", {"c2s": 0, "http": 0, "component": 0})
    try:
        yield listening
    finally:
        await server.stop()


@pytest.fixture
async def ldap_server(slapd, tmp_path):  # noqa: F811
    async with running_server(tmp_path, AUTH_TYPE="ldap", LDAP_URL=slapd["plain"],
                              LDAP_BASE=f"ou=people,{SUFFIX}") as listening:
        yield listening.c2s_port


async def test_ldap_user_logs_in_and_a_wrong_password_does_not(ldap_server):
    logging.getLogger("slixmpp").setLevel(logging.WARNING)
    assert await login(ldap_server, "mireille@meet.jitsi", "correct horse") == "ok"
    assert await login(ldap_server, "mireille@meet.jitsi", "wrong") == "auth-failed"
    assert await login(ldap_server, "nobody@meet.jitsi", "correct horse") == "auth-failed"
    # The service accounts stay on the auth domain's own store, whatever AUTH_TYPE says.
    assert await login(ldap_server, "focus@auth.meet.jitsi", "focus-secret") == "ok"


async def test_ldap_directory_down_refuses_the_login_without_hanging(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    async with running_server(tmp_path, AUTH_TYPE="ldap", LDAP_URL=f"ldap://127.0.0.1:{closed}",
                              LDAP_BASE=f"ou=people,{SUFFIX}") as listening:
        assert await login(listening.c2s_port, "mireille@meet.jitsi", "correct horse") == "auth-failed"
