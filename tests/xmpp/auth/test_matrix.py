"""Matrix and hybrid logins against a small service speaking the UVS API on loopback."""

from __future__ import annotations

import socket
import time

import jwt as pyjwt
import pytest

from jitsi_py.settings import Settings, SettingsError
from jitsi_py.xmpp.auth.base import Attempt, AuthFailure
from jitsi_py.xmpp.auth.jwt import ROOM_MISMATCH
from jitsi_py.xmpp.auth.matrix import (
    HybridMatrixTokenBackend,
    MatrixBackend,
    is_matrix_room,
    jitsi_room_of,
    room_id_of,
)

from .conftest import ROOM, ROOM_ID, UVS_SECRET

# Element signs with a short placeholder secret; pyjwt warns about it when the tests make one.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

APP_SECRET = "hybrid-app-secret-of-at-least-32-bytes!"


def values(url: str, **extra: str) -> dict[str, str]:
    return {"MATRIX_UVS_URL": url, "MATRIX_UVS_AUTH_TOKEN": UVS_SECRET, **extra}


def element_token(openid: str = "oid-alice", room_id: str = ROOM_ID, secret: str = "notused", **claims) -> str:
    """What Element's widget sends: a JWT whose signature is not meant to prove anything."""
    body = {"context": {"user": {"name": "Alice", "avatar": "https://example.org/a.png"},
                        "matrix": {"token": openid, "room_id": room_id, "server_name": "matrix.example.org"}},
            "aud": "jitsi", "iss": "element-web", "sub": "meet.jitsi", "room": "*", **claims}
    return pyjwt.encode(body, secret, algorithm="HS256")


def attempt(token: str | None, room: str | None = ROOM) -> Attempt:
    query = {}
    if token is not None:
        query["token"] = token
    if room is not None:
        query["room"] = room
    return Attempt(domain="meet.jitsi", transport="websocket", query=query)


async def refused(back, att: Attempt, condition: str = "not-authorized") -> AuthFailure:
    with pytest.raises(AuthFailure) as info:
        await back.anonymous(att)
    assert info.value.condition == condition
    return info.value


def test_room_names_are_the_base32_room_id():
    assert room_id_of(ROOM) == ROOM_ID
    assert room_id_of(ROOM.upper()) == ROOM_ID
    assert room_id_of("not base32!") is None
    assert is_matrix_room(ROOM)
    assert not is_matrix_room("standup")
    assert not is_matrix_room(jitsi_room_of("just-text"))


async def test_room_member_logs_in_with_the_token_context(uvs):
    url, seen = uvs
    identity = await MatrixBackend(Settings.from_values(values(url)), "meet.jitsi").anonymous(attempt(element_token()))
    assert identity.username is None and not identity.anonymous
    assert identity.claims["context"]["user"]["name"] == "Alice"
    assert "matrix_affiliation" not in identity.claims
    assert seen == [{"token": "oid-alice", "room_id": ROOM_ID, "matrix_server_name": "matrix.example.org"}]


async def test_power_levels_give_the_affiliation(uvs):
    url, _ = uvs
    back = MatrixBackend(Settings.from_values(values(url, MATRIX_UVS_SYNC_POWER_LEVELS="1")), "meet.jitsi")
    assert (await back.anonymous(attempt(element_token("oid-alice")))).claims["matrix_affiliation"] == "owner"
    assert (await back.anonymous(attempt(element_token("oid-bob")))).claims["matrix_affiliation"] == "member"


async def test_refusals(uvs):
    url, seen = uvs
    back = MatrixBackend(Settings.from_values(values(url)), "meet.jitsi")
    assert (await refused(back, attempt(None))).text.startswith("JWT token must be provided")
    assert (await refused(back, attempt("garbage"))).text == "JWT token cannot be decoded"
    failure = await refused(back, attempt(element_token(), room="otherroom"))
    assert failure.text == "Jitsi room does not match Matrix room"
    await refused(back, attempt(element_token(), room=None))
    assert (await refused(back, attempt(element_token("oid-eve")))).text == "Matrix token invalid or not in room"
    await refused(back, attempt(element_token("oid-unknown")))
    no_room = pyjwt.encode({"context": {"matrix": {"token": "oid-alice"}}}, "notused", algorithm="HS256")
    assert (await refused(back, attempt(no_room))).text == "Matrix room ID must be given"
    await refused(back, attempt(element_token(exp=int(time.time()) - 3600)))
    assert len(seen) == 2  # only the two well-formed tokens for the right room reached the UVS


