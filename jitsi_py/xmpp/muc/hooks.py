"""The events a MUC service fires and the room modules listen to (Prosody's module hooks, ours).

Handlers run in registration order. ``fire`` ignores results; ``collect`` gathers every non-None
result; ``any`` stops at the first truthy one. A handler refuses a request by raising
:class:`~jitsi_py.common.errors.StanzaError`; the service turns that into the stanza error.

Events (arguments):

- ``room-created`` (room) · ``room-destroyed`` (room)
- ``pre-join`` (join: :class:`~.service.Join`) - may raise, set ``join.affiliation`` or the
  ``skip_*`` flags
- ``occupant-joining`` (room, occupant) - before any presence goes out (room metadata)
- ``self-presence`` (room, occupant) -> elements added to the status-110 presence (permissions)
- ``occupant-joined`` (room, occupant) · ``occupant-left`` (room, occupant)
- ``presence-in`` (room, origin, presence) - an admitted join or update, before it is relayed;
  modules may rewrite its children (the token identity)
- ``presence-updated`` (room, occupant)
- ``nick-changed`` (room, occupant, old_occupant_jid) - XEP-0045 §7.6, before the new presence
  goes out; state keyed by the old nick or occupant JID moves to the new one
- ``occupant-kicked`` (room, occupant, actor)
- ``affiliation-changed`` (room, bare_jid, affiliation, actor)
- ``keep-empty`` (room) -> True keeps an empty room alive (breakout rooms still in use)
- ``config-form`` (room) -> list of (var, type, value) added to the owner form
- ``config-fields`` () -> var names the modules accept in a submitted owner form
- ``config-submitted`` (room, actor, values, changed) - modules apply their own fields
- ``config-changed`` (room, actor, changed)
- ``roominfo`` (room) -> list of (var, value) for the room's disco#info form
- ``groupchat`` (room, occupant, message) -> True when a module consumed the message
- ``invite`` (room, actor, invitee_jid)
- ``domain-message`` (message, origin) -> True when handled (e.g. breakout commands)
- ``domain-disco`` (node, origin) -> features of that node of the service domain (None: not ours)
"""

from __future__ import annotations

from typing import Any, Callable


class Hooks:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Callable[..., Any]]] = {}

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        self._handlers.setdefault(event, []).append(handler)

    def fire(self, event: str, *args: Any) -> None:
        for handler in self._handlers.get(event, ()):
            handler(*args)

    def collect(self, event: str, *args: Any) -> list[Any]:
        results = []
        for handler in self._handlers.get(event, ()):
            value = handler(*args)
            if value is not None:
                results.append(value)
        return results

    def any(self, event: str, *args: Any) -> bool:
        return any(handler(*args) for handler in self._handlers.get(event, ()))
