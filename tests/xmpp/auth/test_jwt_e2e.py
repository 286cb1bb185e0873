"""Token logins through the whole server: the URL's ?token= over WebSocket, as the Jitsi client sends it.

Strophe.js (the client's XMPP library, in node) logs in; a small RFC 7395 client reads the exact
SASL failure and joins rooms, where the MUC applies the same room rule on join.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

import aiohttp
import jwt as pyjwt
import pytest

from ..strophe import run_in_node
from .test_jwt import claims, rs256

SECRET = "an-e2e-secret-that-is-at-least-32-bytes"
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
MUC = "http://jabber.org/protocol/muc"
HTTPBIND = "http://jabber.org/protocol/httpbind"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


@pytest.fixture
def settings_values():
    return {"ENABLE_AUTH": "1", "AUTH_TYPE": "jwt", "JWT_APP_ID": "my_app", "JWT_APP_SECRET": SECRET,
            "JITSI_PY_MUC_WAIT_FOR_FOCUS": "0"}


def token(**overrides) -> str:
    return pyjwt.encode(claims(**overrides), SECRET, algorithm="HS256")


def ws_url(server, **query: str) -> str:
    return f"ws://127.0.0.1:{server.listening.http_port}/xmpp-websocket?{urlencode(query)}"


async def strophe_login(server, **query: str) -> dict:
    return await run_in_node({"url": ws_url(server, **query), "jid": "meet.jitsi", "domain": "meet.jitsi",
                              "marker": "jwt"})


class RawClient:
    """Just enough of RFC 7395 to read the server's answers element by element."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, xml: str) -> None:
        await self.ws.send_str(xml)

    async def next(self) -> ET.Element:
        message = await self.ws.receive(timeout=10)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        return ET.fromstring(message.data)

    async def open(self) -> ET.Element:
        await self.send(f'<open xmlns="{FRAMING}" to="meet.jitsi" version="1.0"/>')
        assert (await self.next()).tag == f"{{{FRAMING}}}open"
        return await self.next()  # stream features

    async def anonymous(self) -> ET.Element:
        features = await self.open()
        mechanisms = [m.text for m in features.iter(f"{{{SASL}}}mechanism")]
        assert mechanisms == ["ANONYMOUS"]
        await self.send(f'<auth xmlns="{SASL}" mechanism="ANONYMOUS"/>')
        return await self.next()

    async def bind(self) -> str:
        await self.open()
        await self.send(f'<iq xmlns="jabber:client" type="set" id="b1"><bind xmlns="{BIND}"/></iq>')
        return (await self.next()).find(f".//{{{BIND}}}jid").text

    async def join(self, room_jid: str, nick: str) -> ET.Element:
        await self.send(f'<presence xmlns="jabber:client" to="{room_jid}/{nick}"><x xmlns="{MUC}"/></presence>')
        while True:
            stanza = await self.next()
            if stanza.tag == "{jabber:client}presence" and stanza.get("from", "").endswith("/" + nick):
                return stanza


async def raw_session(server, headers: dict[str, str] | None = None, **query: str):
    http = aiohttp.ClientSession()
    ws = await http.ws_connect(ws_url(server, **query), protocols=("xmpp",), headers=headers)
    return http, RawClient(ws)


async def test_valid_token_logs_in_with_strophe(server):
    result = await strophe_login(server, room="standup", token=token())
    assert result.get("connected"), result
    node, domain = result["jid"].split("/")[0].split("@")
    assert domain == "meet.jitsi" and uuid.UUID(node)
    assert result["ping"] == "result"


@pytest.mark.parametrize("case", ["no token", "alg none", "expired", "not yet valid", "wrong issuer",
                                  "wrong secret", "room mismatch"])
async def test_bad_tokens_fail_auth_in_strophe(server, case):
    now = int(time.time())
    bad = {
        "no token": None,
        "alg none": pyjwt.encode(claims(), None, algorithm="none"),
        "expired": token(exp=now - 3600),
        "not yet valid": token(nbf=now + 3600),
        "wrong issuer": token(iss="intruder"),
        "wrong secret": pyjwt.encode(claims(), "x" * 40, algorithm="HS256"),
        "room mismatch": token(room="a"),
    }[case]
    query = {"room": "b" if case == "room mismatch" else "standup"}
    if bad is not None:
        query["token"] = bad
    result = await strophe_login(server, **query)
    assert not result.get("connected"), result
    assert [4, None] in result["statuses"], result  # Strophe.Status.AUTHFAIL: refused at login
    assert not server.router.sessions or all(s.identity is None for s in server.router.sessions.values())


