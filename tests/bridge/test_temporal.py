"""Temporal layers: crafted VP8 (and VP9) packets in the libwebrtc three-layer pattern through the
forwarder, with receivers asking for lower frame rates."""

import struct

from jitsi_py.bridge.allocation import ALL_TEMPORAL, candidates
from jitsi_py.bridge.forwarder import Forwarder, Receiver, Source, VideoConstraints
from jitsi_py.bridge.rtp import header_length, read_header
from jitsi_py.bridge.temporal import read_vp8, read_vp9

PATTERN = (0, 2, 1, 2)  # libwebrtc's three temporal layers: 7.5, 15 and 30 fps
SSRC = 5001
FIRST_PID = 32_700  # 15-bit picture ids wrap during the tests
LEARN = 128  # frames before the forwarder has sampled every temporal layer


def vp8(seq, frame, start, last, pid_bits=15):
    tid = PATTERN[frame % 4]
    tl0 = (frame // 4) & 0xFF
    pid = (FIRST_PID + frame) & (0x7FFF if pid_bits == 15 else 0x7F)
    picture = struct.pack("!H", 0x8000 | pid) if pid_bits == 15 else bytes([pid])
    descriptor = bytes([0x90 if start else 0x80, 0xE0]) + picture + bytes([tl0, tid << 6])
    key = frame == 0
    payload = (bytes([0x00 if key else 0x01]) if start else b"") + b"v" * 60
    return struct.pack("!BBHII", 0x80, (0x80 if last else 0) | 100, seq & 0xFFFF, 3000 * frame, SSRC) \
        + descriptor + payload


def descriptor(packet):
    return read_vp8(packet, header_length(packet))


class Bob:
    def __init__(self):
        self.packets = []

    def deliver(self, packet, ssrc):
        assert ssrc == int.from_bytes(packet[8:12], "big"), "the SSRC the forwarder wrote"
        self.packets.append(bytes(packet))

    def send_rtcp(self, packet):
        pass


class Stream:
    """Two packets per frame, 30 fps, sequence numbers wrapping; ``held`` packets are lost
    upstream, to come late."""

    def __init__(self, forwarder):
        self.forwarder = forwarder
        self.frame = 0
        self.seq = 0xFFF0
        self.held: list[bytes] = []

    def frames(self, count, hold=lambda frame, part: False):
        for _ in range(count):
            for part in range(2):
                packet = vp8(self.seq, self.frame, part == 0, part == 1)
                if hold(self.frame, part):
                    self.held.append(packet)
                else:
                    self.send(packet)
                self.seq += 1
            self.frame += 1

    def send(self, packet):
        self.forwarder.rtp("alice", packet, *read_header(packet))


def setup():
    """alice sends bob three temporal layers, long enough for the forwarder to learn them."""
    forwarder = Forwarder(feedback_ssrc=42)
    forwarder.set_video_payload_types({100: "VP8"})
    forwarder.add_receiver(Receiver("alice", lambda p: None, lambda p: None), lambda p: None)
    sink = Bob()
    bob = Receiver("bob", sink.deliver, sink.send_rtcp)
    bob.default_constraints = VideoConstraints(-1)
    forwarder.add_receiver(bob, sink.send_rtcp)
    forwarder.set_sources("alice", [Source("alice-v0", "alice", "video", [SSRC])])
    stream = Stream(forwarder)
    stream.frames(LEARN)
    forwarder.check_layers()
    return forwarder, bob, sink, stream


def check_continuous(packets):
    """Sequence numbers without a gap, picture ids +1 per frame, TL0PICIDX +1 per base frame."""
    seqs = [read_header(p)[1] for p in packets]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:])), seqs
    starts = [descriptor(p) for p in packets if descriptor(p)[1]]
    pids = [d[4] for d in starts]
    assert all((b - a) & 0x7FFF == 1 for a, b in zip(pids, pids[1:])), pids
    tl0 = [p[header_length(p) + 4] for p in packets if descriptor(p)[1] and descriptor(p)[0] == 0]
    assert all((b - a) & 0xFF == 1 for a, b in zip(tl0, tl0[1:])), tl0


def tids(packets):
    return [descriptor(p)[0] for p in packets if descriptor(p)[1]]


def test_descriptors_are_read_or_refused_when_cut_short():
    packet = vp8(7, 5, True, False)
    offset = header_length(packet)
    assert read_vp8(packet, offset) == (2, True, offset + 2, 15, FIRST_PID + 5)
    assert read_vp8(vp8(7, 4, False, True, pid_bits=7), offset)[:4] == (0, False, offset + 2, 7)
    for cut in range(offset, offset + 5):
        assert read_vp8(packet[:cut], offset) is None
    assert read_vp8(packet[:offset] + b"\x10\x00", offset) == (-1, True, -1, 0, 0)  # no extension: no TID
    # VP9: I and L set, 15-bit picture id 300, TID 1, SID 0, B (starts the frame)
    vp9 = bytes([0xA8, 0x81, 0x2C, 0x20 | 0x10, 0x00])
    assert read_vp9(vp9, 0) == (1, True, 1, 15, 300)
    assert read_vp9(bytes([0xA8, 0x81, 0x2C, 0x22]), 0)[1] is False  # spatial layer 1: not a frame start
    assert read_vp9(vp9[:3], 0) is None


