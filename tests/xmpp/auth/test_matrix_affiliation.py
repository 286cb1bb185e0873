"""MATRIX_UVS_SYNC_POWER_LEVELS: Matrix power levels become room affiliations, and stay so."""

from __future__ import annotations

from jitsi_py.xmpp.auth.matrix import jitsi_room_of

from ..rooms.stack import FOCUS, MUC, Stack, item, presences

MATRIX_ROOM = f"{jitsi_room_of('!qwertyasdfgh:matrix.example.org')}@{MUC}"
PLAIN_ROOM = f"standup@{MUC}"
MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
BOSS, PEER = "boss@meet.jitsi/b", "peer@meet.jitsi/p"
BASE = {"ENABLE_AUTH": "1", "MATRIX_UVS_URL": "http://127.0.0.1:1", "MATRIX_UVS_SYNC_POWER_LEVELS": "1",
        "JWT_APP_ID": "my_app", "JWT_APP_SECRET": "s" * 32, "JITSI_PY_MUC_WAIT_FOR_FOCUS": "0"}


def stack(auth_type: str, **extra: str) -> Stack:
    s = Stack({**BASE, "AUTH_TYPE": auth_type, **extra})
    s.origin(FOCUS, service=True)
    s.origin(BOSS, claims={"room": "*", "matrix_affiliation": "owner"}, anonymous=False)
    s.origin(PEER, claims={"room": "*", "matrix_affiliation": "member"}, anonymous=False)
    return s


def own_affiliation(s: Stack, jid: str, room: str, nick: str) -> str:
    mine = [p for p in presences(s.take(jid)) if p.get("from") == f"{room}/{nick}"]
    return item(mine[-1]).get("affiliation")


def focus_grants_owner(s: Stack, room: str, bare: str) -> None:
    s.send(FOCUS, f'<iq type="set" id="g" to="{room}"><query xmlns="{MUC_ADMIN}">'
                  f'<item affiliation="owner" jid="{bare}"/></query></iq>')


def test_matrix_mode_joins_with_the_power_level_and_keeps_it():
    s = stack("matrix")
    s.join(FOCUS, "focus", PLAIN_ROOM)
    s.join(BOSS, "bb11", PLAIN_ROOM)
    assert own_affiliation(s, BOSS, PLAIN_ROOM, "bb11") == "owner"
    s.join(PEER, "pp22", PLAIN_ROOM)
    assert own_affiliation(s, PEER, PLAIN_ROOM, "pp22") == "member"
    focus_grants_owner(s, PLAIN_ROOM, "peer@meet.jitsi")
    assert own_affiliation(s, PEER, PLAIN_ROOM, "pp22") == "member"
    room = s.components[MUC].get_room(PLAIN_ROOM)
    assert room.affiliation("peer@meet.jitsi") == "member" and room.affiliation("boss@meet.jitsi") == "owner"


def test_hybrid_mode_applies_in_matrix_rooms_only():
    s = stack("hybrid_matrix_token")
    for room in (MATRIX_ROOM, PLAIN_ROOM):
        s.join(FOCUS, "focus", room)
        s.join(PEER, "pp22", room)
        focus_grants_owner(s, room, "peer@meet.jitsi")
    rooms = s.components[MUC]
    assert rooms.get_room(MATRIX_ROOM).affiliation("peer@meet.jitsi") == "member"
    assert rooms.get_room(PLAIN_ROOM).affiliation("peer@meet.jitsi") == "owner"


def test_off_without_power_level_sync():
    s = stack("matrix", MATRIX_UVS_SYNC_POWER_LEVELS="0")
    s.join(FOCUS, "focus", PLAIN_ROOM)
    s.join(PEER, "pp22", PLAIN_ROOM)
    focus_grants_owner(s, PLAIN_ROOM, "peer@meet.jitsi")
    assert s.components[MUC].get_room(PLAIN_ROOM).affiliation("peer@meet.jitsi") == "owner"
