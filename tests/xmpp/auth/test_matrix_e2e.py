"""Matrix logins through the whole server: Element's widget token over WebSocket, a UVS on loopback."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from ..strophe import run_in_node
from .conftest import ROOM, UVS_SECRET
from .test_matrix import element_token

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


@pytest.fixture
def settings_values(uvs):
    url, _ = uvs
    return {"ENABLE_AUTH": "1", "AUTH_TYPE": "matrix", "MATRIX_UVS_URL": url, "MATRIX_UVS_AUTH_TOKEN": UVS_SECRET}


async def strophe_login(server, **query: str) -> dict:
    url = f"ws://127.0.0.1:{server.listening.http_port}/xmpp-websocket?{urlencode(query)}"
    return await run_in_node({"url": url, "jid": "meet.jitsi", "domain": "meet.jitsi", "marker": "matrix"})


async def test_room_member_logs_in_and_others_do_not(server, uvs):
    _, seen = uvs
    assert (await strophe_login(server, room=ROOM, token=element_token("oid-alice"))).get("connected")
    assert not (await strophe_login(server, room=ROOM, token=element_token("oid-eve"))).get("connected")
    assert not (await strophe_login(server, room="standup", token=element_token("oid-alice"))).get("connected")
    assert not (await strophe_login(server, room=ROOM)).get("connected")
    assert [body["token"] for body in seen] == ["oid-alice", "oid-eve"]
