"""Octo end to end: our focus with ENABLE_OCTO and the split strategy puts two aiortc participants on
two of our bridges (separate processes), on our XMPP server and on Debian's Prosody; each decodes the
other's video across the relay the focus set up; when one leaves, its bridge leaves the conference
and the relay goes. Then the focus's side in memory: selection and the relay mesh."""

import asyncio

import aiohttp
import pytest

from jitsi_py.common.stanzas.colibri2 import ConferenceModified, Relay, Transport, parse_conference_modify
from jitsi_py.common.stanzas.jingle import Candidate, Fingerprint, IceTransport
from jitsi_py.focus.bridges import REGION_BASED, SPLIT, BridgeTable
from jitsi_py.focus.client import Focus
from jitsi_py.focus.colibri2 import BridgeError
from jitsi_py.focus.conference import ColibriRequest, Conference, SendJingle
from jitsi_py.focus.jingle import Offer
from jitsi_py.settings import Settings

from .conftest import until
from .harness import FOCUS_PASSWORD, MUC, BridgeProcess, MediaParticipant, free_port
from .test_media import media_participants

pytestmark = [pytest.mark.system, pytest.mark.timeout(90)]


@pytest.fixture
async def octo_focus(xmpp_server):
    focus = Focus(Settings.from_values({
        "XMPP_SERVER": "127.0.0.1", "XMPP_PORT": str(xmpp_server.c2s_port), "JICOFO_AUTH_PASSWORD": FOCUS_PASSWORD,
        "JICOFO_REST_PORT": str(free_port()), "JICOFO_COLIBRI_REQUEST_TIMEOUT": "3",
        "ENABLE_OCTO": "1", "OCTO_BRIDGE_SELECTION_STRATEGY": "SplitBridgeSelectionStrategy",
    }))
    await focus.start()
    await asyncio.wait_for(focus.connected.wait(), 15)
    yield focus
    await focus.stop()


def octo_bridge(xmpp_server, nick: str, directory) -> BridgeProcess:
    bridge = BridgeProcess(xmpp_server.c2s_port, nick, directory)
    bridge.env.update({"ENABLE_OCTO": "1", "JVB_OCTO_RELAY_ID": f"relay-{nick}", "COLIBRI_REST_ENABLED": "1"})
    return bridge


async def bridge_stats(bridge: BridgeProcess) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{bridge.env['JVB_COLIBRI_PORT']}/colibri/stats") as response:
            return await response.json()


async def test_participants_on_two_bridges_see_each_other_through_the_relay(xmpp_server, octo_focus, tmp_path):
    bridges = [octo_bridge(xmpp_server, nick, tmp_path / nick) for nick in ("jvb-a", "jvb-b")]
    people: list[MediaParticipant] = []
    try:
        for bridge in bridges:
            await bridge.start()
        await until(lambda: all(b.occupant in octo_focus.bridges.bridges for b in bridges), 20)
        assert octo_focus.bridges.bridges[bridges[0].occupant].relay_id == "relay-jvb-a"
        room = f"octo@{MUC}"
        people = await media_participants(xmpp_server, octo_focus, room)
        for person in people:
            await person.answer()
        core = octo_focus.rooms[room].core
        assert set(core.sessions) == {b.occupant for b in bridges}
        first, second = (b.occupant for b in bridges)
        assert octo_focus.debug()[room]["relays"] == {first: [second], second: [first]}
        assert {p.bridge for p in core.participants.values()} == {b.occupant for b in bridges}
        for person in people:
            assert await person.frames(3) == 3
        for bridge in bridges:
            stats = await bridge_stats(bridge)
            assert stats["octo_conferences"] == 1 and stats["octo_endpoints"] == 1 and stats["total_relays"] == 1
            assert stats["relay_id"] == f"relay-{bridge.nick}" and stats["total_srtp_rejected"] == 0

        leaving = people.pop()
        gone = core.participants[leaving.nick].bridge
        stays = next(b for b in bridges if b.occupant != gone)
        await leaving.leave()
        await leaving.stop()
        await until(lambda: set(core.sessions) == {stays.occupant}, 10)

        async def relayed() -> int:
            return (await bridge_stats(stays))["octo_conferences"]
        for _ in range(100):
            if await relayed() == 0:
                break
            await asyncio.sleep(0.05)
        assert await relayed() == 0
    finally:
        for person in people:
            await person.stop()
        for bridge in bridges:
            await bridge.stop()


