"""RTCP (RFC 3550, 4585, 5104) parsing and building for what the bridge terminates or translates.

Compound packets are walked with :func:`packets` (offsets, no objects per packet). What the bridge
acts on is dispatched by :func:`dispatch` through one table, :data:`ITEMS`, keyed by (packet type,
FMT) on the wire: each entry a small typed item that parses itself, built only for packets the
caller has a handler for. Builders return bytes ready for SRTCP protection.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .rtp import Packet

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


def packets(data: Packet) -> Iterator[tuple[int, int, int, int]]:
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


def media_ssrc(data: Packet, offset: int) -> int:
    ssrc: int = FEEDBACK.unpack_from(data, offset)[4]
    return ssrc


def nack_sequence_numbers(data: Packet, offset: int, length: int) -> Iterator[int]:
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


def fir_ssrcs(data: Packet, offset: int, length: int) -> Iterator[int]:
    pos = offset + 12
    while pos + 8 <= offset + length:
        yield FIR_ITEM.unpack_from(data, pos)[0]
        pos += 8


# The items are built with tuple.__new__: a NamedTuple's own constructor is a Python call more.
_new = tuple.__new__
SR_HEAD = struct.Struct("!I2xI")  # reporter SSRC, then the middle 32 bits of the NTP timestamp


class SenderReport(NamedTuple):
    """SR (RFC 3550 §6.4.1): its reporter and the NTP middle bits a later RR echoes as LSR."""

    ssrc: int
    ntp_middle: int

    @staticmethod
    def parse(data: Packet, offset: int, length: int) -> SenderReport | None:
        return _new(SenderReport, SR_HEAD.unpack_from(data, offset + 4)) if length >= 28 else None


class Pli(NamedTuple):
    """Picture loss indication (RFC 4585 §6.3.1): a key frame of ``ssrc``."""

    ssrc: int

    @staticmethod
    def parse(data: Packet, offset: int, length: int) -> Pli | None:
        return _new(Pli, (media_ssrc(data, offset),)) if length >= 12 else None


class Fir(NamedTuple):
    """Full intra request (RFC 5104 §4.3.1): key frames of each SSRC named."""

    ssrcs: tuple[int, ...]

    @staticmethod
    def parse(data: Packet, offset: int, length: int) -> Fir | None:
        return _new(Fir, (tuple(fir_ssrcs(data, offset, length)),)) if length >= 12 else None


class Remb(NamedTuple):
    """Receiver estimated maximum bitrate (draft-alvestrand-rmcat-remb), bits per second."""

    bitrate: int

    @staticmethod
    def parse(data: Packet, offset: int, length: int) -> Remb | None:
        bitrate = remb_bitrate(data, offset, length)
        return _new(Remb, (bitrate,)) if bitrate >= 0 else None  # else another application feedback


class Nack(NamedTuple):
    """Generic NACK (RFC 4585 §6.2.1): the sequence numbers of ``ssrc`` the receiver lost."""

    ssrc: int
    lost: tuple[int, ...]

    @staticmethod
    def parse(data: Packet, offset: int, length: int) -> Nack | None:
        if length < 16:
            return None
        return _new(Nack, (media_ssrc(data, offset), tuple(nack_sequence_numbers(data, offset, length))))


class TransportCc(NamedTuple):
    """Transport-wide congestion control feedback, as :func:`parse_transport_cc` reads it."""

    base: int
    arrivals: list[float | None]

    @staticmethod
    def parse(data: Packet, offset: int, length: int) -> TransportCc:
        return _new(TransportCc, parse_transport_cc(data, offset, length))


Feedback = SenderReport | Pli | Fir | Remb | Nack | TransportCc

# (packet type, FMT) -> the item type of the packets the bridge acts on. An SR's five bits count
# its report blocks, so every count maps. Receiver reports, SDES, BYE and APP are terminated here.
ITEMS: dict[tuple[int, int], type[Feedback]] = {
    **{(SR, count): SenderReport for count in range(32)},
    (PSFB, FMT_PLI): Pli,
    (PSFB, FMT_FIR): Fir,
    (PSFB, FMT_REMB): Remb,
    (RTPFB, FMT_NACK): Nack,
    (RTPFB, FMT_TCC): TransportCc,
}


def dispatch(data: Packet, handlers: Mapping[type, Callable[..., None]], *context: Any) -> None:
    """Call ``handlers[type(item)](*context, item)`` for each packet of the compound ``data`` whose
    item type has a handler, in order; other packets are not parsed. Raises :class:`RtcpError` at
    the first malformed packet (the ones before it are handled)."""
    for pt, fmt, offset, length in packets(data):
        kind = ITEMS.get((pt, fmt))
        if kind is not None:
            handler = handlers.get(kind)
            if handler is not None:
                item = kind.parse(data, offset, length)
                if item is not None:
                    handler(*context, item)


def build_pli(sender_ssrc: int, media: int) -> bytes:
    return FEEDBACK.pack(0x80 | FMT_PLI, PSFB, 2, sender_ssrc, media)


def build_nack(sender_ssrc: int, media: int, lost: Sequence[int]) -> bytes:
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


def remb_bitrate(data: Packet, offset: int, length: int) -> int:
    """Bitrate of a REMB (draft-alvestrand-rmcat-remb) packet; -1 when it is not one."""
    if length < 20 or bytes(data[offset + 12:offset + 16]) != b"REMB":
        return -1
    exp = data[offset + 17] >> 2
    mantissa = ((data[offset + 17] & 0x03) << 16) | (data[offset + 18] << 8) | data[offset + 19]
    return mantissa << exp


TCC_DELTA_UNIT = 0.00025  # 250 microseconds
TCC_REFERENCE_UNIT = 0.064
# Packets one feedback may report on: as many as the sender remembers (bwe.HISTORY); anything older
# could not be matched. Run-length chunks say "not received" 8191 times in two bytes, so without
# this a 40-byte packet made the bridge expand and walk 65535 statuses.
MAX_TCC_STATUSES = 8192


def build_transport_cc(sender_ssrc: int, media: int, feedback_count: int,
                       arrivals: list[tuple[int, float]]) -> bytes:
    """Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01).

    ``arrivals`` are (unwrapped transport sequence number, arrival time in seconds), sorted, no
    duplicates, spanning at most 0xFFFF numbers. Statuses go in two-bit status vector chunks.
    """
    base = arrivals[0][0]
    count = arrivals[-1][0] - base + 1
    reference = int(arrivals[0][1] / TCC_REFERENCE_UNIT)
    previous = reference * TCC_REFERENCE_UNIT
    statuses = [0] * count
    deltas = []
    for seq, when in arrivals:
        delta = round((when - previous) / TCC_DELTA_UNIT)
        previous += delta * TCC_DELTA_UNIT
        if 0 <= delta <= 255:
            statuses[seq - base] = 1
            deltas.append(struct.pack("!B", delta))
        else:
            statuses[seq - base] = 2
            deltas.append(struct.pack("!h", max(-32768, min(32767, delta))))
    chunks = []
    for i in range(0, count, 7):
        chunk = 0xC000
        for j, status in enumerate(statuses[i:i + 7]):
            chunk |= status << (12 - 2 * j)
        chunks.append(struct.pack("!H", chunk))
    body = (struct.pack("!HH", base & 0xFFFF, count) + struct.pack("!I", ((reference & 0xFFFFFF) << 8)
            | (feedback_count & 0xFF)) + b"".join(chunks) + b"".join(deltas))
    body += bytes(-len(body) % 4)
    return FEEDBACK.pack(0x80 | FMT_TCC, RTPFB, 2 + len(body) // 4, sender_ssrc, media) + body


class TransportCcFeedback:
    """Arrival times of one sender's transport-wide sequence numbers, turned into feedback
    packets a few times a second so the sender's bandwidth estimation works through the bridge."""

    MAX_PENDING = 4096

    def __init__(self) -> None:
        self._seqs: list[int] = []
        self._times: list[float] = []
        self._last = -1  # last unwrapped sequence number
        self._count = 0

    def received(self, seq: int, now: float) -> None:
        last = self._last
        if last < 0:
            unwrapped = seq
        else:
            unwrapped = last + ((seq - last + 0x8000) & 0xFFFF) - 0x8000
        if unwrapped > last:
            self._last = unwrapped
        if len(self._seqs) < self.MAX_PENDING:
            self._seqs.append(unwrapped)
            self._times.append(now)

    def feedback(self, sender_ssrc: int, media: int) -> bytes | None:
        if not self._seqs:
            return None
        arrivals = sorted(dict(zip(reversed(self._seqs), reversed(self._times))).items())
        self._seqs.clear()
        self._times.clear()
        newest = arrivals[-1][0]
        arrivals = [a for a in arrivals if newest - a[0] < 0x8000 and a[0] >= 0]
        packet = build_transport_cc(sender_ssrc, media, self._count, arrivals)
        self._count += 1
        return packet


