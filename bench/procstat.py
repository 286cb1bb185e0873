"""Peak resident memory and CPU seconds of a server's process tree, read from /proc."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: split after its last ')'
    return raw[raw.rindex(")") + 2:].split()


def tree(root: int) -> list[int]:
    """root and its descendants alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def sample(pids: list[int]) -> tuple[int, float]:
    """(resident bytes, CPU seconds user+system) summed over pids."""
    rss, cpu = 0, 0.0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is None:
            continue
        cpu += (int(fields[11]) + int(fields[12])) / TICKS
        rss += int(fields[21]) * PAGE
    return rss, cpu


class Sampler:
    """Samples a process tree every `interval` seconds while running; cpu_seconds counts from start()."""

    def __init__(self, root: int, interval: float = 0.25):
        self.root = root
        self.interval = interval
        self.peak_rss = 0
        self._cpu0 = 0.0
        self._cpu = 0.0
        self._pids: list[int] = []
        self._task: asyncio.Task | None = None

    def _once(self) -> None:
        self._pids = tree(self.root)
        rss, cpu = sample(self._pids)
        self.peak_rss = max(self.peak_rss, rss)
        self._cpu = max(self._cpu, cpu)

    def start(self) -> None:
        self._once()
        self._cpu0 = self._cpu
        self.peak_rss = 0
        self._once()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self._once()

    def stop(self) -> dict:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._once()
        return {"peak_rss_mb": round(self.peak_rss / 2**20, 1), "cpu_s": round(self._cpu - self._cpu0, 2)}
