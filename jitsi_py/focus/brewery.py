"""The bridge brewery: asyncio glue that feeds :class:`BridgeTable` (docs/focus.md §5).

The focus sits in the brewery MUC, where every bridge's presence carries its ``<stats>``; a bridge
that leaves, or fails a health check (the rules are :meth:`BridgeTable.health_checked`), is down,
and the conferences move its participants. Health checks run every
``JICOFO_HEALTH_CHECKS_INTERVAL`` while the focus is in the brewery, and once for every known
bridge when it enters (again): a bridge that vanished while the focus was away said no goodbye.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Callable
from xml.etree.ElementTree import Element

from slixmpp.exceptions import IqError, IqTimeout

from ..common.stanzas.jitsi import bridge_stats, healthcheck
from .bridges import FAILED, HEALTH_ATTEMPTS, LEFT, UNANSWERED
from .rooms import read_presence

if TYPE_CHECKING:
    from .client import Focus

log = logging.getLogger("jitsi_py.focus")


class Brewery:
    def __init__(self, focus: Focus) -> None:
        self.focus = focus
        self.jid = focus.domains.jvb_brewery_jid
        self.bridges = focus.bridges
        self.joined = False  # bridges are only judged while we see the brewery

    def connected(self) -> None:
        self.focus.join(self.jid)

    def disconnected(self) -> None:
        self.joined = False

    def presence(self, nick: str, stanza: Element) -> None:
        """A presence from ``<brewery>/<nick>``."""
        presence = read_presence(nick, stanza)
        if presence.ours:
            if presence.type == "error":
                log.error("focus: cannot join the bridge brewery %s: %s", self.jid, presence.error)
            elif not presence.gone:
                if not self.joined:
                    self.joined = True
                    self.focus.spawn(self._check_all())
            elif self.focus.connected.is_set():  # our previous session left after we came back: join again
                self.joined = False
                self.focus.join(self.jid)
            return
        if not nick:
            return
        jid = f"{self.jid}/{nick}"
        now = self.focus.now()
        if presence.gone or presence.type == "error":
            if self.bridges.left(jid) is not None:
                log.info("focus: bridge %s left the brewery", nick)
                self._down(jid, now)
            return
        before = self.bridges.bridges.get(jid)
        reported = before.failed_relays if before is not None else frozenset()
        bridge = self.bridges.presence(jid, bridge_stats(stanza))
        if before is None and bridge is not None:
            log.info("focus: bridge %s joined the brewery", nick)
        self.focus.rooms.bridges_changed(now)
        if bridge is not None and (bridge.failed_relays or reported):
            self.focus.rooms.relays_reported(jid, bridge.failed_relays, now)

    async def health_loop(self) -> None:
        fs = self.focus.settings.focus
        if not fs.bridge_health_checks:
            return
        while True:
            await asyncio.sleep(fs.bridge_health_interval)
            if self.joined:
                await self._check_all()

    async def _check_all(self) -> None:
        await asyncio.gather(*(self._check(jid) for jid in list(self.bridges.bridges)))

    async def _check(self, jid: str) -> None:
        condition: str | None = UNANSWERED
        for _attempt in range(HEALTH_ATTEMPTS):
            iq = self.focus.xmpp.make_iq_get(ito=jid)
            iq.xml.append(healthcheck())
            try:
                await iq.send(timeout=self.focus.settings.focus.colibri_timeout)
            except IqTimeout:
                continue
            except IqError as exc:
                condition = exc.iq["error"]["condition"]
            else:
                condition = None
            break
        down = self.bridges.health_checked(jid, condition, self.focus.now(), in_brewery=self.joined)
        if down == LEFT:
            log.info("focus: bridge %s is no longer in the brewery", jid)
        elif down == FAILED:
            log.warning("focus: bridge %s failed its health check: %s", jid, condition)
        if down is not None:
            self._down(jid, self.focus.now())

    def _down(self, jid: str, now: float) -> None:
        self.focus.counters["bridge_failures"] += 1
        self.focus.rooms.bridge_down(jid, now)


class ServiceBrewery:
    """The recorder or gateway brewery (docs/focus.md §8.1, §9.1): who is in it, and what each one's
    presence says (``member``, called with the occupant JID and the stanza); ``gone`` hears of
    each one that leaves. When our connection drops, ``forget`` drops each one quietly: the
    sessions with them go on, and their presence comes back when we are in again."""

    def __init__(self, focus: Focus, jid: str, kind: str, member: Callable[[str, Element], None],
                 gone: Callable[[str], None], forget: Callable[[str], object]) -> None:
        self.focus = focus
        self.jid = jid
        self.kind = kind
        self.member = member
        self.gone = gone
        self.forget = forget
        self.members: set[str] = set()

    def connected(self) -> None:
        self.focus.join(self.jid)

    def disconnected(self) -> None:
        for jid in self.members:
            self.forget(jid)
        self.members.clear()

    def presence(self, nick: str, stanza: Element) -> None:
        presence = read_presence(nick, stanza)
        if presence.ours:
            if presence.type == "error":
                log.error("focus: cannot join the %s brewery %s: %s", self.kind, self.jid, presence.error)
            elif presence.gone and self.focus.connected.is_set():
                self.focus.join(self.jid)
            return
        if not nick:
            return
        jid = f"{self.jid}/{nick}"
        if presence.gone or presence.type == "error":
            if jid in self.members:
                self.members.discard(jid)
                log.info("focus: %s %s left the brewery", self.kind, nick)
                self.gone(jid)
            return
        if jid not in self.members:
            self.members.add(jid)
            log.info("focus: %s %s joined the brewery", self.kind, nick)
        self.member(jid, stanza)
