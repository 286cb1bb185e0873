"""Selective forwarding for one conference: which receiver gets which source, at which layer.

Sans-I/O. Plain RTP (already unprotected) goes in with :meth:`Forwarder.rtp`; each receiver gets
its rewritten copy through its ``deliver(buffer, ssrc)`` callable (a bytearray the forwarder
rewrites for the next receiver, and the SSRC it now carries: the callee sends it at once and keeps
nothing). RTCP feedback from receivers goes in with :meth:`Forwarder.feedback`; key-frame requests
towards senders come out through the sender's ``send_rtcp(bytes)``. Bridge-channel messages the
allocation produces are queued in ``messages`` as ``(endpoint id, dict)``.

Which layer each receiver gets is decided by the :class:`~.allocation.Allocator` this class
extends; here live the projections its targets are applied to.

Per (receiver, source) a :class:`Projection` keeps the outgoing SSRC (the source's first SSRC, or
a bridge-chosen one announced in ``VideoSourcesMap``/``AudioSourcesMap`` when the receiver
rewrites SSRCs) and the sequence-number/timestamp offsets that make one continuous stream across
simulcast layer switches. A switch happens only on a key frame of the target layer, and only to a
layer the sender currently sends (``Source.active``, refreshed by :meth:`Forwarder.check_layers`).
Upstream loss is NACKed per layer and the senders' RTX answers are forwarded as the originals,
unless the original already came: libwebrtc pads its probes with RTX copies of packets it sent
(often the same one, many times over), and those would reach every receiver as duplicates;
receivers' NACKs are answered from each video projection's own history ring (per outgoing SSRC).

Every packet sent to a receiver that negotiated transport-cc carries the bridge's own
transport-wide sequence number for that receiver (the sender's is overwritten in place: the
header extension ids are the conference's, one offer for all), so the receiver's feedback drives
its :class:`~.bwe.BandwidthEstimator`, which the allocation fits the receiver's layers into.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from . import rtcp
from .allocation import ALL_TEMPORAL, DEFAULT_MAX_HEIGHT, NO_LAYER, NOMINAL_BITRATES, Allocator, VideoConstraints
from .bwe import HISTORY as BWE_HISTORY, UNSIGNALLED_GRACE, BandwidthEstimator
from .rtp import KEYFRAME_DETECTORS, find_extension, header_length
from .ssrc_pool import SsrcPool, receiver_pools
from .temporal import READERS as TEMPORAL_READERS, SAMPLE_INTERVAL, admit, note_layers, rewrite_picture_id

if TYPE_CHECKING:
    from collections import deque

# How the forwarder reaches an endpoint: a packet (with the SSRC it goes out on) to a receiver,
# an RTCP compound to a sender.
Deliver = Callable[[bytes | bytearray, int], None]
SendRtcp = Callable[[bytes], None]

HEADER = struct.Struct("!HII")  # sequence number, timestamp, SSRC: at offset 2
SEQ_TS = struct.Struct("!HI")
KEYFRAME_REQUEST_INTERVAL = 0.2  # docs/bridge-media.md §4.4: one PLI per source per 200 ms at most
VIDEO_TS_STEP = 3000  # 90 kHz at 30 fps: the gap placed between two layers' timestamps
MAX_NACK_GAP = 64  # a larger jump is a restart or a burst a key frame repairs better
HISTORY = 256  # power of two: packets kept per outgoing video stream for NACK retransmission
HISTORY_MASK = HISTORY - 1
RECEIVED = 1024  # power of two: sequence numbers remembered per layer, to tell RTX repairs from padding
RECEIVED_MASK = RECEIVED - 1
# A not yet connected receiver's stream is kept from its key frame on for so long, at most: a
# sender asked for a key frame later than that sends one at once (docs/bridge-media.md §4.4).
HELD_SECONDS = 0.3
HELD_PACKETS = 512
BWE_MASK = BWE_HISTORY - 1
RATE_SMOOTHING = 0.5  # weight of the newest interval in a layer's measured bitrate


@dataclass
class Source:
    """One named source of a sender: audio has one SSRC, video its simulcast layers' SSRCs."""

    name: str
    owner: str
    media: str  # "audio" | "video"
    layers: list[int]  # SSRCs, lowest resolution first
    rtx: dict[int, int] = field(default_factory=dict)  # media SSRC -> RTX SSRC
    video_type: str = "camera"
    # Packets seen per layer (the per-packet path only increments), and which layers were
    # active at the last check: a sender encodes only the layers its bandwidth and input allow.
    packets: list[int] = field(default_factory=list)
    active: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.packets = [0] * len(self.layers)
        self.octets = [0] * len(self.layers)  # bytes seen per layer (the per-packet path adds)
        self.rates = [0.0] * len(self.layers)  # bits per second per layer, smoothed
        self._octets_seen = [0] * len(self.layers)
        self.last_seq = [-1] * len(self.layers)  # highest sequence number per layer, for NACKs
        # The latest RECEIVED sequence numbers per layer, each at its own index modulo RECEIVED.
        self.received = [[-1] * RECEIVED for _ in self.layers]
        self.active = [False] * len(self.layers)
        self._seen = [0] * len(self.layers)
        # Layers some projection forwards or waits to switch to (Forwarder._mark_wanted_layers).
        self.wanted = [True] * len(self.layers)
        self.temporal_layers = 1  # as seen in the packets' temporal layer ids
        self.frame_rate_filter = False  # set by the allocation: the per-packet path reads temporal ids

    def update_active(self) -> bool:
        """Refresh ``active`` from the packets seen since the last call; True when it changed."""
        active = [count != seen for count, seen in zip(self.packets, self._seen)]
        self._seen = list(self.packets)
        changed = active != self.active
        self.active = active
        return changed

    def update_rates(self, elapsed: float | None) -> None:
        """Fold the bytes seen over the last ``elapsed`` seconds into ``rates`` (None: the first
        call, which only marks where the first interval starts)."""
        if elapsed:
            for index, total in enumerate(self.octets):
                rate = (total - self._octets_seen[index]) * 8 / elapsed
                previous = self.rates[index]
                self.rates[index] = rate if not previous else RATE_SMOOTHING * rate + (1 - RATE_SMOOTHING) * previous
        self._octets_seen = list(self.octets)

    def bitrate(self, layer: int) -> float:
        """What forwarding ``layer`` costs: measured while the sender sends it, else nominal."""
        if self.active[layer] and self.rates[layer] > 0:
            return self.rates[layer]
        height = self.layer_heights()[layer]
        return next((rate for top, rate in NOMINAL_BITRATES if height <= top), NOMINAL_BITRATES[-1][1])

    @property
    def primary(self) -> int:
        return self.layers[0]

    def layer_heights(self) -> list[int]:
        n = len(self.layers)
        return [720 >> (n - 1 - i) for i in range(n)]


