"""Bandwidth allocation: which layer of which source each receiver gets (docs/bridge-media.md §4.3-4.6).

Sans-I/O. :class:`Allocator` holds the conference's signalling state (receivers, sources, the
speaker ranking, force-mute) and turns it into per-(receiver, source) targets: a simulcast layer
(``Projection.target``) and the highest temporal layer forwarded of it (``Projection.wanted_tid``,
applied by the forwarder at the next base-layer frame). The forwarder subclass supplies the
projections those targets live in (``_project``) and the key-frame requests a new target needs
(``request_keyframe``). Bridge-channel messages the allocation produces are queued in
``messages`` as ``(endpoint id, dict)``.

Per receiver, as JVB's BandwidthAllocator does: each ranked source within last-N gets a list of
candidate layers (spatial x temporal, lowest first) its constraints allow; with ``trust_bwe`` the
estimate minus the receiver's audio is then handed out in rounds, each source climbing one
candidate per round, except that an on-stage source jumps straight to the highest candidate up to
360p/30 fps that fits and, until it gets there, sources ranked below it get nothing; the first
ranked source, on stage, may exceed the estimate by up to 500 kbps rather than be suspended.
A layer above the previous allocation's must fit with ``UPGRADE_HEADROOM`` (no flapping).

Each sender is told per video source the largest height any receiver's constraints ask of it
(``SenderSourceConstraints``: -1 when one asks for no limit, 0 when no receiver takes it, as after
last-N), on change and when its bridge channel connects.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .probing import Prober, eligible

if TYPE_CHECKING:
    from .forwarder import Projection, Receiver, Source

NO_LAYER = -1
ALL_TEMPORAL = 0xFF  # a projection's temporal cap when the frame rate is not limited
DEFAULT_MAX_HEIGHT = 180
ONSTAGE_PREFERRED_HEIGHT = 360  # JVB's onstage-preferred-height-px / -framerate
ONSTAGE_PREFERRED_FRAME_RATE = 30.0
MAX_OVERSEND_BITRATE = 500_000  # JVB's max-oversend-bitrate
FULL_FRAME_RATE = 30.0  # a camera's frame rate: its temporal layers run at 1/2, 1/4 of it
DISABLED_VIDEO_TYPES = ("none", "disabled")
REALLOCATE_CHANGE = 0.1  # an estimate this much (relative) away from the last allocation's
UPGRADE_HEADROOM = 1.15  # climbing above the previous allocation needs this much room: no flapping
# A layer's bitrate before it was measured: libwebrtc's simulcast maxima, by height.
NOMINAL_BITRATES = ((180, 200_000), (360, 700_000), (720, 2_500_000))
# libwebrtc's split of a stream's bitrate between its temporal layers (cumulative, lowest first).
TEMPORAL_SHARES = {1: (1.0,), 2: (0.6, 1.0), 3: (0.4, 0.6, 1.0), 4: (0.25, 0.4, 0.6, 1.0)}


@dataclass
class VideoConstraints:
    max_height: int = -1
    max_frame_rate: float = -1.0

    @property
    def disabled(self) -> bool:
        return self.max_height == 0 or self.max_frame_rate == 0


@dataclass
class Candidate:
    """One layer a receiver may get of a source: simulcast layer ``spatial`` up to temporal
    layer ``temporal``."""

    spatial: int
    temporal: int
    height: int
    frame_rate: float
    bitrate: float


def candidates(source: Source, constraints: VideoConstraints, on_stage: bool) -> tuple[list[Candidate], int, int]:
    """The layers worth considering for ``source`` under ``constraints``, cheapest first, with
    the index of the preferred one (reached greedily on stage) and the one an on-stage source
    may oversend to (-1: none).

    As JVB for cameras: below the preferred 360p every frame rate counts, above it only full
    frame rate layers, and the lowest resolution always; beyond JVB, layers faster than
    ``max_frame_rate`` are left out (their slowest temporal layer stays)."""
    heights = source.layer_heights()
    active = [i for i, on in enumerate(source.active) if on]
    spatial = active or list(range(len(heights)))
    if constraints.max_height > 0 and active and all(heights[i] > constraints.max_height for i in active):
        spatial = active[:1]  # the sender stopped the small layers: its smallest still beats nothing
    tls = source.temporal_layers
    shares = TEMPORAL_SHARES.get(tls, TEMPORAL_SHARES[1])
    if constraints.max_height > DEFAULT_MAX_HEIGHT or constraints.max_height < 0:
        preferred_height, preferred_rate = ONSTAGE_PREFERRED_HEIGHT, ONSTAGE_PREFERRED_FRAME_RATE
    else:
        preferred_height, preferred_rate = -1, -1.0
    lowest = heights[spatial[0]]
    out: list[Candidate] = []
    for s in spatial:
        height = heights[s]
        bitrate = source.bitrate(s)
        for t in range(tls):
            rate = FULL_FRAME_RATE / (1 << (tls - 1 - t))
            if constraints.max_frame_rate > 0 and rate > constraints.max_frame_rate and t > 0:
                continue
            fits = constraints.max_height < 0 or height <= constraints.max_height
            if height < preferred_height or (fits and rate >= preferred_rate) or height == lowest:
                out.append(Candidate(s, t, height, rate, bitrate * shares[t]))
    top = max(preferred_height, lowest)
    preferred = max((i for i, c in enumerate(out) if c.height <= top), default=-1)
    oversend = -1
    if on_stage and out:
        if source.video_type.startswith("desktop"):  # JVB: resolution first, at any frame rate
            best = max(c.height for c in out)
            oversend = min((i for i, c in enumerate(out) if c.height == best), key=lambda i: out[i].bitrate)
        else:
            oversend = 0
    return out, preferred, oversend


class SourceAllocation:
    """One source's climb through its candidates while a receiver's budget is handed out."""

    def __init__(self, source: Source, menu: tuple[list[Candidate], int, int], on_stage: bool,
                 previous: tuple[int, int]):
        self.source = source
        self.on_stage = on_stage
        self.layers, self.preferred, self.oversend = menu  # as candidates() gives them
        self.previous = previous  # (spatial, temporal) of the last allocation, for the headroom rule
        self.index = -1

    @property
    def target_bitrate(self) -> float:
        return self.layers[self.index].bitrate if self.index >= 0 else 0.0

    @property
    def ideal_bitrate(self) -> float:
        return self.layers[-1].bitrate if self.layers else 0.0

    @property
    def reached_preferred(self) -> bool:
        return self.index >= self.preferred

    def _cost(self, i: int) -> float:
        layer = self.layers[i]
        climbing = (layer.spatial, layer.temporal) > self.previous
        return layer.bitrate * (UPGRADE_HEADROOM if climbing else 1.0)

    def improve(self, remaining: float, may_oversend: bool) -> float:
        """One step up within ``remaining`` bps (on stage: greedily up to the preferred layer);
        returns the bitrate it took."""
        before = self.target_bitrate
        room = remaining + before
        layers = self.layers
        if not layers:
            return 0.0
        if self.index < 0 and self.on_stage and self.preferred >= 0:
            for i in range(self.preferred + 1):
                if self._cost(i) > room:
                    break
                self.index = i
        elif self.index + 1 < len(layers) and self._cost(self.index + 1) < room:
            self.index += 1
        if may_oversend and self.index < self.oversend:
            for i in range(self.index + 1, self.oversend + 1):
                if layers[i].bitrate <= room + MAX_OVERSEND_BITRATE:
                    self.index = i
                    break
        return self.target_bitrate - before

    def allocate_ideal(self) -> None:
        self.index = len(self.layers) - 1


class Allocator(ABC):
    """The decisions; what acts on them (projections, SSRC slots, key-frame requests, the packets
    sent) is the forwarder's, which subclasses this and implements the abstract methods."""

    def __init__(self, *, trust_bwe: bool = True) -> None:
        self.trust_bwe = trust_bwe
        self.receivers: dict[str, Receiver] = {}
        self.sources: dict[str, Source] = {}
        self.muted: dict[str, tuple[bool, bool]] = {}  # endpoint -> (audio, video) force-muted
        self.speakers: list[str] = []  # endpoint ids, most recent speaker first
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.now = 0.0
        self.rtx_payload_types: dict[int, int] = {}  # media payload type -> its RTX payload type
        self._sender_constraints: dict[str, int] = {}
        # Relay id -> source name -> the largest height the other bridge's receivers ask of that
        # local source (its AddReceiver, relay.py): they count as receivers of the sender here.
        self.remote_receivers: dict[str, dict[str, int]] = {}
        self._rates_at: float | None = None
        self._probers: dict[str, Prober] = {}  # receiver id -> its probing state
        self._temporal_layers: dict[str, int] = {}  # source name -> temporal layers allocated for

    @abstractmethod
    def _project(self, receiver: Receiver, source: Source) -> Projection:
        """The receiver's projection of the source, created when it has none."""

    @abstractmethod
    def _activate(self, receiver: Receiver, forwarded: list[str]) -> None:
        """Map the sources now forwarded to the receiver onto its SSRCs (SSRC rewriting)."""

    @abstractmethod
    def request_keyframe(self, ssrc: int) -> None:
        """Ask the sender of this SSRC for a key frame."""

    @abstractmethod
    def recent_packets(self, projection: Projection, budget: int) -> list[bytearray]:
        """The newest packets sent on the projection, up to ``budget`` bytes (probing resends them)."""

    # --- allocation ------------------------------------------------------------------------------

    def allocate(self) -> None:
        """Recompute every receiver's projections and layers; queue the messages that changed."""
        wanted_by_source: dict[str, int] = {}
        menus: dict[tuple[Any, ...], tuple[list[Candidate], int, int]] = {}  # most receivers ask alike
        for receiver in self.receivers.values():
            order = self._ranking(receiver)
            chosen: list[SourceAllocation] = []
            for name in order:
                constraints = receiver.video_constraints(name)
                if constraints.disabled or 0 <= receiver.last_n <= len(chosen):
                    continue
                previous = receiver.projections.get(name)
                on_stage = name in receiver.on_stage
                key = (name, constraints.max_height, constraints.max_frame_rate, on_stage)
                menu = menus.get(key)
                if menu is None:
                    menu = menus[key] = candidates(self.sources[name], constraints, on_stage)
                chosen.append(SourceAllocation(self.sources[name], menu, on_stage,
                                               (previous.target, previous.wanted_tid) if previous else (NO_LAYER, 0)))
                height = constraints.max_height
                known = wanted_by_source.get(name, 0)
                wanted_by_source[name] = -1 if height < 0 or known < 0 else max(known, height)
            audio = self._audio_bitrate(receiver)
            if self.trust_bwe and receiver.bwe.known:
                receiver.allocated_for = receiver.bwe.estimate
                self._fit(chosen, receiver.bwe.estimate - audio)
            else:
                for allocation in chosen:
                    allocation.allocate_ideal()
            receiver.target_bitrate = audio + sum(a.target_bitrate for a in chosen)
            receiver.ideal_bitrate = audio + sum(a.ideal_bitrate for a in chosen)
            targets = {a.source.name: a.layers[a.index] for a in chosen if a.index >= 0}
            forwarded = [name for name in order if name in targets]
            for name in order:
                source = self.sources[name]
                projection = self._project(receiver, source)
                layer = targets.get(name)
                projection.target = NO_LAYER if layer is None else layer.spatial
                projection.wanted_tid = ALL_TEMPORAL if layer is None or layer.temporal == source.temporal_layers - 1 \
                    else layer.temporal
            self._activate(receiver, forwarded)
            for source in self.sources.values():
                if source.media == "audio" and source.owner != receiver.id:
                    audio_on = source.name not in receiver.audio_excluded
                    self._project(receiver, source).target = 0 if audio_on else NO_LAYER
            if forwarded != receiver.forwarded:
                receiver.forwarded = forwarded
                self.messages.append((receiver.id, {"colibriClass": "ForwardedSources",
                                                    "forwardedSources": list(forwarded)}))
        for wanted in self.remote_receivers.values():
            for name, height in wanted.items():
                known = wanted_by_source.get(name, 0)
                wanted_by_source[name] = -1 if height < 0 or known < 0 else max(known, height)
        for source in self.sources.values():
            if source.media != "video":
                continue
            height = wanted_by_source.get(source.name, 0)
            if self._sender_constraints.get(source.name) != height:
                self._sender_constraints[source.name] = height
                self.messages.append((source.owner, {"colibriClass": "SenderSourceConstraints",
                                                     "sourceName": source.name, "maxHeight": height}))
        for gone in self._probers.keys() - self.receivers.keys():
            del self._probers[gone]
        self._update_filters()
        self.request_pending_keyframes()

    def _audio_bitrate(self, receiver: Receiver) -> float:
        """What the audio the receiver subscribed to costs (bps, as measured): it comes off the
        estimate before any video."""
        return sum(source.rates[0] for source in self.sources.values()
                   if source.media == "audio" and source.owner != receiver.id and source.active[0]
                   and source.name not in receiver.audio_excluded
                   and not self.muted.get(source.owner, (False, False))[0])

    @staticmethod
    def _fit(chosen: list[SourceAllocation], budget: float) -> None:
        """Hand ``budget`` bps out to ``chosen`` (ranked) in rounds until nothing moves: each
        round every source climbs one step; an on-stage source short of its preferred layer
        stops the round, so no source below it is served first (JVB)."""
        remaining = budget
        before = None
        while before != remaining:
            before = remaining
            for rank, allocation in enumerate(chosen):
                remaining -= allocation.improve(remaining, rank == 0)
                if allocation.on_stage and not allocation.reached_preferred:
                    break

    def _update_filters(self) -> None:
        """Which sources the per-packet path must read temporal layers of: those some receiver
        gets at a reduced frame rate, or got so earlier (its picture ids stay rewritten)."""
        for source in self.sources.values():
            source.frame_rate_filter = False
        for receiver in self.receivers.values():
            for projection in receiver.projections.values():
                if projection.wanted_tid != ALL_TEMPORAL or projection.max_tid != ALL_TEMPORAL or projection.pid_off:
                    projection.source.frame_rate_filter = True

    def check_layers(self) -> None:
        """Periodic: measure layer bitrates; reallocate when a sender starts or stops sending a
        simulcast layer or shows temporal layers, or a receiver's estimate moved away from what
        its allocation fitted or grew enough for its ideal allocation."""
        changed = False
        elapsed = None if self._rates_at is None else self.now - self._rates_at
        if elapsed is None or elapsed > 0:
            self._rates_at = self.now
        for source in self.sources.values():
            if elapsed is None or elapsed > 0:
                source.update_rates(elapsed)
            # Audio activity only feeds the stats; video layers drive the allocation.
            if source.update_active() and source.media == "video":
                changed = True
            if source.temporal_layers != self._temporal_layers.get(source.name, 1):
                self._temporal_layers[source.name] = source.temporal_layers
                changed = True
        if self.trust_bwe:
            for receiver in self.receivers.values():
                bwe = receiver.bwe
                if not bwe.known:
                    continue
                if receiver.allocated_for is None or abs(bwe.estimate - receiver.allocated_for) \
                        > REALLOCATE_CHANGE * receiver.allocated_for:
                    changed = True
                elif receiver.target_bitrate < receiver.ideal_bitrate <= bwe.estimate / UPGRADE_HEADROOM:
                    changed = True  # probing brought the estimate to where the ideal fits
        if changed:
            self.allocate()

    def probe(self, now: float) -> None:
        """Periodic (every tick): probe each receiver whose allocation wants more than its
        estimate, on the RTX SSRC of the first forwarded stream it knows (``probing.py``): that
        stream's newest packets again, then padding."""
        for receiver in self.receivers.values():
            bwe = receiver.bwe
            if not (self.rtx_payload_types and self.trust_bwe and bwe.transport_cc and receiver.transport_cc_id):
                continue
            prober = self._probers.get(receiver.id)
            if prober is None:
                prober = self._probers[receiver.id] = Prober()
            # Climbing needs headroom (see _fit): probe until the ideal allocation fits with it.
            budget = prober.due(now, receiver.ideal_bitrate * UPGRADE_HEADROOM, receiver.target_bitrate, bwe.estimate)
            if not budget:
                continue
            stream = next((p for p in map(receiver.projections.__getitem__, receiver.forwarded) if eligible(p, now)),
                          None)
            if stream is None:
                continue
            assert stream.out_rtx is not None  # eligible
            for packet in prober.probes(budget, self.recent_packets(stream, budget), stream.out_rtx,
                                        self.rtx_payload_types, stream.last_ts, receiver.transport_cc_id, bwe, now):
                receiver.deliver(packet, stream.out_rtx)

    def request_pending_keyframes(self) -> None:
        """Ask again for every key frame a receiver still waits for: the first request may have
        gone out before the sender's transport was up, or been lost."""
        for receiver in self.receivers.values():
            for projection in receiver.projections.values():
                if projection.target != NO_LAYER and projection.target != projection.current:
                    self.request_keyframe(projection.source.layers[projection.target])

    def initial_messages(self, endpoint_id: str) -> list[dict[str, Any]]:
        """What a freshly connected bridge channel gets (docs/bridge-media.md §6.3)."""
        out = [{"colibriClass": "SenderSourceConstraints", "sourceName": name, "maxHeight": height}
               for name, height in self._sender_constraints.items()
               if name in self.sources and self.sources[name].owner == endpoint_id]
        receiver = self.receivers.get(endpoint_id)
        if receiver is not None:
            out.append({"colibriClass": "ForwardedSources", "forwardedSources": list(receiver.forwarded)})
            if receiver.rewrite_ssrcs:
                out.extend(self._source_maps(receiver, list(receiver.projections.values())))
        return out

    def _ranking(self, receiver: Receiver) -> list[str]:
        video = [s for s in self.sources.values() if s.media == "video" and s.owner != receiver.id
                 and not self.muted.get(s.owner, (False, False))[1] and not receiver.visitor
                 and s.video_type not in DISABLED_VIDEO_TYPES]
        speaker_rank = {e: i for i, e in enumerate(self.speakers)}

        def key(source: Source) -> tuple[bool, bool, int]:
            return (source.name not in receiver.on_stage, source.name not in receiver.selected,
                    speaker_rank.get(source.owner, len(speaker_rank)))
        return [s.name for s in sorted(video, key=key)]

    @staticmethod
    def _source_maps(receiver: Receiver, projections: list[Projection]) -> list[dict[str, Any]]:
        """The maps announcing ``projections``' SSRCs; one without a slot yet has nothing to say."""
        mapped = [p for p in projections if p.out_ssrc is not None]
        video = [{"source": p.source.name, "owner": p.source.owner, "ssrc": p.out_ssrc, "rtx": p.out_rtx,
                  "videoType": p.source.video_type.upper()} for p in mapped if p.source.media == "video"]
        audio = [{"source": p.source.name, "owner": p.source.owner, "ssrc": p.out_ssrc}
                 for p in mapped if p.source.media == "audio"]
        out = []
        if video:
            out.append({"colibriClass": "VideoSourcesMap", "mappedSources": video})
        if audio:
            out.append({"colibriClass": "AudioSourcesMap", "mappedSources": audio})
        return out
