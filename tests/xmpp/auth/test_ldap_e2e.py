"""LDAP logins through the whole server: slixmpp over c2s (STARTTLS, SASL PLAIN), real slapd behind."""

from __future__ import annotations

import socket

import pytest

from jitsi_py.xmpp.server import XmppServer

from ..conftest import connect, disconnect, make_settings
from ..strophe import run_in_node
from .conftest import READER, READER_PW, SCHEMED_PASSWORD, SUFFIX

pytestmark = pytest.mark.system


@pytest.fixture
def settings_values(slapd):
    return {"ENABLE_AUTH": "1", "AUTH_TYPE": "ldap", "LDAP_URL": slapd["plain"], "LDAP_BASE": f"ou=people,{SUFFIX}"}


async def login(server: XmppServer, jid: str, password: str) -> str:
    try:
        client = await connect(server, jid, password)
    except AssertionError as outcome:
        return str(outcome)
    await disconnect(client)
    return "ok"


async def test_ldap_user_logs_in_and_a_wrong_password_does_not(server):
    assert await login(server, "mireille@meet.jitsi", "correct horse") == "ok"
    assert await login(server, "mireille@meet.jitsi", "wrong") == "auth failed"
    assert await login(server, "nobody@meet.jitsi", "correct horse") == "auth failed"
    # The service accounts stay on the auth domain's own store, whatever AUTH_TYPE says.
    assert await login(server, "focus@auth.meet.jitsi", "focus-secret") == "ok"


async def test_ldap_directory_down_refuses_the_login_without_hanging(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    server = XmppServer(make_settings(tmp_path, ENABLE_AUTH="1", AUTH_TYPE="ldap", LDAP_URL=f"ldap://127.0.0.1:{closed}",
                                      LDAP_BASE=f"ou=people,{SUFFIX}"))
    server.create_service_accounts()
    await server.start("127.0.0.1", {"c2s": 0, "http": 0, "component": 0})
    try:
        assert await login(server, "mireille@meet.jitsi", "correct horse") == "auth failed"
    finally:
        await server.stop()


async def test_ldap_login_over_websocket_as_the_browser_login_dialog_does(server):
    url = f"ws://127.0.0.1:{server.listening.http_port}/xmpp-websocket?room=standup"
    ok = await run_in_node({"url": url, "jid": "mireille@meet.jitsi", "password": "correct horse",
                            "domain": "meet.jitsi", "marker": "ldap"})
    assert ok.get("connected"), ok
    assert ok["jid"].startswith("mireille@meet.jitsi/")
    wrong = await run_in_node({"url": url, "jid": "mireille@meet.jitsi", "password": "nope",
                               "domain": "meet.jitsi", "marker": "ldap"})
    assert not wrong.get("connected") and [4, None] in wrong["statuses"], wrong  # Strophe.Status.AUTHFAIL


async def test_custom_method_logs_in_through_the_server(tmp_path, slapd):
    server = XmppServer(make_settings(tmp_path, ENABLE_AUTH="1", AUTH_TYPE="ldap", LDAP_URL=slapd["plain"],
                                      LDAP_BASE=f"ou=people,{SUFFIX}", LDAP_AUTH_METHOD="custom",
                                      LDAP_BINDDN=READER, LDAP_BINDPW=READER_PW))
    server.create_service_accounts()
    await server.start("127.0.0.1", {"c2s": 0, "http": 0, "component": 0})
    try:
        assert await login(server, "ssha@meet.jitsi", SCHEMED_PASSWORD) == "ok"
        assert await login(server, "crypt@meet.jitsi", SCHEMED_PASSWORD) == "ok"
        assert await login(server, "ssha@meet.jitsi", "wrong") == "auth failed"
        assert await login(server, "nopass@meet.jitsi", "anything") == "auth failed"
    finally:
        await server.stop()
