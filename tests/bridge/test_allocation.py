"""Bandwidth-driven layer allocation and the bridge's own transport-wide sequence numbers."""

import struct

from jitsi_py.bridge import rtcp
from jitsi_py.bridge.forwarder import NO_LAYER, Forwarder, Receiver, Source, VideoConstraints
from jitsi_py.bridge.rtp import find_extension, read_header

TCC_ID = 5


class Sink:
    def __init__(self):
        self.packets = []
        self.rtcp = []

    def deliver(self, packet, ssrc):
        assert ssrc == int.from_bytes(packet[8:12], "big"), "the SSRC the forwarder wrote"
        self.packets.append(bytes(packet))  # the forwarder reuses its buffer

    def send_rtcp(self, packet):
        self.rtcp.append(packet)


def conference(trust_bwe=True, senders=("alice",)):
    forwarder = Forwarder(feedback_ssrc=42, trust_bwe=trust_bwe)
    forwarder.set_video_payload_types({100: "VP8"})
    sinks = {}
    for name in (*senders, "bob"):
        sinks[name] = Sink()
        receiver = Receiver(name, sinks[name].deliver, sinks[name].send_rtcp)
        receiver.transport_cc_id = TCC_ID
        forwarder.add_receiver(receiver, sinks[name].send_rtcp)
    for i, name in enumerate(senders):
        base = 1000 * (i + 1)
        forwarder.set_sources(name, [Source(f"{name}-v0", name, "video", [base + 1, base + 2, base + 3])])
    return forwarder, forwarder.receivers["bob"], sinks


def allow_720(receiver, *names):
    for name in names:
        receiver.constraints[name] = VideoConstraints(720)


def targets(receiver):
    return {name: p.target for name, p in receiver.projections.items()}


def test_without_feedback_constraints_alone_decide():
    forwarder, bob, _ = conference()
    allow_720(bob, "alice-v0")
    forwarder.allocate()
    assert not bob.bwe.known and bob.estimated_bandwidth == -1
    assert targets(bob) == {"alice-v0": 2}


def test_a_low_estimate_keeps_a_receiver_on_a_lower_layer_than_its_constraints_allow():
    forwarder, bob, _ = conference()
    allow_720(bob, "alice-v0")
    bob.bwe.remb(300_000, 0.0)
    forwarder.allocate()
    assert targets(bob) == {"alice-v0": 0}
    bob.bwe.remb(1_000_000, 1.0)
    forwarder.check_layers()  # the estimate moved: reallocated
    assert targets(bob) == {"alice-v0": 1}
    assert bob.estimated_bandwidth == 1_000_000


def test_a_high_estimate_gives_the_layer_the_constraints_allow_and_never_more():
    forwarder, bob, _ = conference()
    allow_720(bob, "alice-v0")
    bob.bwe.remb(5_000_000, 0.0)
    forwarder.allocate()
    assert targets(bob) == {"alice-v0": 2}
    bob.constraints["alice-v0"] = VideoConstraints(360)
    forwarder.allocate()
    assert targets(bob) == {"alice-v0": 1}


def test_trust_bwe_off_ignores_the_estimate():
    forwarder, bob, _ = conference(trust_bwe=False)
    allow_720(bob, "alice-v0")
    bob.bwe.remb(100_000, 0.0)
    forwarder.allocate()
    assert targets(bob) == {"alice-v0": 2}


def test_on_stage_source_is_served_first_and_what_does_not_fit_is_not_forwarded():
    forwarder, bob, _ = conference(senders=("alice", "carl", "dave"))
    allow_720(bob, "alice-v0", "carl-v0", "dave-v0")
    bob.on_stage = ["carl-v0"]
    bob.bwe.remb(3_300_000, 0.0)  # carl to 360p at once, everyone's 180p, then carl climbs to 720p
    forwarder.allocate()
    assert targets(bob) == {"carl-v0": 2, "alice-v0": 0, "dave-v0": 0}
    assert bob.forwarded[0] == "carl-v0"
    bob.bwe.remb(1_200_000, 1.0)  # carl's 360p (700k) first, then two 180p thumbnails fit
    forwarder.allocate()
    assert targets(bob) == {"carl-v0": 1, "alice-v0": 0, "dave-v0": 0}
    bob.bwe.remb(450_000, 2.0)  # short of carl's 360p: as JVB, no thumbnail before it gets there
    forwarder.allocate()
    assert targets(bob) == {"carl-v0": 0, "alice-v0": NO_LAYER, "dave-v0": NO_LAYER}
    assert bob.forwarded == ["carl-v0"]
    assert forwarder.messages[-1][1]["forwardedSources"] == ["carl-v0"]
    bob.bwe.remb(100_000, 3.0)  # less than its lowest layer: on stage, it oversends rather than stop
    forwarder.allocate()
    assert targets(bob)["carl-v0"] == 0 and bob.forwarded == ["carl-v0"]
    bob.on_stage = []  # in tile view nobody oversends
    forwarder.allocate()
    assert bob.forwarded == []


