"""The receiver's bounded SSRC slots: free slots first, then the least recently used idle one;
how the forwarder maps the sources it forwards onto them and announces each mapping."""

import struct

import pytest

from jitsi_py.bridge.forwarder import Forwarder, Receiver, Source
from jitsi_py.bridge.rtp import read_header
from jitsi_py.bridge.ssrc_pool import AUDIO_SLOTS, VIDEO_SLOTS, SsrcPool, receiver_pools


def test_jvbs_limits_and_distinct_ssrcs():
    assert (VIDEO_SLOTS, AUDIO_SLOTS) == (50, 50)
    pools = receiver_pools()
    slots = [pools["video"].take(f"v{i}", 0.0)[0] for i in range(50)] + [
        pools["audio"].take(f"a{i}", 0.0)[0] for i in range(50)]
    ssrcs = [s.ssrc for s in slots] + [s.rtx for s in slots if s.rtx is not None]
    assert len(ssrcs) == 150 == len(set(ssrcs)) and 0 not in ssrcs
    assert all(s.rtx is not None for s in slots[:50]) and all(s.rtx is None for s in slots[50:])
    assert pools["video"].take("v50", 0.0) is None  # full, and nobody may be evicted


def test_the_least_recently_used_idle_slot_changes_hands():
    pool = SsrcPool(3, with_rtx=True, issued=set())
    first = {name: pool.take(name, t)[0] for t, name in enumerate("abc")}
    pool.use("a", 10.0)
    busy = {"c"}
    slot, previous = pool.take("d", 11.0, idle=lambda h: h not in busy)
    assert previous == "b" and slot is first["b"]  # "a" was used since; "c" is forwarded
    assert pool.slot("b") is None and pool.slot("d") is slot and pool.remaps == 1
    assert pool.take("e", 12.0, idle=lambda h: False) is None
    assert pool.take("e", 12.0) is None  # without a predicate nobody is evicted


def test_released_slots_are_reused_before_any_eviction():
    pool = SsrcPool(2, with_rtx=False, issued=set())
    a = pool.take("a", 0.0)[0]
    pool.take("b", 0.0)
    pool.release("a")
    assert pool.take("c", 1.0) == (a, None) and pool.remaps == 0
    pool.release("b")
    pool.release("c")
    assert pool.slot("b") is None and pool.slot("c") is None
    assert {pool.take(h, 2.0)[0].ssrc for h in "xy"} == {s.ssrc for s in pool.slots}


def test_misuse_is_refused():
    with pytest.raises(ValueError, match="at least one slot"):
        SsrcPool(0, with_rtx=False, issued=set())
    pool = SsrcPool(1, with_rtx=False, issued=set())
    pool.take("a", 0.0)
    with pytest.raises(ValueError, match="already has a slot"):
        pool.take("a", 0.0)


# --- the forwarder's receivers that rewrite SSRCs ----------------------------------------------

def rtp(ssrc, seq, ts, key=False, pt=100):
    # RTP header, VP8 descriptor (S=1, PartID 0), VP8 payload header (P bit clear on key frames).
    return struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + bytes([0x10, 0x00 if key else 0x01]) + b"x" * 20


class Sink:
    def __init__(self):
        self.packets = []

    def deliver(self, packet, ssrc):
        assert ssrc == int.from_bytes(packet[8:12], "big"), "the SSRC the forwarder wrote"
        self.packets.append(read_header(packet)[1:4])  # seq, ts, ssrc

    def send_rtcp(self, packet):
        pass


