"""Octo relays between two of our bridges in one process: Colibri2 <relay> as jicofo sends it, then
aiortc peers on different bridges decode each other's video across the relay."""

import asyncio
import dataclasses
import json
import time

import pytest

from jitsi_py.bridge import conference as conference_module, rtcp
from jitsi_py.bridge.channel import ChannelError
from jitsi_py.bridge.colibri2 import Colibri2Failure, handle
from jitsi_py.bridge.relay import RelayChannel
from jitsi_py.common.stanzas import colibri2 as c2
from jitsi_py.common.stanzas.jingle import Source

from .conftest import running
from .peers import AUDIO_LEVEL, OPUS, VP8, Peer, roundtrip
from .test_export import RESULT, answering, serve

MEDIA = [c2.Media("audio", [OPUS], [AUDIO_LEVEL]), c2.Media("video", [VP8])]


@pytest.fixture(params=["127.0.0.1", None], ids=["ipv4", "dual-stack"])
async def bridges(request):
    """Two bridges with relays enabled: on loopback, or on the dual-stack socket the service opens
    by default (IPv4 peers named ::ffff:127.0.0.1)."""
    async with running(sctp_enabled=True, host=request.param, hosts=["127.0.0.1"]) as a, \
            running(sctp_enabled=True, host=request.param, hosts=["127.0.0.1"]) as b:
        a.relays_enabled = b.relays_enabled = True
        yield [a, b]


def relay_endpoint(peer: Peer, create: bool) -> c2.RelayEndpoint:
    sources = None
    if peer.video_ssrc is not None:
        sources = [c2.MediaSource("video", f"{peer.id}-v0", [Source(peer.video_ssrc, "video", f"{peer.id}-v0")])]
    return c2.RelayEndpoint(peer.id, create=create, stats_id=peer.id, sources=sources)


def link(a, b, meeting_id: str, behind_a: list[Peer], behind_b: list[Peer]) -> None:
    """What the focus does for a pair of bridges: create both sides, then hand each the other's
    transport with the DTLS roles set (``a`` initiates: ICE-controlling, DTLS server)."""
    answers = {}
    for bridge, other, initiator, behind in ((a, "jvb-b", True, behind_b), (b, "jvb-a", False, behind_a)):
        answer = roundtrip(bridge, c2.ConferenceModify(meeting_id, relays=[c2.Relay(
            other, create=True, mesh_id="0", media=MEDIA,
            transport=c2.Transport(ice_controlling=initiator, use_unique_port=initiator,
                                   sctp=c2.Sctp(role="client" if initiator else "server")),
            endpoints=[relay_endpoint(p, True) for p in behind])]))
        answers[bridge] = answer.relays[0].transport.ice
        assert answers[bridge].fingerprints[0].setup == "actpass"
        assert answer.relays[0].transport.sctp == c2.Sctp(5000, "server" if initiator else "client")
    for bridge, other, transport, setup in ((a, "jvb-b", answers[b], "active"), (b, "jvb-a", answers[a], "passive")):
        transport.fingerprints = [dataclasses.replace(f, setup=setup) for f in transport.fingerprints]
        roundtrip(bridge, c2.ConferenceModify(meeting_id, relays=[
            c2.Relay(other, transport=c2.Transport(ice=transport))]))


def update(bridge, relay_id: str, meeting_id: str, peer: Peer) -> None:
    roundtrip(bridge, c2.ConferenceModify(meeting_id, relays=[
        c2.Relay(relay_id, endpoints=[relay_endpoint(peer, False)])]))