def test_tile_view_climbs_one_step_per_source_per_round():
    forwarder, bob, _ = conference(senders=("alice", "carl"))
    allow_720(bob, "alice-v0", "carl-v0")
    bob.bwe.remb(1_400_000, 0.0)  # 180p + 180p, then alice's 360p (+500k); carl's does not fit too
    forwarder.allocate()
    assert targets(bob) == {"alice-v0": 1, "carl-v0": 0}
    assert bob.target_bitrate == 900_000 and bob.ideal_bitrate == 5_000_000


def test_audio_comes_off_the_estimate_before_video():
    forwarder, bob, _ = conference()
    forwarder.set_sources("carl", [Source("carl-a0", "carl", "audio", [77])])
    allow_720(bob, "alice-v0")
    audio = forwarder.sources["carl-a0"]
    forwarder.now = 1.0
    forwarder.check_layers()
    audio.packets[0] += 50
    audio.octets[0] += 50_000  # 400 kbps of audio over one second
    forwarder.now = 2.0
    forwarder.check_layers()
    bob.bwe.remb(1_200_000, 2.0)  # 360p alone would fit (805k with headroom), not beside the audio
    forwarder.allocate()
    assert targets(bob)["alice-v0"] == 0 and targets(bob)["carl-a0"] == 0
    assert bob.target_bitrate == 600_000
    bob.audio_excluded = {"carl-a0"}
    forwarder.allocate()
    assert targets(bob) == {"alice-v0": 1, "carl-a0": NO_LAYER}


def test_measured_layer_rates_replace_the_nominal_ones():
    forwarder, bob, _ = conference()
    allow_720(bob, "alice-v0")
    source = forwarder.sources["alice-v0"]
    forwarder.now = 1.0
    forwarder.check_layers()
    for layer in range(3):
        source.packets[layer] += 10
    source.octets[:] = [12_500, 25_000, 50_000]  # over one second: 100, 200 and 400 kbps
    forwarder.now = 2.0
    forwarder.check_layers()
    assert [round(r) for r in source.rates] == [100_000, 200_000, 400_000]
    bob.bwe.remb(450_000, 2.0)
    forwarder.allocate()
    assert targets(bob) == {"alice-v0": 2}


def with_tcc(ssrc, seq, transport_seq, key=True):
    # one-byte header extension block: id 5, two bytes of transport-wide sequence number
    ext = struct.pack("!HH", 0xBEDE, 1) + bytes([(TCC_ID << 4) | 1]) + struct.pack("!H", transport_seq) + b"\0"
    return (struct.pack("!BBHII", 0x90, 100, seq, 90 * seq, ssrc) + ext
            + bytes([0x10, 0x00 if key else 0x01]) + b"x" * 100)


