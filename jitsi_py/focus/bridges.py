"""The bridge table: brewery presence in, bridge choice out (docs/focus.md §5.1-5.3). Sans-I/O.

A bridge is known from its first brewery presence carrying ``<stats>``; it is forgotten when it
leaves the brewery. A failed health check (:meth:`BridgeTable.health_checked` holds the rules) or
Colibri2 timeout makes it non-operational for ``failure_reset`` seconds. Selection follows
jicofo's single-bridge strategy: keep a conference on the bridge it already uses while that
bridge is fit, else prefer (in this order) operational, not shutting down, not draining, not in
graceful shutdown, the participant's region, the least corrected stress; a bridge that reached
the per-conference participant cap is passed over while another fits.

With Octo (``multi_bridge``) a conference spans bridges only through relays, so a bridge new to it
needs a relay id, as the bridges it already uses do; ``OCTO_BRIDGE_SELECTION_STRATEGY`` then picks:
split (a bridge the conference does not use yet, else its least used one) or region-based (a
bridge of the participant's region, in the conference first), else the single-bridge rule above.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Mapping

# Health checks, as jicofo's JvbDoctor judges them: a ``result`` is healthy; these conditions come
# from the bridge itself and mean it is not, as does no answer to HEALTH_ATTEMPTS checks in a row
# (reported as UNANSWERED). ``item-not-found`` comes from the brewery MUC: the bridge left it. Any
# other error is the MUC's too and says nothing about the bridge.
HEALTH_ATTEMPTS = 2
UNANSWERED = "remote-server-timeout"
UNHEALTHY = frozenset({"internal-server-error", "service-unavailable", UNANSWERED})
# Why a bridge is down after a health check.
LEFT = "left"
FAILED = "failed"

# OCTO_BRIDGE_SELECTION_STRATEGY values (jicofo's class names, as settings lower-case them).
SINGLE = "singlebridgeselectionstrategy"
SPLIT = "splitbridgeselectionstrategy"
REGION_BASED = "regionbasedbridgeselectionstrategy"


@dataclass(frozen=True)
class IceFailureDetection:
    """jicofo's bridge.ice-failure-detection: a bridge on which more than ``threshold`` of its
    endpoints asked for a restart within ``interval`` (once it has ``min_endpoints``) counts as
    failing ICE for ``timeout``, refreshed while that holds; it is then ranked as overloaded, so
    new participants go elsewhere while another bridge fits. Defaults: jicofo's reference.conf."""

    enabled: bool = False
    interval: float = 120.0
    min_endpoints: int = 30
    threshold: float = 0.1
    timeout: float = 600.0


@dataclass(frozen=True)
class LoadRedistribution:
    """jicofo's bridge.load-redistribution: every ``interval``, while some bridge is not overloaded,
    each bridge at or above ``stress_threshold`` corrected stress has up to ``endpoints`` endpoints
    moved away, then is left alone for ``timeout``. Defaults: jicofo's reference.conf."""

    enabled: bool = False
    interval: float = 60.0
    stress_threshold: float = 0.9
    timeout: float = 180.0
    endpoints: int = 10


def redistribution_moves(on_bridge: Mapping[str, int], count: int) -> dict[str, int]:
    """How many endpoints each conference gives up: the conferences with the most endpoints on the
    bridge first, greedily, ``count`` in all (jicofo's selection)."""
    moves: dict[str, int] = {}
    for conference, endpoints in sorted(on_bridge.items(), key=lambda item: (-item[1], item[0])):
        take = min(endpoints, count - sum(moves.values()))
        if take <= 0:
            break
        moves[conference] = take
    return moves


def _flag(stats: Mapping[str, str], name: str) -> bool | None:
    value = stats.get(name)
    return None if value is None else value.strip().lower() == "true"


def _number(stats: Mapping[str, str], name: str) -> float | None:
    try:
        return float(stats[name])
    except (KeyError, ValueError):
        return None


MAX_FAILED_RELAYS = 100  # read from one presence; more is not a bridge of ours


