"""XEP-0045 on the sans-I/O MUC service: XML in, XML out, through a recording host."""

import pytest

from jitsi_py.xmpp.muc.service import MucOptions, MucService
from jitsi_py.common.ns import DISCO_INFO, MUC_ADMIN, MUC_OWNER, MUC_USER, STANZA_ERRORS as STANZAS

from .harness import RecordingHost, origin, q, xml

MUC = "muc.meet.jitsi"
ROOM = f"standup@{MUC}"
FOCUS = "focus@auth.meet.jitsi/focus1"


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def host():
    return RecordingHost()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def muc(host, clock):
    return MucService(MucOptions(domain=MUC, focus_jid="focus@auth.meet.jitsi", wait_for_focus=True,
                                 validate_nick=True, clock=clock), host)


def join(muc, jid, nick, room=ROOM, children="", service=False, query=None, claims=None):
    muc.receive(xml(f'<presence from="{jid}" to="{room}/{nick}"><x xmlns="http://jabber.org/protocol/muc"/>'
                    f'{children}</presence>'), origin(jid, service=service, query=query, claims=claims))


def focus_joins(muc, room=ROOM):
    join(muc, FOCUS, "focus", room, service=True)


def item(pres):
    return pres.find(f"{q('x', MUC_USER)}/{q('item', MUC_USER)}")


def codes(pres):
    return {s.get("code") for s in pres.iter(q("status", MUC_USER))}


def error_condition(el):
    err = el.find(q("error"))
    assert err is not None, el
    return err.get("type"), [c.tag.split("}")[1] for c in err if c.tag.startswith(f"{{{STANZAS}}}") and not c.tag.endswith("text")][0]


def test_focus_creates_room_and_gets_owner_with_110_and_201(muc, host):
    focus_joins(muc)
    [pres, subject] = host.take(FOCUS)
    assert pres.get("from") == f"{ROOM}/focus"
    assert codes(pres) == {"100", "110", "201"}
    assert item(pres).attrib == {"affiliation": "owner", "role": "moderator", "jid": FOCUS}
    assert subject.find(q("subject")) is not None


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


