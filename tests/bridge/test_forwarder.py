"""The forwarder core in memory: simulcast layer switching, last-N, SSRC rewriting, PLI, NACK."""

import struct

from jitsi_py.bridge import rtcp
from jitsi_py.bridge.forwarder import Forwarder, Receiver, Source, VideoConstraints
from jitsi_py.bridge.rtp import read_header

SIM = [1001, 1002, 1003]


def vp8(ssrc, seq, ts, key):
    # RTP header, VP8 descriptor (S=1, PartID 0), VP8 payload header (P bit clear on key frames).
    return struct.pack("!BBHII", 0x80, 100, seq, ts, ssrc) + bytes([0x10, 0x00 if key else 0x01]) + b"x" * 20


class Sink:
    def __init__(self):
        self.packets = []
        self.rtcp = []

    def deliver(self, packet, ssrc):
        assert ssrc == int.from_bytes(packet[8:12], "big"), "the SSRC the forwarder wrote"
        self.packets.append(read_header(packet) + (bytes(packet),))

    def send_rtcp(self, packet):
        self.rtcp.append(packet)


def setup(rewrite=False):
    forwarder = Forwarder(feedback_ssrc=42)
    forwarder.set_video_payload_types({100: "VP8"})
    sender, viewer = Sink(), Sink()
    forwarder.add_receiver(Receiver("alice", sender.deliver, sender.send_rtcp), sender.send_rtcp)
    receiver = Receiver("bob", viewer.deliver, viewer.send_rtcp, rewrite_ssrcs=rewrite)
    forwarder.add_receiver(receiver, viewer.send_rtcp)
    forwarder.set_sources("alice", [Source("alice-v0", "alice", "video", SIM, {1001: 2001})])
    return forwarder, receiver, sender, viewer


def plis(sink):
    out = []
    for packet in sink.rtcp:
        for pt, fmt, offset, _length in rtcp.packets(packet):
            if pt == rtcp.PSFB and fmt == rtcp.FMT_PLI:
                out.append(rtcp.media_ssrc(packet, offset))
    return out


def send(forwarder, ssrc, seq, ts, key=False):
    packet = vp8(ssrc, seq, ts, key)
    return forwarder.rtp("alice", packet, *read_header(packet))


def test_layer_switch_waits_for_a_key_frame_and_keeps_the_stream_continuous():
    forwarder, receiver, sender, viewer = setup()
    assert receiver.forwarded == ["alice-v0"]  # 180p by default: the lowest layer
    assert plis(sender) == [1001]  # a new receiver needs a key frame
    assert send(forwarder, 1001, 10, 1000) == 0  # no key frame yet
    assert send(forwarder, 1003, 500, 90000, key=True) == 0  # not the target layer
    assert send(forwarder, 1001, 11, 4000, key=True) == 1
    assert send(forwarder, 1001, 12, 7000) == 1
    assert [(p[1], p[2], p[3]) for p in viewer.packets] == [(11, 4000, 1001), (12, 7000, 1001)]

    forwarder.now = 1.0
    receiver.constraints = {"alice-v0": VideoConstraints(720)}
    forwarder.allocate()
    assert plis(sender)[-1] == 1003
    assert send(forwarder, 1001, 13, 10000) == 1  # the old layer flows until the switch
    assert send(forwarder, 1003, 501, 93000) == 0  # delta frame of the target: not yet
    assert send(forwarder, 1003, 502, 96000, key=True) == 1
    assert send(forwarder, 1001, 14, 13000) == 0  # the old layer is dropped after the switch
    assert send(forwarder, 1003, 503, 99000) == 1
    seqs = [p[1] for p in viewer.packets]
    assert seqs == [11, 12, 13, 14, 15]
    assert {p[3] for p in viewer.packets} == {1001}
    ts = [p[2] for p in viewer.packets]
    assert ts[3] == ts[2] + 3000 and ts[4] == ts[3] + 3000

    messages = [m for endpoint, m in forwarder.messages if endpoint == "alice"]
    assert messages[-1] == {"colibriClass": "SenderSourceConstraints", "sourceName": "alice-v0", "maxHeight": 720}


def test_last_n_and_zero_height_stop_forwarding():
    forwarder, receiver, sender, viewer = setup()
    send(forwarder, 1001, 1, 0, key=True)
    receiver.last_n = 0
    forwarder.allocate()
    assert receiver.forwarded == []
    assert ("bob", {"colibriClass": "ForwardedSources", "forwardedSources": []}) in forwarder.messages
    assert send(forwarder, 1001, 2, 3000) == 0
    receiver.last_n = -1
    receiver.default_constraints = VideoConstraints(0)
    forwarder.allocate()
    assert receiver.forwarded == [] and send(forwarder, 1001, 3, 6000, key=True) == 0
    assert forwarder.messages[-1] == ("alice", {"colibriClass": "SenderSourceConstraints",
                                                "sourceName": "alice-v0", "maxHeight": 0})


