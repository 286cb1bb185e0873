"""Service discovery (XEP-0030) and ping (XEP-0199) on a MUC host, its rooms, and the Jitsi
components: every disco#info answer is built by :func:`info_query`, disco#items and pings are
answered by :meth:`Disco.items` and :meth:`Disco.pong` alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable
from xml.etree.ElementTree import Element, SubElement

from ...common.errors import StanzaError
from ...common.ns import DISCO_INFO, DISCO_ITEMS, MUC, MUC_ROOMINFO
from .dispatch import Request
from .hooks import Hook
from .room import Room
from .stanza import form, result

if TYPE_CHECKING:
    from .service import MucService


def info_query(node: str | None, category: str, type_: str, name: str, features: Iterable[str]) -> Element:
    """A disco#info ``<query/>`` with one identity and ``features`` in order."""
    query = Element(f"{{{DISCO_INFO}}}query")
    if node:
        query.set("node", node)
    SubElement(query, f"{{{DISCO_INFO}}}identity", category=category, type=type_, name=name)
    for var in features:
        SubElement(query, f"{{{DISCO_INFO}}}feature", var=var)
    return query


class Disco:
    def __init__(self, muc: MucService) -> None:
        self.muc = muc

    def pong(self, request: Request) -> None:
        self.muc.host.send(result(request.stanza))

    def items(self, request: Request) -> None:
        """No rooms are listed (muc_hide_all), and rooms have no items."""
        self.muc.host.send(result(request.stanza, Element(f"{{{DISCO_ITEMS}}}query")))

    def domain_info(self, request: Request) -> None:
        node = request.stanza[0].get("node")
        if node:
            groups = self.muc.hooks.collect(Hook.DOMAIN_DISCO, node, request.origin)
            if not groups:
                raise StanzaError("cancel", "item-not-found", "Unknown node")
            query = Element(f"{{{DISCO_INFO}}}query", node=node)
            for var in (DISCO_INFO, *(f for group in groups for f in group)):
                SubElement(query, f"{{{DISCO_INFO}}}feature", var=var)
        else:
            query = info_query(None, "conference", "text", "Conference rooms", (DISCO_INFO, DISCO_ITEMS, MUC))
        self.muc.host.send(result(request.stanza, query))

    def room_info(self, request: Request) -> None:
        room = request.room
        assert room is not None
        if request.sender is None and self.muc.options.hide_all \
                and not self.muc.is_admin(request.stanza.get("from", ""), request.origin):
            raise StanzaError("auth", "forbidden", "Only occupants may query this room")
        self.muc.host.send(result(request.stanza, self._room_info(room, request.stanza[0].get("node"))))

    def _room_info(self, room: Room, node: str | None) -> Element:
        config = room.config
        query = info_query(node, "conference", "text", config.name or room.node, (
            MUC, DISCO_INFO,
            "muc_public" if config.public else "muc_hidden",
            "muc_persistent" if config.persistent else "muc_temporary",
            "muc_membersonly" if config.members_only else "muc_open",
            "muc_moderated" if config.moderated else "muc_unmoderated",
            "muc_nonanonymous" if config.whois_anyone else "muc_semianonymous",
            "muc_passwordprotected" if config.password else "muc_unsecured",
        ))
        fields = [
            ("muc#roominfo_description", config.description),
            ("muc#roominfo_occupants", str(len(room.occupants))),
            ("muc#roomconfig_roomname", config.name),
            ("muc#roominfo_subject", room.subject),
        ]
        for extra in self.muc.hooks.collect(Hook.ROOMINFO, room):
            fields.extend(extra)
        query.append(form("result", MUC_ROOMINFO, [(var, None, value) for var, value in fields]))
        return query
