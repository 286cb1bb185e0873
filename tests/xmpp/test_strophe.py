"""The Jitsi web client's XMPP library (Strophe.js) over WebSocket and BOSH, as the client connects."""

from __future__ import annotations

import asyncio

import pytest

from .conftest import connect, disconnect
from .strophe import run_in_chromium, run_in_node


def ws_url(server, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.listening.http_port}/xmpp-websocket{query}"


def bosh_url(server, query: str = "") -> str:
    return f"http://127.0.0.1:{server.listening.http_port}/http-bind{query}"


async def test_websocket_anonymous_login_keeps_the_url_query(server):
    seen = []
    original = server.router.bind

    def spy(session, username, wanted):
        seen.append(dict(session.query))
        return original(session, username, wanted)

    server.router.bind = spy
    result = await run_in_node({"url": ws_url(server, "?room=standup&token=abc&prefix=t1"), "jid": "meet.jitsi",
                                "domain": "meet.jitsi", "marker": "ws"})
    assert result.get("connected"), result
    assert result["jid"].endswith("@meet.jitsi/" + result["jid"].rsplit("/", 1)[1])
    assert result["ping"] == "result"
    assert "urn:xmpp:ping" in result["features"]
    assert result["echo"] == "echo <&> ws"
    assert seen and seen[0]["room"] == "standup" and seen[0]["token"] == "abc" and seen[0]["prefix"] == "t1"
    assert not server.router.sessions  # the clean close ended the session


async def test_websocket_password_login_with_scram(server):
    result = await run_in_node({"url": ws_url(server), "jid": "focus@auth.meet.jitsi", "password": "focus-secret",
                                "domain": "auth.meet.jitsi", "marker": "scram"})
    assert result.get("connected"), result
    assert result["jid"].startswith("focus@auth.meet.jitsi/")


async def test_websocket_wrong_password_fails_auth(server):
    result = await run_in_node({"url": ws_url(server), "jid": "focus@auth.meet.jitsi", "password": "nope",
                                "domain": "auth.meet.jitsi", "marker": "x"})
    assert not result.get("connected"), result


@pytest.mark.browser
async def test_bosh_login_in_chromium_reaches_a_tcp_client(server):
    peer = await connect(server, "jvb@auth.meet.jitsi", "jvb-secret")
    try:
        got: asyncio.Future = asyncio.get_running_loop().create_future()
        peer.add_event_handler("message", lambda m: got.done() or got.set_result(m))
        result = await run_in_chromium({"url": bosh_url(server, "?room=standup"), "jid": "meet.jitsi",
                                        "domain": "meet.jitsi", "marker": "bosh", "peer": peer.boundjid.full})
        assert result.get("connected"), result
        assert result["ping"] == "result"
        assert result["echo"] == "echo <&> bosh"
        message = await asyncio.wait_for(got, 10)
        assert message["body"] == "hello peer bosh"
        assert message["from"].full == result["jid"]
    finally:
        await disconnect(peer)


@pytest.mark.parametrize("transport", ["websocket", "bosh"])
async def test_http_transports_answer_plain_gets(server, transport):
    import aiohttp

    path = "xmpp-websocket" if transport == "websocket" else "http-bind"
    url = f"http://127.0.0.1:{server.listening.http_port}/{path}"
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "?room=x") as response:
            assert response.status == 200
        async with http.get(f"http://127.0.0.1:{server.listening.http_port}/health") as response:
            assert response.status == 200


async def test_websocket_resumption_with_strophe_stream_management(server):
    """Strophe's XEP-0198 engine drops its socket and resumes; what it missed is replayed."""
    import json
    from xml.etree.ElementTree import Element, SubElement

    from .strophe import NODE_DIR, ensure_node_modules

    ensure_node_modules()
    options = {"url": ws_url(server), "jid": "jvb@auth.meet.jitsi", "password": "jvb-secret", "expect": 2}
    proc = await asyncio.create_subprocess_exec(
        "node", str(NODE_DIR / "strophe_sm.mjs"), json.dumps(options),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )

    async def line() -> dict:
        while True:
            raw = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert raw, (await proc.stderr.read()).decode()[-2000:]
            if raw.startswith(b"{"):
                event = json.loads(raw)
                assert event["phase"] != "error", event
                return event

    try:
        enabled = await line()
        session = server.router.sessions[enabled["jid"]]
        assert (await line())["phase"] == "dropped"
        async with asyncio.timeout(5):
            while session.link is not None:
                await asyncio.sleep(0.02)
        for body in ("first while away", "second while away"):
            message = Element("{jabber:client}message", {"to": enabled["jid"], "from": "focus@auth.meet.jitsi/x"})
            SubElement(message, "{jabber:client}body").text = body
            server.router.route(message, None)
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
        resumed = await line()
        assert resumed["resumed"] is True and resumed["jid"] == enabled["jid"]
        assert resumed["bodies"] == ["first while away", "second while away"]
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
