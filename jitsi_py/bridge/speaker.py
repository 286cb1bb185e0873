"""Dominant speaker identification from RFC 6464 audio levels (sans-I/O).

Each audio packet's level (-dBov, 0 loudest, 127 silence) feeds a per-endpoint running energy;
:meth:`DominantSpeaker.tick` (a few times a second) decays them and names the endpoint whose
energy has led for long enough. Simpler than Jitsi's three-window algorithm, with the same
observable contract: a change event with the new speaker and the recent speakers, most recent
first, and no flapping (a challenger must lead for ``HOLD`` seconds).
"""

from __future__ import annotations

from typing import Any

SILENCE_LEVEL = 127
SPEECH_THRESHOLD = 40.0  # energy units: about -60 dBov sustained
DECAY = 0.6  # energy kept per tick
HOLD = 1.0  # seconds a challenger must lead before it takes over
RECENT_SPEAKERS = 10


class DominantSpeaker:
    def __init__(self) -> None:
        self.energy: dict[str, float] = {}
        self._sums: dict[str, float] = {}
        self.dominant: str | None = None
        self.recent: list[str] = []  # previous speakers, most recent first
        self._challenger: str | None = None
        self._since = 0.0
        self.changes = 0

    def level(self, endpoint_id: str, level: int) -> None:
        """Per packet: a dict update, nothing else."""
        loudness = SILENCE_LEVEL - level
        self._sums[endpoint_id] = self._sums.get(endpoint_id, 0.0) + loudness

    def remove(self, endpoint_id: str) -> None:
        self.energy.pop(endpoint_id, None)
        self._sums.pop(endpoint_id, None)
        if endpoint_id in self.recent:
            self.recent.remove(endpoint_id)
        if self.dominant == endpoint_id:
            self.dominant = None

    def tick(self, now: float) -> str | None:
        """Fold the levels seen since the last tick; returns the new dominant speaker on a change."""
        for endpoint_id in set(self.energy) | set(self._sums):
            self.energy[endpoint_id] = self.energy.get(endpoint_id, 0.0) * DECAY + self._sums.get(endpoint_id, 0.0)
        self._sums.clear()
        if not self.energy:
            return None
        leader = max(self.energy, key=self.energy.__getitem__)
        if leader == self.dominant or self.energy[leader] < SPEECH_THRESHOLD:
            self._challenger = None
            return None
        if leader != self._challenger:
            self._challenger, self._since = leader, now
            if self.dominant is not None:
                return None
        elif now - self._since < HOLD:
            return None
        if self.dominant is not None:
            self.recent.insert(0, self.dominant)
        self.recent = [e for e in dict.fromkeys(self.recent) if e != leader][:RECENT_SPEAKERS]
        self.dominant = leader
        self._challenger = None
        self.changes += 1
        return leader

    def message(self) -> dict[str, Any]:
        return {"colibriClass": "DominantSpeakerEndpointChangeEvent", "dominantSpeakerEndpoint": self.dominant,
                "previousSpeakers": list(self.recent), "silence": False}
