"""A receiver's bounded set of outgoing SSRCs when it rewrites SSRCs (docs/bridge-media.md §4.3, §6.2).

An endpoint that signalled the ``ssrc-rewriting`` capability gets no remote sources in Jingle: it
learns from ``VideoSourcesMap``/``AudioSourcesMap`` which source and owner each SSRC carries, and
adds a synthetic remote source for every SSRC it has not seen yet. JVB bounds those per receiver
(``videobridge.ssrc-limit``: 50 video, 50 audio): a source the receiver is sent gets a *slot* (an
SSRC, and an RTX SSRC for video); when all slots are taken, the least recently used one that may
go is handed to the new source and announced again with its new owner. JVB does not announce a
release (only additions matter to the client), so a released slot's SSRCs simply wait here for
the next source, which spares the client one more synthetic source.

Sans-I/O and media-agnostic: a *holder* is whatever object the caller maps onto a slot (the
forwarder's projections); ``now`` is the caller's clock; which holders may lose their slot is the
caller's ``idle`` predicate.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Generic, TypeVar

H = TypeVar("H")  # what a slot is held by: the forwarder's projection

VIDEO_SLOTS = 50  # JVB's videobridge.ssrc-limit.video
AUDIO_SLOTS = 50  # JVB's videobridge.ssrc-limit.audio


class Slot(Generic[H]):
    __slots__ = ("ssrc", "rtx", "holder", "before", "used")

    def __init__(self, ssrc: int, rtx: int | None) -> None:
        self.ssrc = ssrc
        self.rtx = rtx
        self.holder: H | None = None
        self.before: H | None = None  # the holder before this one: the stream goes on from it
        self.used = 0.0  # when its holder was last used (forwarded)


class SsrcPool(Generic[H]):
    """One media's slots for one receiver. ``issued`` is shared by a receiver's pools, so no
    SSRC is handed out twice."""

    def __init__(self, size: int, *, with_rtx: bool, issued: set[int]) -> None:
        if size < 1:
            raise ValueError(f"an SSRC pool needs at least one slot, not {size}")
        self.size = size
        self.with_rtx = with_rtx
        self.slots: list[Slot[H]] = []
        self._free: list[Slot[H]] = []  # released slots, reused before any eviction
        self.remaps = 0  # slots handed from one holder to another (JVB's "remappings")
        self._issued = issued
        self._by_holder: dict[H, Slot[H]] = {}

    def slot(self, holder: H) -> Slot[H] | None:
        return self._by_holder.get(holder)

    def use(self, holder: H, now: float) -> None:
        slot = self._by_holder.get(holder)
        if slot is not None:
            slot.used = now

    def take(self, holder: H, now: float, idle: Callable[[H], bool] | None = None
             ) -> tuple[Slot[H], H | None] | None:
        """A slot for ``holder``, which has none: a released one (the client knows its SSRCs), else
        a new one while the pool is below its size, else, given ``idle``, the least recently used
        slot whose holder ``idle`` lets go. Returns the slot and the holder it was taken from (None
        when it was free), or None when no slot can be had. O(1) unless it evicts."""
        if holder in self._by_holder:
            raise ValueError("this holder already has a slot")
        previous: H | None = None
        if self._free:
            slot = self._free.pop()
        elif len(self.slots) < self.size:
            slot = Slot(self._new_ssrc(), self._new_ssrc() if self.with_rtx else None)
            self.slots.append(slot)
        else:
            if idle is None:
                return None
            # No free slot and the pool full: every slot is held.
            held = (s for s in self.slots if s.holder is not None and idle(s.holder))
            evicted = min(held, key=lambda s: s.used, default=None)
            if evicted is None:
                return None
            slot = evicted
            previous = slot.before = evicted.holder
            assert previous is not None
            del self._by_holder[previous]
            self.remaps += 1
        slot.holder = holder
        slot.used = now
        self._by_holder[holder] = slot
        return slot, previous

    def release(self, holder: H) -> None:
        slot = self._by_holder.pop(holder, None)
        if slot is not None:
            slot.before = holder
            slot.holder = None
            self._free.append(slot)

    def _new_ssrc(self) -> int:
        while True:
            ssrc = secrets.randbits(32)
            if ssrc and ssrc not in self._issued:
                self._issued.add(ssrc)
                return ssrc


def receiver_pools(video: int = VIDEO_SLOTS, audio: int = AUDIO_SLOTS) -> dict[str, SsrcPool[H]]:
    """A receiver's pools by media, drawing their SSRCs from one set."""
    issued: set[int] = set()
    return {"video": SsrcPool(video, with_rtx=True, issued=issued),
            "audio": SsrcPool(audio, with_rtx=False, issued=issued)}
