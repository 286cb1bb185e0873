"""The Jitsi components: breakout rooms, A/V moderation, polls, speaker stats, end conference,
metadata, the focus proxy."""

import json

from jitsi_py.common.ns import JITSI_MEET as JITMEET, MUC_USER

from ..muc.harness import q
from .stack import FOCUS, ROOM, Stack, error_of, item, presences

ALICE, BOB, CAROL = "alice@meet.jitsi/a", "bob@meet.jitsi/b", "carol@meet.jitsi/c"
NICK = '<nick xmlns="http://jabber.org/protocol/nick">{}</nick>'


def conference(env=None):
    s = Stack(env)
    s.focus_joins()
    s.join(ALICE, "aa11", children=NICK.format("Alice"))
    s.join(BOB, "bb22", children=NICK.format("Bob"))
    s.grant_owner("alice@meet.jitsi")
    s.take()
    return s


def test_breakout_add_move_remove():
    s = conference()
    s.send(ALICE, '<message to="breakout.meet.jitsi"><breakout_rooms type="features/breakout-rooms/add" '
                  'subject="Room A"/></message>')
    [update] = s.json_from(ALICE, "breakout.meet.jitsi")
    assert update["event"] == "features/breakout-rooms/update" and update["roomCounter"] == 1
    [breakout] = [jid for jid, r in update["rooms"].items() if not r.get("isMainRoom")]
    assert update["rooms"][breakout]["name"] == "Room A"
    assert set(update["rooms"][ROOM]["participants"]) == {f"{ROOM}/aa11", f"{ROOM}/bb22"}
    assert s.json_from(FOCUS, "breakout.meet.jitsi") == []
    s.take()
    # a participant may not manage breakout rooms
    s.send(BOB, '<message to="breakout.meet.jitsi"><breakout_rooms type="features/breakout-rooms/add"/></message>')
    assert error_of(s.take(BOB)[0]) == ("auth", "forbidden")
    # move bob: he is told, joins (held until the focus is in), inherits nothing special
    s.send(ALICE, f'<message to="breakout.meet.jitsi"><breakout_rooms type="features/breakout-rooms/move-to-room" '
                  f'participantJid="{ROOM}/bb22" roomJid="{breakout}"/></message>')
    assert s.json_from(BOB, "breakout.meet.jitsi") == [
        {"type": "breakout_rooms", "event": "features/breakout-rooms/move-to-room", "roomJid": breakout}]
    s.send(BOB, f'<presence type="unavailable" to="{ROOM}/bb22"/>')
    s.join(BOB, "bb22", room=breakout, children=NICK.format("Bob"))
    assert not presences(s.take(BOB))
    s.focus_joins(breakout)
    s.send(FOCUS, f'<iq type="get" id="i" to="{breakout}"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>')
    info = s.take(FOCUS)[-1]
    values = {f.get("var"): f.findtext("{jabber:x:data}value") for f in info.iter("{jabber:x:data}field")}
    assert values["muc#roominfo_isbreakout"] == "true" and values["muc#roominfo_breakout_main_room"] == ROOM
    own = [p for p in presences(s.take(BOB)) if p.get("from") == f"{breakout}/bb22"]
    assert own and item(own[-1]).get("role") == "participant"
    # alice joins too and is moderator there (inherited owner)
    s.join(ALICE, "aa11", room=breakout, children=NICK.format("Alice"))
    own = [p for p in presences(s.take(ALICE)) if p.get("from") == f"{breakout}/aa11"]
    assert item(own[-1]).get("role") == "moderator"
    s.send(ALICE, f'<presence type="unavailable" to="{breakout}/aa11"/>')
    s.take()
    # remove: bob is sent back to the main room
    s.send(ALICE, f'<message to="breakout.meet.jitsi"><breakout_rooms type="features/breakout-rooms/remove" '
                  f'breakoutRoomJid="{breakout}"/></message>')
    [gone] = presences(s.take(BOB), "unavailable")
    assert gone.find(f"{q('x', MUC_USER)}/{q('destroy', MUC_USER)}").get("jid") == ROOM
    assert s.components["breakout.meet.jitsi"].get_room(breakout) is None