def test_the_temporal_layers_are_learnt_and_a_frame_rate_cap_keeps_the_stream_continuous():
    forwarder, bob, sink, stream = setup()
    source = forwarder.sources["alice-v0"]
    assert source.temporal_layers == 3 and not source.frame_rate_filter
    assert tids(sink.packets) == [PATTERN[i % 4] for i in range(LEARN)]  # everything, untouched
    projection = bob.projections["alice-v0"]

    bob.default_constraints = VideoConstraints(-1, 7.5)
    forwarder.allocate()
    assert projection.wanted_tid == 0 and source.frame_rate_filter
    stream.frames(16)  # the cap applies from the next base-layer frame
    assert tids(sink.packets)[LEARN:] == [0, 0, 0, 0]

    bob.default_constraints = VideoConstraints(-1, 15)
    forwarder.allocate()
    stream.frames(9)
    bob.default_constraints = VideoConstraints(-1, -1)
    forwarder.allocate()
    assert projection.wanted_tid == ALL_TEMPORAL
    stream.frames(8)
    assert tids(sink.packets)[LEARN + 4:] == [0, 1, 0, 1, 0, 1, 0, 2, 1, 2, 0]  # changes at base frames
    check_continuous(sink.packets)
    # timestamps are the sender's: a dropped frame is a longer frame interval, not a gap
    starts = [read_header(p)[2] for p in sink.packets if descriptor(p)[1]]
    assert starts[LEARN:LEARN + 2] == [3000 * LEARN, 3000 * (LEARN + 4)]


def test_a_late_packet_of_a_dropped_frame_is_dropped_without_moving_the_sequence():
    forwarder, bob, sink, stream = setup()
    bob.default_constraints = VideoConstraints(-1, 7.5)
    forwarder.allocate()
    stream.frames(8)
    late = vp8(stream.seq - 13, stream.frame - 7, False, True)  # the tail of a TL2 frame, reordered
    assert descriptor(late)[0] == 2
    forwarder.rtp("alice", late, *read_header(late))
    stream.frames(8)
    check_continuous(sink.packets)


def test_packets_lost_upstream_and_recovered_late_take_the_place_they_had():
    forwarder, bob, sink, stream = setup()
    bob.default_constraints = VideoConstraints(-1, 15)
    forwarder.allocate()
    stream.frames(4)  # the cap applies from here on: base and middle layers pass
    capped = len(sink.packets)
    first = stream.frame
    # lost upstream: the tail of a base frame, a middle frame's head (top-layer frames between)
    stream.frames(12, hold=lambda frame, part: (frame, part) in {(first + 4, 1), (first + 6, 0)})
    for packet in reversed(stream.held):  # recovered by RTX, out of order, after later drops
        stream.send(packet)
    stream.frames(4)
    first_seq = read_header(sink.packets[capped])[1]
    got = sorted(sink.packets[capped:], key=lambda p: (read_header(p)[1] - first_seq) & 0xFFFF)
    assert len(got) == len(sink.packets) - capped == 2 * 8  # 8 frames of 16 pass, twice 2 packets
    check_continuous(got)
    for head, tail in zip(got[::2], got[1::2]):  # both packets of a frame: one picture id
        assert descriptor(head)[1] and descriptor(head)[4] == descriptor(tail)[4]


def test_short_of_bandwidth_a_receiver_gets_a_lower_frame_rate_before_nothing():
    forwarder, bob, sink, stream = setup()
    source = forwarder.sources["alice-v0"]
    # one 720p layer, nominally 2.5 Mbps: 1.0, 1.5 and 2.5 Mbps at 7.5, 15 and 30 fps
    layers, preferred, oversend = candidates(source, VideoConstraints(-1), on_stage=False)
    assert [(c.temporal, c.frame_rate, c.bitrate) for c in layers] == [
        (0, 7.5, 1_000_000), (1, 15.0, 1_500_000), (2, 30.0, 2_500_000)]
    bob.bwe.remb(2_000_000, 0.0)
    forwarder.allocate()
    projection = bob.projections["alice-v0"]
    assert projection.target == 0 and projection.wanted_tid == 1
    bob.bwe.remb(3_000_000, 1.0)
    forwarder.allocate()
    assert projection.wanted_tid == ALL_TEMPORAL


def test_simulcast_candidates_follow_jvb_for_cameras():
    source = Source("s", "o", "video", [1, 2, 3])
    source.temporal_layers = 3
    layers, preferred, _ = candidates(source, VideoConstraints(720), on_stage=True)
    # every frame rate below 360p, only 30 fps from 360p up; preferred: 360p at 30 fps
    assert [(c.height, c.frame_rate) for c in layers] == [
        (180, 7.5), (180, 15.0), (180, 30.0), (360, 30.0), (720, 30.0)]
    assert layers[preferred].height == 360
    thumbnails, preferred, _ = candidates(source, VideoConstraints(180, 15), on_stage=False)
    assert [(c.height, c.frame_rate) for c in thumbnails] == [(180, 7.5), (180, 15.0)]
    assert preferred == 1
