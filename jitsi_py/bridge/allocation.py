"""Bandwidth allocation: which layer of which source each receiver gets (bridge-media.md §4.3-4.6).

Sans-I/O. :class:`Allocator` holds the conference's signalling state (receivers, sources, the
speaker ranking, force-mute) and turns it into per-(receiver, source) targets; the forwarder
subclass supplies the projections those targets live in (``_project``) and the key-frame requests
a new target needs (``request_keyframe``). Bridge-channel messages the allocation produces are
queued in ``messages`` as ``(endpoint id, dict)``.

With ``trust_bwe`` each receiver's layers are fitted into its estimate, in ranking order: every
forwarded source first gets its lowest layer (those that do not fit are not forwarded, except the
first), then each in turn climbs towards what its constraints allow while the estimate has room.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .forwarder import Projection, Receiver, Source

NO_LAYER = -1
DEFAULT_MAX_HEIGHT = 180
ONSTAGE_PREFERRED_HEIGHT = 360
REALLOCATE_CHANGE = 0.1  # an estimate this much (relative) away from the last allocation's
UPGRADE_HEADROOM = 1.15  # climbing above the previous allocation needs this much room: no flapping
# A layer's bitrate before it was measured: libwebrtc's simulcast maxima, by height.
NOMINAL_BITRATES = ((180, 200_000), (360, 700_000), (720, 2_500_000))


@dataclass
class VideoConstraints:
    max_height: int = -1
    max_frame_rate: float = -1.0


class Allocator:
    def __init__(self, *, trust_bwe: bool = True) -> None:
        self.trust_bwe = trust_bwe
        self.receivers: dict[str, Receiver] = {}
        self.sources: dict[str, Source] = {}
        self.muted: dict[str, tuple[bool, bool]] = {}  # endpoint -> (audio, video) force-muted
        self.speakers: list[str] = []  # endpoint ids, most recent speaker first
        self.messages: list[tuple[str, dict]] = []
        self.now = 0.0
        self._sender_constraints: dict[str, int] = {}
        self._rates_at: float | None = None

    def _project(self, receiver: Receiver, source: Source) -> Projection:
        raise NotImplementedError("the forwarder creates projections")

    def request_keyframe(self, ssrc: int) -> None:
        raise NotImplementedError("the forwarder sends key-frame requests")

    # --- allocation ------------------------------------------------------------------------------

    def allocate(self) -> None:
        """Recompute every receiver's projections and layers; queue the messages that changed."""
        wanted_by_source: dict[str, int] = {}
        for receiver in self.receivers.values():
            order = self._ranking(receiver)
            chosen: list[tuple[Source, int]] = []  # (source, the layer its constraints allow)
            for name in order:
                source = self.sources[name]
                height = receiver.max_height(name)
                if height != 0 and (receiver.last_n < 0 or len(chosen) < receiver.last_n):
                    heights = source.layer_heights()
                    layer = 0
                    for index, layer_height in enumerate(heights):
                        if height < 0 or layer_height <= height:
                            layer = index
                    layer = source.choose_layer(layer)
                    chosen.append((source, layer))
                    wanted = heights[layer] if height < 0 else min(height, heights[-1])
                    wanted_by_source[name] = max(wanted_by_source.get(name, 0), max(wanted, heights[layer]))
            targets = {source.name: layer for source, layer in chosen}
            if self.trust_bwe and receiver.bwe.known:
                receiver.allocated_for = receiver.bwe.estimate
                previous = {name: p.target for name, p in receiver.projections.items()}
                targets = self._fit(chosen, receiver.bwe.estimate, previous)
            forwarded = [name for name in order if targets.get(name, NO_LAYER) != NO_LAYER]
            for name in order:
                self._project(receiver, self.sources[name]).target = targets.get(name, NO_LAYER)
            for source in self.sources.values():
                if source.media == "audio" and source.owner != receiver.id:
                    audio_on = source.name not in receiver.audio_excluded
                    self._project(receiver, source).target = 0 if audio_on else NO_LAYER
            if forwarded != receiver.forwarded:
                receiver.forwarded = forwarded
                self.messages.append((receiver.id, {"colibriClass": "ForwardedSources",
                                                    "forwardedSources": list(forwarded)}))
        for source in self.sources.values():
            if source.media != "video":
                continue
            height = wanted_by_source.get(source.name, 0)
            if self._sender_constraints.get(source.name) != height:
                self._sender_constraints[source.name] = height
                self.messages.append((source.owner, {"colibriClass": "SenderSourceConstraints",
                                                     "sourceName": source.name, "maxHeight": height}))
        self.request_pending_keyframes()

    @staticmethod
    def _fit(chosen: list[tuple[Source, int]], budget: float, previous: dict[str, int]) -> dict[str, int]:
        """Layers for ``chosen`` (ranked, each with its allowed layer) within ``budget`` bps;
        a layer above the ``previous`` allocation's must fit with ``UPGRADE_HEADROOM``, so a
        layer whose bitrate wobbles around the estimate is not switched to and fro."""
        remaining = budget
        layers: list[int] = []
        for rank, (source, _) in enumerate(chosen):
            lowest = source.choose_layer(0)
            cost = source.bitrate(lowest)
            if cost <= remaining or rank == 0:
                layers.append(lowest)
                remaining -= cost
            else:
                layers.append(NO_LAYER)
        for rank, (source, allowed) in enumerate(chosen):
            layer = layers[rank]
            if layer == NO_LAYER:
                continue
            any_active = any(source.active)
            for up in range(layer + 1, allowed + 1):
                if any_active and not source.active[up]:
                    continue
                extra = source.bitrate(up) - source.bitrate(layer)
                if extra * (1 if up <= previous.get(source.name, NO_LAYER) else UPGRADE_HEADROOM) > remaining:
                    break
                remaining -= extra
                layer = up
            layers[rank] = layer
        return {source.name: layer for (source, _), layer in zip(chosen, layers)}

    def check_layers(self) -> None:
        """Periodic: measure layer bitrates; reallocate when a sender starts or stops sending a
        simulcast layer, or a receiver's estimate moved away from what its allocation fitted."""
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
        if self.trust_bwe:
            for receiver in self.receivers.values():
                bwe = receiver.bwe
                if bwe.known and (receiver.allocated_for is None or abs(bwe.estimate - receiver.allocated_for)
                                  > REALLOCATE_CHANGE * receiver.allocated_for):
                    changed = True
        if changed:
            self.allocate()

    def request_pending_keyframes(self) -> None:
        """Ask again for every key frame a receiver still waits for: the first request may have
        gone out before the sender's transport was up, or been lost."""
        for receiver in self.receivers.values():
            for projection in receiver.projections.values():
                if projection.target != NO_LAYER and projection.target != projection.current:
                    self.request_keyframe(projection.source.layers[projection.target])

    def initial_messages(self, endpoint_id: str) -> list[dict]:
        """What a freshly connected bridge channel gets (bridge-media.md §6.3)."""
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
                 and not self.muted.get(s.owner, (False, False))[1] and not receiver.visitor]
        speaker_rank = {e: i for i, e in enumerate(self.speakers)}

        def key(source: Source):
            return (source.name not in receiver.on_stage, source.name not in receiver.selected,
                    speaker_rank.get(source.owner, len(speaker_rank)))
        return [s.name for s in sorted(video, key=key)]

    @staticmethod
    def _source_maps(receiver: Receiver, projections: list[Projection]) -> list[dict]:
        video = [{"source": p.source.name, "owner": p.source.owner, "ssrc": p.out_ssrc, "rtx": p.out_rtx,
                  "videoType": p.source.video_type.upper()} for p in projections if p.source.media == "video"]
        audio = [{"source": p.source.name, "owner": p.source.owner, "ssrc": p.out_ssrc}
                 for p in projections if p.source.media == "audio"]
        out = []
        if video:
            out.append({"colibriClass": "VideoSourcesMap", "mappedSources": video})
        if audio:
            out.append({"colibriClass": "AudioSourcesMap", "mappedSources": audio})
        return out
