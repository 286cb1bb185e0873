"""ENABLE_AUTH: jicofo's XMPP-domain authority."""

import pytest

from jitsi_py.common.stanzas.jitsi import ConferenceIq
from jitsi_py.focus.auth import Authority, Refused

ROOM = "standup@muc.meet.jitsi"


def test_a_login_domain_user_gets_a_session_a_guest_then_reuses_it():
    authority = Authority("meet.jitsi", lifetime=60.0)
    session = authority.check(ConferenceIq(ROOM, machine_uid="m1"), "alice@meet.jitsi/web", room_exists=False, now=0)
    assert session.identity == "alice@meet.jitsi"
    reused = authority.check(ConferenceIq(ROOM, machine_uid="m1", session_id=session.id),
                             "x1@guest.meet.jitsi/web", room_exists=False, now=10)
    assert reused is session
    with pytest.raises(Refused) as mismatch:
        authority.check(ConferenceIq(ROOM, machine_uid="m2", session_id=session.id), "x@guest.meet.jitsi/w",
                        room_exists=True, now=10)
    assert mismatch.value.text == "machine UID mismatch or empty"
    with pytest.raises(Refused) as expired:
        authority.check(ConferenceIq(ROOM, machine_uid="m1", session_id=session.id), "x@guest.meet.jitsi/w",
                        room_exists=True, now=61)
    assert expired.value.text == "session-invalid"


def test_guests_join_existing_rooms_but_create_none():
    authority = Authority("meet.jitsi", lifetime=60.0)
    with pytest.raises(Refused) as refused:
        authority.check(ConferenceIq(ROOM, machine_uid="m"), "g@guest.meet.jitsi/w", room_exists=False, now=0)
    assert (refused.value.condition, refused.value.kind) == ("not-authorized", "auth")
    assert authority.check(ConferenceIq(ROOM, machine_uid="m"), "g@guest.meet.jitsi/w", room_exists=True, now=0) is None


def test_machine_uid_is_mandatory_for_login():
    with pytest.raises(Refused, match="machine-uid"):
        Authority("meet.jitsi", 60.0).check(ConferenceIq(ROOM), "a@meet.jitsi/w", room_exists=False, now=0)
