"""WebSocket framing and BOSH session rules at the byte level: limits, errors, long polls, metrics."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
import websockets

from .conftest import connect, disconnect

OPEN = '<open xmlns="urn:ietf:params:xml:ns:xmpp-framing" to="meet.jitsi" version="1.0"/>'
BIND = '<iq type="set" id="b" xmlns="jabber:client"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>'


@pytest.fixture
def settings_values() -> dict[str, str]:
    return {"JITSI_PY_XMPP_WEBSOCKET_FRAME_LIMIT": "64kb", "JITSI_PY_XMPP_BOSH_BODY_LIMIT": "64kb",
            "TURN_HOST": "turn.example.org", "TURN_CREDENTIALS": "s3cret", "STUN_HOST": "stun.example.org"}


async def ws_client(server, query: str = ""):
    ws = await websockets.connect(f"ws://127.0.0.1:{server.listening.http_port}/xmpp-websocket{query}",
                                  subprotocols=["xmpp"])
    assert ws.subprotocol == "xmpp"
    return ws


async def ws_login(server, query: str = ""):
    ws = await ws_client(server, query)
    await ws.send(OPEN)
    assert "<open" in await ws.recv()
    assert "ANONYMOUS" in await ws.recv()
    await ws.send('<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="ANONYMOUS"/>')
    assert "<success" in await ws.recv()
    await ws.send(OPEN)
    await ws.recv()
    assert "xmpp-bind" in await ws.recv()
    await ws.send(BIND)
    jid = re.search(r"<jid>([^<]+)</jid>", await ws.recv()).group(1)
    return ws, jid


async def read_until_closed(ws) -> list[str]:
    frames = []
    try:
        async with asyncio.timeout(10):
            async for frame in ws:
                frames.append(frame)
    except websockets.ConnectionClosed:
        pass
    return frames


@pytest.mark.parametrize("frames,condition", [
    ([OPEN, "<message><body>half"], "not-well-formed"),
    ([OPEN, "<!-- c --><presence/>"], "restricted-xml"),
    ([OPEN, "<message>" * 60], "policy-violation"),  # too deep, even before the frame ends
    ([OPEN, "<presence/>"], "not-authorized"),
])
async def test_websocket_bad_frames_close_with_a_stream_error(server, frames, condition):
    ws = await ws_client(server)
    for frame in frames:
        await ws.send(frame)
    received = await read_until_closed(ws)
    assert any(condition in f for f in received), received
    assert received[-1].startswith("<close")


async def test_websocket_oversized_and_binary_frames(server):
    ws = await ws_client(server)
    await ws.send(OPEN)
    await ws.send("<message><body>" + "x" * 70_000 + "</body></message>")
    await read_until_closed(ws)
    assert ws.close_code == 1009  # message too big, from the frame layer
    ws = await ws_client(server)
    await ws.send(OPEN)
    await ws.send(b"<presence/>")
    received = await read_until_closed(ws)
    assert any("policy-violation" in f for f in received)


async def test_websocket_and_tcp_sessions_talk(server):
    ws, jid = await ws_login(server, "?room=standup")
    tcp = await connect(server, "jvb@auth.meet.jitsi", "jvb-secret")
    try:
        tcp.send_message(mto=jid, mbody="over ws")
        frame = await asyncio.wait_for(ws.recv(), 5)
        assert frame.startswith('<message xmlns="jabber:client"') and "over ws" in frame
        await ws.send('<close xmlns="urn:ietf:params:xml:ns:xmpp-framing"/>')
        assert (await read_until_closed(ws))[-1].startswith("<close")
    finally:
        await disconnect(tcp)


async def test_websocket_resumption_with_previd_keeps_the_anonymous_user(server):
    ws, jid = await ws_login(server)
    await ws.send('<enable xmlns="urn:xmpp:sm:3" resume="true"/>')
    sm_id = re.search(r'id="([^"]+)"', await ws.recv()).group(1)
    session = server.router.sessions[jid]
    ws.transport.abort()  # the network drops: no <close/>, no closing handshake
    async with asyncio.timeout(5):
        while session.link is not None:
            await asyncio.sleep(0.02)
    assert session.hibernating_until is not None
    server.router.route(_message(jid, "missed"), None)
    ws2 = await ws_client(server, f"?previd={sm_id}")
    await ws2.send(OPEN)
    await ws2.recv(), await ws2.recv()
    await ws2.send('<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="ANONYMOUS"/>')
    await ws2.recv()
    await ws2.send(OPEN)
    await ws2.recv(), await ws2.recv()
    await ws2.send(f'<resume xmlns="urn:xmpp:sm:3" h="0" previd="{sm_id}"/>')
    resumed = await asyncio.wait_for(ws2.recv(), 5)
    assert resumed.startswith("<resumed") and sm_id in resumed
    replay = [await asyncio.wait_for(ws2.recv(), 5) for _ in range(2)]
    assert any("missed" in f for f in replay)
    assert server.router.sessions[jid] is session
    await ws2.close()


def _message(to: str, body: str):
    from xml.etree.ElementTree import Element, SubElement

    message = Element("{jabber:client}message", {"to": to, "from": "x@meet.jitsi/y"})
    SubElement(message, "{jabber:client}body").text = body
    return message


# --- BOSH ------------------------------------------------------------------------------------

BODY = "<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' {attrs}>{children}</body>"


async def post(http, server, attrs: str, children: str = "") -> str:
    url = f"http://127.0.0.1:{server.listening.http_port}/http-bind?room=standup"
    async with http.post(url, data=BODY.format(attrs=attrs, children=children)) as response:
        assert response.status == 200
        return await response.text()


async def bosh_login(http, server) -> tuple[str, int, str]:
    created = await post(http, server, "rid='100' to='meet.jitsi' wait='5' hold='1' xmpp:version='1.0'")
    sid = re.search(r'sid="([^"]+)"', created).group(1)
    for attr in ("wait=", "requests=", "inactivity=", "polling=", "hold=", 'ver="1.6"', 'from="meet.jitsi"'):
        assert attr in created
    assert "ANONYMOUS" in created
    assert "<success" in await post(http, server, f"rid='101' sid='{sid}'",
                                    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>")
    assert "xmpp-bind" in await post(http, server, f"rid='102' sid='{sid}' xmpp:restart='true' to='meet.jitsi'")
    bound = await post(http, server, f"rid='103' sid='{sid}'", BIND)
    return sid, 104, re.search(r"<jid>([^<]+)</jid>", bound).group(1)


async def test_bosh_long_poll_is_answered_when_a_stanza_arrives(server):
    async with aiohttp.ClientSession() as http:
        sid, rid, jid = await bosh_login(http, server)
        assert server.router.sessions[jid].origin.query["room"] == "standup"
        poll = asyncio.ensure_future(post(http, server, f"rid='{rid}' sid='{sid}'"))
        await asyncio.sleep(0.2)
        assert not poll.done()  # held, as hold=1 asks
        server.router.route(_message(jid, "pushed"), None)
        assert "pushed" in await asyncio.wait_for(poll, 5)
        # A retransmitted rid gets the same answer; a rid outside the window ends the session.
        assert "pushed" in await post(http, server, f"rid='{rid}' sid='{sid}'")
        ended = await post(http, server, f"rid='{rid + 50}' sid='{sid}'")
        assert 'type="terminate"' in ended and "item-not-found" in ended
        assert jid not in server.router.sessions


async def test_bosh_request_waits_for_the_login_of_the_one_before(server):
    """Requests pass the rid gate in order but run side by side: the restart that follows an <auth/>
    still reaches the session after the auth backend's answer, never while it is asked."""
    release = asyncio.Event()
    backend = server.router.backends["meet.jitsi"]
    original = backend.anonymous

    async def slow(attempt):
        await release.wait()
        return await original(attempt)

    backend.anonymous = slow
    async with aiohttp.ClientSession() as http:
        created = await post(http, server, "rid='100' to='meet.jitsi' wait='5' hold='1' xmpp:version='1.0'")
        sid = re.search(r'sid="([^"]+)"', created).group(1)
        auth = asyncio.ensure_future(post(http, server, f"rid='101' sid='{sid}'",
                                          "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>"))
        await asyncio.sleep(0.2)
        restart = asyncio.ensure_future(
            post(http, server, f"rid='102' sid='{sid}' xmpp:restart='true' to='meet.jitsi'"))
        await asyncio.sleep(0.2)
        assert not auth.done() and not restart.done()
        release.set()
        assert "<success" in await asyncio.wait_for(auth, 5)
        assert "xmpp-bind" in await asyncio.wait_for(restart, 5)


