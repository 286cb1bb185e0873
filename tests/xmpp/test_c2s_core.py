"""The sans-I/O client session: XML in, XML out, no sockets and no clock of its own."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import pytest

from jitsi_py.common.xmlstream import STREAM_CLOSE, StreamOpen, XmlStreamParser
from jitsi_py.xmpp.c2s import C2SSession, SessionLimits
from jitsi_py.xmpp.server import XmppServer

from .conftest import make_settings


class MemoryLink:
    transport_name = "websocket"
    secure = True
    can_starttls = False
    remote_ip = "127.0.0.1"

    def __init__(self, query=None) -> None:
        self.query = query or {}
        self.out: list[bytes] = []
        self.closed: bytes | None | bool = False
        self.restarts = 0

    def send(self, data: bytes) -> None:
        self.out.append(data)

    def send_open(self, stream_id: str, domain: str) -> None:
        self.out.append(f"<open id='{stream_id}' from='{domain}'/>".encode())

    def start_tls(self) -> None:
        raise AssertionError

    def restart(self) -> None:
        self.restarts += 1

    def close(self, error) -> None:
        self.closed = error if error is not None else True

    def attach(self, session) -> None:
        self.session = session

    def take(self) -> bytes:
        out, self.out = b"".join(self.out), []
        return out


def element(xml: bytes) -> Element:
    return XmlStreamParser().feed(b"<s xmlns='jabber:client'>" + xml)[1]


async def feed(session: C2SSession, xml: bytes, now: float = 0.0) -> None:
    work = session.receive(element(xml), now)
    if work is not None:
        await work


@pytest.fixture
def router(tmp_path):
    return XmppServer(make_settings(tmp_path)).router


async def logged_in(router, query=None) -> tuple[C2SSession, MemoryLink]:
    link = MemoryLink(query)
    session = C2SSession(router, link, 0.0, SessionLimits())
    session.receive(StreamOpen("open", {"to": "meet.jitsi"}), 0.0)
    assert b"<mechanism>ANONYMOUS</mechanism>" in link.take()
    await feed(session, b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>")
    assert link.take() == b'<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>' and link.restarts == 1
    session.receive(StreamOpen("open", {"to": "meet.jitsi"}), 0.0)
    features = link.take()
    assert b"urn:ietf:params:xml:ns:xmpp-bind" in features and b"urn:xmpp:sm:3" in features
    await feed(session, b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
    assert session.full_jid.encode() in link.take()
    return session, link


async def test_login_bind_and_route(router):
    alice, alice_link = await logged_in(router, {"room": "standup"})
    bob, bob_link = await logged_in(router)
    assert alice.origin.query["room"] == "standup" and alice.origin.anonymous
    await feed(alice, f"<message to='{bob.full_jid}' from='forged@x'><body>hi</body></message>".encode())
    assert bob_link.take() == (f'<message xmlns="jabber:client" to="{bob.full_jid}" from="{alice.full_jid}">'
                               f'<body>hi</body></message>').encode()


async def test_stanza_before_bind_is_a_stream_error(router):
    link = MemoryLink()
    session = C2SSession(router, link, 0.0, SessionLimits())
    session.receive(StreamOpen("open", {"to": "meet.jitsi"}), 0.0)
    await feed(session, b"<message to='a@meet.jitsi'/>")
    assert b"not-authorized" in link.closed and session.state == "closed"


async def test_wrong_mechanism_is_a_sasl_failure_not_a_stream_error(router):
    link = MemoryLink()
    session = C2SSession(router, link, 0.0, SessionLimits())
    session.receive(StreamOpen("open", {"to": "meet.jitsi"}), 0.0)
    link.take()
    await feed(session, b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>")
    assert b"<invalid-mechanism/>" in link.take() and link.closed is False


async def test_stream_management_counts_and_acks(router):
    alice, link = await logged_in(router)
    await feed(alice, b"<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
    assert b"<enabled" in link.take() and alice.sm_resumable
    for _ in range(5):
        router.route(element(f"<message to='{alice.full_jid}' from='x@meet.jitsi/y'/>".encode()), None)
    out = link.take()
    assert out.count(b"<message") == 5 and out.endswith(b'<r xmlns="urn:xmpp:sm:3"/>')
    await feed(alice, b"<a xmlns='urn:xmpp:sm:3' h='3'/>")
    assert len(alice.sm_queue) == 2
    await feed(alice, b"<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>")
    await feed(alice, b"<r xmlns='urn:xmpp:sm:3'/>")
    assert link.take().endswith(b'<a xmlns="urn:xmpp:sm:3" h="1"/>')
    # Cut: the session waits; stanzas queue; the deadline is the end of the resumption window.
    alice.connection_lost(10.0)
    assert alice.deadline() == 10.0 + SessionLimits().hibernation
    router.route(element(f"<message to='{alice.full_jid}' from='x@meet.jitsi/y'/>".encode()), None)
    assert len(alice.sm_queue) == 4  # two unacked messages, the pong, the new one
    alice.handle_timer(10.0 + SessionLimits().hibernation)
    assert alice.state == "closed" and alice.full_jid not in router.sessions


async def test_unauthenticated_timeout_and_server_ping(router):
    link = MemoryLink()
    session = C2SSession(router, link, 0.0, SessionLimits(unauthenticated_timeout=5))
    session.receive(StreamOpen("open", {"to": "meet.jitsi"}), 0.0)
    assert session.deadline() == 5
    session.handle_timer(5)
    assert b"connection-timeout" in link.closed
    alice, alink = await logged_in(router)
    assert alice.deadline() is None  # without XEP-0198 the server does not ping
    await feed(alice, b"<enable xmlns='urn:xmpp:sm:3'/>")
    alink.take()
    assert alice.deadline() == SessionLimits().ping_interval
    alice.handle_timer(60.0)
    sent = alink.take()
    assert b"<ping xmlns=\"urn:xmpp:ping\"/>" in sent and sent.endswith(b'<r xmlns="urn:xmpp:sm:3"/>')
    alice.handle_timer(60.0 + SessionLimits().ping_timeout)
    assert alice.state == "closed"  # no answer, not resumable: gone


async def test_clean_close_ends_the_session(router):
    alice, link = await logged_in(router)
    alice.receive(STREAM_CLOSE, 1.0)
    assert link.closed is True and alice.full_jid not in router.sessions


async def test_repeated_login_failures_close_the_stream(router):
    link = MemoryLink()
    session = C2SSession(router, link, 0.0, SessionLimits(max_auth_failures=2))
    session.receive(StreamOpen("open", {"to": "auth.meet.jitsi"}), 0.0)
    for _ in range(2):
        await feed(session, b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGZvY3VzAHg=</auth>")
    assert b"<not-authorized/>" in link.take()
    assert b"policy-violation" in link.closed