class Projection:
    """A source as one receiver sees it; ``target``/``current`` are layer indexes or NO_LAYER."""

    __slots__ = ("receiver", "source", "out_ssrc", "out_rtx", "target", "current", "seq_off", "ts_off",
                 "last_seq", "last_ts", "started", "since", "sent", "sent_seq_off", "sent_ts_off", "sent_pid_off",
                 "wanted_tid", "max_tid", "pid_off", "packet_pid_off", "drops", "held", "held_since")

    def __init__(self, receiver: Receiver, source: Source, out_ssrc: int | None, out_rtx: int | None) -> None:
        self.receiver = receiver
        self.source = source
        self.out_ssrc = out_ssrc
        self.out_rtx = out_rtx
        self.target = NO_LAYER if source.media == "video" else 0
        self.current = NO_LAYER if source.media == "video" else 0
        self.seq_off = 0
        self.ts_off = 0
        self.last_seq = 0
        self.last_ts = 0
        self.started = source.media == "audio"
        self.since = 0.0  # when the receiver started getting it (set by the forwarder)
        # What was sent, for NACKs (video only: Jitsi negotiates no NACK for audio), by outgoing
        # sequence number: the inbound packet (shared by every receiver, not copied) and the
        # offsets (sequence number, timestamp, picture id) in force when it left; allocated when
        # the stream starts.
        self.sent: list[bytes | None] | None = None
        self.sent_seq_off: list[int] = []
        self.sent_ts_off: list[int] = []
        self.sent_pid_off: list[int] = []
        # The highest temporal layer the allocation wants forwarded, the one in force (changed at
        # a base-layer frame), and how many frames were dropped (picture ids close the gap).
        self.wanted_tid = ALL_TEMPORAL
        self.max_tid = ALL_TEMPORAL
        self.pid_off = 0
        self.packet_pid_off = 0  # the picture id offset for the packet at hand (temporal.admit)
        # Recent drops, for packets that come late (temporal.py).
        self.drops: deque[tuple[int, int, int, int, int]] | None = None
        # While the receiver is not connected: the packets (packet, pt, seq, ts, ssrc, tcc offset)
        # of the target layer since its latest key frame, given to it when it connects.
        self.held: list[tuple[bytes, int, int, int, int, int]] | None = None
        self.held_since = 0.0


