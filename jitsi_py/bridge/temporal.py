"""Temporal layers: frame-rate limits by dropping a stream's upper temporal layers.

A sender with temporal scalability (libwebrtc VP8 and VP9: typically three layers, at 7.5, 15 and
30 fps) marks each frame with a temporal layer id (TID) in its payload descriptor (RFC 7741 §4.2
for VP8, the VP9 payload descriptor's layer indices). A receiver's ``maxFrameRate``, or the
allocation short of bandwidth, caps a projection at a TID (``Projection.max_tid``); the forwarder
reads the descriptor once per packet of a source some receiver caps (``Source.frame_rate_filter``)
and asks :func:`admit` per projection.

A dropped packet must not look lost: the projection's sequence offset moves back by one, so what
the receiver gets stays continuous; each dropped frame moves the picture id offset too, and
:func:`rewrite_picture_id` keeps picture ids consecutive (TL0PICIDX needs nothing: base-layer
frames are never dropped). A packet that comes late (reordered, or recovered upstream by RTX)
takes the offsets that were in force where it belongs, from a short log of the drops; a late
packet of a dropped layer is dropped and leaves a gap nothing fills. A new cap takes effect at the
next base-layer frame, which references nothing a cap removed. AV1 (dependency descriptor) and
H.264 carry no TID these readers know: their frame rate is not limited.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .forwarder import Projection, Source
    from .rtp import Packet

MAX_TEMPORAL_LAYERS = 4
# Of a source nobody caps, every 61st packet per layer is read to learn its temporal layers (a
# prime: no lock-step with a frame pattern).
SAMPLE_INTERVAL = 61
DROP_LOG = 128  # drops remembered per projection, for packets that come late
NOT_LAYERED = -1  # the TID of a packet that carries none


def _picture_id(data: Packet, pos: int, present: int) -> tuple[int, int, int, int] | None:
    """(offset or -1, width in bits, value, offset after it) of a VP8/VP9 picture id that is
    ``present``: M bit set, 15 bits, else 7; None when cut short."""
    if not present:
        return -1, 0, 0, pos
    n = len(data)
    if pos >= n or (data[pos] & 0x80 and pos + 1 >= n):
        return None
    if data[pos] & 0x80:
        return pos, 15, ((data[pos] & 0x7F) << 8) | data[pos + 1], pos + 2
    return pos, 7, data[pos], pos + 1


def read_vp8(data: Packet, offset: int) -> tuple[int, bool, int, int, int] | None:
    """(TID or -1, starts a frame, picture id offset or -1, its width in bits, picture id), or
    None for a descriptor cut short."""
    n = len(data)
    if offset + 1 >= n:
        return None
    first = data[offset]
    start = bool(first & 0x10) and not first & 0x07  # S bit, partition 0
    extended = first & 0x80  # X: the byte I L T K follows
    ext = data[offset + 1] if extended else 0
    picture = _picture_id(data, offset + (2 if extended else 1), ext & 0x80)
    if picture is None:
        return None
    pid_at, bits, pid, pos = picture
    pos += (ext >> 6) & 1  # L: TL0PICIDX, left as it is
    if not ext & 0x20:  # T: the byte with the TID follows
        return NOT_LAYERED, start, pid_at, bits, pid
    return (data[pos] >> 6, start, pid_at, bits, pid) if pos < n else None


def read_vp9(data: Packet, offset: int) -> tuple[int, bool, int, int, int] | None:
    """As :func:`read_vp8`, from the VP9 payload descriptor (I P L F B E V Z, picture id, layer
    indices); a frame starts at B of its lowest spatial layer."""
    n = len(data)
    if offset >= n:
        return None
    first = data[offset]
    picture = _picture_id(data, offset + 1, first & 0x80)  # I
    if picture is None:
        return None
    pid_at, bits, pid, pos = picture
    tid = NOT_LAYERED
    start = bool(first & 0x08)
    if first & 0x20:  # L: layer indices
        if pos >= n:
            return None
        tid = data[pos] >> 5
        start = start and not (data[pos] >> 1) & 0x07
    return tid, start, pid_at, bits, pid


READERS = {"VP8": read_vp8, "VP9": read_vp9}


def admit(projection: Projection, descriptor: tuple[int, bool, int, int, int], seq: int) -> int:
    """The sequence number offset ``projection`` forwards this packet (inbound ``seq``) with, or
    -1 when its temporal layer is above the cap; sets ``projection.packet_pid_off``, the picture
    id offset to write. A dropped packet is taken out of what the receiver sees."""
    tid, start = descriptor[0], descriptor[1]
    seq_off = projection.seq_off
    if (seq + seq_off - projection.last_seq - 1) & 0xFFFF >= 0x8000:
        return -1 if tid > projection.max_tid else _late(projection, seq)
    if start and tid <= 0:
        projection.max_tid = projection.wanted_tid
    pid_off = projection.packet_pid_off = projection.pid_off
    if tid <= projection.max_tid:
        return seq_off
    projection.seq_off = (seq_off - 1) & 0xFFFF
    if start:
        projection.pid_off = pid_off + 1
    drops = projection.drops
    if drops is None:
        drops = projection.drops = deque(maxlen=DROP_LOG)
    drops.append((seq, seq_off, projection.seq_off, pid_off, projection.pid_off))
    return -1


def _late(projection: Projection, seq: int) -> int:
    """Offsets for a packet behind the last one sent: those after the last drop before it, or
    from before the oldest drop remembered."""
    drops = projection.drops
    if not drops:
        projection.packet_pid_off = projection.pid_off
        return projection.seq_off
    for dropped, _, seq_off, _, pid_off in reversed(drops):
        if (seq - dropped) & 0xFFFF < 0x8000:
            projection.packet_pid_off = pid_off
            return seq_off
    projection.packet_pid_off = drops[0][3]
    return drops[0][1]


def rewrite_picture_id(buf: bytearray, descriptor: tuple[int, bool, int, int, int], pid_off: int) -> None:
    """Write the picture id this projection's receiver sees (the buffer is shared by all of a
    packet's projections: written every time)."""
    at = descriptor[2]
    if at < 0:
        return
    if descriptor[3] == 15:
        pid = (descriptor[4] - pid_off) & 0x7FFF
        buf[at] = 0x80 | (pid >> 8)
        buf[at + 1] = pid & 0xFF
    else:
        buf[at] = (descriptor[4] - pid_off) & 0x7F


def note_layers(source: Source, descriptor: tuple[int, bool, int, int, int] | None) -> None:
    """Learn how many temporal layers ``source`` has from a sampled packet's descriptor."""
    if descriptor is not None and descriptor[0] >= source.temporal_layers:
        source.temporal_layers = min(descriptor[0] + 1, MAX_TEMPORAL_LAYERS)