REPORT_BLOCK = struct.Struct("!IIIIII")


def build_receiver_report(sender_ssrc: int, blocks: list[tuple[int, int, int, int]]) -> bytes:
    """RR with one block per (media SSRC, extended highest sequence number, LSR, DLSR); we report
    no loss and no jitter: the bridge terminates RTCP per hop and the sender's loss view is TCC's."""
    blocks = blocks[:31]
    body = b"".join(REPORT_BLOCK.pack(ssrc, 0, highest, 0, lsr, dlsr) for ssrc, highest, lsr, dlsr in blocks)
    return struct.pack("!BBHI", 0x80 | len(blocks), RR, 1 + len(body) // 4, sender_ssrc) + body


def parse_transport_cc(data: Packet, offset: int, length: int) -> tuple[int, list[float | None]]:
    """A transport-cc feedback packet as (base sequence number, arrival time in seconds or None
    for each sequence number from the base on). Times share the receiver's clock: only their
    differences mean anything."""
    end = offset + length
    if length < 20:
        raise RtcpError("transport-cc feedback shorter than its fixed part")
    base, count, word = struct.unpack_from("!HHI", data, offset + 12)
    if count > MAX_TCC_STATUSES:
        raise RtcpError(f"transport-cc feedback on {count} packets")
    reference = word >> 8
    if reference & 0x800000:
        reference -= 0x1000000
    statuses: list[int] = []
    pos = offset + 20
    while len(statuses) < count:
        if pos + 2 > end:
            raise RtcpError("transport-cc status chunks run past the packet")
        chunk = (data[pos] << 8) | data[pos + 1]
        pos += 2
        if not chunk & 0x8000:  # run length: one status repeated
            statuses.extend([(chunk >> 13) & 0x03] * (chunk & 0x1FFF))
        elif chunk & 0x4000:  # seven two-bit symbols
            statuses.extend((chunk >> (12 - 2 * i)) & 0x03 for i in range(7))
        else:  # fourteen one-bit symbols
            statuses.extend((chunk >> (13 - i)) & 0x01 for i in range(14))
    del statuses[count:]
    when = reference * TCC_REFERENCE_UNIT
    arrivals: list[float | None] = []
    for status in statuses:
        if status == 0:
            arrivals.append(None)
            continue
        if status == 1:
            if pos + 1 > end:
                raise RtcpError("transport-cc deltas run past the packet")
            delta = data[pos]
            pos += 1
        else:
            if pos + 2 > end:
                raise RtcpError("transport-cc deltas run past the packet")
            delta = struct.unpack_from("!h", data, pos)[0]
            pos += 2
        when += delta * TCC_DELTA_UNIT
        arrivals.append(when)
    return base, arrivals
