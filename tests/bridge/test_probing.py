"""Bandwidth probing, simulated: the forwarder, a sender's three simulcast layers, and a receiver
whose downlink is a FIFO bottleneck; the receiver's transport-cc feedback is built from what the
bridge actually stamped on the packets that got through."""

import struct

import pytest

from jitsi_py.bridge import rtcp
from jitsi_py.bridge.forwarder import Forwarder, Receiver, Source, VideoConstraints
from jitsi_py.bridge.probing import Prober, padding_packet, rtx_packet
from jitsi_py.bridge.rtp import find_extension, header_length, read_header

TCC_ID = 5
RTX_PT, VP8_PT = 96, 100
LAYERS = {1001: (1, 300), 1002: (1, 800), 1003: (3, 1000)}  # per 10 ms: packets, bytes (0.24/0.64/2.4 Mbps)
RTX = {1001: 1011, 1002: 1012, 1003: 1013}


class Downlink:
    """bob: a bottleneck of ``capacity`` bps with 20 ms of propagation delay."""

    def __init__(self):
        self.capacity = 10_000_000
        self.free_at = 0.0
        self.in_flight: list[tuple[int, float]] = []
        self.now = 0.0
        self.probes: list[tuple[float, bytes]] = []
        self.media: list[bytes] = []
        self.sent = 0

    def deliver(self, packet, ssrc):
        assert ssrc == int.from_bytes(packet[8:12], "big"), "the SSRC the forwarder wrote"
        packet = bytes(packet)
        if ssrc in RTX.values():
            self.probes.append((self.now, packet))
        else:
            self.media.append(packet)
        self.sent += len(packet)
        transport_seq = struct.unpack_from("!H", packet, find_extension(packet, TCC_ID))[0]
        arrival = max(self.now + 0.02, self.free_at + len(packet) * 8 / self.capacity)
        self.free_at = arrival
        self.in_flight.append((transport_seq, arrival))

    def feedback(self):
        arrived = [(s, a) for s, a in self.in_flight if a <= self.now]
        self.in_flight = [(s, a) for s, a in self.in_flight if a > self.now]
        if not arrived:
            return None
        first = arrived[0][0]
        return rtcp.build_rr(1) + rtcp.build_transport_cc(
            1, 2, 0, [(first + ((s - first) & 0xFFFF), a) for s, a in arrived])

    def send_rtcp(self, packet):
        pass


def media(ssrc, seq, size, key):
    ext = struct.pack("!HH", 0xBEDE, 1) + bytes([(TCC_ID << 4) | 1]) + struct.pack("!H", 0) + b"\0"
    return (struct.pack("!BBHII", 0x90, VP8_PT, seq, 90 * seq, ssrc) + ext
            + bytes([0x10, 0x00 if key else 0x01]) + b"x" * (size - 22))


class Simulation:
    def __init__(self, probing: bool):
        self.probing = probing
        self.forwarder = forwarder = Forwarder(feedback_ssrc=42)
        forwarder.set_video_payload_types({VP8_PT: "VP8"}, {RTX_PT: VP8_PT})
        self.link = Downlink()
        forwarder.add_receiver(Receiver("alice", lambda p: None, lambda p: None), lambda p: None)
        self.bob = Receiver("bob", self.link.deliver, self.link.send_rtcp)
        self.bob.transport_cc_id = TCC_ID
        self.bob.constraints["alice-v0"] = VideoConstraints(720)
        forwarder.add_receiver(self.bob, self.link.send_rtcp)
        forwarder.set_sources("alice", [Source("alice-v0", "alice", "video", list(LAYERS), rtx=dict(RTX))])
        self.seqs = dict.fromkeys(LAYERS, 0)
        self.now = 1.0
        self.reached_top: float | None = None

    @property
    def layer(self):
        return self.bob.projections["alice-v0"].current

    def run(self, seconds, capacity):
        self.link.capacity = capacity
        self.reached_top = None
        start = self.now
        for step in range(round(seconds * 100)):
            now = self.now = self.link.now = self.forwarder.now = round(start + step * 0.01, 6)
            for ssrc, (count, size) in LAYERS.items():
                for _ in range(count):
                    self.seqs[ssrc] += 1
                    packet = media(ssrc, self.seqs[ssrc], size, self.seqs[ssrc] % 150 == 1)
                    self.forwarder.rtp("alice", packet, *read_header(packet), find_extension(packet, TCC_ID), now)
            if step % 2 == 0 and self.probing:  # the conference ticks every 20 ms
                self.forwarder.probe(now)
            if step % 5 == 4:
                feedback = self.link.feedback()
                if feedback:
                    self.forwarder.feedback("bob", feedback)
            if step % 50 == 49:
                self.forwarder.check_layers()
            if self.layer == 2 and self.reached_top is None:
                self.reached_top = now - start
        self.now = round(start + seconds, 6)