def test_forwarded_packets_carry_each_receivers_own_sequence_numbers_and_feedback_drives_the_estimate():
    forwarder, bob, sinks = conference(senders=("alice", "carl"))
    for seq in range(6):
        for name, ssrc, foreign, first in (("alice", 1001, 40000 + seq, 100), ("carl", 2001, 7 + seq, 300)):
            packet = with_tcc(ssrc, first + seq, foreign)
            offset = find_extension(packet, TCC_ID)
            assert forwarder.rtp(name, packet, *read_header(packet), offset, 10.0 + seq * 0.01) >= 1
    got = [struct.unpack_from("!H", p, find_extension(p, TCC_ID))[0] for p in sinks["bob"].packets]
    assert got == list(range(12))  # one sequence for bob, whatever the senders' numbers were
    alice_got = [struct.unpack_from("!H", p, find_extension(p, TCC_ID))[0] for p in sinks["alice"].packets]
    assert alice_got == list(range(6))
    feedback = rtcp.build_transport_cc(1, 2, 0, [(i, 20.0 + i * 0.005) for i in range(12)])
    forwarder.now = 10.2
    forwarder.feedback("bob", rtcp.build_rr(1) + feedback)
    assert bob.bwe.feedback_packets == 1 and bob.bwe.known
    assert bob.estimated_bandwidth > 0
    # a NACKed packet goes out again under a new transport-wide number
    nack = rtcp.build_nack(1, 1001, [read_header(sinks["bob"].packets[0])[1]])
    forwarder.feedback("bob", rtcp.build_rr(1) + nack)
    resent = sinks["bob"].packets[-1]
    assert read_header(resent) == read_header(sinks["bob"].packets[0])
    assert struct.unpack_from("!H", resent, find_extension(resent, TCC_ID))[0] == 12


def test_malformed_transport_cc_feedback_is_an_rtcp_error():
    forwarder, bob, _ = conference()
    bad = rtcp.FEEDBACK.pack(0x80 | rtcp.FMT_TCC, rtcp.RTPFB, 4, 1, 2) + struct.pack("!HHI", 0, 500, 0)
    try:
        forwarder.feedback("bob", bad)
    except rtcp.RtcpError:
        pass
    else:
        raise AssertionError("a truncated transport-cc feedback must raise RtcpError")


def test_climbing_needs_headroom_but_staying_does_not():
    forwarder, bob, _ = conference()
    allow_720(bob, "alice-v0")
    bob.bwe.remb(2_750_000, 0.0)  # 720p nominally costs 2.5M: 10 % room is not enough to climb
    forwarder.allocate()
    assert targets(bob) == {"alice-v0": 1}
    bob.bwe.remb(3_000_000, 1.0)
    forwarder.allocate()
    assert targets(bob) == {"alice-v0": 2}
    bob.bwe.remb(2_600_000, 2.0)  # but once there, it stays while the layer fits
    forwarder.allocate()
    assert targets(bob) == {"alice-v0": 2}
    bob.bwe.remb(2_400_000, 3.0)
    forwarder.allocate()
    assert targets(bob) == {"alice-v0": 1}


def sender_constraints(forwarder, name):
    sent = [m for owner, m in forwarder.messages if m["colibriClass"] == "SenderSourceConstraints"
            and m["sourceName"] == name]
    forwarder.messages.clear()
    return [m["maxHeight"] for m in sent]


def test_senders_learn_the_largest_height_any_receiver_wants_on_change_only():
    forwarder, bob, _ = conference(senders=("alice", "carl"))
    carl = forwarder.receivers["carl"]
    assert forwarder.initial_messages("alice")[0] == {"colibriClass": "SenderSourceConstraints",
                                                      "sourceName": "alice-v0", "maxHeight": 180}
    forwarder.messages.clear()
    bob.constraints["alice-v0"] = VideoConstraints(720)
    forwarder.allocate()
    assert sender_constraints(forwarder, "alice-v0") == [720]
    forwarder.allocate()
    assert sender_constraints(forwarder, "alice-v0") == []  # unchanged: not sent again
    bob.last_n = 0  # beyond bob's last-N: only carl's default 180 is left
    forwarder.allocate()
    assert sender_constraints(forwarder, "alice-v0") == [180]
    carl.default_constraints = VideoConstraints(0)
    forwarder.allocate()
    assert sender_constraints(forwarder, "alice-v0") == [0]  # nobody receives it
    bob.last_n = -1
    bob.constraints["alice-v0"] = VideoConstraints(-1)  # no limit: -1, as JVB says it
    forwarder.allocate()
    assert sender_constraints(forwarder, "alice-v0") == [-1]
    assert {"colibriClass": "SenderSourceConstraints", "sourceName": "alice-v0", "maxHeight": -1} \
        in forwarder.initial_messages("alice")
    forwarder.set_muted("alice", None, True)  # force-muted video is nobody's
    assert sender_constraints(forwarder, "alice-v0") == [0]
