"""RTCP (RFC 3550, 4585, 5104) parsing and building for what the bridge terminates or translates.

Compound packets are walked with :func:`packets` (offsets, no objects per packet). Builders return
bytes ready for SRTCP protection.
"""

from __future__ import annotations

import struct

SR, RR, SDES, BYE, APP, RTPFB, PSFB = 200, 201, 202, 203, 204, 205, 206
FMT_NACK = 1
FMT_TCC = 15
FMT_PLI = 1
FMT_FIR = 4
FMT_REMB = 15

COMMON = struct.Struct("!BBH")
FEEDBACK = struct.Struct("!BBHII")  # header, sender SSRC, media SSRC
NACK_ITEM = struct.Struct("!HH")
FIR_ITEM = struct.Struct("!IB3x")


class RtcpError(ValueError):
    pass


def packets(data):
    """Yield (packet type, fmt/count, offset, length in bytes) of each packet in a compound."""
    n = len(data)
    pos = 0
    while pos + 4 <= n:
        first, pt, words = COMMON.unpack_from(data, pos)
        if first >> 6 != 2:
            raise RtcpError("RTCP version is not 2")
        length = 4 * (words + 1)
        if pos + length > n:
            raise RtcpError("RTCP packet length exceeds the datagram")
        yield pt, first & 0x1F, pos, length
        pos += length
    if pos != n:
        raise RtcpError("trailing bytes after the RTCP compound")


def media_ssrc(data, offset: int) -> int:
    return FEEDBACK.unpack_from(data, offset)[4]


def nack_sequence_numbers(data, offset: int, length: int):
    """RFC 4585 generic NACK: each PID and the 16 following ones flagged in the BLP bitmask."""
    pos = offset + 12
    end = offset + length
    while pos + 4 <= end:
        pid, blp = NACK_ITEM.unpack_from(data, pos)
        yield pid
        bit = 1
        while blp:
            if blp & 1:
                yield (pid + bit) & 0xFFFF
            blp >>= 1
            bit += 1
        pos += 4


def fir_ssrcs(data, offset: int, length: int):
    pos = offset + 12
    while pos + 8 <= offset + length:
        yield FIR_ITEM.unpack_from(data, pos)[0]
        pos += 8


def build_pli(sender_ssrc: int, media: int) -> bytes:
    return FEEDBACK.pack(0x80 | FMT_PLI, PSFB, 2, sender_ssrc, media)


def build_fir(sender_ssrc: int, media: int, seq: int) -> bytes:
    return FEEDBACK.pack(0x80 | FMT_FIR, PSFB, 4, sender_ssrc, 0) + FIR_ITEM.pack(media, seq & 0xFF)


def build_nack(sender_ssrc: int, media: int, lost: list[int]) -> bytes:
    """Generic NACK for the given sequence numbers, packed as PID + BLP items."""
    items = []
    lost = sorted(set(lost), key=lambda s: (s - lost[0]) & 0xFFFF)
    i = 0
    while i < len(lost):
        pid = lost[i]
        blp = 0
        i += 1
        while i < len(lost) and 0 < ((lost[i] - pid) & 0xFFFF) <= 16:
            blp |= 1 << (((lost[i] - pid) & 0xFFFF) - 1)
            i += 1
        items.append(NACK_ITEM.pack(pid, blp))
    return FEEDBACK.pack(0x80 | FMT_NACK, RTPFB, 2 + len(items), sender_ssrc, media) + b"".join(items)


def build_rr(sender_ssrc: int) -> bytes:
    """An empty receiver report: the mandatory first packet of a compound we originate."""
    return struct.pack("!BBHI", 0x80, RR, 1, sender_ssrc)


def remb_bitrate(data, offset: int, length: int) -> int:
    """Bitrate of a REMB (draft-alvestrand-rmcat-remb) packet; -1 when it is not one."""
    if length < 20 or bytes(data[offset + 12:offset + 16]) != b"REMB":
        return -1
    exp = data[offset + 17] >> 2
    mantissa = ((data[offset + 17] & 0x03) << 16) | (data[offset + 18] << 8) | data[offset + 19]
    return mantissa << exp
