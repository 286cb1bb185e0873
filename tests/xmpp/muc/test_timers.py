"""The MUC's sans-I/O timers, the focus-request wait, and XEP-0045 nick changes on a plain MUC."""

from jitsi_py.xmpp.muc.service import MucOptions, MucService
from jitsi_py.xmpp.muc.timers import Timers

from .harness import RecordingHost, origin, q, xml
from .test_service import FOCUS, MUC, ROOM, Clock, codes, error_condition, focus_joins, item, join


def test_timers_run_in_deadline_order_and_skip_cancelled():
    timers, ran = Timers(), []
    timers.call_at(5, lambda: ran.append("b"))
    timers.call_at(2, lambda: ran.append("a"))
    late = timers.call_at(9, lambda: ran.append("c"))
    gone = timers.call_at(1, lambda: ran.append("x"))
    gone.cancel()
    assert timers.deadline() == 2 and len(timers) == 3
    timers.call_at(5, lambda: timers.call_at(5, lambda: ran.append("b2")))  # due at once: runs too
    timers.run(5)
    assert ran == ["a", "b", "b2"] and timers.deadline() == 9
    late.cancel()
    assert timers.deadline() is None
    timers.run(100)
    assert ran == ["a", "b", "b2"]


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


def test_nick_change_on_a_plain_muc():
    host = RecordingHost()
    muc = MucService(MucOptions(domain=MUC, focus_jid="focus@auth.meet.jitsi"), host)
    join(muc, "alice@meet.jitsi/a", "aa11")
    join(muc, "bob@meet.jitsi/b", "bb22")
    host.clear()
    muc.receive(xml(f'<presence from="bob@meet.jitsi/b" to="{ROOM}/bobby"><status>here</status></presence>'),
                origin("bob@meet.jitsi/b"))
    alice = [p for p in host.take("alice@meet.jitsi/a") if p.tag == q("presence")]
    assert [(p.get("from"), p.get("type")) for p in alice] == [(f"{ROOM}/bb22", "unavailable"),
                                                               (f"{ROOM}/bobby", None)]
    assert codes(alice[0]) == {"303"} and item(alice[0]).get("nick") == "bobby"
    assert alice[1].findtext(q("status")) == "here"
    bob = [p for p in host.take("bob@meet.jitsi/b") if p.tag == q("presence")]
    assert codes(bob[0]) == {"303", "110"} and codes(bob[1]) >= {"110"}
    # and the old nick is free again
    join(muc, "carol@meet.jitsi/c", "bb22")
    assert item([p for p in host.take("carol@meet.jitsi/c") if p.get("from") == f"{ROOM}/bb22"][0]).get("jid") \
        == "carol@meet.jitsi/c"


def test_nick_change_to_a_taken_nick_is_a_conflict():
    host = RecordingHost()
    muc = MucService(MucOptions(domain=MUC, focus_jid="focus@auth.meet.jitsi"), host)
    join(muc, "alice@meet.jitsi/a", "aa11")
    join(muc, "bob@meet.jitsi/b", "bb22")
    host.clear()
    muc.receive(xml(f'<presence from="bob@meet.jitsi/b" to="{ROOM}/aa11"/>'), origin("bob@meet.jitsi/b"))
    [error] = host.take("bob@meet.jitsi/b")
    assert error_condition(error) == ("cancel", "conflict")
    assert muc.rooms[ROOM].occupants["bb22"].jid == "bob@meet.jitsi/b"