def test_iq_forwarded_between_occupants_and_reply_routed_back(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    host.clear()
    muc.receive(xml(f'<iq type="set" id="j1" from="{FOCUS}" to="{ROOM}/aa11"><jingle xmlns="urn:xmpp:jingle:1" '
                    f'action="session-initiate" sid="s1"/></iq>'), origin(FOCUS, service=True))
    [fwd] = host.take("alice@meet.jitsi/a")
    assert fwd.get("from") == f"{ROOM}/focus" and fwd.get("id") == "j1" and fwd.get("type") == "set"
    assert fwd.find("{urn:xmpp:jingle:1}jingle").get("sid") == "s1"
    muc.receive(xml(f'<iq type="result" id="j1" from="alice@meet.jitsi/a" to="{ROOM}/focus"/>'),
                origin("alice@meet.jitsi/a"))
    [back] = host.take(FOCUS)
    assert back.get("from") == f"{ROOM}/aa11" and back.get("id") == "j1" and back.get("type") == "result"


def test_iq_to_missing_occupant_and_from_non_occupant(muc, host):
    focus_joins(muc)
    host.clear()
    muc.receive(xml(f'<iq type="get" id="q" from="{FOCUS}" to="{ROOM}/ghost"><query xmlns="{DISCO_INFO}"/></iq>'),
                origin(FOCUS, service=True))
    [err] = host.take(FOCUS)
    assert error_condition(err) == ("cancel", "item-not-found")
    assert err.get("from") == f"{ROOM}/ghost" and err.get("id") == "q"
    muc.receive(xml(f'<iq type="get" id="q2" from="eve@meet.jitsi/e" to="{ROOM}/focus"><ping xmlns="urn:xmpp:ping"/></iq>'),
                origin("eve@meet.jitsi/e"))
    [err] = host.take("eve@meet.jitsi/e")
    assert error_condition(err) == ("modify", "not-acceptable")


def test_groupchat_and_private_messages(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    join(muc, "bob@meet.jitsi/b", "bb22")
    host.clear()
    muc.receive(xml(f'<message type="groupchat" id="m" from="alice@meet.jitsi/a" to="{ROOM}"><body>hi</body>'
                    f'<nick xmlns="http://jabber.org/protocol/nick">A</nick></message>'), origin("alice@meet.jitsi/a"))
    [to_bob] = host.take("bob@meet.jitsi/b")
    assert to_bob.get("from") == f"{ROOM}/aa11" and to_bob.findtext(q("body")) == "hi"
    assert to_bob.find("{http://jabber.org/protocol/nick}nick") is None
    assert len(host.take("alice@meet.jitsi/a")) == 1
    host.clear()
    muc.receive(xml(f'<message type="chat" from="alice@meet.jitsi/a" to="{ROOM}/bb22"><body>psst</body></message>'),
                origin("alice@meet.jitsi/a"))
    [pm] = host.take("bob@meet.jitsi/b")
    assert pm.get("from") == f"{ROOM}/aa11" and pm.findtext(q("body")) == "psst"
    muc.receive(xml(f'<message type="groupchat" from="eve@meet.jitsi/e" to="{ROOM}"><body>x</body></message>'),
                origin("eve@meet.jitsi/e"))
    assert error_condition(host.take("eve@meet.jitsi/e")[0]) == ("modify", "not-acceptable")


def admin_iq(muc, jid, items, type_="set", room=ROOM, service=False):
    muc.receive(xml(f'<iq type="{type_}" id="ad" from="{jid}" to="{room}"><query xmlns="{MUC_ADMIN}">{items}</query></iq>'),
                origin(jid, service=service))


def test_focus_grants_owner_then_moderator_kicks(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    join(muc, "bob@meet.jitsi/b", "bb22")
    host.clear()
    admin_iq(muc, FOCUS, '<item affiliation="owner" jid="alice@meet.jitsi"/>', service=True)
    alice = host.take("alice@meet.jitsi/a")
    own = [p for p in alice if p.tag == q("presence")][0]
    assert item(own).get("role") == "moderator" and "110" in codes(own)
    bob_view = [p for p in host.take("bob@meet.jitsi/b") if p.get("from") == f"{ROOM}/aa11"][0]
    assert item(bob_view).attrib["affiliation"] == "owner"
    host.clear()
    # bob (participant) may not kick
    admin_iq(muc, "bob@meet.jitsi/b", '<item nick="aa11" role="none"/>')
    assert error_condition(host.take("bob@meet.jitsi/b")[0]) == ("auth", "forbidden")
    admin_iq(muc, "alice@meet.jitsi/a", '<item nick="bb22" role="none"><reason>bye</reason></item>')
    bob = host.take("bob@meet.jitsi/b")
    assert bob[0].get("type") == "unavailable" and codes(bob[0]) == {"307", "110"}
    assert bob[0].find(f".//{q('reason', MUC_USER)}").text == "bye"
    others = [p for p in host.take("alice@meet.jitsi/a") if p.tag == q("presence")]
    assert others and codes(others[0]) == {"307"}
    assert "bb22" not in muc.rooms[ROOM].occupants


def test_moderator_cannot_kick_focus_and_multiple_items(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    join(muc, "bob@meet.jitsi/b", "bb22")
    admin_iq(muc, FOCUS, '<item affiliation="owner" jid="alice@meet.jitsi"/>', service=True)
    host.clear()
    admin_iq(muc, "alice@meet.jitsi/a", '<item nick="focus" role="none"/>')
    assert error_condition(host.take("alice@meet.jitsi/a")[0]) == ("cancel", "not-allowed")
    admin_iq(muc, "alice@meet.jitsi/a",
             '<item affiliation="member" jid="bob@meet.jitsi"/><item affiliation="member" jid="carol@meet.jitsi"/>')
    assert muc.rooms[ROOM].affiliation("bob@meet.jitsi") == "member"
    assert muc.rooms[ROOM].affiliation("carol@meet.jitsi") == "member"


def owner_get(muc, jid, service=False):
    muc.receive(xml(f'<iq type="get" id="og" from="{jid}" to="{ROOM}"><query xmlns="{MUC_OWNER}"/></iq>'),
                origin(jid, service=service))


def owner_submit(muc, jid, fields, service=False):
    body = "".join(f'<field var="{k}"><value>{v}</value></field>' for k, v in fields.items())
    muc.receive(xml(f'<iq type="set" id="os" from="{jid}" to="{ROOM}"><query xmlns="{MUC_OWNER}">'
                    f'<x xmlns="jabber:x:data" type="submit"><field var="FORM_TYPE"><value>'
                    f'http://jabber.org/protocol/muc#roomconfig</value></field>{body}</x></query></iq>'),
                origin(jid, service=service))


def test_owner_form_password_and_join_errors(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    admin_iq(muc, FOCUS, '<item affiliation="owner" jid="alice@meet.jitsi"/>', service=True)
    host.clear()
    owner_get(muc, "alice@meet.jitsi/a")
    [form] = host.take("alice@meet.jitsi/a")
    vars_ = [f.get("var") for f in form.iter("{jabber:x:data}field")]
    assert "muc#roomconfig_roomsecret" in vars_ and "muc#roomconfig_whois" in vars_
    owner_submit(muc, "alice@meet.jitsi/a", {"muc#roomconfig_roomsecret": "s3cret",
                                             "muc#roomconfig_passwordprotectedroom": "1"})
    got = host.take("alice@meet.jitsi/a")
    assert got[0].get("type") == "result"
    assert codes(got[1]) == {"104"}
    join(muc, "bob@meet.jitsi/b", "bb22")
    assert error_condition(host.take("bob@meet.jitsi/b")[0]) == ("auth", "not-authorized")
    join(muc, "bob@meet.jitsi/b", "bb22", children="")
    muc.receive(xml(f'<presence from="bob@meet.jitsi/b" to="{ROOM}/bb22"><x xmlns="http://jabber.org/protocol/muc">'
                    f'<password>s3cret</password></x></presence>'), origin("bob@meet.jitsi/b"))
    assert "bb22" in muc.rooms[ROOM].occupants
    # the focus needs no password
    host.clear()
    owner_submit(muc, "alice@meet.jitsi/a", {"muc#roomconfig_maxusers": "2"})
    join(muc, "carol@meet.jitsi/c", "cc33", children="")
    muc.receive(xml(f'<presence from="carol@meet.jitsi/c" to="{ROOM}/cc33"><x xmlns="http://jabber.org/protocol/muc">'
                    f'<password>s3cret</password></x></presence>'), origin("carol@meet.jitsi/c"))
    assert error_condition(host.take("carol@meet.jitsi/c")[-1]) == ("cancel", "service-unavailable")


def test_unknown_config_field_refused_room_keeps_working(muc, host):
    focus_joins(muc)
    host.clear()
    owner_submit(muc, FOCUS, {"muc#roomconfig_bogus": "1"}, service=True)
    assert error_condition(host.take(FOCUS)[0]) == ("modify", "not-acceptable")
    owner_submit(muc, FOCUS, {"muc#roomconfig_whois": "anyone"}, service=True)
    assert host.take(FOCUS)[0].get("type") == "result"


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


def test_room_disco_only_for_occupants(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    host.clear()
    muc.receive(xml(f'<iq type="get" id="d" from="alice@meet.jitsi/a" to="{ROOM}"><query xmlns="{DISCO_INFO}"/></iq>'),
                origin("alice@meet.jitsi/a"))
    [res] = host.take("alice@meet.jitsi/a")
    feats = {f.get("var") for f in res.iter(q("feature", DISCO_INFO))}
    assert {"muc_nonanonymous", "muc_open", "muc_unsecured"} <= feats
    muc.receive(xml(f'<iq type="get" id="d" from="eve@meet.jitsi/e" to="{ROOM}"><query xmlns="{DISCO_INFO}"/></iq>'),
                origin("eve@meet.jitsi/e"))
    assert error_condition(host.take("eve@meet.jitsi/e")[0]) == ("auth", "forbidden")


def test_destroy_by_owner(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    host.clear()
    muc.receive(xml(f'<iq type="set" id="x" from="{FOCUS}" to="{ROOM}"><query xmlns="{MUC_OWNER}">'
                    f'<destroy jid="other@{MUC}"><reason>bye</reason></destroy></query></iq>'), origin(FOCUS, service=True))
    [pres] = host.take("alice@meet.jitsi/a")
    destroy = pres.find(f"{q('x', MUC_USER)}/{q('destroy', MUC_USER)}")
    assert destroy.get("jid") == f"other@{MUC}" and destroy.findtext(q("reason", MUC_USER)) == "bye"
    assert ROOM not in muc.rooms


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


def test_self_ping_answered_by_the_room(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    host.clear()
    muc.receive(xml(f'<iq type="get" id="sp" from="alice@meet.jitsi/a" to="{ROOM}/aa11"><ping xmlns="urn:xmpp:ping"/></iq>'),
                origin("alice@meet.jitsi/a"))
    [reply] = host.take("alice@meet.jitsi/a")
    assert reply.get("type") == "result" and reply.get("from") == f"{ROOM}/aa11" and reply.get("id") == "sp"


def test_jitsi_rooms_ignore_moderated_and_keep_meeting_id():
    from jitsi_py.settings import Settings
    from jitsi_py.xmpp.muc import build_components
    from jitsi_py.xmpp.rooms.meeting_id import MeetingId

    host = RecordingHost()
    muc = {c.domain: c for c in build_components(Settings.from_values({}), host)}[MUC]
    focus_joins(muc)
    meeting_id = muc.rooms[ROOM].state(MeetingId).value
    host.clear()
    owner_submit(muc, FOCUS, {"muc#roomconfig_moderatedroom": "1"}, service=True)
    assert not muc.rooms[ROOM].config.moderated
    muc.receive(xml(f'<iq type="get" id="d" from="{FOCUS}" to="{ROOM}"><query xmlns="{DISCO_INFO}"/></iq>'),
                origin(FOCUS, service=True))
    info = [el for el in host.take(FOCUS) if el.tag == q("iq")][-1]
    fields = {f.get("var"): f.findtext("{jabber:x:data}value") for f in info.iter("{jabber:x:data}field")}
    assert fields["muc#roominfo_meetingId"] == meeting_id
    assert fields["muc#roominfo_created_timestamp"] == ""
