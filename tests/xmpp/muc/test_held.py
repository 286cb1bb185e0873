"""Joins held for the focus and the focus-request wait on the sans-I/O MUC service."""

from jitsi_py.xmpp.muc.service import MucOptions, MucService

from .harness import FOCUS, MUC, ROOM, Clock, RecordingHost, codes, focus_joins, item, join, q


def test_join_is_held_until_the_focus_is_in_the_room(muc, host):
    join(muc, "alice@meet.jitsi/a", "aa11")
    assert host.take() == []
    focus_joins(muc)
    alice = host.take("alice@meet.jitsi/a")
    froms = [p.get("from") for p in alice if p.tag == q("presence")]
    assert froms == [f"{ROOM}/focus", f"{ROOM}/aa11"]
    assert codes(alice[1]) == {"100", "110"}
    assert item(alice[1]).get("role") == "participant"


def test_held_join_is_dropped_when_its_session_closes(muc, host):
    join(muc, "alice@meet.jitsi/a", "aa11")
    muc.session_closed("alice@meet.jitsi/a")
    focus_joins(muc)
    assert host.take("alice@meet.jitsi/a") == []


def restricted(host, clock):
    return MucService(MucOptions(domain=MUC, focus_jid="focus@auth.meet.jitsi", wait_for_focus=True,
                                 restrict_room_creation=True, focus_request_ttl=10, clock=clock), host)


def test_focus_request_opens_the_wait_until_the_focus_comes():
    host, clock = RecordingHost(), Clock()
    muc = restricted(host, clock)
    muc.focus_requested(ROOM.upper())  # room JIDs compare in lower case
    join(muc, "alice@meet.jitsi/a", "aa11")
    assert host.take() == []
    clock.now = 9
    muc.handle_timer(clock.now)
    focus_joins(muc)
    assert [p.get("from") for p in host.take("alice@meet.jitsi/a") if p.tag == q("presence")] \
        == [f"{ROOM}/focus", f"{ROOM}/aa11"]
    assert muc.deadline() is None  # the wait ended with the focus


def test_health_check_rooms_and_admins_are_not_restricted():
    host, clock = RecordingHost(), Clock()
    muc = restricted(host, clock)
    focus_joins(muc)
    assert codes(host.take(FOCUS)[0]) == {"100", "110", "201"}
