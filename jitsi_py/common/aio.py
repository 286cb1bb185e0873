"""The one piece of asyncio glue every sans-I/O core shares: a single timer kept at its deadline."""

from __future__ import annotations

import asyncio
from typing import Callable


class Rearm:
    """Calls ``fire(now)`` at the deadline last given to :meth:`at`; moves the timer only on change."""

    __slots__ = ("_loop", "_fire", "_when", "_handle")

    def __init__(self, loop: asyncio.AbstractEventLoop, fire: Callable[[float], None]) -> None:
        self._loop = loop
        self._fire = fire
        self._when: float | None = None
        self._handle: asyncio.TimerHandle | None = None

    def at(self, when: float | None) -> None:
        if when == self._when:
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._when = when
        if when is not None:
            self._handle = self._loop.call_at(when, self._run)

    def cancel(self) -> None:
        self.at(None)

    def _run(self) -> None:
        self._handle = None
        self._when = None
        self._fire(self._loop.time())
