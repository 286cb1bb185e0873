"""What the room modules do when time passes: breakout rooms, focus requests, reservations; and
conference duration and nick changes (XML in, XML out, the Stack's clock moved by hand)."""

from jitsi_py.common.ns import DISCO_INFO, JITSI_MEET as JITMEET, MUC_USER
from jitsi_py.xmpp.rooms.av_moderation import AvState
from jitsi_py.xmpp.rooms.breakout_rooms import BreakoutOf, Layout
from jitsi_py.xmpp.rooms.speakerstats import RoomStats

from ..muc.harness import q
from .stack import FOCUS, ROOM, Stack, error_of, item, presences

ALICE, BOB, CAROL = "alice@meet.jitsi/a", "bob@meet.jitsi/b", "carol@meet.jitsi/c"
BREAKOUT = "breakout.meet.jitsi"
NICK = '<nick xmlns="http://jabber.org/protocol/nick">{}</nick>'


def conference(env=None):
    s = Stack(env)
    s.focus_joins()
    s.join(ALICE, "aa11", children=NICK.format("Alice"))
    s.join(BOB, "bb22", children=NICK.format("Bob"))
    s.grant_owner("alice@meet.jitsi")
    s.take()
    return s


def add_breakout(s) -> str:
    s.send(ALICE, f'<message to="{BREAKOUT}"><breakout_rooms type="features/breakout-rooms/add" '
                  'subject="Side"/></message>')
    [update] = s.json_from(ALICE, BREAKOUT)
    s.take()
    [jid] = [jid for jid, r in update["rooms"].items() if not r.get("isMainRoom")]
    return jid


def move(s, jid, nick, target, source=ROOM):
    s.send(jid, f'<presence type="unavailable" to="{source}/{nick}"/>')
    s.join(jid, nick, room=target, children=NICK.format(nick))


def updates(s, to):
    return [m for m in s.json_from(to, BREAKOUT) if m.get("event") == "features/breakout-rooms/update"]


def test_breakout_updates_are_gathered_within_the_interval():
    s = conference()
    breakout = add_breakout(s)  # this update went out at once
    s.focus_joins(breakout)
    move(s, BOB, "bb22", breakout)
    s.join(CAROL, "cc33")
    assert updates(s, ALICE) == []  # within 0.3 s of the last one: gathered
    s.advance(0.3)
    [update] = updates(s, ALICE)
    assert set(update["rooms"][breakout]["participants"]) == {f"{breakout}/bb22"}
    assert set(update["rooms"][ROOM]["participants"]) == {f"{ROOM}/aa11", f"{ROOM}/cc33"}
    assert updates(s, CAROL) and updates(s, BOB) == [update]
    s.advance(1)
    assert updates(s, ALICE) == []  # nothing changed since
    s.send(CAROL, f'<presence type="unavailable" to="{ROOM}/cc33"/>')
    assert len(updates(s, ALICE)) == 1  # the interval had passed: at once


def test_empty_breakout_room_goes_after_a_while_and_comes_back_when_the_focus_recreates_it():
    s = conference()
    breakout = add_breakout(s)
    muc = s.components[BREAKOUT]
    s.focus_joins(breakout)
    move(s, BOB, "bb22", breakout)
    move(s, BOB, "bb22", ROOM, source=breakout)
    s.advance(4.9)
    assert muc.get_room(breakout) is not None
    s.take()
    s.advance(0.2)
    assert muc.get_room(breakout) is None
    [gone] = presences(s.take(FOCUS), "unavailable")  # the focus alone does not keep it
    assert gone.find(f"{q('x', MUC_USER)}/{q('destroy', MUC_USER)}").get("jid") == ROOM
    # still listed: bob is sent there again, asks the focus, which re-creates it
    assert breakout in s.components["muc.meet.jitsi"].get_room(ROOM).state(Layout).rooms
    s.send(FOCUS, '<presence to="focus.meet.jitsi"/>')
    s.send(BOB, f'<iq type="set" id="c" to="focus.meet.jitsi"><conference xmlns="http://jitsi.org/protocol/focus" '
                f'room="{breakout}"/></iq>')
    move(s, BOB, "bb22", breakout)
    assert not presences(s.take(BOB))  # held for the focus
    s.focus_joins(breakout)
    own = [p for p in presences(s.take(BOB)) if p.get("from") == f"{breakout}/bb22"]
    assert own and "110" in {c.get("code") for c in own[-1].iter(q("status", MUC_USER))}
    assert muc.get_room(breakout).state(BreakoutOf).main == ROOM
    assert muc.get_room(breakout).subject == "Side"


