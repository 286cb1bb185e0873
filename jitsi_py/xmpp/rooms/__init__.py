"""Jitsi's room modules, one per file, each switched on by its setting as docker's Prosody does.

A module is a Python module with ``enabled(settings) -> bool`` and ``attach(ctx)``: it listens to
the MUC hosts' hooks (``muc/hooks.py``), may add rows to their handler tables
(``muc/dispatch.py``), keeps its per-room state in a dataclass of its own (``Room.state``), and
may add its own hosted component to ``ctx.components`` (speakerstats, polls, the focus proxy...).
:func:`module_list` is the load order, which is also the order of their ``pre-join`` checks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable
from xml.etree.ElementTree import Element

from ...common.errors import StanzaError
from ...common.ns import DISCO_INFO
from ...settings import Settings
from ..component import Component, Host, Origin, refuse
from ..muc.disco import info_query
from ..muc.dispatch import ANY, KINDS, Address, HandlerTable, Request, ignore
from ..muc.room import Occupant, Room
from ..muc.service import MucService
from ..muc.stanza import json_message, result


@dataclass
class RoomContext:
    settings: Settings
    host: Host
    conference: MucService  # XMPP_MUC_DOMAIN
    internal: MucService  # XMPP_INTERNAL_MUC_DOMAIN (breweries)
    lobby: MucService | None
    breakout: MucService | None
    components: list[Component] = field(default_factory=list)
    # Parts of a module another module builds on (the focus proxy, gated by reservations).
    extensions: dict[str, object] = field(default_factory=dict)
    wallclock: Callable[[], float] = time.time  # epoch seconds, for timestamps clients see

    @property
    def domain(self) -> str:
        return self.settings.common.domains.domain

    def rooms_services(self) -> list[MucService]:
        return [s for s in (self.conference, self.breakout) if s is not None]

    def find_occupant(self, origin: Origin | None, full_jid: str, room_jid: str | None = None
                      ) -> tuple[Room, Occupant] | tuple[None, None]:
        """The conference room (main or breakout) the sender is in: the ``room`` named in the
        message, else the one of its connection URL (``?room=``, ``?prefix=``), else any room the
        session occupies. The sender must be an occupant; a body's claims never count."""
        candidates: list[str] = []
        if room_jid:
            candidates.append(self.internal_jid(room_jid).lower())
        if origin is not None and origin.query.get("room"):
            prefix = origin.query.get("prefix")
            node = origin.query["room"].lower()
            candidates.append(self.conference.room_jid(f"[{prefix}]{node}" if prefix else node))
        for service in self.rooms_services():
            candidates.extend(service.rooms_of(full_jid))
        for candidate in candidates:
            for service in self.rooms_services():
                room = service.get_room(candidate)
                if room is not None and full_jid in room.by_jid:
                    return room, room.by_jid[full_jid]
        return None, None

    def internal_jid(self, jid: str) -> str:
        """A room or occupant JID as the MUC knows it: clients name tenant rooms in their form."""
        tenants = self.conference.tenants
        return tenants.to_internal(jid) if tenants is not None else jid

    def send_json(self, from_: str, payload: dict, occupants, **attrs: str) -> None:
        """One JSON message from a component to several occupants, serialized once."""
        recipients = [o.jid for o in occupants]
        if recipients:
            self.host.send_many(json_message(from_, None, payload, **attrs), recipients)

    def service_of(self, room: Room) -> MucService:
        for service in self.rooms_services():
            if service.get_room(room.jid) is room:
                return service
        return self.conference


class JitsiComponent:
    """A Jitsi component on its own domain (``speakerstats.meet.jitsi``...): JSON messages in,
    disco#info with its identity; any other request gets ``service-unavailable`` from its
    handler table."""

    disco_type = ""  # the identity type on the main domain and on our own disco#info

    def __init__(self, domain: str, host: Host) -> None:
        self.domain = domain
        self.host = host
        self.handlers = HandlerTable()
        for kind, type_, tag, handler in (
            ("message", ANY, ANY, lambda request: self.on_message(request.stanza, request.origin)),
            ("message", "error", ANY, ignore),
            ("iq", "get", f"{{{DISCO_INFO}}}query", self._disco_info),
        ):
            self.handlers.register(Address.DOMAIN, kind, type_, tag, handler)

    def receive(self, stanza: Element, origin: Origin | None) -> None:
        kind = KINDS.get(stanza.tag)
        if kind is None:
            return
        try:
            self.handlers.dispatch(Address.DOMAIN, kind, Request(stanza, origin))
        except StanzaError as error:
            refuse(self.host, stanza, error)

    def _disco_info(self, request: Request) -> None:
        node = request.stanza[0].get("node")
        query = info_query(node, "component", self.disco_type, self.domain, (DISCO_INFO,))
        self.host.send(result(request.stanza, query))

    def on_message(self, message: Element, origin: Origin | None) -> None:
        """A message to the component; the sender's identity is ``message.get('from')``."""

    def session_closed(self, full_jid: str) -> None:
        """Nothing per session: the MUC's own leave hooks clean up."""


def module_list() -> tuple[ModuleType, ...]:
    """The room modules in load order (imported lazily: they import the MUC service)."""
    from . import (
        allowners,
        av_moderation,
        breakout_rooms,
        client_proxy,
        conference_duration,
        end_conference,
        lobby,
        matrix_affiliation,
        matrix_lobby_bypass,
        max_occupants,
        meeting_id,
        metadata,
        password_whitelist,
        polls,
        presence_identity,
        reservations,
        speakerstats,
        token_verification,
    )
    return (
        meeting_id, conference_duration, token_verification, presence_identity, password_whitelist,
        matrix_lobby_bypass, lobby, matrix_affiliation, allowners, max_occupants, metadata, breakout_rooms,
        av_moderation, end_conference, speakerstats, polls, client_proxy, reservations,
    )