async def test_bosh_terminate_delivers_its_presence_then_ends(server):
    async with aiohttp.ClientSession() as http:
        sid, rid, jid = await bosh_login(http, server)
        answer = await post(http, server, f"rid='{rid}' sid='{sid}' type='terminate'",
                            "<presence type='unavailable' xmlns='jabber:client'/>")
        assert 'type="terminate"' in answer
        assert jid not in server.router.sessions


@pytest.mark.parametrize("payload,condition", [
    ("<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='meet.jitsi'", "bad-request"),
    ("<!DOCTYPE body><body/>", "bad-request"),
    ("<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='meet.jitsi'>" + "x" * 70_000 + "</body>",
     "policy-violation"),
    ("<body xmlns='http://jabber.org/protocol/httpbind' rid='1' sid='nope'/>", "item-not-found"),
])
async def test_bosh_bad_bodies(server, payload, condition):
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{server.listening.http_port}/http-bind"
        async with http.post(url, data=payload) as response:
            text = await response.text()
        assert 'type="terminate"' in text and f'condition="{condition}"' in text


# --- observability and discovery ----------------------------------------------------------------

async def test_metrics_count_sessions_errors_and_auth_failures(server):
    ws, jid = await ws_login(server)
    with pytest.raises(AssertionError):
        await connect(server, "focus@auth.meet.jitsi", "wrong")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{server.listening.http_port}/metrics") as response:
            text = await response.text()
    assert 'xmpp_sessions{transport="websocket"} 1.0' in text
    assert 'xmpp_auth_failures_total{condition="not-authorized"}' in text
    assert "xmpp_stanzas_in_total" in text and "xmpp_stream_errors_total" in text
    assert "jitsi_py_event_loop_lag_seconds " in text and "jitsi_py_asyncio_tasks " in text
    await ws.close()


