"""MATRIX_LOBBY_BYPASS: token holders enter a Matrix room's call past its lobby and password."""

from __future__ import annotations

from jitsi_py.common.ns import MUC_OWNER
from jitsi_py.xmpp.auth.matrix import jitsi_room_of

from ..rooms.stack import FOCUS, MUC, Stack, error_of, presences
from ..rooms.test_lobby import NICK

MUC_ADMIN = "http://jabber.org/protocol/muc#admin"

MATRIX_ROOM = f"{jitsi_room_of('!qwertyasdfgh:matrix.example.org')}@{MUC}"
PLAIN_ROOM = f"standup@{MUC}"
OWNER, MEMBER, GUEST = "owner@meet.jitsi/o", "member@meet.jitsi/m", "guest@guest.meet.jitsi/g"
ENV = {"ENABLE_AUTH": "1", "ENABLE_GUESTS": "1", "AUTH_TYPE": "hybrid_matrix_token", "MATRIX_LOBBY_BYPASS": "1",
       "JWT_APP_ID": "my_app", "JWT_APP_SECRET": "s" * 32, "MATRIX_UVS_URL": "http://127.0.0.1:1",
       "JITSI_PY_MUC_WAIT_FOR_FOCUS": "0"}


def locked_room(stack: Stack, room: str) -> None:
    """The focus and a moderator in; members only (so a lobby) and a password."""
    stack.origin(FOCUS, service=True)
    stack.join(FOCUS, "focus", room)
    stack.origin(OWNER, claims={"room": "*"}, anonymous=False)
    stack.join(OWNER, "oo11", room, children=NICK.format("Owner"))
    stack.send(FOCUS, f'<iq type="set" id="g" to="{room}"><query xmlns="{MUC_ADMIN}">'
                      f'<item affiliation="owner" jid="owner@meet.jitsi"/></query></iq>')
    fields = {"muc#roomconfig_membersonly": "true", "muc#roomconfig_roomsecret": "s3cret",
              "muc#roomconfig_passwordprotectedroom": "1"}
    body = "".join(f'<field var="{k}"><value>{v}</value></field>' for k, v in fields.items())
    stack.send(OWNER, f'<iq type="set" id="cfg" to="{room}"><query xmlns="{MUC_OWNER}">'
                      f'<x xmlns="jabber:x:data" type="submit">{body}</x></query></iq>')
    stack.take()


def test_token_holder_bypasses_lobby_and_password_of_a_matrix_room():
    s = Stack(ENV)
    locked_room(s, MATRIX_ROOM)
    s.origin(MEMBER, claims={"room": "*", "context": {"matrix": {"room_id": "x"}}}, anonymous=False)
    s.join(MEMBER, "mm22", MATRIX_ROOM, children=NICK.format("Member"))
    own = [p for p in presences(s.take(MEMBER)) if p.get("from") == f"{MATRIX_ROOM}/mm22"]
    assert own, "the token holder should have joined"


def test_no_bypass_without_token_or_outside_matrix_rooms():
    s = Stack(ENV)
    locked_room(s, MATRIX_ROOM)
    s.origin(GUEST)
    s.join(GUEST, "gg33", MATRIX_ROOM, children=NICK.format("Guest"))
    assert error_of(s.take(GUEST)[0]) == ("auth", "registration-required")

    locked_room(s, PLAIN_ROOM)
    s.origin(MEMBER, claims={"room": "*"}, anonymous=False)
    s.join(MEMBER, "mm22", PLAIN_ROOM, children=NICK.format("Member"))
    assert error_of(s.take(MEMBER)[0]) == ("auth", "registration-required")


def test_off_unless_configured():
    for env in ({**ENV, "MATRIX_LOBBY_BYPASS": "0"}, {**ENV, "AUTH_TYPE": "jwt"}):
        s = Stack(env)
        locked_room(s, MATRIX_ROOM)
        s.origin(MEMBER, claims={"room": "*"}, anonymous=False)
        s.join(MEMBER, "mm22", MATRIX_ROOM, children=NICK.format("Member"))
        assert error_of(s.take(MEMBER)[0]) == ("auth", "registration-required")
