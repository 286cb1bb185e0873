"""RTP and RTCP for one phone call (RFC 3550): the fixed header read and written with one compiled
struct, and the sender/receiver reports a SIP peer expects every few seconds. No per-packet objects."""

from __future__ import annotations

import struct

HEADER = struct.Struct("!BBHII")
SR = struct.Struct("!BBHIIIIII")  # header, SSRC, NTP (2 words), RTP time, packets, octets
RR_BLOCK = struct.Struct("!IIIIII")
NTP_EPOCH = 2208988800  # 1900 to 1970


class RtpError(ValueError):
    pass


def read_header(data: bytes) -> tuple[int, bool, int, int, int, int]:
    """(payload type, marker, sequence number, timestamp, SSRC, payload offset)."""
    if len(data) < HEADER.size:
        raise RtpError(f"RTP packet of {len(data)} bytes is shorter than its header")
    first, second, seq, timestamp, ssrc = HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise RtpError(f"RTP version {first >> 6}")
    offset = HEADER.size + 4 * (first & 0x0F)
    if first & 0x10:
        if len(data) < offset + 4:
            raise RtpError("RTP header extension truncated")
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if first & 0x20:
        end -= data[-1]  # padding
    if offset > end:
        raise RtpError("RTP header longer than its packet")
    return second & 0x7F, bool(second & 0x80), seq, timestamp, ssrc, offset


def write(pt: int, marker: bool, seq: int, timestamp: int, ssrc: int, payload: bytes) -> bytes:
    return HEADER.pack(0x80, pt | (0x80 if marker else 0), seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc) + payload


def sender_report(ssrc: int, wallclock: float, timestamp: int, packets: int, octets: int) -> bytes:
    """An SR without report blocks; ``wallclock`` in Unix seconds."""
    ntp = wallclock + NTP_EPOCH
    seconds = int(ntp)
    fraction = int((ntp - seconds) * (1 << 32)) & 0xFFFFFFFF
    return SR.pack(0x80, 200, 6, ssrc, seconds & 0xFFFFFFFF, fraction, timestamp & 0xFFFFFFFF,
                   packets & 0xFFFFFFFF, octets & 0xFFFFFFFF)


def seq_delta(a: int, b: int) -> int:
    """``a - b`` in 16-bit sequence space, in -32768..32767."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000
