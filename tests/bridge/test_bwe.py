"""The send-side bandwidth estimator on synthetic transport-cc feedback, through the real codec."""

from jitsi_py.bridge import rtcp
from jitsi_py.bridge.bwe import HISTORY, INITIAL_BITRATE, MIN_BITRATE, BandwidthEstimator

PACKET = 1200  # bytes


def run(bwe: BandwidthEstimator, *, seconds: float, send_bps: float, link_bps: float,
        lost=lambda seq: False, start: float = 0.0, base_delay: float = 0.03) -> float:
    """Send ``send_bps`` through a bottleneck of ``link_bps`` (a FIFO queue: delay grows when
    sending faster), feed back every 50 ms through build/parse of real feedback packets."""
    interval = PACKET * 8 / send_bps
    now = start
    link_free = start
    pending: list[tuple[int, float]] = []
    next_feedback = start + 0.05
    end = start + seconds
    while now < end:
        seq = bwe.next_seq
        bwe.next_seq = (seq + 1) & 0xFFFF
        index = seq & (HISTORY - 1)
        bwe.sent_seq[index], bwe.sent_time[index], bwe.sent_size[index] = seq, now, PACKET
        arrival = max(now + base_delay, link_free + PACKET * 8 / link_bps)
        link_free = arrival
        if not lost(seq):
            pending.append((seq, arrival))
        now += interval
        if now >= next_feedback:
            next_feedback += 0.05
            arrived = [(s, a) for s, a in pending if a <= now]
            if arrived:
                pending = [(s, a) for s, a in pending if a > now]
                first = arrived[0][0]
                unwrapped = [(first + ((s - first) & 0xFFFF), a) for s, a in arrived]
                packet = rtcp.build_transport_cc(1, 2, 0, unwrapped)
                base, arrivals = rtcp.parse_transport_cc(packet, 0, len(packet))
                bwe.transport_feedback(base, arrivals, now)
    return now


def test_clean_feedback_lets_the_estimate_rise():
    bwe = BandwidthEstimator()
    run(bwe, seconds=6, send_bps=3_000_000, link_bps=20_000_000)
    assert bwe.known
    assert bwe.estimate > INITIAL_BITRATE * 1.3


def test_rising_delay_makes_the_estimate_fall_to_what_gets_through():
    bwe = BandwidthEstimator()
    run(bwe, seconds=4, send_bps=2_000_000, link_bps=800_000)
    assert bwe.estimate < 800_000
    assert bwe.estimate > MIN_BITRATE


def test_estimate_recovers_once_the_queue_is_gone():
    bwe = BandwidthEstimator()
    now = run(bwe, seconds=3, send_bps=2_000_000, link_bps=800_000)
    low = bwe.estimate
    run(bwe, seconds=6, send_bps=2_000_000, link_bps=20_000_000, start=now + 5)
    assert bwe.estimate > low * 1.2


def test_growth_stops_at_what_the_traffic_proves():
    bwe = BandwidthEstimator()
    now = run(bwe, seconds=10, send_bps=500_000, link_bps=20_000_000)
    assert bwe.estimate == INITIAL_BITRATE  # far above what is sent: neither tested nor cut
    bwe.estimate = 300_000
    run(bwe, seconds=10, send_bps=500_000, link_bps=20_000_000, start=now)
    assert 500_000 < bwe.estimate <= 1.5 * 500_000 + 10_000 + 1


def test_sent_stamps_the_next_transport_wide_number():
    bwe = BandwidthEstimator()
    bwe.next_seq = 0xFFFF
    assert bwe.sent(100, 1.0) == 0xFFFF and bwe.sent(-50, 1.1) == 0 and bwe.next_seq == 1
    assert bwe.sent_size[0] == -50 and bwe.sent_time[HISTORY - 1] == 1.0


def test_loss_makes_the_estimate_fall_even_without_queueing():
    bwe = BandwidthEstimator()
    run(bwe, seconds=5, send_bps=1_000_000, link_bps=50_000_000, lost=lambda seq: seq % 4 == 0)
    assert bwe.estimate < INITIAL_BITRATE * 0.6


def test_light_loss_does_not_cut():
    bwe = BandwidthEstimator()
    run(bwe, seconds=3, send_bps=1_000_000, link_bps=50_000_000, lost=lambda seq: seq % 100 == 0)
    assert bwe.estimate >= INITIAL_BITRATE


def test_sequence_numbers_wrap():
    bwe = BandwidthEstimator()
    bwe.next_seq = 0xFFFF - 300
    run(bwe, seconds=3, send_bps=3_000_000, link_bps=20_000_000)
    assert bwe.next_seq < 0xFFFF - 300 and bwe.estimate > INITIAL_BITRATE


def test_remb_counts_only_without_transport_cc():
    bwe = BandwidthEstimator()
    assert not bwe.known
    bwe.remb(400_000, 0.0)
    assert bwe.known and bwe.estimate == 400_000
    run(bwe, seconds=1, send_bps=1_000_000, link_bps=20_000_000, start=1.0)
    after = bwe.estimate
    bwe.remb(100_000, 3.0)
    assert bwe.estimate == after


def test_feedback_for_unknown_packets_changes_nothing():
    bwe = BandwidthEstimator()
    bwe.transport_feedback(1000, [1.0, None, 1.01], 1.0)
    assert not bwe.known and bwe.estimate == INITIAL_BITRATE


def test_transport_cc_parse_reads_what_build_writes_including_run_length_and_two_bit_chunks():
    arrivals = [(65530, 10.0), (65531, 10.0005), (65535, 10.2), (65536, 9.99), (65600, 10.3)]
    packet = rtcp.build_transport_cc(5, 6, 3, arrivals)
    base, times = rtcp.parse_transport_cc(packet, 0, len(packet))
    assert base == 65530 and len(times) == 71
    got = {(base + i) & 0xFFFF: t for i, t in enumerate(times) if t is not None}
    assert sorted(got) == [0, 64, 65530, 65531, 65535]
    for seq, when in arrivals:
        assert abs(got[seq & 0xFFFF] - when) < 0.0003
    # The other two chunk kinds Chromium sends: a run of three received, then a one-bit vector
    # (lost, lost, received); four one-byte deltas of 1 ms.
    body = bytes.fromhex("0064 0006 000001 00 2003 8800") + bytes([4, 4, 4, 4])
    body += bytes(-len(body) % 4)
    header = rtcp.FEEDBACK.pack(0x80 | rtcp.FMT_TCC, rtcp.RTPFB, 2 + len(body) // 4, 1, 2)
    base, times = rtcp.parse_transport_cc(header + body, 0, len(header + body))
    assert base == 100 and [t is not None for t in times] == [True, True, True, False, False, True]
    assert abs(times[5] - times[0] - 0.003) < 1e-9