class Receiver:
    """An endpoint as a receiver: what it asked for and how to reach it."""

    def __init__(self, endpoint_id: str, deliver: Deliver, send_rtcp: SendRtcp, *, rewrite_ssrcs: bool = False,
                 last_n: int = -1, visitor: bool = False) -> None:
        self.id = endpoint_id
        self.deliver = deliver
        self.send_rtcp = send_rtcp
        self.rewrite_ssrcs = rewrite_ssrcs
        self.visitor = visitor
        self.last_n = last_n
        self.on_stage: list[str] = []
        self.selected: list[str] = []
        self.default_constraints = VideoConstraints(DEFAULT_MAX_HEIGHT)
        self.constraints: dict[str, VideoConstraints] = {}
        self.audio_excluded: set[str] = set()
        self.projections: dict[str, Projection] = {}  # source name -> projection
        self.by_out_ssrc: dict[int, Projection] = {}
        # With SSRC rewriting, the bounded outgoing SSRCs by media (ssrc_pool.py).
        self.ssrc_pools: dict[str, SsrcPool[Projection]] | None = receiver_pools() if rewrite_ssrcs else None
        self.forwarded: list[str] = []
        self.transport_cc_id = 0  # the transport-cc header extension id, when negotiated
        self.bwe = BandwidthEstimator()
        self.allocated_for: float | None = None  # the estimate the last allocation fitted into
        self.target_bitrate = 0.0  # what the last allocation sends it (bps, audio included)
        self.ideal_bitrate = 0.0  # ... and what it would send with no bandwidth limit
        # Whether its transport carries media yet (an endpoint's does once DTLS is up): until
        # then its new video streams are held, not started (docs/bridge-media.md §4.4).
        self.ready = True

    @property
    def estimated_bandwidth(self) -> int:
        """Bits per second, -1 before any feedback."""
        return round(self.bwe.estimate) if self.bwe.known else -1

    def video_constraints(self, name: str) -> VideoConstraints:
        return self.constraints.get(name, self.default_constraints)


