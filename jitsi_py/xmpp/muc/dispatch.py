"""The MUC's handler table: which handler answers a stanza, found from what is on the wire.

A row is keyed by (address, kind, type, payload tag):

- address: :class:`Address`, what the ``to`` names (the service domain, a room, an occupant);
- kind: ``presence``, ``message`` or ``iq``;
- type: the ``type`` attribute as sent (None when absent), or :data:`ANY`;
- payload tag: the Clark-notation tag of a payload child (an IQ's one child; any child of a
  message or presence), or :data:`ANY`.

The most specific row wins: a payload tag before ``ANY``, the exact type before ``ANY``. An IQ
get or set nothing handles is answered ``service-unavailable`` (RFC 6120 §8.4) here, in one
place; any other stanza nothing handles is dropped. The service declares its own rows
(``service.py``); room modules add theirs with :meth:`HandlerTable.register`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Callable
from xml.etree.ElementTree import Element

from ...common.errors import StanzaError
from ..component import Origin
from .room import Occupant, Room
from .stanza import IQ, MESSAGE, PRESENCE

ANY = "*"
KINDS = {PRESENCE: "presence", MESSAGE: "message", IQ: "iq"}


class Address(StrEnum):
    DOMAIN = "domain"  # muc.meet.jitsi
    ROOM = "room"  # room@muc.meet.jitsi
    OCCUPANT = "occupant"  # room@muc.meet.jitsi/nick


@dataclass(slots=True)
class Request:
    """A stanza with what its address resolved to."""

    stanza: Element
    origin: Origin | None
    room_jid: str = ""  # the bare room JID the stanza names (the room may not exist yet)
    room: Room | None = None
    sender: Occupant | None = None  # the sender's occupant in that room, if it is one
    nick: str = ""  # the occupant nick in ``to``

    @property
    def in_room(self) -> Room:
        """The room, which exists when the stanza comes from an occupant or is not a presence
        (MucService._dispatch)."""
        assert self.room is not None
        return self.room


Handler = Callable[[Request], None]
Key = tuple[Address, str, str | None, str]


class HandlerTable:
    def __init__(self) -> None:
        self._rows: dict[Key, Handler] = {}
        self._by_payload: set[tuple[Address, str]] = set()  # (address, kind) with payload-keyed rows

    def register(self, address: Address, kind: str, type_: str | None, tag: str, handler: Handler) -> None:
        if kind not in KINDS.values():
            raise ValueError(f"unknown stanza kind {kind!r}")
        key = (address, kind, type_, tag)
        if key in self._rows:
            raise ValueError(f"{key} already has a handler")
        self._rows[key] = handler
        if tag != ANY:
            self._by_payload.add((address, kind))

    def find(self, address: Address, kind: str, stanza: Element) -> Handler | None:
        rows = self._rows
        type_ = stanza.get("type")
        if (address, kind) in self._by_payload:
            for child in (stanza[:1] if kind == "iq" else stanza):
                handler = rows.get((address, kind, type_, child.tag)) or rows.get((address, kind, ANY, child.tag))
                if handler is not None:
                    return handler
        return rows.get((address, kind, type_, ANY)) or rows.get((address, kind, ANY, ANY))

    def dispatch(self, address: Address, kind: str, request: Request) -> None:
        handler = self.find(address, kind, request.stanza)
        if handler is not None:
            handler(request)
        elif kind == "iq" and request.stanza.get("type") in ("get", "set"):
            raise StanzaError("cancel", "service-unavailable")


def ignore(request: Request) -> None:
    """A row that answers nothing on purpose (bounced errors, for one)."""
