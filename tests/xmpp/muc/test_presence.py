"""Occupancy (XEP-0045 §7) on the sans-I/O MUC service: joins, updates, nick changes, leaving."""

from jitsi_py.common.ns import STANZA_ERRORS as STANZAS
from jitsi_py.xmpp.muc.service import MucOptions, MucService

from .harness import (
    FOCUS,
    MUC,
    ROOM,
    RecordingHost,
    admin_iq,
    codes,
    error_condition,
    focus_joins,
    item,
    join,
    origin,
    owner_submit,
    q,
    xml,
)


def test_focus_creates_room_and_gets_owner_with_110_and_201(muc, host):
    focus_joins(muc)
    [pres, subject] = host.take(FOCUS)
    assert pres.get("from") == f"{ROOM}/focus"
    assert codes(pres) == {"100", "110", "201"}
    assert item(pres).attrib == {"affiliation": "owner", "role": "moderator", "jid": FOCUS}
    assert subject.find(q("subject")) is not None


def test_without_wait_for_focus_first_joiner_creates_and_owns(host):
    muc = MucService(MucOptions(domain=MUC, focus_jid="focus@auth.meet.jitsi"), host)
    join(muc, "alice@meet.jitsi/a", "aa11")
    [pres, _] = host.take("alice@meet.jitsi/a")
    assert codes(pres) == {"100", "110", "201"}
    assert item(pres).get("affiliation") == "owner"


def test_presence_extensions_relayed_verbatim_with_real_jid(muc, host):
    focus_joins(muc)
    host.clear()
    join(muc, "alice@meet.jitsi/a", "aa11",
         children='<nick xmlns="http://jabber.org/protocol/nick">Alice</nick><stats-id>x1</stats-id>'
                  '<SourceInfo>{"aa11-a0":{"muted":true}}</SourceInfo>')
    [seen] = [p for p in host.take(FOCUS) if p.tag == q("presence")]
    assert seen.get("from") == f"{ROOM}/aa11"
    assert seen.findtext(q("stats-id")) == "x1"
    assert seen.findtext(q("SourceInfo")) == '{"aa11-a0":{"muted":true}}'
    assert seen.findtext("{http://jabber.org/protocol/nick}nick") == "Alice"
    assert item(seen).get("jid") == "alice@meet.jitsi/a"
    assert seen.find(q("x", "http://jabber.org/protocol/muc")) is None


def test_presence_update_rebroadcast(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    host.clear()
    muc.receive(xml(f'<presence from="alice@meet.jitsi/a" to="{ROOM}/aa11"><stats-id>y</stats-id></presence>'),
                origin("alice@meet.jitsi/a"))
    [to_focus] = host.take(FOCUS)
    assert to_focus.findtext(q("stats-id")) == "y"
    [own] = host.take("alice@meet.jitsi/a")
    assert "110" in codes(own)


def test_fan_out_serializes_once_per_presence(muc, host):
    focus_joins(muc)
    for i in range(20):
        join(muc, f"u{i}@meet.jitsi/r", f"n{i}")
    host.clear()
    calls = host.send_many_calls
    join(muc, "late@meet.jitsi/r", "late")
    got = [p for p in host.take("late@meet.jitsi/r") if p.tag == q("presence")]
    assert len(got) == 22  # 21 others + self
    # one send_many per existing occupant's presence to the newcomer, one for the newcomer to all
    assert host.send_many_calls - calls == 22
    shared = [el for to, el in host.sent if el.get("from") == f"{ROOM}/late"]
    assert len({id(el) for el in shared}) == 1 and len(shared) == 21


def test_leave_and_last_leaver_destroys_room(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    host.clear()
    muc.receive(xml(f'<presence type="unavailable" from="alice@meet.jitsi/a" to="{ROOM}/aa11"/>'),
                origin("alice@meet.jitsi/a"))
    [own] = host.take("alice@meet.jitsi/a")
    assert own.get("type") == "unavailable" and "110" in codes(own)
    [other] = host.take(FOCUS)
    assert other.get("type") == "unavailable" and item(other).get("role") == "none"
    muc.session_closed(FOCUS)
    assert ROOM not in muc.rooms


def test_members_only_nick_conflict_invalid_nick_ban(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    host.clear()
    join(muc, "bob@meet.jitsi/b", "aa11")
    assert error_condition(host.take("bob@meet.jitsi/b")[0]) == ("cancel", "conflict")
    join(muc, "bob@meet.jitsi/b", "bad nick")
    err = host.take("bob@meet.jitsi/b")[0]
    assert error_condition(err) == ("cancel", "not-allowed")
    assert err.findtext(f"{q('error')}/{q('text', STANZAS)}") == "Invalid resource"
    owner_submit(muc, FOCUS, {"muc#roomconfig_membersonly": "1"}, service=True)
    host.clear()
    join(muc, "bob@meet.jitsi/b", "bb22")
    assert error_condition(host.take("bob@meet.jitsi/b")[0]) == ("auth", "registration-required")
    admin_iq(muc, FOCUS, '<item affiliation="outcast" jid="alice@meet.jitsi"/>', service=True)
    [gone] = [p for p in host.take("alice@meet.jitsi/a") if p.tag == q("presence")]
    assert codes(gone) == {"301", "110"}
    join(muc, "alice@meet.jitsi/a", "aa11")
    assert error_condition(host.take("alice@meet.jitsi/a")[0]) == ("auth", "forbidden")


def test_presence_flood_is_limited_and_room_keeps_working(muc, host, clock):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    host.clear()
    for i in range(100):
        muc.receive(xml(f'<presence from="alice@meet.jitsi/a" to="{ROOM}/aa11"><stats-id>{i}</stats-id></presence>'),
                    origin("alice@meet.jitsi/a"))
    errors = [p for p in host.take("alice@meet.jitsi/a") if p.get("type") == "error"]
    assert errors and error_condition(errors[0]) == ("wait", "policy-violation")
    assert len(host.take(FOCUS)) == 30
    clock.now += 1.0
    muc.receive(xml(f'<presence from="alice@meet.jitsi/a" to="{ROOM}/aa11"><stats-id>ok</stats-id></presence>'),
                origin("alice@meet.jitsi/a"))
    assert host.take(FOCUS)[0].findtext(q("stats-id")) == "ok"


def test_brewery_only_for_auth_domain(host):
    muc = MucService(MucOptions(domain="internal-muc.meet.jitsi", focus_jid="focus@auth.meet.jitsi",
                                allowed_domains=frozenset({"auth.meet.jitsi"})), host)
    join(muc, "eve@meet.jitsi/e", "eve", room="jvbbrewery@internal-muc.meet.jitsi")
    assert error_condition(host.take("eve@meet.jitsi/e")[0]) == ("cancel", "not-allowed")
    join(muc, "jvb@auth.meet.jitsi/j", "jvb-1", room="jvbbrewery@internal-muc.meet.jitsi", service=True)
    assert "jvb-1" in muc.rooms["jvbbrewery@internal-muc.meet.jitsi"].occupants


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
