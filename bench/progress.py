"""A one-line progress bar on stderr; a plain line per update when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(self, label: str, total: int, out: TextIO | None = None, min_interval: float = 0.2):
        self.label = label
        self.total = max(1, total)
        self.done = 0
        self.out = out or sys.stderr
        self.tty = self.out.isatty()
        self.min_interval = min_interval if self.tty else 2.0
        self.started = time.monotonic()
        self.shown = 0.0
        self.note = ""

    def advance(self, count: int = 1, note: str | None = None) -> None:
        self.done = min(self.total, self.done + count)
        if note is not None:
            self.note = note
        now = time.monotonic()
        if now - self.shown >= self.min_interval or self.done == self.total:
            self.shown = now
            self.out.write(self.render(now) + ("\r" if self.tty else "\n"))
            self.out.flush()

    def render(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        filled = WIDTH * self.done // self.total
        bar = "#" * filled + "-" * (WIDTH - filled)
        elapsed = now - self.started
        return f"{self.label:<24} [{bar}] {self.done}/{self.total} {elapsed:6.1f}s {self.note}"[:160]

    def close(self) -> None:
        if self.tty:
            self.out.write(self.render() + "\n")
            self.out.flush()
