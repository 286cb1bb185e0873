"""Dial-out and transcribers through SIP gateways (the Jigasi role), sans-I/O (docs/focus.md §9).

* :class:`GatewayPool` is what the gateway brewery says: each gateway's ``<stats>``, and which one
  to pick for a phone call or for a transcriber (jicofo's ``JigasiDetector``).
* :func:`check_dial` is what a moderator's Rayo ``<dial>`` must pass before it is forwarded;
  :class:`DialOut` picks the gateway for each try, at most three, and says how the request fails
  when none is left (jicofo's ``JigasiIqHandler``).
* :class:`TranscriberInvite` is when the focus dials a transcriber itself, for a room whose metadata
  asks for transcription (docs/focus.md §9.3).
"""

from __future__ import annotations

from typing import Iterable, Mapping

from ..common import jid as jids
from ..common.errors import refusal
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


def check_dial(dial: Dial, room: str, *, moderator: bool, transcriber_present: bool,
               moderator_checks: bool = True) -> None:
    """Raises the refusal of a dial request from a member of ``room``."""
    if moderator_checks and not moderator:
        raise refusal("forbidden", "only moderators may invite a gateway")
    named = dial.room
    if named is not None and _bare(named) != room:
        raise refusal("forbidden", "JvbRoomName names another conference")
    if dial.to == TRANSCRIBER_CALLEE and transcriber_present:
        raise refusal("conflict", "a transcriber is already in the conference")


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
            raise refusal("service-unavailable", "no " + (
                "transcriber" if self.transcriber else "SIP gateway") + " is available")
        self.tried.append(jid)
        return jid

    def failed(self, *, timed_out: bool) -> None:
        """The last target did not answer (or answered an error); raises when that was the last try."""
        if len(self.tried) > RETRIES:
            if timed_out:
                raise refusal("remote-server-timeout", "no gateway answered")
            raise refusal("undefined-condition", "every gateway tried refused")


# How long a transcriber invited (by the focus or by a member's dial) counts as on its way: the
# tries of the dial, then its own join (the transcriber gives up joining after 30 s by default).
INVITE_WINDOW = 60.0


class TranscriberInvite:
    """Whether the focus invites a transcriber itself, for one room: when the room metadata asks for
    transcription (:func:`~jitsi_py.common.stanzas.room_metadata.transcription_requested`), no
    transcriber is in the room and none is on its way (jicofo's former ``TranscriberManager`` did
    so on the same metadata; the transcriber then stays while the metadata asks, as Jigasi).

    One invitation at a time: a member's transcriber dial under way counts too, so jitsi-meet's
    recording dialog, which dials and then sets the metadata, brings one transcriber, not two.
    """

    def __init__(self, window: float = INVITE_WINDOW) -> None:
        self.window = window
        self._until: float | None = None

    def under_way(self, now: float) -> bool:
        return self._until is not None and now < self._until

    def should_dial(self, *, requested: bool, present: bool, now: float) -> bool:
        """Whether the focus dials now; if so, its invitation is under way from now."""
        if not requested or present or self.under_way(now):
            return False
        self.dialing(now)
        return True

    def dialing(self, now: float) -> None:
        """A transcriber dial is sent or answered: on its way for the window from now."""
        self._until = now + self.window

    def done(self) -> None:
        """A transcriber joined (once it has left, the next request invites again at once), or no
        gateway took the dial: nobody is on the way."""
        self._until = None