# --- the focus's side in memory: selection and the relay mesh ----------------------------------------

B1 = "jvbbrewery@internal-muc.meet.jitsi/jvb1"
B2 = "jvbbrewery@internal-muc.meet.jitsi/jvb2"
B3 = "jvbbrewery@internal-muc.meet.jitsi/jvb3"


def table(strategy=None, relay_ids=True, **regions):
    bridges = BridgeTable(strategy=strategy)
    for index, jid in enumerate((B1, B2, B3)):
        stats = {"stress_level": str(0.1 + index / 100), "drain": "false", "region": regions.get(jid[-4:], "")}
        if relay_ids:
            stats["relay_id"] = f"relay-{jid[-4:]}"
        bridges.presence(jid, stats)
    return bridges


def test_selection_with_octo():
    split = table(SPLIT)
    assert split.select(0, current=[B1], counts={B1: 1}, multi_bridge=True).jid == B2
    assert split.select(0, current=[B1], counts={B1: 1}).jid == B1, "without Octo a conference stays put"
    assert split.select(0, current=[B1, B2, B3], counts={B1: 2, B2: 1, B3: 2}, multi_bridge=True).jid == B2
    regional = table(REGION_BASED, jvb2="eu", jvb3="eu")
    assert regional.select(0, current=[B1], counts={B1: 1}, region="eu", multi_bridge=True).jid == B2
    assert regional.select(0, current=[B1, B3], counts={B1: 1, B3: 1}, region="eu", multi_bridge=True).jid == B3
    assert regional.select(0, current=[B1], counts={B1: 1}, region="us", multi_bridge=True).jid == B1
    capped = table()
    capped.max_participants = 1
    assert capped.select(0, current=[B1], counts={B1: 1}, multi_bridge=True).jid == B2, "single: split at the cap"
    no_ids = table(SPLIT, relay_ids=False)
    assert no_ids.select(0, current=[B1], counts={B1: 1}, multi_bridge=True).jid == B1, "no relay id: no relay"


def relays_of(commands):
    out = []
    for command in commands:
        if isinstance(command, ColibriRequest):
            request = parse_conference_modify(command.request)
            out.extend((command.bridge, relay, command.key) for relay in request.relays)
    return out


def bridge_answers_relay(relay_id: str, ufrag: str):
    answer = ConferenceModified(relays=[Relay(relay_id, transport=Transport(ice=IceTransport(
        ufrag, "p" * 24, [Candidate(1, "1", 0, "c1", "127.0.0.1", 10000, 2130706431, "udp", "host")],
        [Fingerprint("sha-256", ":".join(["AB"] * 32), "actpass")], web_sockets=["wss://b/colibri-relay-ws"])))])
    return answer.to_element()