def test_a_participant_returning_keeps_an_empty_breakout_room():
    s = conference()
    breakout = add_breakout(s)
    s.focus_joins(breakout)
    move(s, BOB, "bb22", breakout)
    move(s, BOB, "bb22", ROOM, source=breakout)
    s.advance(3)
    move(s, BOB, "bb22", breakout)
    s.advance(10)
    assert s.components[BREAKOUT].get_room(breakout) is not None


def test_conference_with_breakout_rooms_closes_a_while_after_everyone_left():
    s = conference()
    breakout = add_breakout(s)
    s.focus_joins(breakout)
    move(s, BOB, "bb22", breakout)
    s.send(ALICE, f'<presence type="unavailable" to="{ROOM}/aa11"/>')
    s.send(BOB, f'<presence type="unavailable" to="{breakout}/bb22"/>')
    s.advance(3)
    s.join(ALICE, "aa11")  # back in time: the conference stays
    s.advance(10)
    assert s.components["muc.meet.jitsi"].get_room(ROOM) is not None
    s.send(ALICE, f'<presence type="unavailable" to="{ROOM}/aa11"/>')
    s.take()
    s.advance(4.9)
    assert s.components["muc.meet.jitsi"].get_room(ROOM) is not None
    s.advance(0.2)
    assert s.components["muc.meet.jitsi"].get_room(ROOM) is None
    assert s.components[BREAKOUT].get_room(breakout) is None
    [gone] = [p for p in presences(s.take(FOCUS), "unavailable") if p.get("from") == f"{ROOM}/focus"]
    assert gone.find(f"{q('x', MUC_USER)}/{q('destroy', MUC_USER)}").findtext(q("reason", MUC_USER)) \
        == "All occupants left."


def test_join_to_a_room_nobody_asked_the_focus_for_is_refused_as_prosody_does():
    s = Stack()
    s.join(ALICE, "aa11")
    [error] = s.take(ALICE)
    assert error.get("type") == "error" and error_of(error) == ("cancel", "not-allowed")
    assert error.findtext(f"{q('error')}/{{urn:ietf:params:xml:ns:xmpp-stanzas}}text") \
        == "Room creation is restricted"
    assert s.components["muc.meet.jitsi"].get_room(ROOM) is None


def ask_focus(s, jid, room=ROOM):
    s.send(FOCUS, '<presence to="focus.meet.jitsi"/>')
    s.send(jid, f'<iq type="set" id="c" to="focus.meet.jitsi"><conference xmlns="http://jitsi.org/protocol/focus" '
                f'room="{room}"/></iq>')
    [forwarded] = s.take(FOCUS)
    assert forwarded.get("from") == f"focus.meet.jitsi/{jid}"


def test_join_waits_for_the_focus_once_it_was_asked():
    s = Stack()
    ask_focus(s, ALICE)
    s.join(ALICE, "aa11")
    assert s.take(ALICE) == []
    s.focus_joins()
    assert [p.get("from") for p in presences(s.take(ALICE))] == [f"{ROOM}/focus", f"{ROOM}/aa11"]


def test_held_join_is_refused_when_the_focus_never_comes():
    s = Stack()
    ask_focus(s, ALICE)
    s.join(ALICE, "aa11")
    s.advance(14)
    assert s.take(ALICE) == []
    s.advance(2)
    [error] = s.take(ALICE)
    assert error_of(error) == ("cancel", "not-allowed")
    assert error.findtext(f"{q('error')}/{{urn:ietf:params:xml:ns:xmpp-stanzas}}text") \
        == "Room creation is restricted"
    s.join(BOB, "bb22")  # the wait is over for everyone
    assert error_of(s.take(BOB)[0]) == ("cancel", "not-allowed")


def test_tenant_conference_request_lets_the_tenant_room_wait():
    s = Stack()
    external = "standup@muc.acme.meet.jitsi"
    ask_focus(s, ALICE, external)
    s.join(ALICE, "aa11", room=external)
    assert s.take(ALICE) == []
    s.focus_joins(f"[acme]{ROOM}")
    assert f"{external}/aa11" in [p.get("from") for p in presences(s.take(ALICE))]


