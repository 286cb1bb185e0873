"""The focus against Debian's Prosody and against our own XMPP server: real XMPP, MUC IQ
forwarding, brewery presence.

The bridge side is a scripted peer answering Colibri2 in the real bridge's shape; participants
are slixmpp clients (signalling only).
"""

import asyncio
import base64
import dataclasses
import hashlib
from pathlib import Path
from xml.etree.ElementTree import fromstring

import aiohttp
import pytest
from slixmpp.exceptions import IqError

from jitsi_py.common.stanzas.jitsi import MuteIq, decode_sources
from jitsi_py.focus.caps import verification_string
from jitsi_py.focus.rest import make_app

from .conftest import until
from .harness import MUC, MediaParticipant, Participant, ScriptedBridge, free_port

pytestmark = [pytest.mark.system, pytest.mark.timeout(90)]
DATA = Path(__file__).parent / "data"


def accept_xml(offer, nick: str, ssrc_base: int) -> str:
    xml = (DATA / "session-accept.xml").read_text().replace("3f2a9c1e", nick).replace("4kq0v9oq1h5s0", offer.sid)
    for old in ("2001", "1001", "1002", "1003", "1011", "1012", "1013"):
        xml = xml.replace(f'"{old}"', f'"{int(old) + ssrc_base}"')
    return xml


async def participants(xmpp_server, focus, room, count=2):
    people = []
    for _ in range(count):
        person = Participant(xmpp_server.c2s_port, xmpp_server.focus_address or focus.xmpp.boundjid.full, room)
        await person.start()
        answer = await person.request_conference()
        assert answer.ready and answer.focus_jid == focus.bare_jid
        await person.join()
        people.append(person)
    return people


async def test_two_participants_are_offered_the_bridge_and_see_each_other(xmpp_server, focus):
    bridge = ScriptedBridge("jvb1", xmpp_server.c2s_port)
    await bridge.start()
    await until(lambda: bridge.occupant in focus.bridges.bridges)
    alice, bob = await participants(xmpp_server, focus, f"standup@{MUC}")
    await until(lambda: alice.role == "moderator")  # the focus made the first one owner
    assert bob.role == "participant"
    offers = {p.nick: await p.next_jingle("session-initiate") for p in (alice, bob)}
    for offer in offers.values():
        assert offer.content("audio").transport.ufrag == "ufjvb1"
        assert offer.content("data").transport.sctp_port == 5000
        assert "jvb" in decode_sources(offer.json_sources)
    create = bridge.requests[0]
    assert create.create and create.name == f"standup@{MUC}"
    assert create.endpoints[0].stats_id == f"stats-{create.endpoints[0].id}"

    await bob.send_jingle(fromstring(accept_xml(offers[bob.nick], bob.nick, 10000)))
    await alice.send_jingle(fromstring(accept_xml(offers[alice.nick], alice.nick, 0)))
    added = await bob.next_jingle("source-add")
    queued = await alice.next_jingle("source-add")
    assert bob.nick in decode_sources(queued.json_sources), "bob's sources were held until alice accepted"
    assert {s.ssrc for s in decode_sources(added.json_sources)[alice.nick][0]} == {1001, 1011, 2001}
    await until(lambda: any(e.id == alice.nick and e.transport is not None and e.transport.ice is not None
                            for r in bridge.requests for e in r.endpoints if not e.create))

    await alice.leave()
    removed = await bob.next_jingle("source-remove")
    assert alice.nick in decode_sources(removed.json_sources)
    await until(lambda: any(e.id == alice.nick and e.expire for r in bridge.requests for e in r.endpoints))
    for person in (alice, bob):
        await person.stop()
    await bridge.client.disconnect(wait=0.1)


async def test_a_killed_bridge_moves_everyone_within_five_seconds(xmpp_server, focus):
    first = ScriptedBridge("jvb1", xmpp_server.c2s_port, stress=0.1)
    second = ScriptedBridge("jvb2", xmpp_server.c2s_port, stress=0.5)
    for bridge in (first, second):
        await bridge.start()
    await until(lambda: len(focus.bridges.bridges) == 2)
    alice, bob = await participants(xmpp_server, focus, f"moving@{MUC}")
    for person in (alice, bob):
        assert (await person.next_jingle("session-initiate")).content("audio").transport.ufrag == "ufjvb1"
    loop = asyncio.get_running_loop()
    killed_at = loop.time()
    first.kill()
    for person in (alice, bob):
        await person.next_jingle("session-terminate", timeout=5)
        again = await person.next_jingle("session-initiate", timeout=5)
        assert again.content("audio").transport.ufrag == "ufjvb2"
    assert loop.time() - killed_at < 5.0
    assert focus.counters["participants_moved"] == 2
    for person in (alice, bob):
        await person.stop()
    await second.client.disconnect(wait=0.1)


