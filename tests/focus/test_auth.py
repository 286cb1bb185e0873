"""ENABLE_AUTH: jicofo's XMPP-domain authority, ENABLE_AUTO_LOGIN, JICOFO_AUTH_LIFETIME and logout."""

import asyncio
from xml.etree.ElementTree import fromstring, tostring

import pytest
from slixmpp.exceptions import IqError

from jitsi_py.common.errors import StanzaError
from jitsi_py.common.stanzas.jingle import NS_FOCUS, q
from jitsi_py.common.stanzas.jitsi import ConferenceIq, JitsiStanzaError, LogoutIq
from jitsi_py.focus.auth import Authority
from jitsi_py.focus.bridges import BridgeTable
from jitsi_py.focus.client import Focus
from jitsi_py.focus.conference import Conference, GrantOwner, Participant
from jitsi_py.focus.jingle import Offer
from jitsi_py.settings import Settings

from .conftest import until
from .harness import AUTH, FOCUS_PASSWORD, MUC, Participant as Client, ProsodyServer, _client, connect, free_port

ROOM = "standup@muc.meet.jitsi"
ALICE = "alice@meet.jitsi/web"
GUEST = "x1@guest.meet.jitsi/web"


def login(authority: Authority, now: float = 0, room: str = ROOM):
    return authority.check(ConferenceIq(room, machine_uid="m1"), ALICE, room_exists=False, now=now)


def test_a_login_domain_user_gets_a_session_a_guest_then_reuses_it():
    authority = Authority("meet.jitsi", lifetime=60.0)
    session = login(authority)
    assert (session.identity, session.jid) == ("alice@meet.jitsi", ALICE)
    assert authority.session_for(ALICE, 1) is session
    reused = authority.check(ConferenceIq(ROOM, machine_uid="m1", session_id=session.id), GUEST,
                             room_exists=False, now=10)
    assert reused is session
    # the JID it authenticated last is the one the conference makes an owner
    assert authority.session_for(GUEST, 11) is session and authority.session_for(ALICE, 11) is None
    with pytest.raises(StanzaError) as mismatch:
        authority.check(ConferenceIq(ROOM, machine_uid="m2", session_id=session.id), "x@guest.meet.jitsi/w",
                        room_exists=True, now=10)
    assert (mismatch.value.condition, mismatch.value.text) == ("not-acceptable", "machine UID mismatch or empty")


def test_the_lifetime_counts_from_the_last_use():
    authority = Authority("meet.jitsi", lifetime=60.0)
    session = login(authority)
    request = ConferenceIq(ROOM, machine_uid="m1", session_id=session.id)
    assert authority.check(request, GUEST, room_exists=True, now=50) is session
    assert authority.check(request, GUEST, room_exists=True, now=110) is session  # 60 s after its last use
    assert authority.session_for(GUEST, 170) is session
    with pytest.raises(StanzaError) as expired:
        authority.check(request, GUEST, room_exists=True, now=171)
    assert (expired.value.condition, expired.value.text) == ("not-acceptable", "invalid session")
    assert [e.tag for e in expired.value.extra] == [q(NS_FOCUS, "session-invalid")]


@pytest.mark.parametrize("auto_login", [True, False])
def test_auto_login_keeps_sessions_past_the_end_of_their_conference(auto_login):
    authority = Authority("meet.jitsi", lifetime=3600.0, auto_login=auto_login)
    session = login(authority)
    other = login(authority, room="other@muc.meet.jitsi")
    authority.conference_ended(ROOM)
    returning = ConferenceIq(ROOM, machine_uid="m1", session_id=session.id)
    if auto_login:
        # a returning user, from the guest domain, starts the meeting without a password
        assert authority.check(returning, GUEST, room_exists=False, now=100) is session
    else:
        with pytest.raises(StanzaError, match="invalid session"):
            authority.check(returning, GUEST, room_exists=False, now=100)
    assert authority.sessions[other.id] is other  # another conference's session is untouched


def test_logout_ends_the_session():
    authority = Authority("meet.jitsi", lifetime=60.0)
    session = login(authority)
    authority.logout(session.id, now=5)
    assert authority.session_for(ALICE, 5) is None
    with pytest.raises(StanzaError, match="invalid session"):
        authority.check(ConferenceIq(ROOM, machine_uid="m1", session_id=session.id), GUEST, room_exists=True, now=6)
    for unknown in (session.id, None):
        with pytest.raises(StanzaError) as refused:
            authority.logout(unknown, now=6)
        assert refused.value.condition == "not-acceptable"
        assert [e.tag for e in refused.value.extra] == [q(NS_FOCUS, "session-invalid")]


def test_guests_join_existing_rooms_but_create_none():
    authority = Authority("meet.jitsi", lifetime=60.0)
    with pytest.raises(StanzaError) as refused:
        authority.check(ConferenceIq(ROOM, machine_uid="m"), "g@guest.meet.jitsi/w", room_exists=False, now=0)
    assert (refused.value.condition, refused.value.type) == ("not-authorized", "auth")
    assert authority.check(ConferenceIq(ROOM, machine_uid="m"), "g@guest.meet.jitsi/w", room_exists=True, now=0) is None


