"""Deadlines of a MUC host and its room modules, kept sans-I/O.

The service schedules callbacks at times on its own clock; whoever drives it (the router, a
test) asks :meth:`Timers.deadline` after each input and calls :meth:`Timers.run` with the time
once that deadline has passed. No asyncio here: the one real timer lives in the driver.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Callable


class Timer:
    """A scheduled callback; :meth:`cancel` is cheap (the entry is skipped when it comes up)."""

    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Timers:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()  # ties run in scheduling order

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(when, callback)
        heapq.heappush(self._heap, (when, next(self._order), timer))
        return timer

    def deadline(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def run(self, now: float) -> None:
        """Run every callback due at ``now``, including those a callback schedules for then."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, timer = heapq.heappop(heap)
            if not timer.cancelled:
                timer.cancelled = True  # a handle kept by its owner now reads as spent
                timer.callback()

    def __len__(self) -> int:
        return sum(1 for _, _, timer in self._heap if not timer.cancelled)