async def test_video_crosses_the_relay_both_ways(bridges, monkeypatch):
    a, b = bridges
    alice = Peer(a, "m-octo", "alice", publish=True, sctp=True)
    bob = Peer(b, "m-octo", "bob", publish=True, sctp=True)
    alice.allocate(create_conference=True)
    bob.allocate(create_conference=True)
    link(a, b, "m-octo", [alice], [bob])
    inboxes = {}
    for peer in (alice, bob):
        inbox = inboxes[peer.id] = asyncio.Queue()
        channel = peer.pc.createDataChannel("JVB data channel", protocol="http://jitsi.org/protocols/colibri")
        channel.on("message", lambda m, inbox=inbox: inbox.put_nowait(json.loads(m)))
        peer.channel = channel
    try:
        # Alice answers before bob's SSRC is known: her only video stream is routed by payload type.
        await alice.connect([])
        update(b, "jvb-a", "m-octo", alice)
        await bob.connect([(alice.video_ssrc, "alice-v0")])
        update(a, "jvb-b", "m-octo", bob)
        for receiver in (bob, alice):
            track = await asyncio.wait_for(receiver.track_future, 20)
            frame = await asyncio.wait_for(track.recv(), 20)
            assert frame.width == 320 and frame.height == 240
        for bridge in bridges:
            assert bridge.counters.srtp_rejected == 0
            stats = bridge.stats()
            assert stats["octo_conferences"] == 1 and stats["total_relays"] == 1 and stats["octo_endpoints"] == 1
        # Bridge-channel messages cross on the relays' own data channel.
        async def next_of(inbox, kind):
            while True:
                message = await asyncio.wait_for(inbox.get(), 10)
                if message["colibriClass"] == kind:
                    return message
        for peer in (alice, bob):
            for _ in range(250):
                if peer.channel.readyState == "open":
                    break
                await asyncio.sleep(0.02)
        for _ in range(250):
            if all(r.channel is not None for br in bridges for r in br.conferences["m-octo"].relays.values()):
                break
            await asyncio.sleep(0.02)
        # Alice's only receiver is behind the relay: bob's bridge says what he asks (AddReceiver),
        # so alice is told to send it, not to stop.
        while (await next_of(inboxes["alice"], "SenderSourceConstraints"))["maxHeight"] != 180:
            pass
        assert a.conferences["m-octo"].forwarder.remote_receivers == {"jvb-b": {"alice-v0": 180}}
        alice.channel.send(json.dumps({"colibriClass": "EndpointMessage", "to": "", "msgPayload": {"hi": 1}}))
        got = await next_of(inboxes["bob"], "EndpointMessage")
        assert got["from"] == "alice" and got["msgPayload"] == {"hi": 1}
        bob.channel.send(json.dumps({"colibriClass": "EndpointMessage", "to": "alice", "msgPayload": {"yo": 2}}))
        assert (await next_of(inboxes["alice"], "EndpointMessage"))["from"] == "bob"
        bob.channel.send(json.dumps({"colibriClass": "EndpointStats", "bitrate": 5}))
        assert (await next_of(inboxes["alice"], "EndpointStats"))["from"] == "bob"

        # What bridge A's export hears back (a transcription result) reaches bob on bridge B too.
        runner, url = await serve(answering(RESULT))
        try:
            a.conferences["m-octo"].apply_connects([c2.Connect(url, "transcriber", audio=True, create=True)])
            for peer in (alice, bob):
                got = await next_of(inboxes[peer.id], "EndpointMessage")
                assert got["from"] == "transcriber" and got["msgPayload"]["message_id"] == RESULT["message_id"]
            a.conferences["m-octo"].apply_connects([c2.Connect(url, "transcriber", expire=True)])
        finally:
            await runner.cleanup()

        # Alice's media stop reaching her bridge: bob, behind the relay, is told she is inactive,
        # and active again when they come back.
        monkeypatch.setattr(conference_module, "INACTIVITY_LIMIT", 1.0)
        alice_here = a.conferences["m-octo"].endpoints["alice"]
        alice_here.receive_media = lambda data: None
        status = await next_of(inboxes["bob"], "EndpointConnectivityStatusChangeEvent")
        assert status == {"colibriClass": "EndpointConnectivityStatusChangeEvent", "endpoint": "alice",
                          "active": "false"}
        assert b.conferences["m-octo"].inactive == {"alice"}
        del alice_here.receive_media
        status = await next_of(inboxes["bob"], "EndpointConnectivityStatusChangeEvent")
        assert status["endpoint"] == "alice" and status["active"] == "true"

        # A key-frame request for a relayed sender crosses back to its bridge, which asks the sender.
        senders = a.conferences["m-octo"].forwarder.senders_rtcp
        to_alice, plis = senders["alice"], []

        def record(packet):
            plis.extend(rtcp.media_ssrc(packet, offset) for pt, fmt, offset, _ in rtcp.packets(packet)
                        if pt == rtcp.PSFB and fmt == rtcp.FMT_PLI)
            to_alice(packet)
        senders["alice"] = record
        await asyncio.sleep(0.25)  # past the per-SSRC request interval
        b.conferences["m-octo"].forwarder.request_keyframe(alice.video_ssrc)
        for _ in range(100):
            if alice.video_ssrc in plis:
                break
            await asyncio.sleep(0.01)
        assert alice.video_ssrc in plis

        # A relayed endpoint ranks among the speakers as a local one (last-N, allocation order).
        forwarder = a.conferences["m-octo"].forwarder
        forwarder.set_speakers(["bob", "alice"])
        assert forwarder.speakers[:2] == ["bob", "alice"]

        relay = a.conferences["m-octo"].relays["jvb-b"]
        assert relay.ice.controlling and not relay.dtls.client and relay.port is not a.port
        assert b.conferences["m-octo"].relays["jvb-a"].dtls.client

        # A second conference linking the same two bridges: its relay has a port of its own on
        # the initiator side, so bridge B tells the two relays apart by address.
        solo = Peer(a, "m-second", "solo", publish=False)
        solo.allocate(create_conference=True)
        Peer(b, "m-second", "other", publish=False).allocate(create_conference=True)
        link(a, b, "m-second", [solo], [])
        second = b.conferences["m-second"].relays["jvb-a"]
        for _ in range(200):
            if second.srtp is not None:
                break
            await asyncio.sleep(0.02)
        assert second.srtp is not None
        assert second.ice.selected != b.conferences["m-octo"].relays["jvb-a"].ice.selected
        assert bob.pc.connectionState == "connected" and b.counters.srtp_rejected == 0
        await solo.close()

        # The focus expires bob's side: bridge A forgets bob's sources and the relay.
        roundtrip(a, c2.ConferenceModify("m-octo", relays=[c2.Relay("jvb-b", endpoints=[
            c2.RelayEndpoint("bob", expire=True)])]))
        assert not any(s.owner == "bob" for s in a.conferences["m-octo"].forwarder.sources.values())
        roundtrip(a, c2.ConferenceModify("m-octo", relays=[c2.Relay("jvb-b", expire=True)]))
        assert not a.conferences["m-octo"].relays and a.stats()["octo_conferences"] == 1  # m-second
    finally:
        for peer in (alice, bob):
            await peer.close()


