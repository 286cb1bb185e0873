"""slixmpp over TCP: STARTTLS, every SASL mechanism, bind, routing, disco and ping."""

from __future__ import annotations

import asyncio

import pytest

from .conftest import connect, disconnect


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"])
async def test_password_login_and_bind(server, mechanism):
    client = await connect(server, "focus@auth.meet.jitsi", "focus-secret", mechanism)
    try:
        assert client.boundjid.bare == "focus@auth.meet.jitsi"
        assert client.boundjid.resource
        assert client.boundjid.full in server.router.sessions
    finally:
        await disconnect(client)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"])
async def test_wrong_password_is_refused(server, mechanism):
    with pytest.raises(AssertionError, match="auth failed"):
        await connect(server, "focus@auth.meet.jitsi", "wrong", mechanism)
    assert not server.router.sessions


async def test_anonymous_login_gets_a_uuid(server):
    client = await connect(server, "meet.jitsi", mechanism="ANONYMOUS")
    try:
        node = client.boundjid.user
        assert len(node) == 36 and node.count("-") == 4 and node == node.lower()
    finally:
        await disconnect(client)


async def test_messages_and_iqs_route_between_sessions(server):
    focus = await connect(server, "focus@auth.meet.jitsi", "focus-secret")
    jvb = await connect(server, "jvb@auth.meet.jitsi", "jvb-secret", plugins=("xep_0199",))
    try:
        got: asyncio.Future = asyncio.get_running_loop().create_future()
        jvb.add_event_handler("message", lambda m: got.done() or got.set_result(m))
        focus.send_message(mto=jvb.boundjid.full, mbody="to full")
        message = await asyncio.wait_for(got, 5)
        assert message["body"] == "to full"
        assert message["from"] == focus.boundjid
        got2: asyncio.Future = asyncio.get_running_loop().create_future()
        jvb.add_event_handler("message", lambda m: got2.done() or got2.set_result(m))
        focus.send_message(mto="jvb@auth.meet.jitsi", mbody="to bare")
        assert (await asyncio.wait_for(got2, 5))["body"] == "to bare"
        # An IQ to a full JID goes through; XEP-0199 answered by the other client.
        focus.register_plugin("xep_0199")
        await focus.plugin["xep_0199"].send_ping(jvb.boundjid.full, timeout=5)
    finally:
        await disconnect(focus, jvb)


async def test_server_answers_ping_disco_and_errors(server):
    client = await connect(server, "meet.jitsi", mechanism="ANONYMOUS", plugins=("xep_0030", "xep_0199"))
    try:
        await client.plugin["xep_0199"].send_ping("meet.jitsi", timeout=5)
        info = await client.plugin["xep_0030"].get_info(jid="meet.jitsi", timeout=5)
        features = info["disco_info"]["features"]
        assert "urn:xmpp:ping" in features and "http://jabber.org/protocol/disco#info" in features
        identities = info["disco_info"]["identities"]
        assert ("server", "im", None, "jitsi-py") in identities
        # A full JID with no session, and a domain nobody serves: errors, not silence.
        iq = client.make_iq_get(queryxmlns="urn:xmpp:ping", ito="nobody@meet.jitsi/x")
        with pytest.raises(Exception) as err:
            await iq.send(timeout=5)
        assert "service-unavailable" in str(err.value.iq) if hasattr(err.value, "iq") else True
        iq = client.make_iq_get(queryxmlns="urn:xmpp:ping", ito="elsewhere.example")
        with pytest.raises(Exception) as err:
            await iq.send(timeout=5)
        assert err.value.iq["error"]["condition"] == "remote-server-not-found"
    finally:
        await disconnect(client)


async def test_binding_a_taken_resource_replaces_the_old_session(server):
    first = await connect(server, "focus@auth.meet.jitsi/focus", "focus-secret")
    ended = asyncio.Event()
    first.add_event_handler("disconnected", lambda _e: ended.set())
    second = await connect(server, "focus@auth.meet.jitsi/focus", "focus-secret")
    try:
        assert second.boundjid.full == "focus@auth.meet.jitsi/focus"
        await asyncio.wait_for(ended.wait(), 5)
        assert server.router.sessions["focus@auth.meet.jitsi/focus"].link is not None
        assert len(server.router.by_bare["focus@auth.meet.jitsi"]) == 1
    finally:
        await disconnect(first, second)