def test_av_moderation():
    s = conference()
    s.send(BOB, '<message to="avmoderation.meet.jitsi"><av_moderation enable="true" mediaType="audio"/></message>')
    assert error_of(s.take(BOB)[0]) == ("auth", "forbidden")
    s.send(ALICE, '<message to="avmoderation.meet.jitsi"><av_moderation enable="true" mediaType="audio"/></message>')
    expected = {"type": "av_moderation", "enabled": True, "room": ROOM, "actor": f"{ROOM}/aa11", "mediaType": "audio"}
    assert s.json_from(BOB, "avmoderation.meet.jitsi") == [expected]
    assert s.json_from(FOCUS, "avmoderation.meet.jitsi") == [expected]
    s.take()
    s.send(ALICE, f'<message to="avmoderation.meet.jitsi"><av_moderation jidToWhitelist="{ROOM}/bb22" '
                  'mediaType="audio"/></message>')
    assert s.json_from(BOB, "avmoderation.meet.jitsi") == [
        {"type": "av_moderation", "room": ROOM, "mediaType": "audio", "approved": True}]
    [to_focus] = s.json_from(FOCUS, "avmoderation.meet.jitsi")
    assert to_focus["whitelists"] == {"audio": [f"{ROOM}/bb22"]}
    # a newcomer learns that audio is moderated
    s.join(CAROL, "cc33")
    assert s.json_from(CAROL, "avmoderation.meet.jitsi")[0]["enabled"] is True
    s.grant_owner("carol@meet.jitsi")
    assert s.json_from(CAROL, "avmoderation.meet.jitsi") == [
        {"type": "av_moderation", "room": ROOM, "whitelists": {"audio": [f"{ROOM}/bb22"]}, "mediaType": "audio"}]
    s.send(ALICE, f'<message to="avmoderation.meet.jitsi"><av_moderation jidToWhitelist="{ROOM}/nobody" '
                  'mediaType="audio"/></message>')
    assert error_of(s.take(ALICE)[-1]) == ("cancel", "item-not-found")


def poll_message(payload):
    return (f'<message type="chat" to="polls.meet.jitsi"><json-message xmlns="{JITMEET}">'
            f'{json.dumps(payload)}</json-message></message>')


def test_poll_sender_comes_from_the_session_not_the_body():
    s = conference()
    s.send(BOB, poll_message({"type": "polls", "command": "new-poll", "pollId": "p1", "question": "Lunch?",
                              "answers": [{"name": "Yes"}, {"name": "No"}],
                              "senderId": "aa11", "senderName": "Alice"}))
    [seen] = s.json_from(ALICE, "polls.meet.jitsi")
    assert seen["senderId"] == "bb22" and seen["senderName"] == "Bob"
    s.take()
    s.send(ALICE, poll_message({"type": "polls", "command": "answer-poll", "pollId": "p1", "answers": [True, False],
                                "senderId": "bb22"}))
    [answer] = s.json_from(BOB, "polls.meet.jitsi")
    assert answer["senderId"] == "aa11" and answer["answers"] == [True, False]
    s.take()
    s.send(BOB, poll_message({"type": "polls", "command": "new-poll", "pollId": "p1", "question": "Again?",
                              "answers": [{"name": "x"}]}))
    err = s.take(BOB)[0]
    assert error_of(err) == ("cancel", "not-allowed")
    s.send(BOB, poll_message({"type": "polls", "command": "new-poll", "pollId": "p2", "question": "x" * 2000,
                              "answers": [{"name": "x"}]}))
    assert error_of(s.take(BOB)[0]) == ("modify", "not-acceptable")
    s.send(CAROL, poll_message({"type": "polls", "command": "new-poll", "pollId": "p3", "question": "?",
                                "answers": [{"name": "x"}]}))
    assert error_of(s.take(CAROL)[0]) == ("cancel", "not-allowed")
    s.join(CAROL, "cc33")
    [old] = s.json_from(CAROL, "polls.meet.jitsi")
    assert old["command"] == "old-polls"
    assert old["polls"][0]["answers"][0]["voters"] == [{"id": "aa11", "name": "Alice"}]


def test_speaker_stats(monkeypatch):
    s = conference()
    clock = [1000.0]
    for c in s.components.values():
        if type(c).__name__ == "SpeakerStats":
            c.ctx.wallclock = lambda: clock[0]
    s.send(ALICE, f'<message to="speakerstats.meet.jitsi"><speakerstats xmlns="{JITMEET}" room="{ROOM}" '
                  'silence="false"/></message>')
    clock[0] += 12.5
    s.send(ALICE, f'<message to="speakerstats.meet.jitsi"><speakerstats xmlns="{JITMEET}" room="{ROOM}" '
                  'silence="true"/></message>')
    s.join(CAROL, "cc33")
    [stats] = s.json_from(CAROL, "speakerstats.meet.jitsi")
    assert stats["users"]["aa11"]["totalDominantSpeakerTime"] == 12500
    assert stats["users"]["aa11"]["displayName"] == "Alice"


def test_end_conference():
    s = conference()
    s.send(BOB, '<message to="endconference.meet.jitsi"><end_conference/></message>')
    assert s.take(BOB) == []
    s.send(ALICE, '<message to="endconference.meet.jitsi"><end_conference/></message>')
    [gone] = presences(s.take(BOB), "unavailable")
    destroy = gone.find(f"{q('x', MUC_USER)}/{q('destroy', MUC_USER)}")
    assert destroy.findtext(q("reason", MUC_USER)) == "The meeting has been terminated"
    assert s.components["muc.meet.jitsi"].get_room(ROOM) is None


def test_metadata_moderators_set_everyone_gets_newcomers_first():
    s = conference()
    body = json.dumps({"key": "whiteboard", "data": {"url": "x"}})
    s.send(BOB, f'<message to="metadata.meet.jitsi"><room_metadata xmlns="{JITMEET}" room="{ROOM}">{body}'
                '</room_metadata></message>')
    assert error_of(s.take(BOB)[0]) == ("auth", "forbidden")
    s.send(ALICE, f'<message to="metadata.meet.jitsi"><room_metadata xmlns="{JITMEET}" room="{ROOM}">'
                  f'{json.dumps({"key": "participants", "data": 1})}</room_metadata></message>')
    assert error_of(s.take(ALICE)[0]) == ("auth", "forbidden")
    s.send(ALICE, f'<message to="metadata.meet.jitsi"><room_metadata xmlns="{JITMEET}" room="{ROOM}">{body}'
                  '</room_metadata></message>')
    assert s.json_from(BOB, "metadata.meet.jitsi") == [
        {"type": "room_metadata", "metadata": {"whiteboard": {"url": "x"}}}]
    [to_focus] = [el for el in s.take(FOCUS) if el.get("from") == "metadata.meet.jitsi"]
    assert to_focus.find(q("json-message", JITMEET)).get("room") == ROOM
    s.join(CAROL, "cc33")
    got = s.take(CAROL)
    first_meta = next(i for i, el in enumerate(got) if el.get("from") == "metadata.meet.jitsi")
    own = next(i for i, el in enumerate(got) if el.get("from") == f"{ROOM}/cc33")
    assert first_meta < own


def test_moderator_self_presence_has_permissions():
    s = Stack()
    s.focus_joins()
    s.origin(ALICE, claims={"context": {"features": {"recording": False}}})
    s.join(ALICE, "aa11")
    s.take()
    s.grant_owner("alice@meet.jitsi")
    own = [p for p in presences(s.take(ALICE)) if p.get("from") == f"{ROOM}/aa11"][0]
    perms = {p.get("name"): p.get("val") for p in own.iter(q("p", JITMEET))}
    assert perms["recording"] == "false" and perms["livestreaming"] == "true"


def test_focus_proxy_forwards_conference_request_and_reply():
    s = Stack()
    req = (f'<iq type="set" id="c1" to="focus.meet.jitsi"><conference xmlns="http://jitsi.org/protocol/focus" '
           f'room="{ROOM}" machine-uid="m"/></iq>')
    s.send(ALICE, req)
    got = s.take()
    assert error_of([el for el in got if el.get("to") == ALICE][0]) == ("cancel", "service-unavailable")
    assert [el.get("type") for el in got if el.get("to") == "focus@auth.meet.jitsi"] == ["subscribe"]
    s.send(FOCUS, '<presence to="focus.meet.jitsi"/>')
    s.send(ALICE, req)
    [fwd] = s.take(FOCUS)
    assert fwd.get("from") == f"focus.meet.jitsi/{ALICE}" and fwd.get("id") == "c1"
    s.send(FOCUS, f'<iq type="result" id="c1" to="focus.meet.jitsi/{ALICE}"><conference '
                  f'xmlns="http://jitsi.org/protocol/focus" ready="true" room="{ROOM}"/></iq>')
    [back] = s.take(ALICE)
    assert back.get("from") == "focus.meet.jitsi" and back.get("type") == "result" and back.get("id") == "c1"
    s.send(ALICE, '<message to="focus.meet.jitsi"><body>hi</body></message>')
    assert error_of(s.take(ALICE)[0]) == ("cancel", "feature-not-implemented")
    s.components["focus.meet.jitsi"].session_closed(FOCUS)
    s.send(ALICE, req)
    assert error_of([el for el in s.take(ALICE)][0]) == ("cancel", "service-unavailable")


def test_max_participants_does_not_count_the_focus():
    s = conference({"MAX_PARTICIPANTS": "2"})
    s.join(CAROL, "cc33")
    assert error_of(s.take(CAROL)[0]) == ("cancel", "service-unavailable")


def test_a_guest_joins_a_started_meeting_like_anyone():
    # As upstream: only the focus gates guests, by refusing to create a room for them. Holding a
    # guest's join in the MUC as well would hang upstream's login-and-upgrade flow, where a host
    # returns on the guest connection with a focus session id.
    s = Stack({"ENABLE_AUTH": "1", "ENABLE_GUESTS": "1"})
    s.focus_joins()
    guest = "g1@guest.meet.jitsi/g"
    s.join(guest, "ee55")
    own = [p for p in presences(s.take(guest)) if p.get("from") == f"{ROOM}/ee55"]
    assert own and own[0].get("type") is None


def test_token_room_mismatch():
    s = Stack({"ENABLE_AUTH": "1", "AUTH_TYPE": "jwt", "JWT_APP_ID": "app", "JWT_APP_SECRET": "secret"})
    s.focus_joins()
    s.origin(ALICE, claims={"room": "other"})
    s.join(ALICE, "aa11")
    err = s.take(ALICE)[0]
    assert error_of(err) == ("cancel", "not-allowed")
    assert err.findtext(f"{q('error')}/{{urn:ietf:params:xml:ns:xmpp-stanzas}}text") == "Room and token mismatched"
    s.origin(BOB, claims={"room": "standup"})
    s.join(BOB, "bb22")
    assert presences(s.take(BOB))


def test_main_domain_disco_identities():
    s = Stack({"DISABLE_POLLS": "1", "ENABLE_AV_MODERATION": "0"})
    types = {c.disco_type for c in s.components.values() if c.disco_type}
    assert {"speakerstats", "lobbyrooms", "breakout_rooms", "end_conference", "room_metadata"} <= types
    assert "polls" not in types and "av_moderation" not in types


def test_token_identity_replaces_what_the_client_claims():
    s = Stack({"ENABLE_AUTH": "1", "AUTH_TYPE": "jwt", "JWT_APP_ID": "app", "JWT_APP_SECRET": "secret"})
    s.focus_joins()
    s.origin(ALICE, claims={"room": "*", "context": {"user": {"id": "u-17", "name": "Mireille", "moderator": True},
                                                      "group": "team-a"}})
    s.join(ALICE, "aa11", children="<identity><user><id>admin</id><name>Boss</name></user></identity>")
    [seen] = [p for p in presences(s.take(FOCUS)) if p.get("from") == f"{ROOM}/aa11"]
    [identity] = seen.findall(q("identity"))
    assert identity.findtext(f"{q('user')}/{q('id')}") == "u-17"
    assert identity.findtext(f"{q('user')}/{q('name')}") == "Mireille"
    assert identity.findtext(f"{q('user')}/{q('moderator')}") == "true"
    assert identity.findtext(q("group")) == "team-a"
    # a tokenless session cannot claim one either
    s.join(BOB, "bb22", children="<identity><user><id>u-17</id></user></identity>")
    [seen] = [p for p in presences(s.take(FOCUS)) if p.get("from") == f"{ROOM}/bb22"]
    assert seen.find(q("identity")) is None


def test_tenant_clients_moderate_with_their_own_room_addresses():
    s = Stack()
    internal, external = "[acme]standup@muc.meet.jitsi", "standup@muc.acme.meet.jitsi"
    s.focus_joins(internal)
    s.host.origins = {FOCUS: s.origin(FOCUS, service=True), ALICE: s.origin(ALICE), BOB: s.origin(BOB)}
    s.join(ALICE, "aa11", room=external)
    s.join(BOB, "bb22", room=external)
    s.grant_owner("alice@meet.jitsi", room=internal)
    s.take()
    s.send(ALICE, '<message to="avmoderation.meet.jitsi"><av_moderation enable="true" mediaType="audio"/></message>')
    s.send(ALICE, f'<message to="avmoderation.meet.jitsi"><av_moderation jidToWhitelist="{external}/bb22" '
                  'mediaType="audio"/></message>')
    assert {"type": "av_moderation", "room": internal, "mediaType": "audio", "approved": True} in \
        s.json_from(BOB, "avmoderation.meet.jitsi")
    s.send(ALICE, '<message to="breakout.meet.jitsi"><breakout_rooms type="features/breakout-rooms/add"/></message>')
    [update] = s.json_from(ALICE, "breakout.meet.jitsi")
    [breakout] = [jid for jid, r in update["rooms"].items() if not r.get("isMainRoom")]
    s.send(ALICE, f'<message to="breakout.meet.jitsi"><breakout_rooms type="features/breakout-rooms/move-to-room" '
                  f'participantJid="{external}/bb22" roomJid="{breakout}"/></message>')
    assert s.json_from(BOB, "breakout.meet.jitsi")[-1]["roomJid"] == breakout
