"""Fuzzing BOSH (XEP-0124/0206) request bodies as the HTTP handler gets them: the session-creation
body's attributes (rid, wait, hold, to, ver), then requests of that session with their rid, sid,
restart, terminate and stanzas, valid ones mutated. The contract: every POST is answered 200
with a well-formed <body/> (a ``terminate`` one for what is refused); no exception leaves the
handler (aiohttp would answer 500 and log a traceback per request)."""

from __future__ import annotations

import asyncio
import base64
import tempfile

import pytest
from aiohttp.test_utils import make_mocked_request
from hypothesis import example, given, strategies as st

from jitsi_py.common.xmlstream import parse_document
from jitsi_py.xmpp.bosh import BoshEndpoint
from jitsi_py.xmpp.server import XmppServer, parser_limits, session_limits
from tests.support.fuzz import mutated

from .conftest import make_settings

pytestmark = pytest.mark.fuzz

NS = "xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh'"
CREATE = [
    f"<body {NS} rid='1000' to='meet.jitsi' wait='60' hold='1' xmpp:version='1.0' ver='1.6'/>".encode(),
    f"<body {NS} rid='1' to='meet.jitsi' wait='0' hold='0' content='text/xml; charset=utf-8'/>".encode(),
    f"<body {NS} rid='1000' to='auth.meet.jitsi' wait='5.5' hold='2' xml:lang='en'/>".encode(),
]
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
PLAIN = base64.b64encode(b"\x00u\x00p").decode()
REQUESTS = [  # "SID" and "RID" are filled in for the session made
    f"<body {NS} rid='RID' sid='SID'><auth xmlns='{SASL}' mechanism='ANONYMOUS'/></body>".encode(),
    f"<body {NS} rid='RID' sid='SID'><auth xmlns='{SASL}' mechanism='PLAIN'>{PLAIN}</auth></body>".encode(),
    f"<body {NS} rid='RID' sid='SID' xmpp:restart='true' to='meet.jitsi'/>".encode(),
    f"<body {NS} rid='RID' sid='SID'><iq type='set' id='b' xmlns='jabber:client'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq></body>".encode(),
    f"<body {NS} rid='RID' sid='SID'><presence xmlns='jabber:client' to='r@muc.meet.jitsi/n'><x xmlns='http://jabber.org/protocol/muc'/></presence></body>".encode(),
    f"<body {NS} rid='RID' sid='SID'/>".encode(),
    f"<body {NS} rid='RID' sid='SID' pause='5'/>".encode(),
    f"<body {NS} rid='RID' sid='SID' type='terminate'><presence xmlns='jabber:client' type='unavailable'/></body>".encode(),
]

_server: XmppServer | None = None


def server() -> XmppServer:
    global _server
    if _server is None:
        _server = XmppServer(make_settings(tempfile.mkdtemp(prefix="bosh-fuzz-")))
    return _server


class Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read(self, n: int) -> bytes:
        return self.data[:n]


class Transport:
    def get_extra_info(self, name: str, default=None):
        return ("127.0.0.1", 40000) if name == "peername" else default


async def post(endpoint: BoshEndpoint, data: bytes) -> bytes:
    request = make_mocked_request("POST", "/http-bind", payload=Body(data), transport=Transport())
    response = await endpoint.handle(request)
    assert response.status == 200
    parse_document(response.body)  # well-formed, whatever was asked
    return response.body


async def session(create: bytes, requests: list[tuple[bytes, int]]) -> None:
    srv = server()
    settings = srv.settings
    endpoint = BoshEndpoint(srv.router, session_limits(settings), parser_limits(settings), 64 * 1024,
                            max_wait=0.02, max_inactivity=1, polling=0, max_requests=2, trusted_proxies=())
    try:
        await post(endpoint, create)
        sid = next(iter(endpoint.sessions), "none")
        rid = 1000
        for i, (template, rid_step) in enumerate(requests):
            body = template.replace(b"SID", sid.encode()).replace(b"RID", str(rid + 1 + i * rid_step).encode())
            await post(endpoint, body)
    finally:
        endpoint.close_all()
        for bosh in list(endpoint.sessions.values()):
            bosh._timer.cancel()


@given(create=st.one_of(mutated(CREATE, max_edits=3), st.builds(
           lambda rid, wait, hold: f"<body {NS} rid='{rid}' to='meet.jitsi' wait='{wait}' hold='{hold}'/>".encode(),
           st.sampled_from(["1000", "-1", "1e3", "99999999999999999999", "", "0x10"]),
           st.sampled_from(["60", "0", "-1", "nan", "inf", "-inf", "1e309", "0.001", ""]),
           st.sampled_from(["1", "0", "-1", "100", "1.5", ""]))),
       requests=st.lists(st.tuples(mutated(REQUESTS, max_edits=2), st.sampled_from([1, 1, 1, 0, -1, 5])),
                         max_size=5))
@example(create=CREATE[0], requests=[(r, 1) for r in REQUESTS])
# wait='nan': min(nan, max_wait) is nan, which passed the checks and failed in int() (ValueError, 500).
@example(create=f"<body {NS} rid='1000' to='meet.jitsi' wait='nan' hold='1'/>".encode(), requests=[])
def test_any_bosh_request_is_answered_with_a_body(create, requests):
    asyncio.run(session(create, requests))
