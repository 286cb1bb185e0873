"""ENABLE_AUTH with ENABLE_GUESTS: guests log in anonymously on the guest domain."""

from __future__ import annotations

import asyncio

import pytest

from jitsi_py.xmpp.auth.internal import shared_store

from ..conftest import connect, disconnect

ROOM = "standup@muc.meet.jitsi"


@pytest.fixture
def settings_values():
    return {"ENABLE_AUTH": "1", "ENABLE_GUESTS": "1", "AUTH_TYPE": "internal", "JITSI_PY_MUC_WAIT_FOR_FOCUS": "0"}


def self_presence(client) -> asyncio.Future:
    """Resolves with the room's answer to this client's own join (presence or error)."""
    seen: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_presence(presence) -> None:
        if presence["from"].bare == ROOM and presence["from"].resource == client.nick and not seen.done():
            seen.set_result(presence)

    client.add_event_handler("presence", on_presence)
    return seen


async def join(client, nick: str) -> asyncio.Future:
    client.nick = nick
    answered = self_presence(client)
    client.send_presence(pto=f"{ROOM}/{nick}", pstatus=None)
    return answered


async def test_guests_log_in_on_the_guest_domain_and_join_a_started_meeting(server):
    # Waiting for the host is the focus's refusal to create a room for a guest (tests/focus/test_auth.py,
    # tests/web/test_auth_flow.py); once the meeting exists a guest joins without any further hold.
    shared_store(server.settings).set_password("host", "meet.jitsi", "host-pass")
    with pytest.raises(AssertionError):  # no anonymous logins on the main domain any more
        await disconnect(await connect(server, "meet.jitsi", mechanism="ANONYMOUS"))
    guest = await connect(server, "guest.meet.jitsi", mechanism="ANONYMOUS")
    host = await connect(server, "host@meet.jitsi", "host-pass")
    try:
        host_in = await join(host, "host1")
        assert (await asyncio.wait_for(host_in, 10))["type"] != "error"
        guest_in = await join(guest, "guest1")
        assert (await asyncio.wait_for(guest_in, 10))["type"] != "error"
    finally:
        await disconnect(guest)
        await disconnect(host)
