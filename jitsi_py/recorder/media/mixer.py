"""The audio mix: everyone's 48 kHz mono samples summed on one timeline, clipped to 16 bits.

Sans-I/O: the caller stamps each chunk with its arrival time on the pipeline's clock (the clock
the video frames are stamped with, which is what keeps sound and picture in sync) and pulls the
mix up to a sample index. A chunk is placed where it arrived, ending at its arrival time; the next
chunk of the same source follows it seamlessly unless arrival times say it drifted more than
`resync` away, so network jitter does not chop the sound. Output lags the clock by `latency`, so
chunks arriving up to that late still make it into the mix; anything later is dropped.
"""

from __future__ import annotations

import numpy as np

RATE = 48000


class Mixer:
    def __init__(self, rate: int = RATE, latency: float = 0.1, resync: float = 0.06, capacity: float = 2.0):
        self.rate = rate
        self.latency = round(latency * rate)
        self._resync = round(resync * rate)
        self._buffer = np.zeros(round(capacity * rate), np.int32)
        self.position = 0  # the first sample not pulled yet
        self._next: dict[str, int] = {}  # per source, where its next chunk goes if it is seamless

    def push(self, source: str, samples: np.ndarray, arrival: float) -> None:
        """Adds `samples` (int16 mono) of `source` that arrived at `arrival` seconds on the clock."""
        count = len(samples)
        start = round(arrival * self.rate) - count
        seamless = self._next.get(source)
        if seamless is not None and abs(start - seamless) <= self._resync:
            start = seamless
        self._next[source] = start + count
        lo = max(start, self.position)
        hi = min(start + count, self.position + len(self._buffer))
        if lo < hi:
            self._buffer[lo - self.position:hi - self.position] += samples[lo - start:hi - start]

    def forget(self, source: str) -> None:
        self._next.pop(source, None)

    def due(self, now: float) -> int:
        """The sample index the mix can be pulled up to at `now`: late chunks still have `latency` to come."""
        return max(self.position, round(now * self.rate) - self.latency)

    def pull(self, until: int) -> np.ndarray:
        """The mix from `position` up to `until` as int16, clipped; the buffer moves on."""
        count = max(0, until - self.position)
        out = np.zeros(count, np.int16)
        held = min(count, len(self._buffer))
        np.clip(self._buffer[:held], -32768, 32767, out=out[:held], casting="unsafe")
        self._buffer[:len(self._buffer) - held] = self._buffer[held:].copy()
        self._buffer[len(self._buffer) - held:] = 0
        self.position += count
        return out