async def test_wrong_uvs_auth_token_refuses(uvs):
    url, _ = uvs
    back = MatrixBackend(Settings.from_values({"MATRIX_UVS_URL": url, "MATRIX_UVS_AUTH_TOKEN": "wrong"}), "meet.jitsi")
    await refused(back, attempt(element_token()))


async def test_uvs_down_is_a_temporary_failure():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    back = MatrixBackend(Settings.from_values(values(f"http://127.0.0.1:{port}")), "meet.jitsi")
    await refused(back, attempt(element_token()), "temporary-auth-failure")


def test_uvs_url_is_required():
    with pytest.raises(SettingsError, match="MATRIX_UVS_URL"):
        MatrixBackend(Settings.from_values({}), "meet.jitsi")


# ---- hybrid_matrix_token ----

def hybrid(url: str, **extra: str) -> HybridMatrixTokenBackend:
    base = {"JWT_APP_ID": "my_app", "JWT_APP_SECRET": APP_SECRET, **values(url), **extra}
    return HybridMatrixTokenBackend(Settings.from_values(base), "meet.jitsi")


async def test_hybrid_matrix_token_is_verified_then_checked_with_the_uvs(uvs):
    url, seen = uvs
    back = hybrid(url, MATRIX_UVS_SYNC_POWER_LEVELS="1")
    identity = await back.anonymous(attempt(element_token(secret=APP_SECRET)))
    assert identity.claims["matrix_affiliation"] == "owner"
    # Signed with Element's placeholder instead of the app secret: refused before the UVS.
    await refused(back, attempt(element_token()))
    assert len(seen) == 1


async def test_hybrid_matrix_issuer(uvs):
    url, _ = uvs
    back = hybrid(url, MATRIX_UVS_ISSUER="element-web", JWT_ACCEPTED_ISSUERS="ignored-here")
    await back.anonymous(attempt(element_token(secret=APP_SECRET)))
    await back.anonymous(attempt(element_token(secret=APP_SECRET, iss="my_app")))
    failure = await refused(back, attempt(element_token(secret=APP_SECRET, iss="someone")))
    assert failure.text == "Invalid issuer ('iss' claim)"
    # The same two issuers, and only them, for ordinary Jitsi tokens.
    body = {"aud": "jitsi", "room": "*"}
    await back.anonymous(attempt(pyjwt.encode({**body, "iss": "element-web"}, APP_SECRET, algorithm="HS256")))
    await refused(back, attempt(pyjwt.encode({**body, "iss": "someone"}, APP_SECRET, algorithm="HS256")))


async def test_hybrid_without_uvs_issuer_accepts_any_issuer(uvs):
    url, _ = uvs
    back = hybrid(url, JWT_ACCEPTED_ISSUERS="only-this-one")
    token = pyjwt.encode({"iss": "anyone", "aud": "jitsi", "room": "*"}, APP_SECRET, algorithm="HS256")
    assert (await back.anonymous(attempt(token))).claims["iss"] == "anyone"
    await refused(back, attempt(pyjwt.encode({"iss": "anyone", "aud": "jitsi", "room": "*"}, "y" * 40,
                                             algorithm="HS256")))


async def test_hybrid_plain_jitsi_token(uvs):
    url, seen = uvs
    back = hybrid(url)
    body = {"iss": "my_app", "aud": "jitsi", "room": "standup", "context": {"user": {"name": "M"}}}
    token = pyjwt.encode(body, APP_SECRET, algorithm="HS256")
    assert (await back.anonymous(attempt(token, room="standup"))).claims == body
    assert (await refused(back, attempt(token, room="other"))).text == ROOM_MISMATCH
    await refused(back, attempt(pyjwt.encode(body, "x" * 40, algorithm="HS256"), room="standup"))
    assert (await refused(back, attempt(None))).text == "token required"
    assert seen == []


async def test_hybrid_with_a_key_server(uvs, key_server, signing_key):
    """As upstream: Matrix tokens are checked against Element's placeholder secret, Jitsi tokens
    against the key server's keys."""
    from .test_jwt import rs256

    url, seen = uvs
    keys, _, _ = key_server
    back = HybridMatrixTokenBackend(Settings.from_values({"JWT_APP_ID": "my_app", "JWT_ASAP_KEYSERVER": keys,
                                                          **values(url)}), "meet.jitsi")
    assert (await back.anonymous(attempt(element_token()))).claims["context"]["matrix"]["token"] == "oid-alice"
    await refused(back, attempt(element_token(secret="something-else")))
    assert len(seen) == 1
    body = {"iss": "my_app", "aud": "jitsi", "room": "*"}
    assert (await back.anonymous(attempt(rs256(body, signing_key)))).claims == body
    await refused(back, attempt(pyjwt.encode(body, "notused", algorithm="HS256")))  # only Matrix tokens