@dataclass
class Bridge:
    jid: str  # the brewery occupant JID: the address of every Colibri2 and health IQ
    stress: float = 0.0
    participant_stress: float | None = None
    drain: bool = True  # jicofo assumes draining until the bridge says otherwise
    graceful_shutdown: bool = False
    shutting_down: bool = False
    region: str | None = None
    relay_id: str | None = None
    version: str | None = None
    healthy_stat: bool = True
    failed_at: float | None = None
    # When endpoints were placed recently: they raise the corrected stress until the bridge's own
    # stats catch up with them.
    recent: list[float] = field(default_factory=list)
    endpoints: int = 0  # as the bridge reports them
    restart_requests: deque[float] = field(default_factory=deque)  # when its endpoints asked for a restart
    failing_ice_since: float | None = None  # the last time ICE failure detection found it failing
    redistributed_at: float | None = None  # when load redistribution last moved endpoints off it
    # (meeting id, relay id) of the relays our bridge says have failed (its stats' failed_relays)
    failed_relays: frozenset[tuple[str, str]] = frozenset()

    def update(self, stats: Mapping[str, str]) -> None:
        self.stress = _number(stats, "stress_level") or 0.0
        self.participant_stress = _number(stats, "average_participant_stress")
        drain = _flag(stats, "drain")
        if drain is not None:
            self.drain = drain
        # Once announced, a shutdown stays announced for this bridge instance.
        self.graceful_shutdown = self.graceful_shutdown or bool(_flag(stats, "graceful_shutdown"))
        self.shutting_down = self.shutting_down or bool(_flag(stats, "shutting_down"))
        self.region = stats.get("region") or None
        self.relay_id = stats.get("relay_id") or None
        self.version = stats.get("version") or None
        self.endpoints = int(_number(stats, "endpoints") or _number(stats, "participants") or 0)
        healthy = _flag(stats, "healthy")
        self.healthy_stat = True if healthy is None else healthy
        self.failed_relays = frozenset(
            (meeting, relay) for meeting, _, relay in (entry.partition("/") for entry in
                                                       stats.get("failed_relays", "").split()[:MAX_FAILED_RELAYS])
            if meeting and relay)