async def test_malformed_requests_get_errors_and_affect_nobody(xmpp_server, focus):
    bridge = ScriptedBridge("jvb1", xmpp_server.c2s_port)
    await bridge.start()
    await until(lambda: bridge.occupant in focus.bridges.bridges)
    alice, bob = await participants(xmpp_server, focus, f"strict@{MUC}")
    offer = await alice.next_jingle("session-initiate")
    bob_offer = await bob.next_jingle("session-initiate")
    with pytest.raises(IqError) as bad:
        await alice.send_jingle(fromstring(f'<jingle xmlns="urn:xmpp:jingle:1" action="session-accept" '
                                           f'sid="{offer.sid}">'
                                           '<content name="audio"><description xmlns="urn:xmpp:jingle:apps:rtp:1" '
                                           'media="audio"><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="x"/>'
                                           '</description></content></jingle>'))
    assert bad.value.iq["error"]["condition"] == "bad-request"
    with pytest.raises(IqError) as unknown:
        await alice.send_jingle(fromstring('<jingle xmlns="urn:xmpp:jingle:1" action="session-accept" sid="nope"/>'))
    assert unknown.value.iq["error"]["condition"] == "item-not-found"
    iq = alice.client.make_iq_set(ito=focus.xmpp.boundjid.full)
    iq.xml.append(fromstring('<conference xmlns="http://jitsi.org/protocol/focus"/>'))
    with pytest.raises(IqError) as no_room:
        await iq.send(timeout=10)
    assert no_room.value.iq["error"]["condition"] == "bad-request"
    # The session is still usable after the errors.
    await bob.send_jingle(fromstring(accept_xml(bob_offer, bob.nick, 10000)))
    await alice.send_jingle(fromstring(accept_xml(offer, alice.nick, 0)))
    await bob.next_jingle("source-add")
    for person in (alice, bob):
        await person.stop()
    await bridge.client.disconnect(wait=0.1)