def test_machine_uid_is_mandatory_for_login():
    with pytest.raises(StanzaError, match="machine-uid"):
        Authority("meet.jitsi", 60.0).check(ConferenceIq(ROOM), "a@meet.jitsi/w", room_exists=False, now=0)


def test_logout_iq_codec():
    request = LogoutIq.from_element(fromstring(f"<logout xmlns='{NS_FOCUS}' session-id='s-1'/>"))
    assert request == LogoutIq(session_id="s-1")
    # jicofo form-encodes the URL
    answer = LogoutIq(logout_url="https://sso.example/out?next=a b").to_element()
    assert answer.get("logout-url") == "https%3A%2F%2Fsso.example%2Fout%3Fnext%3Da+b"
    assert LogoutIq.from_element(fromstring(tostring(answer))).logout_url == "https://sso.example/out?next=a b"
    assert LogoutIq().to_element().attrib == {}
    with pytest.raises(JitsiStanzaError, match="logout"):
        LogoutIq.from_element(fromstring(f"<conference xmlns='{NS_FOCUS}' room='r@m'/>"))


def test_a_member_who_authenticates_in_the_room_becomes_an_owner():
    conference = Conference(ROOM, "meeting-1", focus_jid="focus@auth.meet.jitsi/focus", bridges=BridgeTable(),
                            offer=Offer(), now=0.0)
    conference.joined(Participant("host", f"{ROOM}/host", real_jid=ALICE, authenticated=True), now=0)
    conference.joined(Participant("guest", f"{ROOM}/guest", real_jid=GUEST), now=0)
    conference.commands()
    conference.authenticated(GUEST)
    assert [c for c in conference.commands() if isinstance(c, GrantOwner)] == [GrantOwner(GUEST)]
    assert conference.participants["guest"].affiliation == "owner"
    conference.authenticated(GUEST)  # already an owner: nothing more
    assert not [c for c in conference.commands() if isinstance(c, GrantOwner)]


@pytest.mark.system
async def test_on_prosody_a_guest_logs_in_becomes_an_owner_and_logs_out(tmp_path):
    """Our focus on Debian's Prosody, over the wire: the login-and-upgrade flow and the logout IQ.
    Prosody's test host for passwords is ``auth.meet.jitsi`` and ``meet.jitsi`` is anonymous, so
    here the former is the login domain (in docker-jitsi-meet: ``meet.jitsi`` and
    ``guest.meet.jitsi``)."""
    server = ProsodyServer(tmp_path)
    await server.start()
    server.prosody.register("alice", "alice-password")
    settings = Settings.from_values({"XMPP_SERVER": "127.0.0.1", "XMPP_PORT": str(server.c2s_port),
                                     "JICOFO_AUTH_PASSWORD": FOCUS_PASSWORD, "JICOFO_REST_PORT": str(free_port()),
                                     "ENABLE_AUTH": "1", "AUTH_TYPE": "internal"})
    focus = Focus(settings)
    focus.authority = Authority(AUTH, lifetime=3600.0)
    login = _client(f"alice@{AUTH}", "alice-password")
    guest = Client(server.c2s_port, "", f"upgrade@{MUC}")
    try:
        await focus.start()
        await asyncio.wait_for(focus.connected.wait(), 15)
        guest.focus_jid = focus.xmpp.boundjid.full
        await connect(login, server.c2s_port)
        await guest.start()

        async def ask(client, machine_uid, session_id=None) -> ConferenceIq:
            iq = client.make_iq_set(ito=focus.xmpp.boundjid.full)
            iq.xml.append(ConferenceIq(f"upgrade@{MUC}", machine_uid=machine_uid, session_id=session_id).to_element())
            return ConferenceIq.from_element((await iq.send(timeout=15)).xml.find(q(NS_FOCUS, "conference")))

        with pytest.raises(IqError) as refused:  # a guest may not start the meeting
            await ask(guest.client, "m-guest")
        assert refused.value.condition == "not-authorized"
        started = await ask(login, "m-alice")
        assert started.ready and started.identity == f"alice@{AUTH}" and started.session_id
        assert (await ask(guest.client, "m-guest")).session_id is None
        await guest.join()
        room = focus.rooms[f"upgrade@{MUC}"]
        await until(lambda: any(p.real_jid == guest.client.boundjid.full for p in room.core.participants.values()))
        assert guest.role == "participant"  # admitted, and no one is elected owner with authentication
        # the guest logs in on a second connection (same machine), then asks again with the session
        session = (await ask(login, "m-guest")).session_id
        answer = await ask(guest.client, "m-guest", session)
        assert (answer.session_id, answer.identity) == (session, f"alice@{AUTH}")
        await until(lambda: guest.role == "moderator")

        async def logout():
            iq = guest.client.make_iq_set(ito=focus.xmpp.boundjid.full)
            iq.xml.append(LogoutIq(session_id=session).to_element())
            return LogoutIq.from_element((await iq.send(timeout=10)).xml.find(q(NS_FOCUS, "logout")))

        assert await logout() == LogoutIq()  # no logout-url: nothing outside the focus to log out of
        with pytest.raises(IqError) as again:
            await logout()
        assert again.value.condition == "not-acceptable"
        assert again.value.iq["error"].xml.find(q(NS_FOCUS, "session-invalid")) is not None
    finally:
        await guest.stop()
        login.abort()
        await focus.stop()
        await server.stop()