async def test_extdisco_gives_time_limited_turn_credentials(server):
    client = await connect(server, "meet.jitsi", mechanism="ANONYMOUS", plugins=("xep_0030",))
    try:
        info = await client.plugin["xep_0030"].get_info(jid="meet.jitsi", timeout=5)
        assert "urn:xmpp:extdisco:2" in info["disco_info"]["features"]
        from xml.etree.ElementTree import Element

        iq = client.make_iq_get(ito="meet.jitsi")
        iq.xml.append(Element("{urn:xmpp:extdisco:2}services"))
        result = await iq.send(timeout=5)
        services = result.xml.findall(".//{urn:xmpp:extdisco:2}service")
        by_type = {s.get("type"): s for s in services}
        assert set(by_type) == {"stun", "turn"}
        turn = by_type["turn"]
        assert turn.get("host") == "turn.example.org" and turn.get("transport") == "tcp"
        import base64
        import hashlib
        import hmac

        expected = base64.b64encode(hmac.new(b"s3cret", turn.get("username").encode(), hashlib.sha1).digest())
        assert turn.get("password") == expected.decode() and turn.get("expires")
    finally:
        await disconnect(client)


async def test_frames_of_every_length_class_reach_a_websocket_client(server):
    """Our own frame headers (7-bit, 16-bit and 64-bit lengths) as a standard client reads them."""
    ws, jid = await ws_login(server)
    for size in (10, 300, 70_000):
        server.router.route(_message(jid, "x" * size), None)
        frame = await asyncio.wait_for(ws.recv(), 5)
        assert frame.count("x") >= size
    await ws.close()