async def test_rest_health_and_metrics(xmpp_server, focus):
    app_runner = aiohttp.web.AppRunner(make_app(focus))
    await app_runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(app_runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/about/health") as response:
                assert response.status == 500 and "No operational bridges" in await response.text()
            bridge = ScriptedBridge("jvb1", xmpp_server.c2s_port)
            await bridge.start()
            await until(lambda: bridge.occupant in focus.bridges.bridges)
            async with http.get(f"http://127.0.0.1:{port}/about/health") as response:
                assert response.status == 200 and await response.text() == "OK"
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
                assert "jicofo_bridges 1.0" in text
                assert "jitsi_py_event_loop_lag_seconds " in text and "jitsi_py_asyncio_tasks " in text
            async with http.get(f"http://127.0.0.1:{port}/stats") as response:
                assert (await response.json())["bridges"] == 1
            await bridge.client.disconnect(wait=0.1)
    finally:
        await app_runner.cleanup()


async def test_focus_reconnects_and_restores_its_rooms(xmpp_server, focus):
    bridge = ScriptedBridge("jvb1", xmpp_server.c2s_port)
    await bridge.start()
    await until(lambda: bridge.occupant in focus.bridges.bridges)
    room = f"durable@{MUC}"
    alice, bob = await participants(xmpp_server, focus, room)
    for person in (alice, bob):
        await person.next_jingle("session-initiate")
    dave = (await participants(xmpp_server, focus, room, count=1))[0]
    await dave.next_jingle("session-initiate")
    focus.xmpp.abort()  # the connection drops under the focus
    await dave.stop()  # and dave leaves while the focus is away
    await until(lambda: not focus.connected.is_set())
    await asyncio.wait_for(focus.connected.wait(), 15)
    await until(lambda: focus.rooms[room].joined is not None and focus.rooms[room].joined.done())
    await until(lambda: dave.nick not in focus.rooms[room].core.participants)
    assert {alice.nick, bob.nick} <= set(focus.rooms[room].core.participants), "still known after the rejoin"
    assert bridge.occupant in focus.bridges.bridges
    (carol,) = await participants(xmpp_server, focus, room, count=1)
    offer = await carol.next_jingle("session-initiate")
    assert offer.content("audio").transport.ufrag == "ufjvb1", "the conference stays on its bridge"
    assert alice.jingles.empty() and bob.jingles.empty(), "nobody was re-invited"
    assert any(e.id == dave.nick and e.expire for r in bridge.requests for e in r.endpoints)
    for person in (alice, bob, carol):
        await person.stop()
    await bridge.client.disconnect(wait=0.1)


async def test_aiortc_participants_answer_through_sdp(xmpp_server, focus):
    bridge = ScriptedBridge("jvb1", xmpp_server.c2s_port)
    await bridge.start()
    await until(lambda: bridge.occupant in focus.bridges.bridges)
    room = f"sdp@{MUC}"
    people = []
    for _ in range(2):
        person = MediaParticipant(xmpp_server.c2s_port, xmpp_server.focus_address or focus.xmpp.boundjid.full, room)
        await person.start()
        assert (await person.request_conference()).ready
        await person.join()
        people.append(person)
    for person in people:
        await person.answer()
    for person in people:
        video = person.accept.content("video")
        assert video.sources and video.sources[0].name == f"{person.nick}-v0"
        await until(lambda person=person: any(
            e.id == person.nick and e.transport is not None and e.transport.ice is not None
            and e.transport.ice.ufrag == person.accept.content("audio").transport.ufrag
            and e.sources and any(m.id == f"{person.nick}-v0" for m in e.sources)
            for r in bridge.requests for e in r.endpoints))
    alice, bob = people
    # Bob's offer waited for Alice's accept (docs/focus.md §3.1): it names her sources.
    assert {s.ssrc for s in decode_sources(bob.offer.json_sources)[alice.nick][0]} == {
        s.ssrc for s in alice.accept.content("video").sources + alice.accept.content("audio").sources}
    for person in people:
        await person.stop()
    await bridge.client.disconnect(wait=0.1)


async def test_concurrent_requests_for_one_room_make_one_conference(xmpp_server, focus):
    people = [Participant(xmpp_server.c2s_port, xmpp_server.focus_address or focus.xmpp.boundjid.full,
                          f"rush@{MUC}") for _ in range(3)]
    for person in people:
        await person.start()
    answers = await asyncio.gather(*(person.request_conference() for person in people))
    assert all(answer.ready for answer in answers)
    assert focus.counters["conferences_created"] == 1
    for person in people:
        await person.stop()


async def test_a_moderator_mutes_through_the_focus(xmpp_server, focus):
    bridge = ScriptedBridge("jvb1", xmpp_server.c2s_port)
    await bridge.start()
    await until(lambda: bridge.occupant in focus.bridges.bridges)
    room = f"hush@{MUC}"
    alice, bob = await participants(xmpp_server, focus, room)
    for person in (alice, bob):
        await person.next_jingle("session-initiate")
    await until(lambda: alice.role == "moderator")
    await until(lambda: focus.rooms[room].core.participants[alice.nick].moderator)
    request = alice.client.make_iq_set(ito=f"{room}/focus")
    request.xml.append(MuteIq("audio", f"{room}/{bob.nick}", True).to_element())
    await request.send(timeout=10)
    told = await asyncio.wait_for(bob.mutes.get(), 10)
    assert told.text == "true" and told.get("actor") == f"{room}/{alice.nick}"
    await until(lambda: any(e.force_mute is not None and e.force_mute.audio and e.id == bob.nick
                            for r in bridge.requests for e in r.endpoints))
    refused = bob.client.make_iq_set(ito=f"{room}/focus")
    refused.xml.append(MuteIq("audio", f"{room}/{alice.nick}", True).to_element())
    with pytest.raises(IqError) as not_allowed:
        await refused.send(timeout=10)
    assert not_allowed.value.iq["error"]["condition"] == "not-allowed"
    for person in (alice, bob):
        await person.stop()
    await bridge.client.disconnect(wait=0.1)


class Impostor(Participant):
    """Announces a real client's caps ver but answers disco#info with no media features."""

    FEATURES = ()


async def test_a_forged_caps_ver_does_not_take_media_from_later_participants(xmpp_server, focus):
    bridge = ScriptedBridge("jvb1", xmpp_server.c2s_port)
    await bridge.start()
    await until(lambda: bridge.occupant in focus.bridges.bridges)
    focus_address = xmpp_server.focus_address or focus.xmpp.boundjid.full
    impostor = Impostor(xmpp_server.c2s_port, focus_address, f"first@{MUC}")
    honest = [Participant(xmpp_server.c2s_port, focus_address, f"second@{MUC}") for _ in range(2)]
    people = [impostor, *honest]
    try:
        for person in people:
            await person.start()
        info = await impostor.client.plugin["xep_0030"].get_info(jid=honest[0].client.boundjid.full, local=False)
        query = info.xml.find("{http://jabber.org/protocol/disco#info}query")
        ver = base64.b64encode(hashlib.sha1(verification_string(query).encode()).digest()).decode()
        caps = ("https://jitsi.org/jitsi-meet", ver, "sha-1")

        assert (await impostor.request_conference()).ready
        await impostor.join(caps)
        await until(lambda: impostor.nick in focus.rooms[f"first@{MUC}"].core.participants)
        assert focus.caps.get(caps[0], ver) is None, "an answer that does not hash to its ver is not cached"

        for person in honest:
            assert (await person.request_conference()).ready
            await person.join(caps)
        for person in honest:
            offer = await person.next_jingle("session-initiate")
            assert offer.content("audio") is not None and offer.content("video") is not None
        assert "urn:xmpp:jingle:apps:rtp:audio" in focus.caps.get(caps[0], ver)
    finally:
        for person in people:
            await person.stop()
        await bridge.client.disconnect(wait=0.1)


@pytest.mark.parametrize("room", ["x" * 3000 + f"@{MUC}", "é" * 600 + f"@{MUC}", f"room@{MUC}/nick", f"@{MUC}"],
                         ids=["3000-octet room", "1200-octet room", "with a resource", "empty localpart"])
async def test_a_malformed_room_is_refused_at_once_without_muc_traffic(xmpp_server, focus, room):
    person = Participant(xmpp_server.c2s_port, xmpp_server.focus_address or focus.xmpp.boundjid.full, room)
    await person.start()
    try:
        began = asyncio.get_running_loop().time()
        with pytest.raises(IqError) as refused:
            await person.request_conference()
        assert asyncio.get_running_loop().time() - began < 1.0
        assert refused.value.iq["error"]["condition"] == "bad-request"
        assert len(refused.value.iq["error"]["text"]) < 200, "the error does not echo the room back"
        assert focus.rooms == {}, "the focus joined no room"
    finally:
        await person.stop()


async def test_a_rate_limited_restart_is_refused_and_still_ends_the_session(xmpp_server, focus):
    from jitsi_py.common.stanzas.jingle import BridgeSession, Jingle

    # A loaded machine may take more than jicofo's 5 s between the two restarts: with a longer
    # minimum interval the second one is over the limit however late it comes.
    focus.restart_limits = dataclasses.replace(focus.restart_limits, min_interval=3600.0)
    bridge = ScriptedBridge("jvb1", xmpp_server.c2s_port)
    await bridge.start()
    await until(lambda: bridge.occupant in focus.bridges.bridges)
    alice, bob = await participants(xmpp_server, focus, f"restarts@{MUC}")
    offer = await alice.next_jingle("session-initiate")

    def restart(offer):
        return Jingle("session-terminate", offer.sid,
                      bridge_session=BridgeSession(offer.bridge_session.id, restart=True)).to_element()

    await alice.send_jingle(restart(offer))
    again = await alice.next_jingle("session-initiate")
    assert again.sid != offer.sid
    with pytest.raises(IqError) as refused:
        await alice.send_jingle(restart(again))  # right after the first: over the limit
    assert refused.value.iq["error"]["condition"] == "resource-constraint"

    # the refused request's session ended all the same, its endpoint expired at once
    def expiries():
        return [r for r in bridge.requests for e in r.endpoints if e.id == alice.nick and e.expire]
    try:
        await until(lambda: len(expiries()) == 2)
    except AssertionError:
        raise AssertionError(f"{len(expiries())} expiries of {alice.nick}, requests {bridge.requests}") from None
    assert list(focus.bridges.bridges[bridge.occupant].restart_requests) != [], "counted against the bridge"
    for person in (alice, bob):
        await person.stop()
    await bridge.client.disconnect(wait=0.1)