async def test_failure_on_the_wire_is_not_authorized_with_the_reason(server):
    http, client = await raw_session(server, room="standup", token=token(exp=int(time.time()) - 3600))
    try:
        failure = await client.anonymous()
        assert failure.tag == f"{{{SASL}}}failure"
        assert failure.find(f"{{{SASL}}}not-authorized") is not None
        assert failure.find(f"{{{SASL}}}text").text == "token expired"
    finally:
        await http.close()


async def test_rs256_token_from_the_key_server(tmp_path, key_server, signing_key):
    from jitsi_py.xmpp.server import XmppServer

    from ..conftest import make_settings

    url, requests, _ = key_server
    server = XmppServer(make_settings(tmp_path, ENABLE_AUTH="1", AUTH_TYPE="jwt", JWT_APP_ID="my_app",
                                      JWT_ASAP_KEYSERVER=url))
    server.create_service_accounts()
    await server.start("127.0.0.1", {"c2s": 0, "http": 0, "component": 0})
    try:
        assert (await strophe_login(server, room="standup", token=rs256(claims(), signing_key))).get("connected")
        forged = rs256(claims(), signing_key, kid="../../../etc/passwd")
        assert not (await strophe_login(server, room="standup", token=forged)).get("connected")
        assert len(requests) == 2 and all(path.endswith(".pem") and ".." not in path for path in requests)
    finally:
        await server.stop()


async def test_token_room_is_enforced_when_joining(server):
    """A connection opened without ?room= logs in; the MUC then admits only the token's room."""
    http, client = await raw_session(server, token=token(room="standup"))
    try:
        assert (await client.anonymous()).tag == f"{{{SASL}}}success"
        await client.bind()
        refused = await client.join("other@muc.meet.jitsi", "mireille")
        assert refused.get("type") == "error"
        error = refused.find("{jabber:client}error")
        assert error.get("type") == "cancel" and error.find(f"{{{STANZAS}}}not-allowed") is not None
        assert error.find(f"{{{STANZAS}}}text").text == "Room and token mismatched"
        joined = await client.join("standup@muc.meet.jitsi", "mireille")
        assert joined.get("type") is None, ET.tostring(joined)
    finally:
        await http.close()


async def bosh_login(server, headers: dict[str, str] | None = None, **query: str) -> ET.Element:
    """Create a BOSH session with ``query`` in its URL and ``headers`` on its first request, then
    SASL ANONYMOUS; the SASL answer."""
    url = f"http://127.0.0.1:{server.listening.http_port}/http-bind?{urlencode(query)}"
    first = {"Content-Type": "text/xml", **(headers or {})}
    async with aiohttp.ClientSession() as http:
        async def post(body: str) -> ET.Element:
            sent = first if "sid=" not in body else {"Content-Type": "text/xml"}
            async with http.post(url, data=body, headers=sent) as response:
                assert response.status == 200
                return ET.fromstring(await response.text())

        created = await post(f"<body xmlns='{HTTPBIND}' xmlns:xmpp='urn:xmpp:xbosh' rid='1' to='meet.jitsi' "
                             "wait='5' hold='1' ver='1.6' xmpp:version='1.0'/>")
        sid, rid = created.get("sid"), 2
        while created.find(".//{http://etherx.jabber.org/streams}features") is None:
            created = await post(f"<body xmlns='{HTTPBIND}' rid='{rid}' sid='{sid}'/>")
            rid += 1
        answer = await post(f"<body xmlns='{HTTPBIND}' rid='{rid}' sid='{sid}'>"
                            f"<auth xmlns='{SASL}' mechanism='ANONYMOUS'/></body>")
        return answer[0]


async def test_token_in_the_bosh_url(server):
    assert (await bosh_login(server, room="standup", token=token())).tag == f"{{{SASL}}}success"
    failure = await bosh_login(server, room="other", token=token())
    assert failure.tag == f"{{{SASL}}}failure" and failure.find(f"{{{SASL}}}not-authorized") is not None
