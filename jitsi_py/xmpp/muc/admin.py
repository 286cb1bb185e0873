"""Moderation (XEP-0045 §8-9, ``muc#admin``): affiliation and role lists, and their changes.

A request with several items is checked whole before anything changes; then the result goes
out and the changes are made in item order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable
from xml.etree.ElementTree import Element, SubElement

from ...common import jid as jids
from ...common.errors import StanzaError
from ...common.ns import MUC_ADMIN
from .dispatch import Request
from .hooks import Hook
from .room import AFFILIATION_RANK, AFFILIATIONS, ROLES, Occupant, Room
from .stanza import result

if TYPE_CHECKING:
    from .service import MucService


class Admin:
    def __init__(self, muc: MucService) -> None:
        self.muc = muc

    def _check(self, request: Request) -> tuple[Room, bool, list[Element]]:
        room, sender = request.room, request.sender
        items = request.stanza[0].findall(f"{{{MUC_ADMIN}}}item")
        if not items:
            raise StanzaError("modify", "bad-request", "No item")
        admin = self.muc.is_admin(request.stanza.get("from", ""), request.origin)
        if not admin and (sender is None or not sender.is_moderator):
            raise StanzaError("auth", "forbidden", "Only moderators may do this")
        assert room is not None
        return room, admin, items

    def get(self, request: Request) -> None:
        room, _, items = self._check(request)
        reply = Element(f"{{{MUC_ADMIN}}}query")
        for item in items:
            if item.get("affiliation") in AFFILIATIONS:
                for bare, aff in room.affiliations.items():
                    if aff == item.get("affiliation"):
                        SubElement(reply, f"{{{MUC_ADMIN}}}item", affiliation=aff, jid=bare)
            elif item.get("role") in ROLES:
                for o in room.occupants.values():
                    if o.role == item.get("role"):
                        SubElement(reply, f"{{{MUC_ADMIN}}}item", role=o.role, nick=o.nick,
                                   affiliation=o.affiliation, jid=o.jid)
            else:
                raise StanzaError("modify", "bad-request", "An affiliation or a role is required")
        self.muc.host.send(result(request.stanza, reply))

    def set(self, request: Request) -> None:
        room, admin, items = self._check(request)
        actions = [self._action(room, request.sender, admin, item) for item in items]
        self.muc.host.send(result(request.stanza))
        for action in actions:
            action()

    def _action(self, room: Room, actor: Occupant | None, admin: bool, item: Element) -> Callable[[], None]:
        """Validate one muc#admin item and return its effect; nothing changes until all are valid."""
        reason = item.findtext(f"{{{MUC_ADMIN}}}reason") or ""
        if admin:
            actor_rank = AFFILIATION_RANK["owner"] + 1
        else:
            assert actor is not None  # _check: a moderator occupant
            actor_rank = AFFILIATION_RANK[actor.affiliation]
        affiliation, role = item.get("affiliation"), item.get("role")
        if affiliation is not None:
            if affiliation not in AFFILIATIONS:
                raise StanzaError("modify", "bad-request", f"Unknown affiliation {affiliation!r}")
            target_jid = item.get("jid")
            nick = item.get("nick")
            if target_jid is None and nick is not None and nick in room.occupants:
                target_jid = room.occupants[nick].bare
            if not target_jid:
                raise StanzaError("modify", "bad-request", "An affiliation change needs a jid")
            bare = jids.bare(target_jid)
            needed = AFFILIATION_RANK["owner"] if affiliation in ("owner", "admin") else AFFILIATION_RANK["admin"]
            if actor_rank < needed or AFFILIATION_RANK[room.affiliation(bare)] > actor_rank:
                raise StanzaError("auth", "not-allowed", "You may not change this affiliation")
            if bare == self.muc.options.focus_jid and not admin:
                raise StanzaError("cancel", "not-allowed", "The focus keeps its affiliation")
            return lambda: self.set_affiliation(room, bare, affiliation, actor, reason)
        if role is not None:
            if role not in ROLES:
                raise StanzaError("modify", "bad-request", f"Unknown role {role!r}")
            target = room.occupants.get(item.get("nick", ""))
            if target is None:
                raise StanzaError("cancel", "item-not-found", "No such occupant")
            if not admin and (self.muc.is_focus(target) or AFFILIATION_RANK[target.affiliation] > actor_rank):
                raise StanzaError("cancel", "not-allowed", "You may not change this occupant's role")
            if role == "none":
                return lambda: self.kick(room, target, actor, reason)

            def change_role() -> None:
                if room.occupants.get(target.nick) is target:
                    target.role = role
                    self.muc.announce(room, target)
            return change_role
        raise StanzaError("modify", "bad-request", "An item needs an affiliation or a role")

    def set_affiliation(self, room: Room, bare: str, affiliation: str, actor: Occupant | None = None,
                        reason: str = "") -> None:
        room.set_affiliation(bare, affiliation)
        for occupant in room.occupants_of(bare):
            if affiliation == "outcast":
                self.muc.leave(room, occupant, codes=("301",), actor=actor, reason=reason)
                continue
            occupant.affiliation = affiliation
            occupant.role = room.default_role(affiliation)
            self.muc.announce(room, occupant)
        self.muc.hooks.fire(Hook.AFFILIATION_CHANGED, room, bare, affiliation, actor)

    def kick(self, room: Room, occupant: Occupant, actor: Occupant | None = None, reason: str = "") -> None:
        self.muc.leave(room, occupant, codes=("307",), actor=actor, reason=reason)
        self.muc.hooks.fire(Hook.OCCUPANT_KICKED, room, occupant, actor)
