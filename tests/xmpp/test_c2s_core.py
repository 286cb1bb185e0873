"""The sans-I/O client session: XML in, XML out, no sockets and no clock of its own."""

from __future__ import annotations

import asyncio
import base64
from xml.etree.ElementTree import Element

import pytest

from jitsi_py.common.xmlstream import STREAM_CLOSE, StreamOpen, XmlStreamParser
from jitsi_py.xmpp.auth.base import AuthFailure, CheckPassword, GetScramCredentials, Identity
from jitsi_py.xmpp.c2s import AuthCall, C2SSession, SessionLimits
from jitsi_py.xmpp.sasl import scram_credentials
from jitsi_py.xmpp.server import XmppServer
from jitsi_py.xmpp.tcp import c2s_factory

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
    session.receive(element(xml), now)
    if session.waiting:
        await session.router.authenticate(session)


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


# --- authentication: the session asks for the backend with an AuthCall, the answer comes back in -----

PLAIN_FOCUS = b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGZvY3VzAHNlY3JldA==</auth>"


def opened(router, domain: str = "auth.meet.jitsi", remote_ip: str = "127.0.0.1"):
    link = MemoryLink()
    link.remote_ip = remote_ip
    session = C2SSession(router, link, 0.0, SessionLimits())
    session.receive(StreamOpen("open", {"to": domain}), 0.0)
    link.take()
    return session, link


def test_a_login_asks_the_backend_and_takes_its_answer_as_input(router):
    session, link = opened(router)
    assert session.receive(element(PLAIN_FOCUS), 1.0) is None
    assert session.waiting and link.take() == b""
    call = session.auth_call
    assert call == AuthCall(call.attempt, CheckPassword("focus", "secret"))
    assert call.attempt.domain == "auth.meet.jitsi" and call.attempt.remote_ip == "127.0.0.1"
    session.auth_result(Identity("focus"), 1.5)
    assert not session.waiting and session.auth_call is None
    assert link.take() == b'<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>' and link.restarts == 1
    with pytest.raises(RuntimeError):
        session.auth_result(Identity("focus"), 2.0)


def test_a_refusal_from_the_backend_is_a_sasl_failure(router):
    session, link = opened(router)
    session.receive(element(PLAIN_FOCUS), 1.0)
    session.auth_result(AuthFailure("not-authorized", "wrong password"), 1.5)
    assert not session.waiting and b"<not-authorized/>" in link.take() and session.state == "connected"


def test_scram_takes_two_client_messages_around_one_backend_answer(router):
    session, link = opened(router)
    first = base64.b64encode(b"n,,n=focus,r=abc").decode()
    session.receive(element(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>{first}"
                            f"</auth>".encode()), 1.0)
    assert session.auth_call.request == GetScramCredentials("focus", "sha1")
    session.auth_result(None, 1.5)  # no such user
    assert b"<not-authorized/>" in link.take() and not session.waiting


async def test_a_backend_crash_is_a_temporary_failure_that_does_not_count(router):
    async def broken(attempt, username, password):
        raise ConnectionResetError("the directory hung up")

    router.backends["auth.meet.jitsi"].plain = broken
    session, link = opened(router, remote_ip="192.0.2.1")
    session.receive(element(PLAIN_FOCUS), 1.0)
    assert len(router.logins) == 1  # the guess counts against its address from the start
    await router.authenticate(session)
    out = link.take()
    assert b"<temporary-auth-failure/>" in out and b"authentication backend error" in out
    assert len(router.logins) == 0 and session.state == "connected"


def throttled_router(tmp_path):
    # One failure per account in the window, then each verdict on it is held 1 s, 2 s...
    return XmppServer(make_settings(tmp_path, JITSI_PY_XMPP_LOGIN_FAILURES_PER_ACCOUNT="1")).router


