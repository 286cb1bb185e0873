"""aiortc peers publish and receive video through the bridge; frames are decoded at the receiver."""

import asyncio

from .peers import Peer


async def test_video_goes_through_the_bridge(bridge):
    alice = Peer(bridge, "meeting-1", "alice", publish=True)
    bob = Peer(bridge, "meeting-1", "bob", publish=False)
    alice.allocate(create_conference=True)
    bob.allocate(create_conference=False)
    try:
        await alice.connect([])
        await bob.connect([(alice.video_ssrc, "alice-v0")])
        track = await asyncio.wait_for(bob.track_future, 20)
        frame = await asyncio.wait_for(track.recv(), 20)
        assert frame.width == 320 and frame.height == 240
        frame = await asyncio.wait_for(track.recv(), 10)
        assert bridge.counters.srtp_rejected == 0
        assert bridge.conferences["meeting-1"].forwarder.packets_forwarded > 0
    finally:
        await alice.close()
        await bob.close()


async def test_audio_is_forwarded_and_the_loudest_becomes_dominant_speaker(bridge):
    import json

    loud = Peer(bridge, "meeting-audio", "loud", publish=False, sctp=True, loudness=0.8)
    quiet = Peer(bridge, "meeting-audio", "quiet", publish=False, sctp=True, loudness=0.0)
    loud.allocate(create_conference=True)
    quiet.allocate(create_conference=False)
    inbox = asyncio.Queue()
    channel = quiet.pc.createDataChannel("JVB data channel", protocol="http://jitsi.org/protocols/colibri")
    channel.on("message", lambda m: inbox.put_nowait(json.loads(m)))
    loud.pc.createDataChannel("JVB data channel", protocol="http://jitsi.org/protocols/colibri")
    try:
        await loud.connect([], [])
        await quiet.connect([], [(loud.audio_ssrc, "loud-a0")])
        track = await asyncio.wait_for(quiet.audio_future, 20)
        frame = await asyncio.wait_for(track.recv(), 10)
        assert frame.sample_rate == 48000
        while True:
            message = await asyncio.wait_for(inbox.get(), 15)
            if message["colibriClass"] == "DominantSpeakerEndpointChangeEvent":
                break
        assert message["dominantSpeakerEndpoint"] == "loud" and message["silence"] is False
    finally:
        await loud.close()
        await quiet.close()