def conference(video_slots=2, audio_slots=2, last_n=2):
    forwarder = Forwarder(feedback_ssrc=42)
    forwarder.set_video_payload_types({100: "VP8"})
    for name in ("alice", "carol", "dave"):
        forwarder.add_receiver(Receiver(name, Sink().deliver, Sink().send_rtcp), Sink().send_rtcp)
    bob = Sink()
    receiver = Receiver("bob", bob.deliver, bob.send_rtcp, rewrite_ssrcs=True, last_n=last_n)
    receiver.ssrc_pools = receiver_pools(video=video_slots, audio=audio_slots)
    forwarder.add_receiver(receiver, bob.send_rtcp)
    for index, name in enumerate(("alice", "carol", "dave")):
        video, rtx, audio = 1000 + index, 2000 + index, 3000 + index
        forwarder.set_sources(name, [Source(f"{name}-v0", name, "video", [video], {video: rtx}),
                                     Source(f"{name}-a0", name, "audio", [audio])])
    return forwarder, receiver, bob


def maps(forwarder, kind):
    return [s for endpoint, m in forwarder.messages if endpoint == "bob" and m["colibriClass"] == kind
            for s in m["mappedSources"]]


def test_a_receiver_gets_at_most_its_pool_of_ssrcs_and_the_map_comes_first():
    forwarder, receiver, bob = conference()
    video = maps(forwarder, "VideoSourcesMap")
    assert [(m["source"], m["owner"]) for m in video] == [("alice-v0", "alice"), ("carol-v0", "carol")]
    assert receiver.forwarded == ["alice-v0", "carol-v0"] and receiver.projections["dave-v0"].out_ssrc is None
    assert len(maps(forwarder, "AudioSourcesMap")) == 2  # the third audio source waits for a slot
    forwarder.rtp("alice", rtp(1000, 7, 900, key=True), 100, 7, 900, 1000)
    forwarder.rtp("dave", rtp(1002, 7, 900, key=True), 100, 7, 900, 1002)
    assert bob.packets == [(7, 900, video[0]["ssrc"])]


def test_a_newly_forwarded_source_takes_the_least_recently_forwarded_slot_and_continues_its_stream():
    forwarder, receiver, bob = conference()
    forwarder.rtp("carol", rtp(1001, 100, 5000, key=True), 100, 100, 5000, 1001)
    forwarder.rtp("carol", rtp(1001, 101, 8000), 100, 101, 8000, 1001)
    carol_slot = next(m for m in maps(forwarder, "VideoSourcesMap") if m["source"] == "carol-v0")
    before = len(forwarder.messages)
    forwarder.now = 1.0
    forwarder.set_speakers(["dave"])  # dave's video now ranks first: carol's falls out of last-N
    assert receiver.forwarded == ["dave-v0", "alice-v0"]
    [remap] = [m for _, m in forwarder.messages[before:] if m["colibriClass"] == "VideoSourcesMap"]
    assert remap["mappedSources"] == [{"source": "dave-v0", "owner": "dave", "ssrc": carol_slot["ssrc"],
                                       "rtx": carol_slot["rtx"], "videoType": "CAMERA"}]
    got = len(bob.packets)
    forwarder.rtp("carol", rtp(1001, 102, 11000), 100, 102, 11000, 1001)
    assert len(bob.packets) == got  # carol's video no longer reaches bob
    forwarder.rtp("dave", rtp(1002, 40000, 123456, key=True), 100, 40000, 123456, 1002)
    assert bob.packets[-1] == (102, 11000, carol_slot["ssrc"])  # one continuous stream on that SSRC
    assert receiver.ssrc_pools["video"].remaps == 1 and len(receiver.ssrc_pools["video"].slots) == 2


def test_audio_slots_go_to_who_is_sending():
    forwarder, receiver, bob = conference(audio_slots=1)
    [first] = maps(forwarder, "AudioSourcesMap")
    assert first["source"] == "alice-a0"
    forwarder.rtp("carol", rtp(3001, 1, 960, pt=111), 111, 1, 960, 3001)
    forwarder.check_layers()  # carol sends audio, alice does not
    forwarder.allocate()
    assert maps(forwarder, "AudioSourcesMap")[-1] == {"source": "carol-a0", "owner": "carol", "ssrc": first["ssrc"]}
    forwarder.rtp("carol", rtp(3001, 2, 1920, pt=111), 111, 2, 1920, 3001)
    assert bob.packets[-1][2] == first["ssrc"]


