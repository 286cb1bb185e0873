"""Dial-out and transcribers through SIP gateways (the Jigasi role), sans-I/O (docs/focus.md §9).

* :class:`GatewayPool` is what the gateway brewery says: each gateway's ``<stats>``, and which one
  to pick for a phone call or for a transcriber (jicofo's ``JigasiDetector``).
* :func:`check_dial` is what a moderator's Rayo ``<dial>`` must pass before it is forwarded;
  :class:`DialOut` picks the gateway for each try, at most three, and says how the request fails
  when none is left (jicofo's ``JigasiIqHandler``).
"""

from __future__ import annotations

from typing import Iterable, Mapping

from ..common import jid as jids
from ..common.errors import StanzaError
from ..common.stanzas.rayo import TRANSCRIBER_CALLEE, Dial

RETRIES = 2  # other gateways tried after the first fails


def _flag(stats: Mapping[str, str], name: str) -> bool:
    return stats.get(name, "").strip().lower() == "true"


def _participants(stats: Mapping[str, str]) -> int:
    try:
        return int(stats.get("participants", "0"))
    except ValueError:
        return 0


class GatewayPool:
    """The gateways in the brewery, by occupant JID, with the stats of their latest presence."""

    def __init__(self, local_region: str | None = None) -> None:
        self.local_region = local_region
        self.gateways: dict[str, dict[str, str]] = {}

    def presence(self, jid: str, stats: Mapping[str, str]) -> None:
        self.gateways[jid] = dict(stats)

    def left(self, jid: str) -> bool:
        return self.gateways.pop(jid, None) is not None

    def select(self, *, transcriber: bool, exclude: Iterable[str] = (), regions: Iterable[str] = ()) -> str | None:
        """The least loaded gateway that can do it and is not shutting down: in one of the
        conference's bridge regions if any is, else in our own region if any is, else any."""
        skip = set(exclude)
        able = [(jid, stats) for jid, stats in self.gateways.items()
                if jid not in skip and not _flag(stats, "graceful_shutdown")
                and _flag(stats, "supports_transcription" if transcriber else "supports_sip")]
        wanted = set(regions)
        for group in (wanted, {self.local_region}, None):
            chosen = able if group is None else [(j, s) for j, s in able if s.get("region") in group]
            if chosen:
                return min(chosen, key=lambda item: _participants(item[1]))[0]
        return None


def check_dial(dial: Dial, room: str, *, moderator: bool, transcriber_present: bool) -> None:
    """Raises the refusal of a dial request from a member of ``room``."""
    if not moderator:
        raise StanzaError("cancel", "forbidden", "only moderators may invite a gateway")
    named = dial.room
    if named is not None and _bare(named) != room:
        raise StanzaError("cancel", "forbidden", "JvbRoomName names another conference")
    if dial.to == TRANSCRIBER_CALLEE and transcriber_present:
        raise StanzaError("cancel", "conflict", "a transcriber is already in the conference")


def _bare(jid: str) -> str | None:
    try:
        return jids.entity_bare(jid).bare
    except jids.JidError:
        return None


class DialOut:
    """The tries of one dial request."""

    def __init__(self, dial: Dial, regions: Iterable[str] = ()) -> None:
        self.transcriber = dial.to == TRANSCRIBER_CALLEE
        self.regions = frozenset(regions)
        self.tried: list[str] = []

    def target(self, pool: GatewayPool) -> str:
        """The gateway to forward the request to next; raises when none is left."""
        jid = pool.select(transcriber=self.transcriber, exclude=self.tried, regions=self.regions)
        if jid is None:
            raise StanzaError("cancel", "service-unavailable", "no " + (
                "transcriber" if self.transcriber else "SIP gateway") + " is available")
        self.tried.append(jid)
        return jid

    def failed(self, *, timed_out: bool) -> None:
        """The last target did not answer (or answered an error); raises when that was the last try."""
        if len(self.tried) > RETRIES:
            if timed_out:
                raise StanzaError("wait", "remote-server-timeout", "no gateway answered")
            raise StanzaError("cancel", "undefined-condition", "every gateway tried refused")
