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