def fail(bridge, request: c2.ConferenceModify) -> Colibri2Failure:
    with pytest.raises(Colibri2Failure) as caught:
        handle(bridge, request, time.monotonic())
    return caught.value


async def test_relay_requests_the_bridge_refuses(bridges):
    a, _ = bridges
    peer = Peer(a, "m-bad", "solo", publish=False)
    peer.allocate(create_conference=True)
    try:
        create = c2.Relay("jvb-b", create=True, transport=c2.Transport(ice_controlling=True))
        assert fail(a, c2.ConferenceModify("m-bad", relays=[dataclasses.replace(create, transport=None)])).condition \
            == "bad-request"
        port = fail(a, c2.ConferenceModify("m-bad", relays=[dataclasses.replace(
            create, transport=c2.Transport(ice_controlling=True, sctp=c2.Sctp(5001, "client")))]))
        assert port.condition == "bad-request" and not a.conferences["m-bad"].relays
        a.sctp_enabled = False
        sctp = fail(a, c2.ConferenceModify("m-bad", relays=[dataclasses.replace(
            create, transport=c2.Transport(ice_controlling=True, sctp=c2.Sctp(role="client")))]))
        assert sctp.reason == c2.REASON_FEATURE_NOT_IMPLEMENTED
        a.sctp_enabled = True
        assert fail(a, c2.ConferenceModify("m-bad", relays=[c2.Relay("nowhere")])).text == "Unknown relay nowhere"
        roundtrip(a, c2.ConferenceModify("m-bad", relays=[create]))
        assert fail(a, c2.ConferenceModify("m-bad", relays=[create])).condition == "conflict"
        clash = c2.Relay("jvb-b", endpoints=[c2.RelayEndpoint("solo", create=True)])
        assert fail(a, c2.ConferenceModify("m-bad", relays=[clash])).condition == "bad-request"
        both = c2.ConferenceModify("m-bad", endpoints=[c2.Endpoint("solo")], relays=[c2.Relay("jvb-b")])
        assert fail(a, both).condition == "feature-not-implemented"
        a.relays_enabled = False
        assert fail(a, c2.ConferenceModify("m-bad", relays=[c2.Relay("jvb-b")])).text == \
            "Relays are not enabled on this bridge"
        a.relays_enabled = True
        # The last endpoint leaves: the conference lives on while a relay does, and goes with it.
        roundtrip(a, c2.ConferenceModify("m-bad", endpoints=[c2.Endpoint("solo", expire=True)]))
        assert "m-bad" in a.conferences
        roundtrip(a, c2.ConferenceModify("m-bad", relays=[c2.Relay("jvb-b", expire=True)]))
        assert "m-bad" not in a.conferences
    finally:
        await peer.close()


