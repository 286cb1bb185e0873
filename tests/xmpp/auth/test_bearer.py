"""The token in an ``Authorization: Bearer`` header of the WebSocket upgrade or of the request that
creates the BOSH session, as upstream's token and hybrid Matrix modules read it; the URL's
``?token=`` wins when both are there. ``AUTH_TYPE=matrix`` reads the URL only."""

from __future__ import annotations

import jwt as pyjwt
import pytest

from jitsi_py.settings import Settings
from jitsi_py.xmpp.auth.base import Attempt, AuthFailure
from jitsi_py.xmpp.auth.jwt import session_token
from jitsi_py.xmpp.auth.matrix import MatrixBackend
from jitsi_py.xmpp.server import XmppServer

from ..conftest import make_settings
from .conftest import ROOM, UVS_SECRET
from .test_jwt_e2e import SASL, bosh_login, raw_session
from .test_matrix import APP_SECRET, element_token

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def jitsi_token(room: str = "standup", secret: str = APP_SECRET) -> str:
    return pyjwt.encode({"iss": "my_app", "aud": "jitsi", "room": room}, secret, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def settings_values(uvs):
    url, _ = uvs
    return {"ENABLE_AUTH": "1", "AUTH_TYPE": "hybrid_matrix_token", "JWT_APP_ID": "my_app",
            "JWT_APP_SECRET": APP_SECRET, "MATRIX_UVS_URL": url, "MATRIX_UVS_AUTH_TOKEN": UVS_SECRET}


async def ws_login(server, headers=None, **query: str) -> tuple[str, str | None]:
    """The SASL answer to ANONYMOUS over WebSocket: ("success", None) or ("failure", condition)."""
    http, client = await raw_session(server, headers, **query)
    try:
        return outcome(await client.anonymous())
    finally:
        await http.close()


def outcome(answer) -> tuple[str, str | None]:
    name = answer.tag.split("}")[1]
    condition = next((child.tag.split("}")[1] for child in answer if child.tag != f"{{{SASL}}}text"), None)
    return name, condition


def test_the_url_token_wins_over_the_header():
    assert session_token(Attempt("meet.jitsi", "websocket", {"token": "url"}, None, "header")) == "url"
    assert session_token(Attempt("meet.jitsi", "websocket", {}, None, "header")) == "header"
    assert session_token(Attempt("meet.jitsi", "tcp")) is None


async def test_matrix_token_in_the_header_over_websocket_and_bosh(server, uvs):
    _, seen = uvs
    matrix = bearer(element_token(secret=APP_SECRET))
    assert await ws_login(server, matrix, room=ROOM) == ("success", None)
    assert outcome(await bosh_login(server, matrix, room=ROOM)) == ("success", None)
    assert [body["token"] for body in seen] == ["oid-alice", "oid-alice"]
    # Not a member, or the header's token for another room: refused, as with ?token=.
    assert await ws_login(server, bearer(element_token("oid-eve", secret=APP_SECRET)), room=ROOM) == \
        ("failure", "not-authorized")
    assert await ws_login(server, matrix, room="standup") == ("failure", "not-authorized")


async def test_jitsi_token_in_the_header(server):
    assert await ws_login(server, bearer(jitsi_token()), room="standup") == ("success", None)
    assert outcome(await bosh_login(server, bearer(jitsi_token()), room="standup")) == ("success", None)
    assert await ws_login(server, bearer(jitsi_token()), room="other") == ("failure", "not-authorized")
    assert await ws_login(server, bearer(jitsi_token(secret="x" * 40)), room="standup") == \
        ("failure", "not-authorized")


async def test_header_problems_are_refusals(server):
    # Upstream cuts the first seven characters without reading them: another scheme is a bad token.
    assert await ws_login(server, {"Authorization": "Basic dXNlcjpwYXNz"}, room="standup") == \
        ("failure", "not-authorized")
    assert await ws_login(server, {"Authorization": "Bearer "}, room="standup") == ("failure", "not-authorized")
    assert await ws_login(server, room="standup") == ("failure", "not-authorized")
    # A bad ?token= is not rescued by a good header.
    assert await ws_login(server, bearer(jitsi_token()), room="standup", token="garbage") == \
        ("failure", "not-authorized")
    assert await ws_login(server, bearer("garbage"), room="standup", token=jitsi_token()) == ("success", None)


async def test_plain_jwt_backend_reads_the_header_too(tmp_path):
    server = XmppServer(make_settings(tmp_path, ENABLE_AUTH="1", AUTH_TYPE="jwt", JWT_APP_ID="my_app",
                                      JWT_APP_SECRET=APP_SECRET))
    server.create_service_accounts()
    await server.start("127.0.0.1", {"c2s": 0, "http": 0, "component": 0})
    try:
        assert await ws_login(server, bearer(jitsi_token()), room="standup") == ("success", None)
        assert outcome(await bosh_login(server, bearer(jitsi_token()), room="standup")) == ("success", None)
    finally:
        await server.stop()


async def test_matrix_backend_reads_the_url_only(uvs):
    url, seen = uvs
    back = MatrixBackend(Settings.from_values({"MATRIX_UVS_URL": url, "MATRIX_UVS_AUTH_TOKEN": UVS_SECRET}),
                         "meet.jitsi")
    with pytest.raises(AuthFailure) as info:
        await back.anonymous(Attempt("meet.jitsi", "websocket", {"room": ROOM}, None, element_token()))
    assert info.value.condition == "not-authorized" and seen == []