class Forwarder(Allocator):
    def __init__(self, feedback_ssrc: int, *, trust_bwe: bool = True) -> None:
        super().__init__(trust_bwe=trust_bwe)
        self.feedback_ssrc = feedback_ssrc
        # SSRC -> (source, layer index, projections of that source): the per-packet lookup.
        self._by_ssrc: dict[int, tuple[Source, int, list[Projection]]] = {}
        self._rtx_ssrcs: dict[int, int] = {}  # RTX SSRC -> its media SSRC
        self._rtx_pts: dict[int, int] = {}  # RTX payload type -> the media payload type (apt)
        self._last_keyframe_request: dict[int, float] = {}
        self._video_pts: dict[int, str] = {}
        self.dropped_rtx = 0
        self.nacks_sent = 0
        self.sender_reports: dict[int, tuple[int, float]] = {}  # SSRC -> (NTP middle bits, when)
        self.keyframe_requests = 0
        self.packets_forwarded = 0
        self.retransmissions = 0  # packets sent again for receivers' NACKs
        self.senders_rtcp: dict[str, SendRtcp] = {}  # endpoint id -> send_rtcp of the sender
        # The conference's media export (exporter.py), given each audio packet it forwards.
        self.export: Callable[[Source, bytes], None] | None = None

    # --- signalling inputs -----------------------------------------------------------------------

    def set_video_payload_types(self, pts: dict[int, str], rtx: dict[int, int] | None = None) -> None:
        """Payload type -> codec name (VP8, VP9, H264, ...), for key frame detection; ``rtx``
        maps RTX payload types to the payload type they retransmit."""
        self._video_pts.update({pt: name.upper() for pt, name in pts.items()})
        self._rtx_pts.update(rtx or {})
        self.rtx_payload_types.update({apt: pt for pt, apt in (rtx or {}).items()})

    def add_receiver(self, receiver: Receiver, send_rtcp: SendRtcp) -> None:
        self.receivers[receiver.id] = receiver
        self.senders_rtcp[receiver.id] = send_rtcp
        if receiver.id not in self.speakers:
            self.speakers.append(receiver.id)
        self.allocate()

    def remove_endpoint(self, endpoint_id: str) -> None:
        receiver = self.receivers.pop(endpoint_id, None)
        self.senders_rtcp.pop(endpoint_id, None)
        if endpoint_id in self.speakers:
            self.speakers.remove(endpoint_id)
        self.set_sources(endpoint_id, [])
        if receiver is not None:
            for projection in receiver.projections.values():
                self._unlink(projection)
        self.allocate()

    def set_sources(self, owner: str, sources: list[Source]) -> None:
        """Replace ``owner``'s sources (a Colibri2 ``<sources>`` is the whole set)."""
        for name in [n for n, s in self.sources.items() if s.owner == owner]:
            source = self.sources.pop(name)
            for ssrc in source.layers:
                self._by_ssrc.pop(ssrc, None)
            for rtx_ssrc in source.rtx.values():
                self._rtx_ssrcs.pop(rtx_ssrc, None)
            for receiver in self.receivers.values():
                projection = receiver.projections.pop(name, None)
                if projection is not None:
                    self._unlink(projection)
        for source in sources:
            self.sources[source.name] = source
            projections: list[Projection] = []
            for index, ssrc in enumerate(source.layers):
                self._by_ssrc[ssrc] = (source, index, projections)
            self._rtx_ssrcs.update({rtx_ssrc: media for media, rtx_ssrc in source.rtx.items()})
        self.allocate()

    def set_muted(self, endpoint_id: str, audio: bool | None, video: bool | None) -> None:
        old_audio, old_video = self.muted.get(endpoint_id, (False, False))
        self.muted[endpoint_id] = (old_audio if audio is None else audio, old_video if video is None else video)
        self.allocate()

    def set_speakers(self, ranking: list[str]) -> None:
        # Local endpoints and the ones behind relays (relay.py) alike.
        self.speakers = [e for e in ranking if e in self.senders_rtcp] + [
            e for e in self.speakers if e not in ranking]
        self.allocate()

    def _project(self, receiver: Receiver, source: Source) -> Projection:
        """The receiver's projection of ``source``. A receiver that rewrites SSRCs sees it on a slot
        of its pool (ssrc_pool.py): a new projection takes a free one if there is one (JVB fills
        spare slots ahead of need), audio takes the least recently used idle one once its sender
        sends, video gets one when the allocation forwards it (:meth:`_activate`). Without a slot
        a projection is not forwarded."""
        projection = receiver.projections.get(source.name)
        if projection is None:
            out_ssrc, out_rtx = ((None, None) if receiver.ssrc_pools
                                 else (source.primary, source.rtx.get(source.primary)))
            projection = Projection(receiver, source, out_ssrc, out_rtx)
            projection.since = self.now
            projection.target = NO_LAYER
            receiver.projections[source.name] = projection
            if out_ssrc is not None:
                self._link(projection)
        pools = receiver.ssrc_pools
        if pools and pools[source.media].slot(projection) is None:
            self._take_slot(projection, evict=source.media == "audio" and any(source.active))
        return projection

    def _activate(self, receiver: Receiver, forwarded: list[str]) -> None:
        """JVB's activation of the forwarded video sources: first mark those holding a slot as
        used, so that the others, in ranking order, take the least recently used idle slots."""
        if not receiver.ssrc_pools:
            return
        pool = receiver.ssrc_pools["video"]
        waiting = []
        for name in forwarded:
            projection = receiver.projections[name]
            if pool.slot(projection) is None:
                waiting.append(projection)
            else:
                pool.use(projection, self.now)
        for projection in waiting:
            self._take_slot(projection, evict=True)

    @staticmethod
    def _idle(projection: Projection) -> bool:
        """May lose its slot: video the allocation does not forward, audio its sender is not sending."""
        if projection.source.media == "video":
            return projection.target == NO_LAYER
        return not any(projection.source.active)

    def _take_slot(self, projection: Projection, evict: bool) -> None:
        receiver = projection.receiver
        assert receiver.ssrc_pools is not None  # only a receiver that rewrites SSRCs takes slots
        taken = receiver.ssrc_pools[projection.source.media].take(projection, self.now, self._idle if evict else None)
        if taken is None:
            return
        slot, previous = taken
        if previous is not None:
            self._unlink(previous)
            previous.out_ssrc = previous.out_rtx = None
        before = slot.before
        if before is not None and before.started:
            # The receiver sees one stream on this SSRC: the new source continues its numbering
            # from its first packet (a key frame for video) as a layer switch does, with the
            # stream's NACK history.
            projection.started, projection.current = True, NO_LAYER
            projection.last_seq, projection.last_ts = before.last_seq, before.last_ts
            projection.sent, projection.sent_seq_off = before.sent, before.sent_seq_off
            projection.sent_ts_off, projection.sent_pid_off = before.sent_ts_off, before.sent_pid_off
            if before is previous:  # should it get a slot again, it starts a stream of its own
                previous.current, previous.sent = NO_LAYER, None
                previous.started = previous.source.media == "audio"
        projection.out_ssrc, projection.out_rtx = slot.ssrc, slot.rtx
        self._link(projection)
        # Announced before any packet goes out on it (the client adds a source for a new SSRC).
        self.messages.extend((receiver.id, m) for m in self._source_maps(receiver, [projection]))

    def allocate(self) -> None:
        super().allocate()
        self._mark_wanted_layers()

    def _mark_wanted_layers(self) -> None:
        """Mark the layers of each source that some projection forwards or waits to switch to, so
        the per-packet path drops the others (the simulcast layers nobody gets: most of what a
        sender sends) without a look at every projection. Targets change only in allocate(), a
        projection's current layer only in _switch (which marks it); anything else only takes
        layers away, so a stale mark costs a look, never a packet."""
        for source in self.sources.values():
            wanted = [False] * len(source.layers)
            entry = self._by_ssrc.get(source.primary)
            for projection in entry[2] if entry is not None else ():
                if projection.target != NO_LAYER:
                    wanted[projection.target] = True
                if projection.current != NO_LAYER:
                    wanted[projection.current] = True
            source.wanted = wanted

    def _link(self, projection: Projection) -> None:
        assert projection.out_ssrc is not None  # linked: forwarded on that SSRC
        projection.receiver.by_out_ssrc[projection.out_ssrc] = projection
        self._by_ssrc[projection.source.primary][2].append(projection)

    def _unlink(self, projection: Projection) -> None:
        entry = self._by_ssrc.get(projection.source.primary)
        if entry is not None and projection in entry[2]:
            entry[2].remove(projection)
        receiver = projection.receiver
        out_ssrc = projection.out_ssrc
        if out_ssrc is not None and receiver.by_out_ssrc.get(out_ssrc) is projection:
            del receiver.by_out_ssrc[out_ssrc]
        if receiver.ssrc_pools:
            receiver.ssrc_pools[projection.source.media].release(projection)

    # --- the per-packet path ---------------------------------------------------------------------

    def rtp(self, sender: str, packet: bytes, pt: int, seq: int, ts: int, ssrc: int,
            tcc: int = -1, now: float = 0.0, only: list[Projection] | None = None) -> int:
        """Forward one plain RTP packet; returns how many receivers got it (-1: unknown SSRC).
        ``tcc`` is the offset of the packet's transport-wide sequence number (-1: none), ``now``
        its arrival time, which is also when the copies leave. ``only``: a held packet going to
        these projections alone (it was counted when it came)."""
        entry = self._by_ssrc.get(ssrc)
        if entry is None:
            media = self._rtx_ssrcs.get(ssrc)
            if media is None:
                return -1
            return self._rtx(sender, packet, pt, ts, media, tcc, now)
        source, layer, projections = entry
        if source.owner != sender:
            return -1
        size = len(packet)
        if only is not None:
            projections = only
        else:
            source.packets[layer] += 1
            source.octets[layer] += size
            if source.media == "video":
                source.received[layer][seq & RECEIVED_MASK] = seq
                last = source.last_seq[layer]
                gap = (seq - last) & 0xFFFF
                if last < 0:
                    source.last_seq[layer] = seq
                elif gap < 0x8000:
                    source.last_seq[layer] = seq
                    if 1 < gap <= MAX_NACK_GAP:
                        self.send_nack(source.owner, ssrc, [(last + i) & 0xFFFF for i in range(1, gap)])
        muted = self.muted.get(sender)
        if muted is not None and muted[source.media == "video"]:
            return 0
        export = self.export
        if export is not None and source.media == "audio":
            export(source, packet)
        temporal = None
        if source.frame_rate_filter:
            temporal = self._temporal(packet, pt)
        elif source.media == "video" and not source.packets[layer] % SAMPLE_INTERVAL:
            note_layers(source, self._temporal(packet, pt))
        if not source.wanted[layer]:
            return 0
        keyframe = None
        count = 0
        buf = None
        pack_header = HEADER.pack_into
        # What the header in ``buf`` says: receivers that get the same (every audio receiver that
        # does not rewrite SSRCs) cost no rewrite.
        buf_seq, buf_ts, buf_ssrc = seq, ts, ssrc
        for projection in projections:
            target = projection.target
            if target == NO_LAYER:
                continue
            if layer != projection.current:
                if layer != target:
                    continue
                if keyframe is None:  # audio switches (onto a reused SSRC) at any packet
                    keyframe = source.media == "audio" or self._is_keyframe(packet, pt)
                if not projection.receiver.ready:
                    if source.media == "video":
                        self._hold(projection, keyframe, (packet, pt, seq, ts, ssrc, tcc))
                    continue
                if not keyframe:
                    continue
                self._switch(projection, layer, seq, ts, now)
            seq_off = projection.seq_off if temporal is None else admit(projection, temporal, seq)
            if seq_off < 0:
                continue  # a temporal layer above the projection's frame-rate cap
            ts_off = projection.ts_off
            # Most projections have no offsets (no layer switch yet): skip the arithmetic.
            out_seq = (seq + seq_off) & 0xFFFF if seq_off else seq
            out_ts = (ts + ts_off) & 0xFFFFFFFF if ts_off else ts
            if buf is None:
                buf = bytearray(packet)  # one copy per inbound packet, rewritten per receiver
            out_ssrc = projection.out_ssrc
            assert out_ssrc is not None  # _link: every projection in an entry has its SSRC
            if out_ssrc != buf_ssrc or out_seq != buf_seq or out_ts != buf_ts:
                pack_header(buf, 2, out_seq, out_ts, out_ssrc)
                buf_seq, buf_ts, buf_ssrc = out_seq, out_ts, out_ssrc
            if temporal is not None:
                rewrite_picture_id(buf, temporal, projection.packet_pid_off)
            receiver = projection.receiver
            if tcc > 0 and receiver.transport_cc_id:
                bwe = receiver.bwe
                sent = bwe.next_seq
                bwe.next_seq = (sent + 1) & 0xFFFF
                buf[tcc] = sent >> 8
                buf[tcc + 1] = sent & 0xFF
                index = sent & BWE_MASK
                bwe.sent_seq[index] = sent
                bwe.sent_time[index] = now
                bwe.sent_size[index] = size if now - projection.since > UNSIGNALLED_GRACE else -size
            if ((out_seq - projection.last_seq) & 0xFFFF) < 0x8000:
                projection.last_seq = out_seq
                projection.last_ts = out_ts
            ring = projection.sent
            if ring is not None:
                index = out_seq & HISTORY_MASK
                ring[index] = packet
                projection.sent_seq_off[index] = seq_off
                projection.sent_ts_off[index] = ts_off
                projection.sent_pid_off[index] = projection.pid_off
            receiver.deliver(buf, out_ssrc)  # the receiver sends it at once and keeps nothing
            count += 1
        self.packets_forwarded += count
        return count

    def _hold(self, projection: Projection, keyframe: bool, packet: tuple[bytes, int, int, int, int, int]) -> None:
        """Keep a packet for a receiver that is not connected yet, from a key frame on (a newer
        one starts afresh); a stream held too long is dropped, and a key frame asked for later."""
        if keyframe:
            projection.held = [packet]
            projection.held_since = self.now
            return
        held = projection.held
        if held is not None:
            if len(held) < HELD_PACKETS and self.now - projection.held_since < HELD_SECONDS:
                held.append(packet)
            else:
                projection.held = None

    def receiver_ready(self, receiver_id: str, now: float) -> None:
        """The receiver's transport carries media now. Each new video stream starts with what was
        held for it, from the sender's latest key frame through the per-packet path, as if it came
        now: a sender asked for another key frame so soon after the one it started with may take
        a third of a second to send it (docs/bridge-media.md §4.4)."""
        receiver = self.receivers.get(receiver_id)
        if receiver is None or receiver.ready:
            return
        receiver.ready = True
        self.now = now
        for projection in list(receiver.projections.values()):
            held, projection.held = projection.held, None
            target = projection.target
            if target == NO_LAYER or target == projection.current:
                continue
            source = projection.source
            if held is None or projection.out_ssrc is None or held[0][4] != source.layers[target] \
                    or now - projection.held_since >= HELD_SECONDS:
                self.request_keyframe(source.layers[target])
                continue
            only = [projection]
            for packet, pt, seq, ts, ssrc, tcc in held:
                self.rtp(source.owner, packet, pt, seq, ts, ssrc, tcc, now, only)

    def _rtx(self, sender: str, packet: bytes, pt: int, ts: int, media: int, tcc: int, now: float) -> int:
        """RFC 4588: forward the packet an RTX one carries (sent for our NACK), as the original,
        unless the original came already (padding) or is older than what we remember."""
        offset = header_length(packet)
        apt = self._rtx_pts.get(pt)
        if offset < 0 or apt is None or len(packet) - offset <= 2 or packet[0] & 0x20:
            self.dropped_rtx += 1  # padding probes: bandwidth estimation only
            return 0
        osn = (packet[offset] << 8) | packet[offset + 1]
        entry = self._by_ssrc.get(media)
        if entry is not None:
            source, layer = entry[0], entry[1]
            if source.received[layer][osn & RECEIVED_MASK] == osn \
                    or (source.last_seq[layer] - osn) & 0xFFFF >= RECEIVED:
                self.dropped_rtx += 1
                return 0
        buf = bytearray(packet[:offset])
        buf += packet[offset + 2:]
        buf[1] = (buf[1] & 0x80) | apt
        HEADER.pack_into(buf, 2, osn, ts, media)
        return self.rtp(sender, bytes(buf), apt, osn, ts, media, tcc if tcc < offset else -1, now)

    def send_nack(self, owner: str, ssrc: int, lost: Sequence[int]) -> None:
        """Ask sender ``owner`` to retransmit ``lost`` (sequence numbers) of ``ssrc``."""
        send = self.senders_rtcp.get(owner)
        if send is not None:
            self.nacks_sent += 1
            send(rtcp.build_rr(self.feedback_ssrc) + rtcp.build_nack(self.feedback_ssrc, ssrc, lost))

    def _is_keyframe(self, packet: bytes, pt: int) -> bool:
        detector = KEYFRAME_DETECTORS.get(self._video_pts.get(pt, "VP8"))
        offset = header_length(packet)
        return detector is not None and offset > 0 and detector(packet, offset)

    def _temporal(self, packet: bytes, pt: int) -> tuple[int, bool, int, int, int] | None:
        """The packet's temporal layer descriptor (``temporal.py``), None when its codec has none."""
        reader = TEMPORAL_READERS.get(self._video_pts.get(pt, "VP8"))
        offset = header_length(packet)
        return reader(packet, offset) if reader is not None and offset > 0 else None

    def _switch(self, projection: Projection, layer: int, seq: int, ts: int, now: float) -> None:
        if projection.started:
            projection.seq_off = (projection.last_seq + 1 - seq) & 0xFFFF
            projection.ts_off = (projection.last_ts + VIDEO_TS_STEP - ts) & 0xFFFFFFFF
        else:
            projection.started = True
            projection.since = now
            projection.seq_off = projection.ts_off = 0
            projection.last_seq = (seq - 1) & 0xFFFF
            projection.sent = [None] * HISTORY
            projection.sent_seq_off = [0] * HISTORY
            projection.sent_ts_off = [0] * HISTORY
            projection.sent_pid_off = [0] * HISTORY
        projection.current = layer
        projection.source.wanted[layer] = True

    # --- feedback from receivers -----------------------------------------------------------------

    def feedback(self, receiver_id: str, packet: bytes) -> None:
        """RTCP from a receiver: PLI/FIR become our key-frame requests, NACKs are answered from
        history, REMB and transport-cc update the estimate; reports are terminated here (an SR's
        time is kept for our receiver reports)."""
        receiver = self.receivers.get(receiver_id)
        if receiver is not None:
            rtcp.dispatch(packet, self.FEEDBACK_HANDLERS, self, receiver)

    def _on_sender_report(self, receiver: Receiver, report: rtcp.SenderReport) -> None:
        self.sender_reports[report.ssrc] = (report.ntp_middle, self.now)

    def _on_pli(self, receiver: Receiver, pli: rtcp.Pli) -> None:
        self._keyframe_for(receiver, pli.ssrc)

    def _on_fir(self, receiver: Receiver, fir: rtcp.Fir) -> None:
        for ssrc in fir.ssrcs:
            self._keyframe_for(receiver, ssrc)

    def _keyframe_for(self, receiver: Receiver, out_ssrc: int) -> None:
        projection = receiver.by_out_ssrc.get(out_ssrc)
        if projection is not None and projection.current != NO_LAYER:
            self.request_keyframe(projection.source.layers[projection.current])

    def _on_remb(self, receiver: Receiver, remb: rtcp.Remb) -> None:
        receiver.bwe.remb(remb.bitrate, self.now)

    def _on_transport_cc(self, receiver: Receiver, feedback: rtcp.TransportCc) -> None:
        receiver.bwe.transport_feedback(feedback.base, feedback.arrivals, self.now)

    def _on_nack(self, receiver: Receiver, nack: rtcp.Nack) -> None:
        projection = receiver.by_out_ssrc.get(nack.ssrc)
        if projection is not None and projection.sent is not None:
            for lost in nack.lost:
                self._retransmit(projection, lost)

    FEEDBACK_HANDLERS: ClassVar[dict[type, Callable[..., None]]] = {
        rtcp.SenderReport: _on_sender_report,
        rtcp.Pli: _on_pli,
        rtcp.Fir: _on_fir,
        rtcp.Remb: _on_remb,
        rtcp.TransportCc: _on_transport_cc,
        rtcp.Nack: _on_nack,
    }

    def _retransmit(self, projection: Projection, seq: int) -> None:
        """Send again what went out on ``projection`` as ``seq``, if the ring still holds it."""
        buf = self._sent_copy(projection, seq)
        if buf is None:
            return
        receiver = projection.receiver
        self._restamp(receiver, buf)
        self.retransmissions += 1
        assert projection.out_ssrc is not None  # it went out on its SSRC
        receiver.deliver(buf, projection.out_ssrc)

    def _sent_copy(self, projection: Projection, seq: int) -> bytearray | None:
        """What went out on ``projection`` as ``seq``, rebuilt from the ring (None: not held)."""
        ring = projection.sent
        if ring is None:
            return None
        index = seq & HISTORY_MASK
        packet = ring[index]
        if packet is None:
            return None
        seq_off = projection.sent_seq_off[index]
        original_seq, original_ts = SEQ_TS.unpack_from(packet, 2)
        if (original_seq + seq_off) & 0xFFFF != seq:
            return None  # overwritten by a later packet
        buf = bytearray(packet)
        HEADER.pack_into(buf, 2, seq, (original_ts + projection.sent_ts_off[index]) & 0xFFFFFFFF, projection.out_ssrc)
        pid_off = projection.sent_pid_off[index]
        if pid_off:
            descriptor = self._temporal(packet, packet[1] & 0x7F)
            if descriptor is not None:
                rewrite_picture_id(buf, descriptor, pid_off)
        return buf

    def recent_packets(self, projection: Projection, budget: int) -> list[bytearray]:
        """The newest packets sent on ``projection`` (newest first), together at most ``budget``
        bytes: what probing retransmits."""
        out: list[bytearray] = []
        seq = projection.last_seq
        while projection.sent is not None and len(out) < HISTORY:
            buf = self._sent_copy(projection, seq)
            if buf is None or len(buf) > budget:
                break
            out.append(buf)
            budget -= len(buf)
            seq = (seq - 1) & 0xFFFF
        return out

    def _restamp(self, receiver: Receiver, buf: bytearray) -> None:
        """A retransmission is a new packet on the wire: it gets a new transport-wide number."""
        tcc = find_extension(buf, receiver.transport_cc_id) if receiver.transport_cc_id else -1
        if not 0 < tcc < len(buf) - 1:
            return
        buf[tcc:tcc + 2] = receiver.bwe.sent(len(buf), self.now).to_bytes(2, "big")

    def source_of(self, ssrc: int) -> Source | None:
        """The source sending ``ssrc`` as one of its layers."""
        entry = self._by_ssrc.get(ssrc)
        return entry[0] if entry is not None else None

    def request_keyframe(self, ssrc: int) -> None:
        last = self._last_keyframe_request.get(ssrc)
        if last is not None and self.now - last < KEYFRAME_REQUEST_INTERVAL:
            return
        entry = self._by_ssrc.get(ssrc)
        if entry is None or entry[0].media != "video":
            return
        send = self.senders_rtcp.get(entry[0].owner)
        if send is not None:
            self._last_keyframe_request[ssrc] = self.now
            self.keyframe_requests += 1
            send(rtcp.build_rr(self.feedback_ssrc) + rtcp.build_pli(self.feedback_ssrc, ssrc))