async def test_a_relay_message_naming_an_endpoint_or_source_by_anything_but_a_string_is_refused(bridges):
    a, _ = bridges
    peer = Peer(a, "m-names", "solo", publish=False)
    peer.allocate(create_conference=True)
    try:
        roundtrip(a, c2.ConferenceModify("m-names", relays=[
            c2.Relay("jvb-b", create=True, transport=c2.Transport(ice_controlling=True))]))
        channel = RelayChannel(a.conferences["m-names"].relays["jvb-b"])
        for message in ({"colibriClass": "SourceVideoTypeMessage", "endpointId": "solo", "sourceName": ["x"],
                         "videoType": "desktop"},
                        {"colibriClass": "SourceVideoTypeMessage", "endpointId": ["solo"], "sourceName": "x",
                         "videoType": "desktop"},
                        {"colibriClass": "AddReceiver", "sourceName": {"x": 1}, "videoConstraints": {"maxHeight": 1}},
                        {"colibriClass": "EndpointMessage", "from": ["solo"], "to": "", "msgPayload": {}}):
            with pytest.raises(ChannelError):
                channel.receive(json.dumps(message))
    finally:
        await peer.close()


async def test_feedback_from_the_remote_bridge_reaches_the_local_sender_the_ssrc_names():
    """Key-frame requests and NACKs through a relay go to the sender owning the SSRC (found by
    lookup); a NACK naming a sender behind a relay, or no sender, goes nowhere."""
    from jitsi_py.bridge.conference import Endpoint
    from jitsi_py.bridge.forwarder import Source as ForwardedSource
    from jitsi_py.bridge.relay import Relay
    from jitsi_py.bridge.videobridge import Videobridge

    bridge = Videobridge(candidates=[])
    conference = bridge.create_conference("m-feedback", None, 0.0)
    sent: dict[str, list[bytes]] = {"alice": [], "bob": [], "carol": []}
    for name, base in (("alice", 100), ("bob", 200)):
        endpoint = Endpoint(conference, name)
        conference.add_endpoint(endpoint)
        conference.set_sources(endpoint, [ForwardedSource(f"{name}-v0", name, "video", [base, base + 1, base + 2])])
        conference.forwarder.senders_rtcp[name] = sent[name].append
    relay = Relay(conference, "r1", ice_controlling=False, now=0.0)
    relay.set_endpoint("carol", [ForwardedSource("carol-v0", "carol", "video", [300])])
    conference.forwarder.senders_rtcp["carol"] = sent["carol"].append
    feedback = conference.forwarder.feedback_ssrc
    conference.forwarder.now = 10.0  # past the key-frame requests the allocation itself made
    for packets in sent.values():
        packets.clear()

    relay.receive_rtcp(rtcp.build_rr(9) + rtcp.build_nack(9, 201, [7, 9]) + rtcp.build_nack(9, 300, [1])
                       + rtcp.build_nack(9, 999, [1]))
    assert sent == {"alice": [], "bob": [rtcp.build_rr(feedback) + rtcp.build_nack(feedback, 201, [7, 9])],
                    "carol": []}
    fir = rtcp.FEEDBACK.pack(0x80 | rtcp.FMT_FIR, rtcp.PSFB, 4, 9, 0) + rtcp.FIR_ITEM.pack(200, 1)
    relay.receive_rtcp(rtcp.build_pli(9, 102) + rtcp.build_pli(9, 999) + fir)
    assert sent["alice"] == [rtcp.build_rr(feedback) + rtcp.build_pli(feedback, 102)]
    assert sent["bob"][1:] == [rtcp.build_rr(feedback) + rtcp.build_pli(feedback, 200)] and sent["carol"] == []
    relay.close()
    for endpoint_id in ("alice", "bob"):
        conference.remove_endpoint(endpoint_id)