def drop_and_restore(probing):
    sim = Simulation(probing)
    sim.run(3, 10_000_000)
    assert sim.layer == 2 and not sim.link.probes  # the ideal fits: nothing to probe for
    sim.run(4, 1_000_000)
    assert sim.bob.bwe.estimate < 1_000_000 and sim.layer <= 1
    sim.link.probes.clear()
    sim.run(25, 10_000_000)
    return sim


def test_after_a_drop_probing_brings_the_estimate_and_the_top_layer_back():
    sim = drop_and_restore(probing=True)
    assert sim.layer == 2 and sim.reached_top is not None
    assert sim.bob.bwe.estimate > 2_400_000 * 1.15
    probes = sim.link.probes
    assert probes, "probing must have run"
    # paced and bounded: never more than the gap to the estimate (at most 5 Mbps) per 20 ms tick
    per_tick: dict[float, int] = {}
    for when, packet in probes:
        per_tick[when] = per_tick.get(when, 0) + len(packet)
    assert max(per_tick.values()) <= 5_000_000 * 0.05 / 8 + 275
    # and stopped once the ideal allocation fits the estimate
    assert probes[-1][0] < sim.now - 2


def test_without_probing_the_estimate_stays_where_the_traffic_leaves_it():
    sim = drop_and_restore(probing=False)
    assert sim.layer <= 1
    assert sim.bob.bwe.estimate < 1.5 * 640_000 + 10_000 + 1  # GCC: no growth past 1.5 x what got through


def test_probes_are_recent_packets_again_then_padding_on_the_receivers_rtx_stream():
    sim = drop_and_restore(probing=True)
    probes = [p for _, p in sim.link.probes]
    assert all(read_header(p)[0] == RTX_PT and read_header(p)[3] == RTX[1001] for p in probes)
    assert all(find_extension(p, TCC_ID) > 0 for p in probes)  # the feedback covers every probe
    seqs = [read_header(p)[1] for p in probes[:50]]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:]))  # one RTX sequence
    padding = [p for p in probes if p[0] & 0x20]
    assert padding and all(header_length(p) + p[-1] == len(p) and 0 < p[-1] <= 255 for p in padding)
    resent = [p for p in probes if not p[0] & 0x20]
    assert resent and len(resent) * 800 > len(padding) * 275  # mostly real packets, as JVB
    sent = {read_header(p)[1]: p for p in sim.link.media}
    for probe in resent[:20]:
        offset = header_length(probe)
        original = sent[struct.unpack_from("!H", probe, offset)[0]]  # RFC 4588: OSN, then the payload
        assert probe[offset + 2:] == original[header_length(original):]


def test_prober_pacing():
    prober = Prober()
    assert prober.due(0.0, 2_000_000, 500_000, 1_000_000) == 0  # the first call only starts the clock
    assert prober.due(0.02, 2_000_000, 500_000, 1_000_000) == 1250  # 500 kbps for 20 ms
    assert prober.due(10.0, 2_000_000, 500_000, 1_000_000) == 3125  # a late call: 50 ms at most
    assert prober.due(10.02, 900_000, 500_000, 1_000_000) == 0  # the ideal fits: no probing
    assert prober.due(10.04, 2_000_000, 1_000_000, 1_000_000) == 0  # the target fills the estimate


def test_padding_packet_limits_and_padded_packets_are_not_resent():
    assert rtx_packet(padding_packet(RTX_PT, 1, 2, 3, TCC_ID, 4, 10), RTX_PT, 5, 6) is None
    with pytest.raises(ValueError):
        padding_packet(RTX_PT, 1, 2, 3, TCC_ID, 4, 256)
    with pytest.raises(ValueError):
        padding_packet(RTX_PT, 1, 2, 3, 15, 4, 10)
