"""Media through the focus and our bridge: aiortc participants decode each other's video, on
Debian's Prosody and on our XMPP server; one of two bridges killed mid-call."""

import asyncio

import pytest

from jitsi_py.common.stanzas.jingle import BridgeSession, Jingle

from .conftest import until
from .harness import MUC, BridgeProcess, MediaParticipant

pytestmark = [pytest.mark.system, pytest.mark.timeout(120)]


async def media_participants(xmpp_server, focus, room, count=2):
    people = []
    for _ in range(count):
        person = MediaParticipant(xmpp_server.c2s_port, xmpp_server.focus_address or focus.xmpp.boundjid.full, room)
        await person.start()
        assert (await person.request_conference()).ready
        await person.join()
        people.append(person)
    return people


async def test_two_participants_decode_each_others_video(xmpp_server, focus, tmp_path):
    bridge = BridgeProcess(xmpp_server.c2s_port, "jvb-a", tmp_path / "jvb-a")
    await bridge.start()
    people = []
    try:
        await until(lambda: bridge.occupant in focus.bridges.bridges, 20)
        people = await media_participants(xmpp_server, focus, f"media@{MUC}")
        for person in people:
            await person.answer()
        for person in people:
            assert await person.frames(5) == 5
        alice = people[0]
        offer = alice.offer
        await alice.send_jingle(Jingle("session-info", offer.sid, bridge_session=BridgeSession(
            offer.bridge_session.id, ice_restart=True)).to_element())
        info = await alice.next_jingle("transport-info")
        assert info.content("audio").transport.ufrag == offer.content("audio").transport.ufrag
    finally:
        for person in people:
            await person.stop()
        await bridge.stop()


async def test_a_killed_bridge_is_replaced_and_media_resumes(xmpp_server, focus, tmp_path):
    first = BridgeProcess(xmpp_server.c2s_port, "jvb-a", tmp_path / "jvb-a")
    second = BridgeProcess(xmpp_server.c2s_port, "jvb-b", tmp_path / "jvb-b")
    people = []
    try:
        await first.start()
        await until(lambda: first.occupant in focus.bridges.bridges, 20)
        people = await media_participants(xmpp_server, focus, f"failover@{MUC}")
        for person in people:
            await person.answer()
        for person in people:
            await person.frames(3)
        await second.start()
        await until(lambda: second.occupant in focus.bridges.bridges, 20)
        hosting = {s for room in focus.rooms.values() if room.core for s in room.core.sessions}
        assert hosting == {first.occupant}
        loop = asyncio.get_running_loop()
        killed_at = loop.time()
        first.kill()
        for person in people:
            await person.next_jingle("session-terminate", timeout=5)
            await person.answer(timeout=5)
        reinvited_in = loop.time() - killed_at
        assert reinvited_in < 5.0
        hosting = {s for room in focus.rooms.values() if room.core for s in room.core.sessions}
        assert hosting == {second.occupant}
        for person in people:
            assert await person.frames(3) == 3
    finally:
        for person in people:
            await person.stop()
        first.kill()
        await first.stop()
        await second.stop()