def test_conference_duration_in_room_info_and_from_the_old_component():
    s = Stack()
    for c in s.components.values():
        if type(c).__name__ == "ConferenceDuration":
            c.ctx.wallclock = lambda: 1_767_225_600.25
    s.focus_joins()
    assert s.json_from(FOCUS, "conferenceduration.meet.jitsi") == []  # alone: not started
    s.send(FOCUS, f'<iq type="get" id="d" to="{ROOM}"><query xmlns="{DISCO_INFO}"/></iq>')
    info = [el for el in s.take(FOCUS) if el.tag == q("iq")][-1]
    fields = {f.get("var"): f.findtext("{jabber:x:data}value") for f in info.iter("{jabber:x:data}field")}
    assert fields["muc#roominfo_created_timestamp"] == ""
    ask_focus(s, ALICE)
    s.join(ALICE, "aa11")
    assert s.json_from(ALICE, "conferenceduration.meet.jitsi") == [
        {"type": "conference_duration", "created_timestamp": 1_767_225_600_250}]
    s.send(ALICE, f'<iq type="get" id="d" to="{ROOM}"><query xmlns="{DISCO_INFO}"/></iq>')
    info = [el for el in s.take(ALICE) if el.tag == q("iq")][-1]
    fields = {f.get("var"): f.findtext("{jabber:x:data}value") for f in info.iter("{jabber:x:data}field")}
    assert fields["muc#roominfo_created_timestamp"] == "1767225600250"
    # the identity clients before 2024 look for on the main domain
    s.send(ALICE, f'<iq type="get" id="i" to="conferenceduration.meet.jitsi"><query xmlns="{DISCO_INFO}"/></iq>')
    [reply] = s.take(ALICE)
    identity = reply.find(f"{q('query', DISCO_INFO)}/{q('identity', DISCO_INFO)}")
    assert identity.attrib == {"category": "component", "type": "conference_duration",
                               "name": "conferenceduration.meet.jitsi"}


def test_nick_change_refused_in_the_conference_as_muc_resource_validate_does():
    s = conference()
    s.send(BOB, f'<presence to="{ROOM}/zz99"/>')
    [error] = s.take(BOB)
    assert error_of(error) == ("cancel", "not-allowed")
    assert s.components["muc.meet.jitsi"].get_room(ROOM).occupants["bb22"].jid == BOB


def test_nick_change_in_a_breakout_room_follows_xep_0045():
    s = conference()
    breakout = add_breakout(s)
    s.focus_joins(breakout)
    move(s, BOB, "bb22", breakout)
    move(s, ALICE, "aa11", breakout)
    s.take()
    s.send(BOB, f'<presence to="{breakout}/aa11"/>')
    assert error_of(s.take(BOB)[0]) == ("cancel", "conflict")
    s.send(BOB, f'<presence to="{breakout}/bobby">{NICK.format("Bob")}</presence>')
    got = s.take(ALICE)
    seen = presences(got, "unavailable") + presences(got)
    own = s.take(BOB)
    [left] = [p for p in seen if p.get("type") == "unavailable"]
    assert left.get("from") == f"{breakout}/bb22"
    assert {c.get("code") for c in left.iter(q("status", MUC_USER))} == {"303"}
    assert item(left).get("nick") == "bobby" and item(left).get("role") == "participant"
    [back] = [p for p in seen if p.get("type") is None]
    assert back.get("from") == f"{breakout}/bobby" and item(back).get("jid") == BOB
    assert [p.get("from") for p in presences(own, "unavailable")] == [f"{breakout}/bb22"]
    assert {c.get("code") for c in presences(own, "unavailable")[0].iter(q("status", MUC_USER))} == {"303", "110"}
    assert "110" in {c.get("code") for c in presences(own)[0].iter(q("status", MUC_USER))}
    room = s.components[BREAKOUT].get_room(breakout)
    assert "bb22" not in room.occupants and room.occupants["bobby"].jid == BOB
    # the new nick is the one that works from now on
    s.send(ALICE, f'<message type="chat" to="{breakout}/bobby"><body>hi</body></message>')
    assert [m.get("from") for m in s.take(BOB) if m.tag == q("message")] == [f"{breakout}/aa11"]


def test_nick_change_carries_speaker_stats_and_av_moderation_approval_along():
    s = conference()
    breakout = add_breakout(s)
    s.focus_joins(breakout)
    move(s, ALICE, "aa11", breakout)
    move(s, BOB, "bb22", breakout)
    s.send(BOB, f'<message to="speakerstats.meet.jitsi"><speakerstats xmlns="{JITMEET}" room="{breakout}" '
                'silence="false"/></message>')
    s.send(ALICE, '<message to="avmoderation.meet.jitsi"><av_moderation enable="true" '
                  'mediaType="audio"/></message>')
    s.send(ALICE, f'<message to="avmoderation.meet.jitsi"><av_moderation '
                  f'jidToWhitelist="{breakout}/bb22" mediaType="audio"/></message>')
    room = s.components[BREAKOUT].get_room(breakout)
    assert room.state(AvState).whitelists["audio"] == [f"{breakout}/bb22"]
    s.send(BOB, f'<presence to="{breakout}/bobby"/>')
    assert room.state(AvState).whitelists["audio"] == [f"{breakout}/bobby"]
    assert "bobby" in room.state(RoomStats).by_nick and "bb22" not in room.state(RoomStats).by_nick
