"""One multi-user chat room (XEP-0045) as plain data and rules: occupants, roles, affiliations.

Pure: no host, no clock, no I/O. :class:`~.service.MucService` drives it and does the routing.
Each occupant keeps the presence it broadcasts already built (:meth:`Occupant.broadcast`), so
a newcomer in a 400-occupant room costs no re-building of the 400 presences it receives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar
from xml.etree.ElementTree import Element, SubElement

from ...common.ns import CLIENT, MUC, MUC_USER
from ..component import Origin
from .stanza import PRESENCE

State = TypeVar("State")

AFFILIATIONS = ("outcast", "none", "member", "admin", "owner")
ROLES = ("none", "visitor", "participant", "moderator")
AFFILIATION_RANK = {name: rank for rank, name in enumerate(AFFILIATIONS)}
ROLE_RANK = {name: rank for rank, name in enumerate(ROLES)}

# Client children the room sets itself and never relays from the client's own presence.
_STRIPPED = frozenset({f"{{{MUC}}}x", f"{{{MUC_USER}}}x"})


@dataclass
class RoomConfig:
    """The muc#owner form's state (XEP-0045 §10.2) as Jitsi uses it."""

    name: str = ""
    description: str = ""
    password: str = ""  # empty: not password protected
    members_only: bool = False
    max_occupants: int | None = None  # None: unlimited
    whois_anyone: bool = True  # Jitsi rooms are non-anonymous (muc_room_default_public_jids)
    moderated: bool = False
    persistent: bool = False
    public: bool = False
    change_subject: bool = False  # True: any participant may set the subject
    allow_invites: bool = False


@dataclass(eq=False)
class Occupant:
    nick: str
    occupant_jid: str  # room@domain/nick
    jid: str  # real full JID
    bare: str
    role: str
    affiliation: str
    origin: Origin | None
    presence: Element  # the client's last available presence, relayed children and all
    _broadcast: Element | None = field(default=None, repr=False)
    _broadcast_anonymous: Element | None = field(default=None, repr=False)

    @property
    def is_moderator(self) -> bool:
        return self.role == "moderator"

    def update(self, presence: Element) -> None:
        self.presence = presence
        self.invalidate()

    def invalidate(self) -> None:
        """Role, affiliation or presence changed: the cached broadcast is stale."""
        self._broadcast = self._broadcast_anonymous = None

    def broadcast(self, with_jid: bool = True) -> Element:
        """The presence every other occupant sees; built once per change, shared, never mutated."""
        if with_jid:
            if self._broadcast is None:
                self._broadcast = self.build_presence(with_jid=True)
            return self._broadcast
        if self._broadcast_anonymous is None:
            self._broadcast_anonymous = self.build_presence(with_jid=False)
        return self._broadcast_anonymous

    def build_presence(self, with_jid: bool = True, codes: tuple[str, ...] = (),
                       extra: list[Element] | None = None, unavailable: bool = False,
                       role: str | None = None, affiliation: str | None = None) -> Element:
        pres = Element(PRESENCE, {"from": self.occupant_jid})
        if unavailable:
            pres.set("type", "unavailable")
            for child in self.presence:
                if child.tag == f"{{{CLIENT}}}status":
                    pres.append(child)
        else:
            pres.extend(child for child in self.presence if child.tag not in _STRIPPED)
        x = SubElement(pres, f"{{{MUC_USER}}}x")
        item = SubElement(x, f"{{{MUC_USER}}}item", {
            "affiliation": affiliation or self.affiliation,
            "role": role or ("none" if unavailable else self.role),
        })
        if with_jid:
            item.set("jid", self.jid)
        if extra:
            for el in extra:
                (item if el.tag in (f"{{{MUC_USER}}}actor", f"{{{MUC_USER}}}reason") else x).append(el)
        for code in codes:
            SubElement(x, f"{{{MUC_USER}}}status", code=code)
        return pres


@dataclass(eq=False)
class Room:
    jid: str  # bare room JID, lower case
    node: str
    domain: str
    config: RoomConfig = field(default_factory=RoomConfig)
    occupants: dict[str, Occupant] = field(default_factory=dict)  # by nick
    by_jid: dict[str, Occupant] = field(default_factory=dict)  # by real full JID
    affiliations: dict[str, str] = field(default_factory=dict)  # bare JID -> affiliation
    subject: str = ""
    subject_from: str = ""
    destroyed: bool = False
    # Per-room records of the room modules (meeting id, lobby, polls...), keyed by record class.
    _states: dict[type, object] = field(default_factory=dict, repr=False)

    def state(self, kind: type[State]) -> State:
        """The room's ``kind`` record, created empty on first use (``kind()``)."""
        record = self._states.get(kind)
        if record is None:
            record = self._states[kind] = kind()
        return record  # type: ignore[return-value]

    def peek(self, kind: type[State]) -> State | None:
        """The room's ``kind`` record if a module made one, without making it."""
        return self._states.get(kind)  # type: ignore[return-value]

    def affiliation(self, bare: str) -> str:
        return self.affiliations.get(bare, "none")

    def set_affiliation(self, bare: str, affiliation: str) -> None:
        if affiliation == "none":
            self.affiliations.pop(bare, None)
        else:
            self.affiliations[bare] = affiliation

    def default_role(self, affiliation: str) -> str:
        if affiliation in ("owner", "admin"):
            return "moderator"
        if self.config.moderated and affiliation != "member":
            return "visitor"
        return "participant"

    def add(self, occupant: Occupant) -> None:
        self.occupants[occupant.nick] = occupant
        self.by_jid[occupant.jid] = occupant

    def remove(self, occupant: Occupant) -> None:
        self.occupants.pop(occupant.nick, None)
        self.by_jid.pop(occupant.jid, None)

    def occupants_of(self, bare: str) -> list[Occupant]:
        return [o for o in self.occupants.values() if o.bare == bare]

    def moderators(self) -> list[Occupant]:
        return [o for o in self.occupants.values() if o.role == "moderator"]

    def sees_real_jids(self, viewer: Occupant) -> bool:
        return self.config.whois_anyone or viewer.role == "moderator"
