"""ENABLE_AUTH with ENABLE_GUESTS: guests log in anonymously on the guest domain and wait for a host."""

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


async def test_guest_waits_until_an_authenticated_host_is_in(server):
    shared_store(server.settings).set_password("host", "meet.jitsi", "host-pass")
    with pytest.raises(AssertionError):  # no anonymous logins on the main domain any more
        await disconnect(await connect(server, "meet.jitsi", mechanism="ANONYMOUS"))
    guest = await connect(server, "guest.meet.jitsi", mechanism="ANONYMOUS")
    host = await connect(server, "host@meet.jitsi", "host-pass")
    try:
        guest_in = await join(guest, "guest1")
        await asyncio.sleep(0.3)
        assert not guest_in.done()  # held: nobody who may start the meeting is there
        host_in = await join(host, "host1")
        assert (await asyncio.wait_for(host_in, 10))["type"] != "error"
        assert (await asyncio.wait_for(guest_in, 10))["type"] != "error"
    finally:
        await disconnect(guest)
        await disconnect(host)