class BridgeTable:
    def __init__(self, *, participant_stress: float = 0.01, stress_threshold: float = 0.8,
                 max_participants: int = 80, failure_reset: float = 60.0, rampup: float = 20.0,
                 region: str | None = None, strategy: str | None = None,
                 ice_failure: IceFailureDetection = IceFailureDetection(),
                 redistribution: LoadRedistribution = LoadRedistribution()) -> None:
        self.default_participant_stress = participant_stress
        self.stress_threshold = stress_threshold
        self.max_participants = max_participants
        self.failure_reset = failure_reset
        self.rampup = rampup
        self.region = region
        self.strategy = (strategy or SINGLE).lower()
        self.ice_failure = ice_failure
        self.redistribution = redistribution
        self.bridges: dict[str, Bridge] = {}

    # --- inputs -----------------------------------------------------------------------------------

    def presence(self, jid: str, stats: Mapping[str, str] | None) -> Bridge | None:
        """A brewery presence; ``stats`` None (no ``<stats>``) is not a bridge and is ignored."""
        if stats is None:
            return self.bridges.get(jid)
        bridge = self.bridges.get(jid)
        if bridge is None:
            bridge = self.bridges[jid] = Bridge(jid)
        bridge.update(stats)
        return bridge

    def left(self, jid: str) -> Bridge | None:
        return self.bridges.pop(jid, None)

    def failed(self, jid: str, now: float) -> None:
        bridge = self.bridges.get(jid)
        if bridge is not None:
            bridge.failed_at = now

    def healthy(self, jid: str) -> None:
        bridge = self.bridges.get(jid)
        if bridge is not None:
            bridge.failed_at = None

    def health_checked(self, jid: str, condition: str | None, now: float, *, in_brewery: bool) -> str | None:
        """One health check's outcome (``condition`` None for a ``result``): :data:`LEFT` or
        :data:`FAILED` when the bridge is down and its participants must move, else None. Only
        while the focus is in the brewery does a failure count: out of it, our own connection
        may be what went unanswered."""
        if condition is None:
            self.healthy(jid)
            return None
        if condition == "item-not-found":
            return LEFT if self.left(jid) is not None else None
        if condition in UNHEALTHY and in_brewery and jid in self.bridges:
            self.failed(jid, now)
            return FAILED
        return None

    def endpoint_added(self, jid: str, now: float) -> None:
        bridge = self.bridges.get(jid)
        if bridge is not None:
            bridge.recent.append(now)

    def restart_requested(self, jid: str, now: float) -> bool:
        """An endpoint on the bridge asked for a full restart (a session-terminate with restart, or
        ICE failed); an in-place ICE restart does not count, as in jicofo. True when this makes
        the bridge failing ICE (:class:`IceFailureDetection`)."""
        bridge = self.bridges.get(jid)
        if bridge is None:
            return False
        rule = self.ice_failure
        requests = bridge.restart_requests
        requests.append(now)
        while requests and now - requests[0] >= rule.interval:
            requests.popleft()
        if not rule.enabled or bridge.endpoints < rule.min_endpoints:
            return False
        if len(requests) <= bridge.endpoints * rule.threshold:
            return False
        entered = not self.failing_ice(bridge, now)
        bridge.failing_ice_since = now
        return entered

    def to_relieve(self, now: float) -> list[str]:
        """The bridges load redistribution moves endpoints off now (each then rests for the
        timeout); none while no bridge could take them."""
        rule = self.redistribution
        if not rule.enabled:
            return []
        available = self.available(now)
        if not any(self.corrected_stress(b, now) < self.stress_threshold for b in available):
            return []
        due = [b for b in available if (b.redistributed_at is None or now - b.redistributed_at >= rule.timeout)
               and self.corrected_stress(b, now) >= rule.stress_threshold]
        for bridge in due:
            bridge.redistributed_at = now
        return [b.jid for b in due]

    # --- queries ----------------------------------------------------------------------------------

    def failing_ice(self, bridge: Bridge, now: float) -> bool:
        return bridge.failing_ice_since is not None and now - bridge.failing_ice_since < self.ice_failure.timeout

    def operational(self, bridge: Bridge, now: float) -> bool:
        if not bridge.healthy_stat:
            return False
        return bridge.failed_at is None or now - bridge.failed_at >= self.failure_reset

    def corrected_stress(self, bridge: Bridge, now: float) -> float:
        bridge.recent = [t for t in bridge.recent if now - t < self.rampup]
        per = bridge.participant_stress if bridge.participant_stress is not None else self.default_participant_stress
        stress = bridge.stress + len(bridge.recent) * per
        if self.failing_ice(bridge, now):
            return max(stress, self.stress_threshold + 0.01)
        return stress

    def available(self, now: float) -> list[Bridge]:
        return [b for b in self.bridges.values() if self.operational(b, now) and not b.shutting_down]

    def select(self, now: float, *, current: Iterable[str] = (), counts: Mapping[str, int] | None = None,
               region: str | None = None, multi_bridge: bool = False, avoid: Iterable[str] = ()) -> Bridge | None:
        """The bridge for one more participant of a conference.

        ``current``: bridges the conference already uses; ``counts``: its participants per bridge;
        ``multi_bridge``: Octo relays may join bridges (else the choice is as if unlinked);
        ``avoid``: bridges this conference keeps off while another one will do (a relay failed).
        """
        counts = counts or {}
        avoid = set(avoid)
        available = self.available(now)
        candidates = [b for b in available if b.jid not in avoid] or available
        in_use = [self.bridges[j] for j in current if j in self.bridges]
        if multi_bridge and in_use:
            relayable = all(b.relay_id for b in in_use)
            candidates = [b for b in candidates if b in in_use or (relayable and b.relay_id)]
        if not candidates:
            return None
        if multi_bridge and self.strategy != SINGLE:
            chosen = self._by_strategy(now, candidates, in_use, counts, region or self.region)
            if chosen is not None:
                return chosen
        for bridge in in_use:
            if (bridge in candidates and not bridge.graceful_shutdown
                    and counts.get(bridge.jid, 0) < self.max_participants):
                return bridge
        versions = {b.version for b in in_use if b.version}
        region = region or self.region

        def rank(bridge: Bridge) -> tuple[bool, bool, bool, bool, bool, bool, float, str]:
            stress = self.corrected_stress(bridge, now)
            return (
                counts.get(bridge.jid, 0) >= self.max_participants,
                bool(versions) and bridge.version not in versions,
                bridge.drain,
                bridge.graceful_shutdown,
                stress >= self.stress_threshold,
                bool(region) and bridge.region != region,
                stress,
                bridge.jid,
            )

        return min(candidates, key=rank)

    def _overloaded(self, bridge: Bridge, now: float, counts: Mapping[str, int]) -> bool:
        return (self.corrected_stress(bridge, now) >= self.stress_threshold
                or counts.get(bridge.jid, 0) >= self.max_participants)

    def _by_strategy(self, now: float, candidates: list[Bridge], current: list[Bridge], counts: Mapping[str, int],
                     region: str | None) -> Bridge | None:
        def load(bridge: Bridge) -> tuple[bool, bool, float, str]:
            return (bridge.drain, bridge.graceful_shutdown, self.corrected_stress(bridge, now), bridge.jid)

        if self.strategy == SPLIT:
            fresh = [b for b in candidates if b not in current and not b.graceful_shutdown]
            if fresh:
                return min(fresh, key=load)
            used = [b for b in candidates if b in current]
            return min(used, key=lambda b: (counts.get(b.jid, 0), *load(b))) if used else None
        if self.strategy == REGION_BASED and region:
            fit = [b for b in candidates if b.region == region and not b.graceful_shutdown
                   and not self._overloaded(b, now, counts)]
            in_conference = [b for b in fit if b in current]
            if in_conference or fit:
                return min(in_conference or fit, key=load)
        return None
