"""Fuzzing RTCP as the bridge terminates it: every feedback type (generic NACK, PLI, FIR, REMB,
transport-cc) and the reports (SR, RR, SDES, BYE), alone and in compounds, from an endpoint
(``Forwarder.feedback``) and from a relay. The contract: :class:`RtcpError` for a malformed
compound (``Endpoint.receive_media`` counts it), nothing else ever raised, and a bounded result."""

from __future__ import annotations

import struct

import pytest
from hypothesis import example, given, strategies as st

from jitsi_py.bridge import rtcp
from tests.support.fuzz import inputs

from .memory import bridge_in_memory
from .test_rtp_fuzz import SAMPLES as RTP_SAMPLES, plain_rtp

pytestmark = pytest.mark.fuzz

BOB = 0x0B0B


def sender_report(ssrc: int) -> bytes:
    block = struct.pack("!IIIIII", 1001, 0x01000002, 77, 12, 0x12345678, 65536)
    return struct.pack("!BBHIIIIII", 0x81, rtcp.SR, 12, ssrc, 0xE1234567, 0x89ABCDEF, 90000, 10, 4000) + block


def remb(bitrate_exp: int, mantissa: int, *ssrcs: int) -> bytes:
    body = b"REMB" + bytes([len(ssrcs), (bitrate_exp << 2) | (mantissa >> 16), (mantissa >> 8) & 0xFF,
                            mantissa & 0xFF]) + b"".join(struct.pack("!I", s) for s in ssrcs)
    return struct.pack("!BBHII", 0x80 | rtcp.FMT_REMB, rtcp.PSFB, 2 + len(body) // 4, BOB, 0) + body


def sdes(ssrc: int, cname: bytes) -> bytes:
    item = struct.pack("!I", ssrc) + b"\x01" + bytes([len(cname)]) + cname + b"\x00"
    item += bytes(-len(item) % 4)
    return struct.pack("!BBH", 0x81, rtcp.SDES, len(item) // 4) + item


def fir(sender: int, media: int, seq: int) -> bytes:
    """RFC 5104 §4.3.1: the media source is 0 and the FCI names the SSRC and a command number."""
    return struct.pack("!BBHII", 0x84, 206, 4, sender, 0) + struct.pack("!IB3x", media, seq)


def bye(ssrc: int) -> bytes:
    return struct.pack("!BBHI", 0x81, rtcp.BYE, 1, ssrc)


TCC = rtcp.build_transport_cc(BOB, 1001, 3, [(7, 1.000), (8, 1.002), (10, 1.1), (12, 0.5)])
SINGLE = [
    sender_report(BOB),
    rtcp.build_receiver_report(BOB, [(1001, 0x10020, 0x5678, 900), (11, 7, 0, 0)]),
    rtcp.build_pli(BOB, 1001),
    fir(BOB, 1001, 5),
    rtcp.build_nack(BOB, 1001, [10, 11, 13, 40]),
    rtcp.build_nack(BOB, 3001, [60, 61]),
    remb(3, 0x3FFFF, 1001, 1002),
    TCC,
    sdes(BOB, b"bob-cname"),
    bye(BOB),
]
COMPOUND = [
    rtcp.build_rr(BOB) + SINGLE[2] + SINGLE[4],
    sender_report(BOB) + sdes(BOB, b"x") + remb(10, 1234, 1001) + TCC,
    b"".join(SINGLE),
]
SAMPLES = SINGLE + COMPOUND


@given(media=st.lists(st.sampled_from(RTP_SAMPLES), max_size=8),
       feedback=st.lists(inputs(SAMPLES), min_size=1, max_size=6))
@example(media=RTP_SAMPLES, feedback=SAMPLES)
def test_any_rtcp_from_an_endpoint_or_a_relay_is_handled_or_refused_as_rtcp_error(media, feedback):
    memory = bridge_in_memory()
    try:
        for packet in media:  # forwarded to bob first, so his NACKs find packets in the history
            if plain_rtp(packet):
                memory.alice.receive_rtp(packet)
        for i, packet in enumerate(feedback):
            receiver = memory.relay if i % 2 else memory.bob
            try:
                receiver.receive_rtcp(packet)
            except rtcp.RtcpError:
                pass
    finally:
        memory.close()


@given(data=inputs(SAMPLES))
def test_a_compound_walks_inside_the_datagram_and_the_item_readers_stay_in_their_packet(data):
    try:
        walked = list(rtcp.packets(data))
    except rtcp.RtcpError:
        return
    assert sum(length for _, _, _, length in walked) == len(data)
    for _pt, _fmt, offset, length in walked:
        assert 4 <= length and offset + length <= len(data)
        if length >= 12:
            rtcp.media_ssrc(data, offset)
            assert all(0 <= seq <= 0xFFFF for seq in rtcp.nack_sequence_numbers(data, offset, length))
            assert len(list(rtcp.fir_ssrcs(data, offset, length))) <= length // 8
        assert rtcp.remb_bitrate(data, offset, length) >= -1
        try:
            base, arrivals = rtcp.parse_transport_cc(data, offset, length)
        except rtcp.RtcpError:
            continue
        assert 0 <= base <= 0xFFFF and len(arrivals) <= rtcp.MAX_TCC_STATUSES


@given(arrivals=st.dictionaries(st.integers(0, rtcp.MAX_TCC_STATUSES - 1), st.floats(0, 1000, allow_nan=False),
                                min_size=1, max_size=64))
def test_transport_cc_feedback_we_build_parses_back(arrivals):
    ordered = sorted(arrivals.items())
    packet = rtcp.build_transport_cc(BOB, 1001, 1, ordered)
    [(pt, fmt, offset, length)] = rtcp.packets(packet)
    base, times = rtcp.parse_transport_cc(packet, offset, length)
    assert base == ordered[0][0]
    received = [i for i, t in enumerate(times) if t is not None]
    assert [base + i for i in received] == [seq for seq, _ in ordered]


def test_a_short_feedback_cannot_make_the_bridge_walk_65535_statuses():
    """Found by reading what the fuzzer's feedback reached: nine run-length chunks (18 bytes) of
    "not received" span 65535 packets; the parse and the estimator took tens of milliseconds on
    one 40-byte packet. Past what the sender remembers, a feedback is refused."""
    body = struct.pack("!HHI", 0, 0xFFFF, 0) + struct.pack("!H", 0x1FFF) * 9 + bytes(2)
    packet = struct.pack("!BBHII", 0x80 | rtcp.FMT_TCC, rtcp.RTPFB, 2 + len(body) // 4, BOB, 1001) + body
    with pytest.raises(rtcp.RtcpError, match="65535 packets"):
        rtcp.parse_transport_cc(packet, 0, len(packet))
    body = struct.pack("!HHI", 0, rtcp.MAX_TCC_STATUSES, 0) + struct.pack("!H", 0x1FFF) * 2
    packet = struct.pack("!BBHII", 0x80 | rtcp.FMT_TCC, rtcp.RTPFB, 2 + len(body) // 4, BOB, 1001) + body
    assert rtcp.parse_transport_cc(packet, 0, len(packet)) == (0, [None] * rtcp.MAX_TCC_STATUSES)
