"""Media export, sans-I/O (docs/colibri2.md §3.5, docs/transcription.md §6): what a Colibri2
``<connects>`` asks of the conference's exporters, and the mediajson one exporter sends.

:func:`plan` checks a ``<connects>`` against the exporters running (by connect id) and says which
to stop, start and update, or raises the :class:`StanzaError` the request is refused with; nothing
is changed by a refused request. :class:`MediaJsonEncoder` turns the RTP audio packets of one
WebSocket connection into mediajson frames: a ``start`` per source, then a ``media`` per packet,
whose ``chunk`` is the packet's unwrapped sequence number and whose ``timestamp`` counts 48 kHz
units on one time line for all sources (from when the connection opened), with the sender's audio
level and voice activity flag when its packet carries them (as jitsi-videobridge). The glue is
``exporter.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..common.errors import StanzaError
from ..common.stanzas import mediajson
from ..common.stanzas.colibri2 import Connect
from .rtp import find_extension, header_length, read_header

OPUS_RATE = 48000
LEGACY_ID = ""  # the one connect of the older form, which names none
# The sender of the results an export's peer sends back, as jitsi-videobridge names it: they go to
# every endpoint of the conference, those behind relays too, as an EndpointMessage from it.
TRANSCRIBER = "transcriber"


def _refused(text: str) -> StanzaError:
    return StanzaError("modify", "bad-request", text)


def _unsupported(text: str) -> StanzaError:
    return StanzaError("cancel", "feature-not-implemented", text)


def _same_connection(a: Connect, b: Connect) -> bool:
    """Whether an update may keep the running connection: only its source lists may change."""
    return (a.url, a.type, a.audio, sorted(a.http_headers), a.ping) == (
        b.url, b.type, b.audio, sorted(b.http_headers), b.ping)


@dataclass
class Plan:
    stop: list[str] = field(default_factory=list)  # ids
    start: list[Connect] = field(default_factory=list)
    update: list[Connect] = field(default_factory=list)


def plan(running: dict[str, Connect], connects: list[Connect]) -> Plan:
    """What ``connects`` (one request's ``<connects>``) does to the ``running`` ones, by id.

    With ids, a connect is a change: ``expire`` stops that id, ``create`` starts it (an id may be
    expired and created again in one request), neither updates a running one's exports and
    requests. Without ids (the older form) the element is the whole set: what runs stops, and its
    one connect, if any, starts."""
    for connect in connects:
        if connect.video:
            raise _unsupported("Exporting video is not supported")
    if not any(c.id is not None for c in connects):
        if len(connects) > 1:
            raise _unsupported("Multiple connects without ids")
        return Plan(stop=list(running), start=[Connect(**{**vars(c), "id": LEGACY_ID}) for c in connects])
    if any(c.id is None for c in connects):
        raise _refused("Connects with and without ids in one request")
    result = Plan()
    for connect in connects:
        if connect.expire:
            if connect.id in result.stop:
                raise _refused(f"Duplicate expire for connect id={connect.id}")
            result.stop.append(connect.id)  # type: ignore[arg-type]
    seen: set[str] = set()
    for connect in connects:
        if connect.expire:
            continue
        ident = connect.id
        assert ident is not None
        if ident in seen:
            raise _refused(f"Multiple connects for id={ident}")
        seen.add(ident)
        if connect.create:
            if ident in running and ident not in result.stop:
                raise _refused(f"Connect with create=true for an existing id={ident}")
            result.start.append(connect)
            continue
        if ident in result.stop:
            raise _refused(f"Connect update for id={ident} expired in the same request")
        current = running.get(ident)
        if current is None:
            raise _refused(f"Connect for unknown id={ident} without create=true")
        if not _same_connection(current, connect):
            raise _unsupported(f"Changing connect id={ident} other than its exports and requests")
        result.update.append(connect)
    return result


def _unwrap(last: int, value: int, modulus: int) -> int:
    """``value`` (mod ``modulus``) as the extended value nearest ``last``."""
    delta = (value - last) % modulus
    if delta >= modulus // 2:
        delta -= modulus
    return last + delta


class _Stream:
    __slots__ = ("tag", "pt", "seq", "ts", "offset")

    def __init__(self, tag: str, pt: int, seq: int, ts: int, offset: int) -> None:
        self.tag = tag
        self.pt = pt
        self.seq = seq  # the last extended sequence number
        self.ts = ts  # the last extended RTP timestamp
        self.offset = offset  # added to an extended RTP timestamp: the common time line


class MediaJsonEncoder:
    """The frames of one WebSocket connection; made afresh for each (the peer starts over)."""

    def __init__(self, now: float) -> None:
        self.opened = now
        self.sequence = 0  # every frame's sequenceNumber, across sources
        self._streams: dict[int, _Stream] = {}  # by SSRC

    def encode(self, sender: str, tag: str, packet: bytes, encoding: str, now: float, level_id: int = 0) -> list[str]:
        """The frames for one plain RTP packet of ``sender``'s source ``tag``, whose payload type
        is ``encoding`` (lower-case) and whose ssrc-audio-level extension, if any, has the id
        ``level_id`` (0: none negotiated); [] for a malformed packet."""
        start = header_length(packet)
        end = len(packet) - (packet[-1] if packet[0] & 0x20 else 0)  # RFC 3550 padding
        if start < 0 or end < start:
            return []
        level = find_extension(packet, level_id)
        audio_level, vad = (packet[level] & 0x7F, bool(packet[level] & 0x80)) if 0 < level < start else (None, None)
        pt, seq, ts, ssrc = read_header(packet)
        frames = []
        stream = self._streams.get(ssrc)
        if stream is None or stream.pt != pt:
            # A new source, or a new codec on it: a start, on the time line where it is now.
            offset = round((now - self.opened) * OPUS_RATE) - ts
            stream = self._streams[ssrc] = _Stream(tag, pt, seq, ts, offset)
            self.sequence += 1
            frames.append(mediajson.start(self.sequence, tag, sender, encoding=encoding))
        else:
            stream.seq = _unwrap(stream.seq, seq, 1 << 16)
            stream.ts = _unwrap(stream.ts, ts, 1 << 32)
        self.sequence += 1
        frames.append(mediajson.media(self.sequence, stream.tag, stream.seq, stream.ts + stream.offset,
                                      packet[start:end], audio_level, vad))
        return frames
