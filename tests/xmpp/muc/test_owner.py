"""Room configuration (muc#owner) on the sans-I/O MUC service."""

from jitsi_py.common.ns import DISCO_INFO, MUC_OWNER, MUC_USER

from .harness import (
    FOCUS,
    MUC,
    ROOM,
    RecordingHost,
    admin_iq,
    codes,
    error_condition,
    focus_joins,
    join,
    origin,
    owner_get,
    owner_submit,
    q,
    xml,
)


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


def test_destroy_by_owner(muc, host):
    focus_joins(muc)
    join(muc, "alice@meet.jitsi/a", "aa11")
    host.clear()
    muc.receive(xml(f'<iq type="set" id="x" from="{FOCUS}" to="{ROOM}"><query xmlns="{MUC_OWNER}">'
                    f'<destroy jid="other@{MUC}"><reason>bye</reason></destroy></query></iq>'),
                origin(FOCUS, service=True))
    [pres] = host.take("alice@meet.jitsi/a")
    destroy = pres.find(f"{q('x', MUC_USER)}/{q('destroy', MUC_USER)}")
    assert destroy.get("jid") == f"other@{MUC}" and destroy.findtext(q("reason", MUC_USER)) == "bye"
    assert ROOM not in muc.rooms


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