def test_ssrc_rewriting_announces_the_map_first():
    forwarder, receiver, sender, viewer = setup(rewrite=True)
    maps = [m for endpoint, m in forwarder.messages if endpoint == "bob" and m["colibriClass"] == "VideoSourcesMap"]
    (mapped,) = maps[0]["mappedSources"]
    assert mapped["source"] == "alice-v0" and mapped["owner"] == "alice" and mapped["videoType"] == "CAMERA"
    send(forwarder, 1001, 1, 0, key=True)
    assert viewer.packets[0][3] == mapped["ssrc"] != 1001


def test_receivers_in_turn_each_get_their_own_header_from_the_one_shared_buffer():
    # The buffer is rewritten only where the next receiver's header differs from the last one's.
    forwarder, _, _, viewer = setup()
    sinks = [Sink() for _ in range(4)]
    for name, sink, rewrite in zip("cdef", sinks, (False, True, False, False)):
        forwarder.add_receiver(Receiver(name, sink.deliver, sink.send_rtcp, rewrite_ssrcs=rewrite), sink.send_rtcp)
    forwarder.set_sources("alice", [Source("alice-a0", "alice", "audio", [7])])
    first, second = (struct.pack("!BBHII", 0x80, 111, seq, seq * 960, 7) + b"opus" for seq in (5, 6))
    assert forwarder.rtp("alice", first, 111, 5, 4800, 7) == 5
    assert forwarder.rtp("alice", second, 111, 6, 5760, 7) == 5
    rewritten = sinks[1].packets[0][3]
    assert rewritten != 7
    for sink, ssrc in zip([viewer, *sinks], (7, 7, rewritten, 7, 7)):  # bob, c, d (rewrites), e, f
        assert [p[1:4] for p in sink.packets] == [(5, 4800, ssrc), (6, 5760, ssrc)]
        assert [p[4][12:] for p in sink.packets] == [b"opus", b"opus"]


def test_receiver_feedback_pli_and_nack():
    forwarder, receiver, sender, viewer = setup()
    for seq in range(100, 110):
        send(forwarder, 1001, seq, seq * 3000, key=seq == 100)
    forwarder.feedback("bob", rtcp.build_rr(7) + rtcp.build_pli(7, 1001))
    assert plis(sender)[-1] == 1001
    before = len(viewer.packets)
    forwarder.feedback("bob", rtcp.build_nack(7, 1001, [103, 105, 400]))
    assert [p[1] for p in viewer.packets[before:]] == [103, 105]
    # A PLI for an SSRC bob does not receive changes nothing.
    count = len(sender.rtcp)
    forwarder.now = 10.0
    forwarder.feedback("bob", rtcp.build_pli(7, 999))
    assert len(sender.rtcp) == count


def test_layers_nobody_gets_or_waits_for_are_dropped_before_the_projections_are_looked_at():
    forwarder, receiver, sender, viewer = setup()
    source = forwarder.sources["alice-v0"]
    assert source.wanted == [True, False, False]  # bob's target is the 180p layer
    assert send(forwarder, 1003, 500, 90000, key=True) == 0
    send(forwarder, 1001, 10, 1000, key=True)
    receiver.constraints = {"alice-v0": VideoConstraints(720)}
    forwarder.allocate()
    assert source.wanted == [True, False, True]  # forwarding 180p, waiting for 720p
    assert send(forwarder, 1003, 501, 93000, key=True) == 1
    assert send(forwarder, 1001, 11, 4000) == 0
    forwarder.allocate()
    assert source.wanted == [False, False, True]


def test_nack_history_is_per_outgoing_stream_so_two_sources_with_the_same_numbers_do_not_collide():
    forwarder, receiver, sender, viewer = setup()
    carol = Sink()
    forwarder.add_receiver(Receiver("carol", carol.deliver, carol.send_rtcp), carol.send_rtcp)
    forwarder.set_sources("carol", [Source("carol-v0", "carol", "video", [3001, 3002, 3003])])
    for seq in range(100, 110):  # both senders' streams carry the same sequence numbers to bob
        send(forwarder, 1001, seq, seq * 3000, key=seq == 100)
        packet = vp8(3001, seq, seq * 3000, seq == 100)
        assert forwarder.rtp("carol", packet, *read_header(packet)) == 2  # bob and alice
    before = len(viewer.packets)
    forwarder.feedback("bob", rtcp.build_nack(7, 1001, [104]) + rtcp.build_nack(7, 3001, [104, 107]))
    resent = viewer.packets[before:]
    assert [(p[1], p[3]) for p in resent] == [(104, 1001), (104, 3001), (107, 3001)]
    originals = {(p[1], p[3]): p[4] for p in viewer.packets[:before]}
    assert all(p[4] == originals[(p[1], p[3])] for p in resent)
    assert forwarder.retransmissions == 3


