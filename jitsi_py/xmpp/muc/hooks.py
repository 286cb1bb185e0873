"""The events a MUC service fires and the room modules listen to (Prosody's module hooks, ours).

Every event is a :class:`Hook` member; :meth:`Hooks.on` refuses anything else, so a misspelt
event name fails when the module attaches instead of never firing. Handlers run in registration
order. ``fire`` ignores results; ``collect`` gathers every non-None result; ``any`` stops at the
first truthy one. A handler refuses a request by raising
:class:`~jitsi_py.common.errors.StanzaError`; the service turns that into the stanza error.

Stanzas the room modules answer themselves (a command to the service domain) are not events:
they register into the service's handler table (``dispatch.py``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Callable


class Hook(StrEnum):
    """Each event, with its arguments. (A StrEnum hashes as its value, in C: fired per presence.)"""

    ROOM_CREATED = "room-created"  # (room)
    ROOM_DESTROYED = "room-destroyed"  # (room)
    # (join: presence.Join): may raise, set join.affiliation or the skip_* flags
    PRE_JOIN = "pre-join"
    OCCUPANT_JOINING = "occupant-joining"  # (room, occupant): before any presence goes out
    SELF_PRESENCE = "self-presence"  # (room, occupant) -> elements added to the status-110 presence
    OCCUPANT_JOINED = "occupant-joined"  # (room, occupant)
    OCCUPANT_LEFT = "occupant-left"  # (room, occupant)
    # (room, origin, presence): an admitted join or update, before it is relayed; modules may
    # rewrite its children (the token identity)
    PRESENCE_IN = "presence-in"
    PRESENCE_UPDATED = "presence-updated"  # (room, occupant)
    # (room, occupant, old_occupant_jid): XEP-0045 §7.6, before the new presence goes out; state
    # keyed by the old nick or occupant JID moves to the new one
    NICK_CHANGED = "nick-changed"
    OCCUPANT_KICKED = "occupant-kicked"  # (room, occupant, actor)
    AFFILIATION_CHANGED = "affiliation-changed"  # (room, bare_jid, affiliation, actor)
    KEEP_EMPTY = "keep-empty"  # (room) -> True keeps an empty room alive (breakout rooms in use)
    CONFIG_FORM = "config-form"  # (room) -> list of (var, type, value) added to the owner form
    CONFIG_FIELDS = "config-fields"  # () -> var names the modules accept in a submitted owner form
    CONFIG_SUBMITTED = "config-submitted"  # (room, actor, values, changed): modules apply their fields
    CONFIG_CHANGED = "config-changed"  # (room, actor, changed)
    ROOMINFO = "roominfo"  # (room) -> list of (var, value) for the room's disco#info form
    INVITE = "invite"  # (room, actor, invitee_jid)
    # (node, origin) -> features of that node of the service domain (None: not ours)
    DOMAIN_DISCO = "domain-disco"


class Hooks:
    def __init__(self) -> None:
        self._handlers: dict[Hook, list[Callable[..., Any]]] = {}

    def on(self, event: Hook, handler: Callable[..., Any]) -> None:
        if not isinstance(event, Hook):
            raise ValueError(f"unknown MUC hook {event!r}: hooks are muc.hooks.Hook members")
        self._handlers.setdefault(event, []).append(handler)

    def fire(self, event: Hook, *args: Any) -> None:
        for handler in self._handlers.get(event, ()):
            handler(*args)

    def collect(self, event: Hook, *args: Any) -> list[Any]:
        results = []
        for handler in self._handlers.get(event, ()):
            value = handler(*args)
            if value is not None:
                results.append(value)
        return results

    def any(self, event: Hook, *args: Any) -> bool:
        return any(handler(*args) for handler in self._handlers.get(event, ()))