def test_the_mesh_links_bridges_mirrors_endpoints_and_unlinks():
    from .test_conference import accept_for, answer_creates, participant

    conf = Conference("octo@muc.meet.jitsi", "meeting-1", initiate_wait=0.0, focus_jid="focus@auth.meet.jitsi/focus",
                      bridges=table(SPLIT), offer=Offer(), now=0.0, octo=True)
    conf.joined(participant("alice"), 1.0)
    conf.joined(participant("bob"), 1.0)
    rest = answer_creates(conf, conf.commands())
    assert {p.bridge for p in conf.participants.values()} == {B1, B2}
    relays = relays_of(rest)
    assert [(bridge, relay.id, relay.create) for bridge, relay, _ in relays] == [
        (conf.participants["bob"].bridge, "relay-" + conf.participants["alice"].bridge[-4:], True),
        (conf.participants["alice"].bridge, "relay-" + conf.participants["bob"].bridge[-4:], True)]
    (first, initiator, key), (second, other, other_key) = relays
    assert initiator.transport.ice_controlling and initiator.transport.use_unique_port
    assert other.transport.ice_controlling is False and not other.transport.use_unique_port
    assert (initiator.transport.sctp.role, other.transport.sctp.role) == ("client", "server")
    assert initiator.mesh_id == other.mesh_id == "0" and {m.type for m in initiator.media} == {"audio", "video"}
    assert [e.id for e in initiator.endpoints] == [next(n for n, p in conf.participants.items() if p.bridge == second)]
    assert all(e.create and e.sources is None for e in initiator.endpoints + other.endpoints)

    # Each answer goes to the other side, setup rewritten: the initiator is the DTLS server.
    conf.colibri_result(key, bridge_answers_relay(initiator.id, "uf-initiator"), None, 1.0)
    conf.colibri_result(other_key, bridge_answers_relay(other.id, "uf-other"), None, 1.0)
    handed = relays_of(conf.commands())
    assert [(bridge, relay.transport.ice.ufrag, relay.transport.ice.fingerprints[0].setup,
             relay.transport.ice.web_sockets) for bridge, relay, _ in handed] == [
        (second, "uf-initiator", "passive", []), (first, "uf-other", "active", ["wss://b/colibri-relay-ws"])]

    # Sources of an accepted session are mirrored on the other bridge.
    alice = conf.participants["alice"]
    initiate = next(c.jingle for c in rest if isinstance(c, SendJingle) and c.nick == "alice")
    conf.jingle("alice", accept_for(initiate, "alice", 0), 2.0)
    mirrored = [(b, r) for b, r, _ in relays_of(conf.commands()) if r.endpoints]
    assert len(mirrored) == 1 and mirrored[0][0] != alice.bridge
    endpoint = mirrored[0][1].endpoints[0]
    assert endpoint.id == "alice" and not endpoint.create and endpoint.sources

    # A third participant lands on a third bridge: it links to both, as the initiator.
    conf.joined(participant("carol"), 3.0)
    rest = answer_creates(conf, conf.commands(), 3.0)
    assert conf.participants["carol"].bridge == B3
    created = sorted((b[-4:], r.id, r.transport.ice_controlling, [e.id for e in r.endpoints])
                     for b, r, _ in relays_of(rest))
    bob = conf.participants["bob"]
    assert created == sorted([
        ("jvb3", "relay-" + alice.bridge[-4:], True, ["alice"]), ("jvb3", "relay-" + bob.bridge[-4:], True, ["bob"]),
        (alice.bridge[-4:], "relay-jvb3", False, ["carol"]), (bob.bridge[-4:], "relay-jvb3", False, ["carol"])])
    assert sorted(conf.mesh.linked(B3)) == sorted([alice.bridge, bob.bridge])

    # Every bridge is in the conference: the least used one gets the next; announced, then expired.
    conf.joined(participant("dave"), 3.5)
    rest = answer_creates(conf, conf.commands(), 3.5)
    dave = conf.participants["dave"].bridge
    announced = sorted((b, e.id, e.create) for b, r, _ in relays_of(rest) for e in r.endpoints)
    assert announced == sorted((b, "dave", True) for b in {B1, B2, B3} - {dave})
    conf.left("dave", 3.8)
    expired = sorted((b, e.id, e.expire) for b, r, _ in relays_of(conf.commands()) for e in r.endpoints)
    assert expired == sorted((b, "dave", True) for b in {B1, B2, B3} - {dave})

    # A bridge left empty takes its relays along.
    conf.left("carol", 4.0)
    gone = sorted((b, r.id, r.expire) for b, r, _ in relays_of(conf.commands()))
    assert gone == sorted([(alice.bridge, "relay-jvb3", True), (bob.bridge, "relay-jvb3", True)])
    assert B3 not in conf.mesh.peers and conf.mesh.linked(alice.bridge) == [bob.bridge]


def test_without_octo_no_relay_is_made():
    from .test_conference import answer_creates, participant

    conf = Conference("plain@muc.meet.jitsi", "meeting-2", initiate_wait=0.0, focus_jid="focus@auth.meet.jitsi/focus",
                      bridges=table(SPLIT), offer=Offer(), now=0.0)
    conf.joined(participant("alice"), 1.0)
    conf.joined(participant("bob"), 1.0)
    assert relays_of(answer_creates(conf, conf.commands())) == []
    assert {p.bridge for p in conf.participants.values()} == {B1} and conf.mesh is None


def test_a_participant_moved_off_a_live_bridge_leaves_the_others_first():
    from .test_conference import answer_creates, participant

    conf = Conference("move@muc.meet.jitsi", "meeting-3", initiate_wait=0.0, focus_jid="focus@auth.meet.jitsi/focus",
                      bridges=table(SPLIT), offer=Offer(), now=0.0, octo=True)
    for nick in ("alice", "bob", "carol"):
        conf.joined(participant(nick), 1.0)
    answer_creates(conf, conf.commands())
    carol = conf.participants["carol"]
    old = carol.bridge
    # The bridge forgot carol's endpoint: she is moved, and her relayed copies are expired first.
    conf.colibri_result(("update", "carol", carol.session_id), None,
                        BridgeError("item-not-found", "unknown_endpoint"), 2.0)
    commands = conf.commands()
    expired = sorted(b for b, r, _ in relays_of(commands) for e in r.endpoints if e.id == "carol" and e.expire)
    assert expired == sorted({B1, B2, B3} - {old})
    assert "carol" not in conf.sessions[old].endpoints
    assert any(isinstance(c, ColibriRequest) and c.key[:2] == ("create", "carol") for c in commands)


