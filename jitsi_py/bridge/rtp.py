"""RTP (RFC 3550) header access over bytes/bytearray without building packet objects.

The forwarder reads a header with :func:`read_header`; header extensions (RFC 8285, one- and
two-byte forms) are found with :func:`find_extension`. Codec helpers answer the one question layer
switching needs: does this packet start a key frame?
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # A datagram as the port hands it over, or a view into one.
    Packet = bytes | bytearray | memoryview[int]

HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, seq, timestamp, SSRC
MIN_HEADER = 12


def header_length(data: Packet) -> int:
    """Length of the fixed header, CSRCs and extension; -1 when the packet is too short."""
    n = len(data)
    length = MIN_HEADER + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if n < length + 4:
            return -1
        length += 4 + 4 * ((data[length + 2] << 8) | data[length + 3])
    return length if length <= n else -1


def read_header(data: Packet) -> tuple[int, int, int, int]:
    """(payload type, sequence number, timestamp, SSRC); the caller checked the length."""
    m_pt: int
    seq: int
    ts: int
    ssrc: int
    _, m_pt, seq, ts, ssrc = HEADER.unpack_from(data)
    return m_pt & 0x7F, seq, ts, ssrc


def find_extension(data: Packet, ext_id: int) -> int:
    """Offset of extension ``ext_id``'s value, or -1 when absent; the byte before the value
    holds its length in the encoding of the header's form (one- or two-byte)."""
    if not data[0] & 0x10 or ext_id <= 0:
        return -1
    start = MIN_HEADER + 4 * (data[0] & 0x0F)
    n = len(data)
    if n < start + 4:
        return -1
    profile = (data[start] << 8) | data[start + 1]
    end = start + 4 + 4 * ((data[start + 2] << 8) | data[start + 3])
    if end > n:
        return -1
    pos = start + 4
    if profile == 0xBEDE:
        while pos < end:
            byte = data[pos]
            if byte == 0:
                pos += 1
                continue
            ident = byte >> 4
            if ident == 15:
                return -1
            if ident == ext_id:
                return pos + 1
            pos += 2 + (byte & 0x0F)
    elif profile & 0xFFF0 == 0x1000:
        while pos + 1 < end:
            ident = data[pos]
            if ident == 0:
                pos += 1
                continue
            if ident == ext_id:
                return pos + 2
            pos += 2 + data[pos + 1]
    return -1


def audio_level(data: Packet, ext_id: int) -> int:
    """RFC 6464 level in -dBov (0 loudest, 127 silence); 127 when the extension is absent."""
    offset = find_extension(data, ext_id)
    if offset < 0 or offset >= len(data):
        return 127
    return data[offset] & 0x7F


def vp8_is_keyframe(data: Packet, offset: int) -> bool:
    """RFC 7741: start of partition 0 with the P bit clear in the VP8 payload header."""
    n = len(data)
    if offset >= n:
        return False
    first = data[offset]
    if not first & 0x10 or first & 0x07:  # S bit, PartID 0
        return False
    pos = offset + 1
    if first & 0x80:  # X: extension byte I L T K
        if pos >= n:
            return False
        ext = data[pos]
        pos += 1
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if pos >= n:
                return False
            pos += 2 if data[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K
            pos += 1
    return pos < n and not data[pos] & 0x01


def h264_is_keyframe(data: Packet, offset: int) -> bool:
    """RFC 6184: an IDR slice or SPS, alone, in a STAP-A, or at the start of an FU-A."""
    n = len(data)
    if offset >= n:
        return False
    nal = data[offset] & 0x1F
    if nal in (5, 7):
        return True
    if nal == 24:  # STAP-A
        pos = offset + 1
        while pos + 2 < n:
            size = (data[pos] << 8) | data[pos + 1]
            if data[pos + 2] & 0x1F in (5, 7):
                return True
            pos += 2 + size
        return False
    if nal == 28 and offset + 1 < n:  # FU-A
        fu = data[offset + 1]
        return bool(fu & 0x80) and (fu & 0x1F) in (5, 7)
    return False


def vp9_is_keyframe(data: Packet, offset: int) -> bool:
    """VP9 payload descriptor: start of a frame (B) that is not inter-predicted (P clear)."""
    if offset >= len(data):
        return False
    first = data[offset]
    return bool(first & 0x08) and not first & 0x40


def av1_is_keyframe(data: Packet, offset: int) -> bool:
    """AV1 RTP aggregation header |Z|Y|W W|N|-|-|-|: N starts a new coded video sequence, which
    senders (libwebrtc among them) set on the first packet of every key frame."""
    return offset < len(data) and bool(data[offset] & 0x08)


KEYFRAME_DETECTORS = {
    "VP8": vp8_is_keyframe, "H264": h264_is_keyframe, "VP9": vp9_is_keyframe, "AV1": av1_is_keyframe,
}