def test_an_audio_source_on_a_reused_slot_continues_the_stream_from_its_first_packet():
    forwarder, receiver, bob = conference(audio_slots=1)
    forwarder.rtp("alice", rtp(3000, 500, 48000, pt=111), 111, 500, 48000, 3000)
    [slot] = receiver.ssrc_pools["audio"].slots
    assert bob.packets[-1] == (500, 48000, slot.ssrc)
    forwarder.check_layers()
    forwarder.rtp("carol", rtp(3001, 60000, 7, pt=111), 111, 60000, 7, 3001)
    forwarder.check_layers()  # now carol sends and alice does not
    forwarder.allocate()
    forwarder.rtp("carol", rtp(3001, 60001, 967, pt=111), 111, 60001, 967, 3001)
    forwarder.rtp("carol", rtp(3001, 60002, 1927, pt=111), 111, 60002, 1927, 3001)
    assert bob.packets[-2:] == [(501, 48000 + 3000, slot.ssrc), (502, 48000 + 3960, slot.ssrc)]
    requests = forwarder.keyframe_requests
    forwarder.request_keyframe(3001)  # what a pending switch of carol's audio would ask: nothing
    assert forwarder.keyframe_requests == requests


def test_a_departed_senders_slot_serves_the_next_source_without_a_new_ssrc():
    forwarder, receiver, bob = conference(video_slots=2, last_n=-1)
    issued = {s.ssrc for s in receiver.ssrc_pools["video"].slots}
    forwarder.rtp("alice", rtp(1000, 9000, 77, key=True), 100, 9000, 77, 1000)
    alice_ssrc = bob.packets[-1][2]
    forwarder.remove_endpoint("alice")
    forwarder.allocate()  # dave's video, forwarded with no last-N, takes alice's released slot
    assert {s.ssrc for s in receiver.ssrc_pools["video"].slots} == issued
    assert maps(forwarder, "VideoSourcesMap")[-1] == {"source": "dave-v0", "owner": "dave", "ssrc": alice_ssrc,
                                                      "rtx": maps(forwarder, "VideoSourcesMap")[0]["rtx"],
                                                      "videoType": "CAMERA"}
    assert receiver.ssrc_pools["video"].remaps == 0
    forwarder.rtp("dave", rtp(1002, 5, 1000, key=True), 100, 5, 1000, 1002)
    assert bob.packets[-1][0] == 9001 and bob.packets[-1][2] == alice_ssrc


def test_a_source_that_lost_its_slot_starts_a_stream_of_its_own_when_it_gets_one_again():
    forwarder, receiver, bob = conference(video_slots=2)
    forwarder.rtp("carol", rtp(1001, 100, 5000, key=True), 100, 100, 5000, 1001)
    forwarder.set_speakers(["dave"])  # dave takes carol's slot
    forwarder.rtp("dave", rtp(1002, 7, 700, key=True), 100, 7, 700, 1002)
    carol = receiver.projections["carol-v0"]
    assert carol.out_ssrc is None and not carol.started
    forwarder.remove_endpoint("alice")  # alice's slot is released: carol, forwarded again, takes it
    assert carol.out_ssrc is not None and carol.out_ssrc != bob.packets[-1][2]
    forwarder.rtp("carol", rtp(1001, 300, 9000, key=True), 100, 300, 9000, 1001)
    assert bob.packets[-1][2] == carol.out_ssrc


def test_the_initial_maps_name_only_sources_on_a_slot():
    forwarder, receiver, bob = conference()
    initial = forwarder.initial_messages("bob")
    video = [s for m in initial if m["colibriClass"] == "VideoSourcesMap" for s in m["mappedSources"]]
    assert sorted(m["source"] for m in video) == ["alice-v0", "carol-v0"]