def test_a_held_verdict_is_given_at_its_deadline_and_nothing_is_read_before(tmp_path):
    router = throttled_router(tmp_path)
    first, _ = opened(router)
    first.receive(element(PLAIN_FOCUS), 1.0)
    first.auth_result(AuthFailure("not-authorized"), 1.0)
    assert not first.waiting
    session, link = opened(router)
    session.receive(element(PLAIN_FOCUS), 10.0)
    session.auth_result(AuthFailure("not-authorized"), 10.2)
    assert session.waiting and session.auth_call is None and link.take() == b""
    assert session.deadline() == pytest.approx(11.2)
    session.handle_timer(11.1)
    assert session.waiting and link.take() == b""
    session.handle_timer(11.2)
    assert not session.waiting and b"<not-authorized/>" in link.take()
    assert session.deadline() == SessionLimits().unauthenticated_timeout  # back to the login timeout


def test_a_held_success_logs_in_at_its_deadline(tmp_path):
    router = throttled_router(tmp_path)
    first, _ = opened(router)
    first.receive(element(PLAIN_FOCUS), 1.0)
    first.auth_result(AuthFailure("not-authorized"), 1.0)
    session, link = opened(router)
    session.receive(element(PLAIN_FOCUS), 2.0)
    session.auth_result(Identity("focus"), 2.0)
    assert session.waiting and session.deadline() == pytest.approx(3.0)
    session.handle_timer(3.0)
    assert link.take() == b'<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>'
    assert session.identity.username == "focus"


def test_hanging_up_during_the_hold_still_counts_the_guess(tmp_path):
    router = throttled_router(tmp_path)
    for hang_up in (False, True):
        session, _ = opened(router)
        session.receive(element(PLAIN_FOCUS), 1.0)
        session.auth_result(AuthFailure("not-authorized"), 1.0)
        if hang_up:
            assert session.waiting
            session.connection_lost(1.5)
            assert not session.waiting and session.deadline() is None
    # Two failures counted on the account: the next verdict is held 2 s, not 1 s.
    session, link = opened(router)
    session.receive(element(PLAIN_FOCUS), 5.0)
    session.auth_result(AuthFailure("not-authorized"), 5.0)
    assert session.deadline() == pytest.approx(7.0)


async def test_the_tcp_glue_feeds_nothing_while_the_backend_is_asked(router):
    """An <abort/> pipelined behind <auth/> is handled after the backend's answer, as Prosody would."""
    release = asyncio.Event()

    async def slow(attempt, username, hash_name):
        await release.wait()
        return scram_credentials("secret", hash_name)

    router.backends["auth.meet.jitsi"].scram_credentials = slow
    connection = c2s_factory(router, SessionLimits(), {}, None, None)()
    transport = MemoryTransport()
    connection.connection_made(transport)
    first = base64.b64encode(b"n,,n=focus,r=abc").decode()
    connection.data_received(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
        b"to='auth.meet.jitsi' version='1.0'>"
        + f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>{first}</auth>".encode()
        + b"<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
    for _ in range(5):
        await asyncio.sleep(0)
    assert connection.session.waiting and b"<challenge" not in transport.out and b"<failure" not in transport.out
    connection.data_received(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>")  # later still
    release.set()
    for _ in range(20):
        await asyncio.sleep(0)
    out = bytes(transport.out)
    challenge, aborted, last = out.find(b"<challenge"), out.find(b"<aborted/>"), out.rfind(b"<failure")
    assert 0 < challenge < aborted < last  # the later <auth/>: PLAIN is not offered in the clear
    assert b"<invalid-mechanism/>" in out[last:] and not transport.closed


class MemoryTransport:
    """What StreamConnection needs of an asyncio transport, in memory."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False

    def get_extra_info(self, name: str):
        return ("192.0.2.7", 40000) if name == "peername" else None

    def write(self, data: bytes) -> None:
        self.out += data

    def get_write_buffer_size(self) -> int:
        return 0

    def close(self) -> None:
        self.closed = True

    abort = close

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass
