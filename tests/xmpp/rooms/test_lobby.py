"""Lobby: enable by a moderator, knock, approve by invite, deny by kick, password bypass."""

from jitsi_py.common.ns import JITSI_MEET as JITMEET, MUC_OWNER, MUC_USER

from ..muc.harness import q
from .stack import ROOM, Stack, error_of, presences

ALICE, BOB, CAROL, DAVE = "alice@meet.jitsi/a", "bob@meet.jitsi/b", "carol@meet.jitsi/c", "dave@meet.jitsi/d"
LOBBY = "standup@lobby.meet.jitsi"
NICK = '<nick xmlns="http://jabber.org/protocol/nick">{}</nick>'


def configure(stack, jid, fields):
    body = "".join(f'<field var="{k}"><value>{v}</value></field>' for k, v in fields.items())
    stack.send(jid, f'<iq type="set" id="cfg" to="{ROOM}"><query xmlns="{MUC_OWNER}"><x xmlns="jabber:x:data" '
                    f'type="submit">{body}</x></query></iq>')


def lobby_groupchat(stack, to):
    out = []
    for el in stack.take(to):
        jm = el.find(q("json-message", JITMEET))
        if el.get("type") == "groupchat" and jm is not None:
            import json
            out.append((el.get("from"), json.loads(jm.text)))
    return out


def test_lobby_knock_approve_deny_and_password():
    s = Stack()
    s.focus_joins()
    s.join(ALICE, "aa11", children=NICK.format("Alice"))
    s.grant_owner("alice@meet.jitsi")
    s.take()
    configure(s, ALICE, {"muc#roomconfig_membersonly": "true"})
    notices = lobby_groupchat(s, ALICE)
    assert notices == [(f"{ROOM}/aa11", {"type": "lobby-notify", "event": "LOBBY-ENABLED", "value": True})]
    assert s.components["lobby.meet.jitsi"].get_room(LOBBY) is not None

    # no display name: 406 with displayname-required
    s.join(BOB, "bb22")
    err = s.take(BOB)[0]
    assert error_of(err) == ("modify", "not-acceptable")
    assert err.find(f"{q('error')}/{q('displayname-required', JITMEET)}").get("lobby") == "true"
    # with a display name: 407 with the lobby room
    s.join(BOB, "bb22", children=NICK.format("Bob"))
    err = s.take(BOB)[0]
    assert error_of(err) == ("auth", "registration-required")
    assert err.findtext(f"{q('error')}/{q('lobbyroom', JITMEET)}") == LOBBY

    # knock; the moderator in the lobby sees the knocker, the knocker does not see the moderator
    s.join(BOB, "bb22", room=LOBBY, children=NICK.format("Bob"))
    s.join(ALICE, "aa11", room=LOBBY, children=NICK.format("Alice"))
    alice_sees = [p.get("from") for p in presences(s.take(ALICE))]
    assert f"{LOBBY}/bb22" in alice_sees
    bob_sees = [p.get("from") for p in presences(s.take(BOB))]
    assert bob_sees == [f"{LOBBY}/bb22"]

    # approve: invite from the main room, no password disclosed
    s.send(ALICE, f'<message to="{ROOM}"><x xmlns="{MUC_USER}"><invite to="{BOB}"/></x></message>')
    [invite] = s.take(BOB)
    assert invite.get("from") == ROOM and invite.find(f".//{q('password', MUC_USER)}") is None
    granted = lobby_groupchat(s, ALICE)
    assert granted[0][1] == {"type": "lobby-notify", "event": "LOBBY-ACCESS-GRANTED",
                             "value": f"{LOBBY}/bb22", "name": "Bob"}
    s.join(BOB, "bb22", children=NICK.format("Bob"))
    assert "bb22" in s.components["muc.meet.jitsi"].get_room(ROOM).occupants

    # deny: the moderator kicks the knocker out of the lobby
    s.join(CAROL, "cc33", room=LOBBY, children=NICK.format("Carol"))
    s.take()
    s.send(ALICE, f'<iq type="set" id="k" to="{LOBBY}"><query xmlns="http://jabber.org/protocol/muc#admin">'
                  f'<item nick="cc33" role="none"/></query></iq>')
    denied = lobby_groupchat(s, ALICE)
    assert denied[0][1]["event"] == "LOBBY-ACCESS-DENIED" and denied[0][1]["value"] == f"{LOBBY}/cc33"

    # password: right password bypasses the lobby; an admitted member needs no password
    configure(s, ALICE, {"muc#roomconfig_roomsecret": "pw", "muc#roomconfig_passwordprotectedroom": "1"})
    s.join(DAVE, "dd44", children=NICK.format("Dave"), password="pw")
    assert "dd44" in s.components["muc.meet.jitsi"].get_room(ROOM).occupants
    s.send(BOB, f'<presence type="unavailable" to="{ROOM}/bb22"/>')
    s.take()
    s.join(BOB, "bb22", children=NICK.format("Bob"))
    assert "bb22" in s.components["muc.meet.jitsi"].get_room(ROOM).occupants

    # disabling the lobby destroys the lobby room and says so
    s.take()
    configure(s, ALICE, {"muc#roomconfig_membersonly": "false"})
    assert s.components["lobby.meet.jitsi"].get_room(LOBBY) is None
    assert lobby_groupchat(s, ALICE)[0][1]["value"] is False


def lobby_features(s, jid):
    s.send(jid, '<iq type="get" id="d" to="lobby.meet.jitsi"><query xmlns="http://jabber.org/protocol/disco#info" '
                'node="lobbyrooms"/></iq>')
    [res] = s.take(jid)
    assert res.get("type") == "result"
    return [f.get("var") for f in res.iter("{http://jabber.org/protocol/disco#info}feature")]


def test_display_name_required_only_where_the_lobby_is_on():
    s = Stack()
    s.origin(CAROL, query={"room": "standup"})
    assert "http://jitsi.org/protocol/lobbyrooms#displayname_required" not in lobby_features(s, CAROL)
    s.focus_joins()
    s.join(ALICE, "aa11", children=NICK.format("Alice"))
    s.grant_owner("alice@meet.jitsi")
    configure(s, ALICE, {"muc#roomconfig_membersonly": "true"})
    s.take()
    assert "http://jitsi.org/protocol/lobbyrooms#displayname_required" in lobby_features(s, CAROL)
    s.origin(DAVE, query={"room": "other"})
    assert "http://jitsi.org/protocol/lobbyrooms#displayname_required" not in lobby_features(s, DAVE)


def test_lobby_join_without_main_room_refused():
    s = Stack()
    s.join(BOB, "bb22", room=LOBBY, children=NICK.format("Bob"))
    assert error_of(s.take(BOB)[0]) == ("cancel", "item-not-found")


def test_lobby_shared_password_skips_the_lobby():
    s = Stack()
    s.focus_joins()
    s.join(ALICE, "aa11", children=NICK.format("Alice"))
    s.grant_owner("alice@meet.jitsi")
    s.take()
    configure(s, ALICE, {"muc#roomconfig_membersonly": "true", "muc#roomconfig_lobbypassword": "shared"})
    assert s.take(ALICE)[0].get("type") == "result"
    s.send(BOB, f'<presence to="{ROOM}/bb22"><x xmlns="http://jabber.org/protocol/muc"><lobbySharedPassword>'
                f'wrong</lobbySharedPassword></x>{NICK.format("Bob")}</presence>')
    assert error_of(s.take(BOB)[0]) == ("auth", "registration-required")
    s.send(BOB, f'<presence to="{ROOM}/bb22"><x xmlns="http://jabber.org/protocol/muc"><lobbySharedPassword>'
                f'shared</lobbySharedPassword></x>{NICK.format("Bob")}</presence>')
    room = s.components["muc.meet.jitsi"].get_room(ROOM)
    assert "bb22" in room.occupants and room.affiliation("bob@meet.jitsi") == "member"