def test_a_relay_failed_at_both_ends_moves_the_smaller_side_and_the_conference_keeps_off_its_bridge():
    from .test_conference import answer_creates, participant

    bridges = table(SPLIT)
    del bridges.bridges[B3]
    conf = Conference("broken@muc.meet.jitsi", "meeting-4", initiate_wait=0.0, focus_jid="focus@auth.meet.jitsi/focus",
                      bridges=bridges, offer=Offer(), now=0.0, octo=True, relay_failure_avoid=60.0)
    for nick in ("alice", "bob", "carol"):
        conf.joined(participant(nick), 1.0)
    answer_creates(conf, conf.commands())
    placed = {nick: p.bridge for nick, p in conf.participants.items()}
    assert placed == {"alice": B1, "bob": B2, "carol": B1}
    assert conf.mesh.initiated(B2, B1)

    # One end alone saying so is not enough (the other bridge may be dead: health checks handle that);
    # an unknown relay id is nothing.
    assert conf.relays_reported(B1, {"relay-jvb2", "relay-nowhere"}, 5.0) == 0
    assert conf.commands() == []
    # Both ends: bob's side is the smaller one and moves, as on a bridge failure.
    assert conf.relays_reported(B2, {"relay-jvb1"}, 5.5) == 1
    commands = conf.commands()
    assert [(c.nick, c.jingle.action) for c in commands if isinstance(c, SendJingle)] == [
        ("bob", "session-terminate")]
    colibri = [c for c in commands if isinstance(c, ColibriRequest)]
    requests = [(c.bridge, parse_conference_modify(c.request)) for c in colibri]
    assert (B1, "relay-jvb2") in [(b, r.id) for b, m in requests for r in m.relays if r.expire]
    assert any(b == B2 and m.expire for b, m in requests)
    assert [(c.bridge, c.key[:2]) for c in colibri if c.key[0] == "create"] == [(B1, ("create", "bob"))]
    answer_creates(conf, commands, 5.5)
    assert {p.bridge for p in conf.participants.values()} == {B1} and set(conf.sessions) == {B1}
    assert conf.mesh.failed == {B1: set()}

    # The conference keeps off bridge 2 while the hold lasts, though the split strategy prefers it.
    conf.joined(participant("dave"), 10.0)
    answer_creates(conf, conf.commands(), 10.0)
    assert conf.participants["dave"].bridge == B1
    conf.joined(participant("erin"), 70.0)
    answer_creates(conf, conf.commands(), 70.0)
    assert conf.participants["erin"].bridge == B2


def test_on_a_tie_the_side_that_joined_later_moves_and_a_recovered_relay_is_forgotten():
    from .test_conference import answer_creates, participant

    bridges = table(SPLIT)
    del bridges.bridges[B3]
    conf = Conference("tie@muc.meet.jitsi", "meeting-5", initiate_wait=0.0, focus_jid="focus@auth.meet.jitsi/focus",
                      bridges=bridges, offer=Offer(), now=0.0, octo=True)
    for nick in ("alice", "bob"):
        conf.joined(participant(nick), 1.0)
    answer_creates(conf, conf.commands())
    # Reported, then recovered on one side before the other said so: nothing moves.
    assert conf.relays_reported(B1, {"relay-jvb2"}, 5.0) == 0
    assert conf.relays_reported(B1, set(), 6.0) == 0
    assert conf.relays_reported(B2, {"relay-jvb1"}, 7.0) == 0
    assert conf.commands() == []
    assert conf.relays_reported(B1, {"relay-jvb2"}, 8.0) == 1
    assert conf.participants["bob"].bridge == B1
    assert B2 not in conf.sessions and conf.avoid == {B2: 8.0 + 600.0}
    # An avoided bridge is still taken when nothing else is available.
    assert bridges.select(9.0, avoid=[B2]).jid == B1
    bridges.failed(B1, 9.0)
    assert bridges.select(9.0, avoid=[B2]).jid == B2
