"""Fuzzing the RTP path: plain RTP (after SRTP, at least a fixed header long) as an endpoint and a
relay receive it, through header extensions, RTX, key-frame detection, temporal layers and the
forwarder. The contract: any such packet is forwarded, dropped or counted, never an exception
(``Endpoint.receive_media`` catches none on this path)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import example, given, strategies as st

from jitsi_py.bridge import rtp, temporal
from jitsi_py.bridge.allocation import VideoConstraints
from tests.support.fuzz import inputs

from .memory import AUDIO_LEVEL_ID, AUDIO_PT, TRANSPORT_CC_ID, bridge_in_memory

pytestmark = pytest.mark.fuzz


def header(pt: int, seq: int, ssrc: int, ext: bytes = b"", marker: bool = False, csrcs: int = 0) -> bytes:
    first = 0x80 | (0x10 if ext else 0) | csrcs
    return struct.pack("!BBHII", first, (0x80 if marker else 0) | pt, seq, seq * 3000, ssrc) + bytes(4 * csrcs) + ext


def one_byte_ext(*elements: tuple[int, bytes]) -> bytes:
    body = b"".join(bytes([(i << 4) | (len(v) - 1)]) + v for i, v in elements)
    body += bytes(-len(body) % 4)
    return struct.pack("!HH", 0xBEDE, len(body) // 4) + body


def two_byte_ext(*elements: tuple[int, bytes]) -> bytes:
    body = b"".join(bytes([i, len(v)]) + v for i, v in elements)
    body += bytes(-len(body) % 4)
    return struct.pack("!HH", 0x1000, len(body) // 4) + body


TCC = one_byte_ext((TRANSPORT_CC_ID, b"\x00\x07"))
SAMPLES = [
    # Opus with audio level and transport-cc (one-byte form), and with the two-byte form.
    header(AUDIO_PT, 1, 11, one_byte_ext((AUDIO_LEVEL_ID, b"\x85"), (TRANSPORT_CC_ID, b"\x00\x01"))) + b"opus" * 8,
    header(AUDIO_PT, 2, 11, two_byte_ext((AUDIO_LEVEL_ID, b"\x20"), (TRANSPORT_CC_ID, b"\x00\x02"))) + b"opus" * 8,
    # VP8: key frame with the extended descriptor (X, I with 15-bit picture id, L, T), delta frame.
    header(100, 10, 1001, TCC) + bytes([0x90, 0xE0, 0x81, 0x23, 0x05, 0x40, 0x00]) + b"vp8k" * 10,
    header(100, 11, 1001, TCC, marker=True) + bytes([0x90, 0xE0, 0x81, 0x24, 0x05, 0x60, 0x01]) + b"vp8d" * 10,
    header(100, 12, 1002) + bytes([0x10, 0x00]) + b"vp8" * 10,
    header(100, 13, 1003, csrcs=2) + bytes([0x10, 0x01]) + b"vp8" * 10,
    # VP9: start of a key frame with picture id and layer indices; an inter frame.
    header(98, 20, 1001, TCC) + bytes([0xAC, 0x80, 0x11, 0x20, 0x07]) + b"vp9k" * 10,
    header(98, 21, 1001) + bytes([0xE8, 0x80, 0x12, 0x40, 0x07]) + b"vp9d" * 10,
    # H.264: IDR alone, a STAP-A with SPS and PPS, an FU-A start of an IDR.
    header(102, 30, 1001) + bytes([0x65]) + b"h264" * 10,
    header(102, 31, 1001) + bytes([0x78, 0x00, 0x04, 0x67, 1, 2, 3, 0x00, 0x02, 0x68, 1]) + b"h" * 8,
    header(102, 32, 1001) + bytes([0x7C, 0x85]) + b"h264" * 10,
    # AV1 aggregation header with N set.
    header(45, 40, 1001) + bytes([0x18]) + b"av1" * 10,
    # RTX of VP8 (original sequence number first), and one of the relayed sender's.
    header(101, 50, 2001) + b"\x00\x0a" + bytes([0x90, 0xE0, 0x81, 0x23, 0x05, 0x40, 0x00]) + b"rtx" * 8,
    header(100, 60, 3001, TCC) + bytes([0x10, 0x00]) + b"carol" * 8,
    header(101, 61, 3002) + b"\x00\x3c" + bytes([0x10, 0x00]) + b"carol" * 8,
]


def plain_rtp(data: bytes) -> bool:
    """What ``receive_media`` lets through to ``receive_rtp``: not RTCP, a fixed header long."""
    return len(data) >= 12 and not 192 <= data[1] <= 223


@given(packets=st.lists(inputs(SAMPLES), min_size=1, max_size=12), capped=st.booleans())
@example(packets=SAMPLES, capped=True)
@example(packets=SAMPLES, capped=False)
def test_any_plain_rtp_from_an_endpoint_or_a_relay_is_forwarded_or_dropped(packets, capped):
    memory = bridge_in_memory()
    try:
        if capped:  # bob caps the frame rate: the forwarder reads temporal layer ids per packet
            memory.bob.receiver.default_constraints = VideoConstraints(720, 7.5)
            memory.conference.forwarder.allocate()
        for i, packet in enumerate(packets):
            if plain_rtp(packet):
                (memory.relay if i % 3 == 2 else memory.alice).receive_rtp(packet)
    finally:
        memory.close()


@given(data=inputs(SAMPLES), ext_id=st.integers(0, 16), offset=st.integers(0, 300))
def test_the_header_readers_stay_inside_the_packet(data, ext_id, offset):
    if len(data) < 12:
        return
    length = rtp.header_length(data)
    assert length == -1 or 12 <= length <= len(data)
    at = rtp.find_extension(data, ext_id)
    assert at == -1 or 12 < at <= len(data)
    assert 0 <= rtp.audio_level(data, ext_id) <= 127
    for detector in rtp.KEYFRAME_DETECTORS.values():
        assert detector(data, offset) in (True, False)
    for reader in temporal.READERS.values():
        descriptor = reader(data, offset)
        if descriptor is not None:
            tid, _, pid_at, width, _ = descriptor
            assert pid_at == -1 or offset <= pid_at < len(data) and width in (7, 15)
