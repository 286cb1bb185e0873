"""Joins waiting for the focus (``wait_for_focus``) and the focus requests they may wait on.

A held join is the client's presence kept as it came; when the focus is in the room it goes
through the join again, and a refusal then is answered as it would have been at once. With
``restrict_room_creation``, a join to a room that does not exist waits only while the focus has
been asked for that room (:meth:`HeldJoins.focus_requested`); past the wait the held joins get
"Room creation is restricted" and the client asks the focus again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from ...common.errors import StanzaError
from ..component import Origin
from .presence import creation_restricted
from .timers import Timer

if TYPE_CHECKING:
    from .service import MucService


@dataclass
class _Held:
    stanza: Element
    origin: Origin | None


class HeldJoins:
    def __init__(self, muc: MucService) -> None:
        self.muc = muc
        self._held: dict[str, dict[str, _Held]] = {}  # room JID -> real JID -> held join
        self._by_session: dict[str, set[str]] = {}
        self._focus_asked: dict[str, Timer] = {}  # room JID -> end of the wait for the focus

    def focus_asked(self, room_jid: str) -> bool:
        return room_jid in self._focus_asked

    def focus_requested(self, room_jid: str) -> None:
        room_jid = room_jid.lower()
        previous = self._focus_asked.pop(room_jid, None)
        if previous is not None:
            previous.cancel()
        self._focus_asked[room_jid] = self.muc.later(self.muc.options.focus_request_ttl,
                                                     lambda: self._focus_wait_over(room_jid))

    def _focus_wait_over(self, room_jid: str) -> None:
        self._focus_asked.pop(room_jid, None)
        if room_jid in self.muc.rooms or not self.muc.options.restrict_room_creation:
            return  # the focus came (or a join will create the room): nothing waits on the request
        for real, held in self._held.pop(room_jid, {}).items():
            self._by_session.get(real, set()).discard(room_jid)
            self.muc.refuse(held.stanza, creation_restricted())

    def focus_joined(self, room_jid: str) -> None:
        asked = self._focus_asked.pop(room_jid, None)
        if asked is not None:
            asked.cancel()
        self.release(room_jid)

    def hold(self, room_jid: str, real: str, pres: Element, origin: Origin | None) -> None:
        options = self.muc.options
        held = self._held.setdefault(room_jid, {})
        mine = self._by_session.setdefault(real, set())
        if real not in held and (len(held) >= options.max_held_joins
                                 or len(mine) >= options.max_held_per_session):
            if not held:
                del self._held[room_jid]
            raise StanzaError("wait", "resource-constraint", "Too many joins waiting for the conference to start")
        held[real] = _Held(pres, origin)
        mine.add(room_jid)
        self.muc.counters["held_joins"] += 1

    def unhold(self, room_jid: str, real: str) -> None:
        held = self._held.get(room_jid)
        if held is not None and held.pop(real, None) is not None:
            self._by_session.get(real, set()).discard(room_jid)
            if not held:
                del self._held[room_jid]

    def release(self, room_jid: str) -> None:
        """Retry the joins held for a room (the focus arrived, a host arrived...)."""
        for real, held in self._held.pop(room_jid, {}).items():
            self._by_session.get(real, set()).discard(room_jid)
            # Already addressed to the internal room (tenants) when it was held.
            self.muc.route(held.stanza, held.origin)

    def session_closed(self, full_jid: str) -> None:
        for room_jid in self._by_session.pop(full_jid, ()):
            held = self._held.get(room_jid)
            if held is not None:
                held.pop(full_jid, None)
                if not held:
                    del self._held[room_jid]
