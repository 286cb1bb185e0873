"""Bandwidth probing towards one receiver (docs/bridge-media.md §4.4; JVB's BandwidthProbing).

Sans-I/O. The estimator only grows while traffic proves the path (``bwe.py``), so a receiver whose
allocation sends less than it would like, after a drop for instance, would stay there. While the
allocation wants more than the estimate (``ideal > estimate``) and sends less than the estimate
(``target``), the gap ``min(ideal, estimate) - target`` is filled with probe packets, paced per
call (the conference ticks every 20 ms), so the transport-cc feedback shows what the path carries
and the estimate can climb; probing stops once the ideal allocation fits.

Probes go on the RTX SSRC of a video stream the receiver already gets (RFC 4588), as JVB sends
them: first retransmissions of the newest packets of that stream, then, for what is left,
padding-only packets (RFC 3550 padding: P bit set, the last byte is the padding length). Each
carries the receiver's next transport-wide sequence number so its feedback covers it; the SRTP
protection is the receiver's ``deliver``'s, as for every packet it gets.
"""

from __future__ import annotations

import secrets
import struct
from typing import TYPE_CHECKING

from .bwe import UNSIGNALLED_GRACE, BandwidthEstimator
from .rtp import find_extension, header_length

if TYPE_CHECKING:
    from .forwarder import Projection
    from .rtp import Packet

PROBE_HEADER = struct.Struct("!BBHII")
SEQ_TS_SSRC = struct.Struct("!HII")
MAX_PADDING = 255  # RFC 3550: the padding length is one byte
TCC_EXTENSION = struct.Struct("!HHBHx")  # 0xBEDE, one word, id/length byte, transport-wide seq
HEADER_SIZE = PROBE_HEADER.size + TCC_EXTENSION.size
MAX_CALL_INTERVAL = 0.05  # a late call does not make up for more than this much time
MAX_PROBE_BITRATE = 5_000_000  # bound on what one receiver is probed with, whatever the gap


def padding_packet(pt: int, seq: int, ts: int, ssrc: int, tcc_id: int, tcc_seq: int, padding: int) -> bytes:
    """A padding-only RTP packet carrying a transport-wide sequence number (one-byte header
    extension ``tcc_id``) and ``padding`` (1..255) bytes of padding."""
    if not 0 < padding <= MAX_PADDING or not 0 < tcc_id < 15:
        raise ValueError(f"padding {padding} or transport-cc id {tcc_id} out of range")
    header = PROBE_HEADER.pack(0xB0, pt & 0x7F, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    extension = TCC_EXTENSION.pack(0xBEDE, 1, (tcc_id << 4) | 1, tcc_seq & 0xFFFF)
    return header + extension + bytes(padding - 1) + bytes((padding,))


def rtx_packet(packet: Packet, rtx_pt: int, seq: int, ssrc: int) -> bytearray | None:
    """RFC 4588: ``packet`` (as sent) on the RTX stream: its header with ``rtx_pt``, ``seq`` and
    ``ssrc``, then the original sequence number, then its payload; None for a padded one."""
    offset = header_length(packet)
    if offset < 0 or packet[0] & 0x20:
        return None
    out = bytearray(packet[:offset])
    out += packet[2:4]
    out += packet[offset:]
    out[1] = (packet[1] & 0x80) | (rtx_pt & 0x7F)
    SEQ_TS_SSRC.pack_into(out, 2, seq & 0xFFFF, int.from_bytes(packet[4:8], "big"), ssrc)
    return out


class Prober:
    """Probing state for one receiver: pacing, and the RTX sequence numbers it uses."""

    def __init__(self) -> None:
        self._last: float | None = None
        self._left_over = 0.0  # bytes owed from earlier calls (a padding packet has a minimum size)
        self._rtx_seq: dict[int, int] = {}  # RTX SSRC -> next sequence number
        self.bytes_sent = 0
        self.packets_sent = 0

    def due(self, now: float, ideal: float, target: float, estimate: float) -> int:
        """Bytes to probe with now: JVB's ``min(ideal - target, estimate - target)`` over the time
        since the last call, bounded."""
        last, self._last = self._last, now
        gap = min(ideal, estimate) - target
        if ideal <= estimate or gap <= 0 or last is None:
            self._left_over = 0.0
            return 0
        elapsed = min(max(now - last, 0.0), MAX_CALL_INTERVAL)
        wanted = self._left_over + min(gap, MAX_PROBE_BITRATE) * elapsed / 8
        due = int(wanted)
        self._left_over = min(wanted - due, HEADER_SIZE + MAX_PADDING)
        return due

    def probes(self, budget: int, recent: list[bytearray], rtx_ssrc: int, rtx_pts: dict[int, int], ts: int, tcc_id: int,
               bwe: BandwidthEstimator, now: float) -> list[bytes | bytearray]:
        """About ``budget`` bytes of probes on ``rtx_ssrc``: the ``recent`` packets of its stream
        (newest first, as sent) retransmitted, then padding; what is too small for a packet is
        owed to the next call. ``rtx_pts`` maps media payload types to their RTX ones."""
        out: list[bytes | bytearray] = []
        seq = self._rtx_seq.get(rtx_ssrc)
        if seq is None:
            seq = secrets.randbits(15)
        rtx_pt = None
        for packet in recent:
            rtx_pt = rtx_pts.get(packet[1] & 0x7F)
            wrapped = None if rtx_pt is None else rtx_packet(packet, rtx_pt, seq, rtx_ssrc)
            if wrapped is None or len(wrapped) > budget:
                continue
            at = find_extension(wrapped, tcc_id)
            if not 0 < at < len(wrapped) - 1:
                continue  # a probe its feedback does not cover proves nothing
            wrapped[at:at + 2] = bwe.sent(len(wrapped), now).to_bytes(2, "big")
            out.append(wrapped)
            seq = (seq + 1) & 0xFFFF
            budget -= len(wrapped)
        if rtx_pt is None:
            rtx_pt = next(iter(rtx_pts.values()), None)
        while rtx_pt is not None and budget > HEADER_SIZE:
            padding = min(budget - HEADER_SIZE, MAX_PADDING)
            size = HEADER_SIZE + padding
            out.append(padding_packet(rtx_pt, seq, ts, rtx_ssrc, tcc_id, bwe.sent(size, now), padding))
            seq = (seq + 1) & 0xFFFF
            budget -= size
        self._rtx_seq[rtx_ssrc] = seq
        self._left_over += max(budget, 0)
        self.packets_sent += len(out)
        self.bytes_sent += sum(len(p) for p in out)
        return out


def eligible(projection: Projection, now: float) -> bool:
    """A stream the receiver knows well enough that probes on its RTX SSRC count."""
    return (projection.source.media == "video" and projection.out_rtx is not None and projection.started
            and projection.current >= 0 and now - projection.since > UNSIGNALLED_GRACE)