def test_a_retransmission_after_a_layer_switch_keeps_the_numbers_it_was_sent_with():
    forwarder, receiver, sender, viewer = setup()
    send(forwarder, 1001, 10, 1000, key=True)
    send(forwarder, 1001, 11, 4000)
    receiver.constraints = {"alice-v0": VideoConstraints(720)}
    forwarder.allocate()
    send(forwarder, 1003, 900, 50000, key=True)  # the switch: new offsets from here on
    sent = {p[1]: p for p in viewer.packets}
    assert sorted(sent) == [10, 11, 12]
    before = len(viewer.packets)
    forwarder.feedback("bob", rtcp.build_nack(7, 1001, [11, 12, 13]))  # 13 was never sent
    assert [p[:4] for p in viewer.packets[before:]] == [sent[11][:4], sent[12][:4]]


def test_force_mute_and_foreign_ssrcs_are_dropped():
    forwarder, receiver, sender, viewer = setup()
    packet = vp8(1001, 1, 0, True)
    assert forwarder.rtp("bob", packet, *read_header(packet)) == -1  # bob cannot send alice's SSRC
    forwarder.set_muted("alice", None, True)
    assert send(forwarder, 1001, 2, 0, key=True) == 0
    packet = vp8(2001, 1, 0, False)
    assert forwarder.rtp("alice", packet, *read_header(packet)) == 0 and forwarder.dropped_rtx == 1


def nacks(sink):
    out = []
    for packet in sink.rtcp:
        for pt, fmt, offset, length in rtcp.packets(packet):
            if pt == rtcp.RTPFB and fmt == rtcp.FMT_NACK:
                lost = sorted(rtcp.nack_sequence_numbers(packet, offset, length))
                out.append((rtcp.media_ssrc(packet, offset), lost))
    return out


def test_upstream_loss_is_nacked_and_the_rtx_answer_forwarded_as_the_original():
    forwarder, receiver, sender, viewer = setup()
    forwarder.set_video_payload_types({100: "VP8"}, {96: 100})
    send(forwarder, 1001, 10, 0, key=True)
    send(forwarder, 1001, 13, 9000)
    assert nacks(sender) == [(1001, [11, 12])]
    original = vp8(1001, 11, 3000, False)
    rtx = struct.pack("!BBHII", 0x80, 96, 500, 3000, 2001) + struct.pack("!H", 11) + original[12:]
    assert forwarder.rtp("alice", rtx, *read_header(rtx)) == 1
    (pt, seq, ts, ssrc, packet) = viewer.packets[-1]
    assert (pt, seq, ts, ssrc) == (100, 11, 3000, 1001) and packet == original
    padding = struct.pack("!BBHII", 0xA0, 96, 501, 3000, 2001) + bytes(255) + b"\xff"
    assert forwarder.rtp("alice", padding, *read_header(padding)) == 0
    # libwebrtc's payload padding: RTX copies of packets that came, sent again and again
    for again, osn in enumerate((11, 10, 11), 502):
        copy = struct.pack("!BBHII", 0x80, 96, again, 3000, 2001) + struct.pack("!H", osn) + original[12:]
        assert forwarder.rtp("alice", copy, *read_header(copy)) == 0
    assert forwarder.dropped_rtx == 4 and viewer.packets[-1][1] == 11
    send(forwarder, 1001, 14, 12000)
    assert len(nacks(sender)) == 1  # the late retransmission opened no new gap


def test_a_receiver_not_yet_connected_gets_the_stream_from_the_key_frame_it_missed_when_it_connects():
    forwarder, receiver, sender, viewer = setup()
    receiver.ready = False
    forwarder.allocate()
    assert send(forwarder, 1001, 9, 1000) == 0  # before any key frame: nothing to start from
    assert send(forwarder, 1001, 10, 4000, key=True) == 0
    assert send(forwarder, 1001, 11, 4000) == 0
    assert send(forwarder, 1001, 12, 7000) == 0
    assert viewer.packets == []
    asked = len(plis(sender))
    forwarder.receiver_ready("bob", 0.1)
    assert [(p[1], p[2], p[3]) for p in viewer.packets] == [(10, 4000, 1001), (11, 4000, 1001), (12, 7000, 1001)]
    assert len(plis(sender)) == asked  # the key frame is there: none asked for
    assert send(forwarder, 1001, 13, 10000) == 1
    assert [p[1] for p in viewer.packets] == [10, 11, 12, 13]
    assert forwarder.sources["alice-v0"].packets[0] == 5  # held packets count once


def test_a_stream_held_too_long_is_dropped_and_a_key_frame_asked_for_on_connecting(monkeypatch):
    monkeypatch.setattr("jitsi_py.bridge.forwarder.HELD_PACKETS", 3)
    for too_long in ("packets", "seconds"):
        forwarder, receiver, sender, viewer = setup()
        receiver.ready = False
        forwarder.allocate()
        forwarder.now = 1.0
        send(forwarder, 1001, 10, 4000, key=True)
        for seq in range(11, 13 if too_long == "seconds" else 15):
            send(forwarder, 1001, seq, 7000)
        before = len(plis(sender))
        forwarder.receiver_ready("bob", 1.1 if too_long == "packets" else 1.4)
        assert viewer.packets == [] and len(plis(sender)) == before + 1 and plis(sender)[-1] == 1001, too_long
        assert send(forwarder, 1001, 15, 10000, key=True) == 1
