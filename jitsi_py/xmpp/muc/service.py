"""XEP-0045 multi-user chat on one domain, as a hosted :class:`~..component.Component`.

Sans-I/O: stanzas and their :class:`~..component.Origin` come in through :meth:`receive`, stanzas
go out through the :class:`~..component.Host`; the only clock is the ``clock`` callable given in
:class:`MucOptions` (rate limits, and the deadlines in :attr:`MucService.timers`, which the
driver reads with :meth:`MucService.deadline` and fires with :meth:`MucService.handle_timer`).

The service resolves a stanza's address (domain, room, occupant) and looks its handler up in
:attr:`MucService.handlers` (``dispatch.py``), declared in :meth:`MucService._declare`; the parts
of XEP-0045 live in their own modules: occupancy (``presence.py``), joins waiting for the focus
(``held.py``), room configuration (``owner.py``), moderation (``admin.py``), what rooms relay
(``relay.py``), discovery and ping (``disco.py``). Room modules (``xmpp/rooms/``) attach to
:attr:`MucService.hooks` and may add rows to the handler table.

Jitsi rules kept here because every Jitsi MUC host has them: rooms are non-anonymous and never
locked; with ``wait_for_focus`` a join is held until the focus (its account, nick ``focus``) is in
the room; with ``restrict_room_creation`` (Prosody's option, set on Jitsi's conference hosts) a
join to a room that does not exist is refused as the client expects ("Room creation is
restricted": it asks the focus again and retries), unless the focus has just been asked for that
room (:meth:`MucService.focus_requested`), in which case the join waits for the focus like any
other; IQs between occupants are forwarded with their ids untouched and replies routed back by
their ``to``; presence fan-out serializes each broadcast once (``Host.send_many``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable
from xml.etree.ElementTree import Element, SubElement

from ...common import jid as jids
from ...common.errors import StanzaError
from ...common.ns import DISCO_INFO, DISCO_ITEMS, MUC_ADMIN, MUC_OWNER, MUC_USER, PING
from ..component import Host, Origin, refuse
from .admin import Admin
from .disco import Disco
from .dispatch import ANY, KINDS, Address, HandlerTable, Request, ignore
from .held import HeldJoins
from .hooks import Hook, Hooks
from .owner import Owner
from .presence import Presence
from .relay import Relay, forwarded
from .room import Occupant, Room
from .stanza import stanza
from .tenants import TenantHost, TenantMap
from .timers import Timer, Timers


@dataclass(frozen=True)
class MucOptions:
    domain: str
    focus_jid: str  # bare JID of the focus account; its nick in rooms is "focus"
    admins: frozenset[str] = frozenset()  # bare JIDs with every right (besides service accounts)
    wait_for_focus: bool = False  # hold non-admin joins until the focus is in the room
    validate_nick: bool = False  # muc_resource_validate
    # muc_resource_validate's anonymous_strict: the virtual hosts whose users' nick must be the
    # first 8 characters of their JID's username.
    strict_nick_domains: frozenset[str] = frozenset()
    allowed_domains: frozenset[str] | None = None  # only sessions of these domains may join
    hide_all: bool = True  # muc_hide_all: rooms unlisted, disco#info only for occupants
    create_on_join: bool = True  # False: only admins and room modules create rooms (lobby)
    max_held_joins: int = 500  # per room, while waiting for the focus
    max_held_per_session: int = 8  # rooms one session may wait for at once
    presence_rate: float = 10.0  # presence updates per second an occupant may send...
    presence_burst: int = 30  # ...after this burst; excess gets policy-violation
    clock: Callable[[], float] | None = None  # monotonic seconds; None disables rate limits
    tenants: bool = False  # muc_domain_mapper: also serve room@muc.<tenant>.<base> (tenants.py)
    restrict_room_creation: bool = False  # only admins create rooms; others need the focus asked
    # How long a conference request to the focus lets joins wait for a room the focus has not
    # created yet. A client joins once the focus answered ready="true", which the focus means to
    # send after its own join; a join that still overtakes the focus's (another connection, a
    # slow focus) waits instead of taking the refusal-and-retry path lib-jitsi-meet has for it.
    # Past the wait, the held joins get "Room creation is restricted" and the client asks again.
    focus_request_ttl: float = 15.0


class MucService:
    """A MUC host: routes stanzas to rooms, applies XEP-0045, fires hooks for the room modules."""

    def __init__(self, options: MucOptions, host: Host) -> None:
        self.options = options
        self.timers = Timers()
        self.domain = options.domain
        self.tenants = TenantMap(options.domain) if options.tenants else None
        self.tenant_host = TenantHost(host, self.tenants) if self.tenants is not None else None
        self.host: Host = self.tenant_host if self.tenant_host is not None else host
        self.hooks = Hooks()
        # Identity type advertised for this domain on the main domain (lobbyrooms, breakout_rooms).
        self.disco_type: str | None = None
        self.rooms: dict[str, Room] = {}
        # Presence visibility between occupants; None = everyone sees everyone (the fast path).
        self.visibility: Callable[[Room, Occupant, Occupant], bool] | None = None
        self.counters = {"presence_dropped": 0, "held_joins": 0}
        self.presence = Presence(self)
        self.held = HeldJoins(self)
        self.owner = Owner(self)
        self.admin = Admin(self)
        self.relay = Relay(self)
        self.disco = Disco(self)
        self.handlers = HandlerTable()
        self._declare()

    def _declare(self) -> None:
        presence, relay, disco, owner, admin = self.presence, self.relay, self.disco, self.owner, self.admin
        D, R, O = Address.DOMAIN, Address.ROOM, Address.OCCUPANT  # noqa: E741 (one letter keeps the rows aligned)
        rows = (
            (D, "presence", None, ANY, presence.to_domain),
            (D, "message", ANY, ANY, relay.domain_message),
            (D, "iq", "get", f"{{{DISCO_INFO}}}query", disco.domain_info),
            (D, "iq", "get", f"{{{DISCO_ITEMS}}}query", disco.items),
            (D, "iq", "get", f"{{{PING}}}ping", disco.pong),
            # A presence to the bare room JID is taken as one to the empty nick, as ever.
            (R, "presence", None, ANY, presence.available),
            (R, "presence", "unavailable", ANY, presence.unavailable),
            (R, "message", "groupchat", ANY, relay.groupchat),
            (R, "message", "error", ANY, ignore),
            (R, "message", ANY, ANY, relay.invite),
            (R, "iq", "get", f"{{{DISCO_INFO}}}query", disco.room_info),
            (R, "iq", "get", f"{{{DISCO_ITEMS}}}query", disco.items),
            (R, "iq", "get", f"{{{PING}}}ping", disco.pong),
            (R, "iq", "get", f"{{{MUC_OWNER}}}query", owner.get),
            (R, "iq", "set", f"{{{MUC_OWNER}}}query", owner.set),
            (R, "iq", "get", f"{{{MUC_ADMIN}}}query", admin.get),
            (R, "iq", "set", f"{{{MUC_ADMIN}}}query", admin.set),
            (O, "presence", None, ANY, presence.available),
            (O, "presence", "unavailable", ANY, presence.unavailable),
            (O, "message", ANY, ANY, relay.private_message),
            (O, "iq", ANY, ANY, relay.iq_to_occupant),
            (O, "iq", "get", f"{{{PING}}}ping", relay.ping_to_occupant),
            (O, "iq", "set", f"{{{PING}}}ping", relay.ping_to_occupant),
        )
        for address, kind, type_, tag, handler in rows:
            self.handlers.register(address, kind, type_, tag, handler)

    # ---- the Component contract -------------------------------------------------------------

    def accepts(self, domain: str) -> bool:
        """Other domains this host serves (tenant MUC domains); the router asks for unknown ones."""
        return self.tenants is not None and self.tenants.tenant_of(domain) is not None

    def receive(self, element: Element, origin: Origin | None) -> None:
        if self.tenant_host is not None:
            to = element.get("to", "")
            internal = self.tenant_host.tenants.to_internal(to)
            if internal != to:
                element = forwarded(element, element.get("from", ""), internal)
            if internal.startswith("["):
                self.tenant_host.note(element.get("from", ""), internal.split("/", 1)[0].lower(), internal != to)
        self.route(element, origin)

    def route(self, element: Element, origin: Origin | None) -> None:
        """Hand ``element`` (addressed in this domain) to its handler; answer a refusal."""
        kind = KINDS.get(element.tag)
        if kind is None:
            return
        try:
            self._dispatch(kind, element, origin)
        except jids.JidError as bad:
            self.refuse(element, StanzaError("modify", "jid-malformed", str(bad)))
        except StanzaError as error:
            self.refuse(element, error)

    def _dispatch(self, kind: str, element: Element, origin: Origin | None) -> None:
        node, _, nick = jids.split(element.get("to", ""))
        if not node:
            self.handlers.dispatch(Address.DOMAIN, kind, Request(element, origin))
            return
        room_jid = f"{node}@{self.domain}"
        room = self.rooms.get(room_jid)
        if room is None and kind != "presence":  # a presence may create the room
            if kind == "message" or element.get("type") in ("get", "set"):
                raise StanzaError("cancel", "item-not-found", "No such room")
            return
        sender = room.by_jid.get(element.get("from", "")) if room is not None else None
        self.handlers.dispatch(Address.OCCUPANT if nick else Address.ROOM, kind,
                               Request(element, origin, room_jid, room, sender, nick))

    def refuse(self, element: Element, error: StanzaError) -> None:
        """Answer ``element`` with ``error`` (an error itself is never answered)."""
        refuse(self.host, element, error)

    def session_closed(self, full_jid: str) -> None:
        if self.tenant_host is not None:
            self.tenant_host.forget(full_jid)
        self.presence.session_closed(full_jid)
        self.held.session_closed(full_jid)

    def deadline(self) -> float | None:
        """When :meth:`handle_timer` is next due, on the ``clock`` of the options."""
        return self.timers.deadline()

    def handle_timer(self, now: float) -> None:
        self.timers.run(now)

    # ---- API for the room modules -------------------------------------------------------------

    def now(self) -> float:
        clock = self.options.clock
        if clock is None:
            raise RuntimeError(f"{self.domain} has no clock (MucOptions.clock): it cannot schedule")
        return clock()

    def later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` ``delay`` seconds from now (when the driver calls handle_timer)."""
        return self.timers.call_at(self.now() + delay, callback)

    def focus_requested(self, room_jid: str) -> None:
        """The focus was asked to start a conference in ``room_jid``: joins may wait for it."""
        self.held.focus_requested(room_jid)

    def release_held(self, room_jid: str) -> None:
        """Retry the joins held for a room (the focus arrived, a host arrived...)."""
        self.held.release(room_jid)

    def room_jid(self, node: str) -> str:
        return f"{node.lower()}@{self.domain}"

    def get_room(self, room_jid: str) -> Room | None:
        return self.rooms.get(room_jid.lower())

    def rooms_of(self, full_jid: str) -> list[str]:
        """JIDs of the rooms a session occupies here."""
        return list(self.presence.sessions.get(full_jid, ()))

    def create_room(self, node: str) -> Room:
        node = node.lower()
        room = Room(jid=f"{node}@{self.domain}", node=node, domain=self.domain)
        self.rooms[room.jid] = room
        self.hooks.fire(Hook.ROOM_CREATED, room)
        return room

    def is_admin(self, real_jid: str, origin: Origin | None) -> bool:
        if origin is None:
            return True  # the server itself or another hosted component
        return origin.service_account or jids.bare(real_jid) in self.options.admins

    def is_focus(self, occupant: Occupant) -> bool:
        return occupant.bare == self.options.focus_jid

    def focus_in(self, room: Room) -> bool:
        focus = room.occupants.get("focus")
        return focus is not None and self.is_focus(focus)

    def send_to(self, element: Element, occupants: Iterable[Occupant]) -> None:
        recipients = [o.jid for o in occupants]
        if recipients:
            self.host.send_many(element, recipients)

    def broadcast(self, room: Room, element: Element) -> None:
        """One element to every occupant (serialized once)."""
        self.send_to(element, room.occupants.values())

    def config_changed(self, room: Room, codes: Iterable[str] = ("104",)) -> None:
        msg = stanza("message", room.jid, type_="groupchat")
        x = SubElement(msg, f"{{{MUC_USER}}}x")
        for code in codes:
            SubElement(x, f"{{{MUC_USER}}}status", code=code)
        self.broadcast(room, msg)

    def announce(self, room: Room, occupant: Occupant) -> None:
        """Occupant's role/affiliation/presence changed: tell everyone, itself with status 110."""
        self.presence.announce(room, occupant)

    def leave(self, room: Room, occupant: Occupant, unavailable: Element | None = None,
              codes: tuple[str, ...] = (), actor: Occupant | None = None, reason: str = "",
              extra_x: Iterable[Element] = ()) -> None:
        """Remove ``occupant`` and tell everyone (itself with 110); an empty room goes away."""
        self.presence.leave(room, occupant, unavailable, codes, actor, reason, extra_x)

    def destroy(self, room: Room, reason: str = "", alternate: str | None = None) -> None:
        """XEP-0045 §10.9: every occupant gets its own unavailable presence with ``<destroy>``."""
        self.presence.destroy(room, reason, alternate)

    def set_affiliation(self, room: Room, bare: str, affiliation: str, actor: Occupant | None = None,
                        reason: str = "") -> None:
        self.admin.set_affiliation(room, bare, affiliation, actor, reason)

    def kick(self, room: Room, occupant: Occupant, actor: Occupant | None = None, reason: str = "") -> None:
        self.admin.kick(room, occupant, actor, reason)
