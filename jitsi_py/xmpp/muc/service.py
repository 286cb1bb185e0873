"""XEP-0045 multi-user chat on one domain, as a hosted :class:`~..component.Component`.

Sans-I/O: stanzas and their :class:`~..component.Origin` come in through :meth:`receive`, stanzas
go out through the :class:`~..component.Host`; the only clock is the ``clock`` callable given in
:class:`MucOptions` (rate limits, and the deadlines in :attr:`MucService.timers`, which the
driver reads with :meth:`MucService.deadline` and fires with :meth:`MucService.handle_timer`).
Room modules (``xmpp/rooms/``) attach to :attr:`hooks`.

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

import re
from dataclasses import dataclass
from typing import Callable, Iterable
from xml.etree.ElementTree import Element, SubElement

from ..component import Host, Origin
from ...common import jid as jids
from .hooks import Hooks
from .room import AFFILIATION_RANK, AFFILIATIONS, ROLES, Occupant, Room
from .timers import Timer, Timers
from .tenants import TenantHost, TenantMap
from ...common.errors import StanzaError, error_reply
from .stanza import (
    CLIENT, DATA, DISCO_INFO, DISCO_ITEMS, IQ, MESSAGE, MUC, MUC_ADMIN, MUC_OWNER, MUC_USER, NICK, PING,
    PRESENCE, form, form_values, result, stanza, truthy,
)

HEALTH_CHECK_PREFIX = "__jicofo-health-check"
# muc_resource_validate: a simple token, so a nick is usable as an endpoint id everywhere.
_VALID_NICK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")
_CONFIG_FORM = "http://jabber.org/protocol/muc#roomconfig"
_ROOMINFO_FORM = "http://jabber.org/protocol/muc#roominfo"
# XEP-0045 registry fields we accept in a submitted owner form without acting on them.
_IGNORED_CONFIG_FIELDS = frozenset({
    "FORM_TYPE", "muc#roomconfig_allowpm", "muc#roomconfig_enablelogging", "muc#roomconfig_getmemberlist",
    "muc#roomconfig_lang", "muc#roomconfig_pubsub", "muc#roomconfig_presencebroadcast",
    "muc#roomconfig_roomadmins", "muc#roomconfig_roomowners", "muc#roomconfig_historylength",
    "muc#roomconfig_defaulthistorymessages", "muc#roomconfig_maxhistoryfetch",
    "muc#roomconfig_allowmemberinvites",
})


@dataclass(frozen=True)
class MucOptions:
    domain: str
    focus_jid: str  # bare JID of the focus account; its nick in rooms is "focus"
    admins: frozenset[str] = frozenset()  # bare JIDs with every right (besides service accounts)
    wait_for_focus: bool = False  # hold non-admin joins until the focus is in the room
    validate_nick: bool = False  # muc_resource_validate
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


class HoldJoin(Exception):
    """Raised by a ``pre-join`` handler: keep the join waiting until :meth:`MucService.release_held`."""


@dataclass
class Join:
    """A join request on its way through the checks; modules may relax or refuse it."""

    room: Room
    nick: str
    jid: str
    bare: str
    origin: Origin | None
    stanza: Element
    password: str | None
    admin: bool
    affiliation: str
    skip_password: bool = False
    skip_members_only: bool = False
    skip_max_occupants: bool = False


@dataclass
class _Bucket:
    tokens: float
    stamp: float


@dataclass
class _Held:
    stanza: Element
    origin: Origin | None


class MucService:
    """A MUC host: routes stanzas to rooms, applies XEP-0045, fires hooks for the room modules."""

    def __init__(self, options: MucOptions, host: Host) -> None:
        self.options = options
        self.timers = Timers()
        self.domain = options.domain
        self.tenants = TenantMap(options.domain) if options.tenants else None
        self.host = TenantHost(host, self.tenants) if self.tenants is not None else host
        self.hooks = Hooks()
        # Identity type advertised for this domain on the main domain (lobbyrooms, breakout_rooms).
        self.disco_type: str | None = None
        self.rooms: dict[str, Room] = {}
        # Presence visibility between occupants; None = everyone sees everyone (the fast path).
        self.visibility: Callable[[Room, Occupant, Occupant], bool] | None = None
        self._sessions: dict[str, set[str]] = {}  # real full JID -> rooms it occupies
        self._held: dict[str, dict[str, _Held]] = {}  # room JID -> real JID -> held join
        self._held_by_session: dict[str, set[str]] = {}
        self._buckets: dict[int, _Bucket] = {}
        self._focus_asked: dict[str, Timer] = {}  # room JID -> end of the wait for the focus
        self.counters = {"presence_dropped": 0, "held_joins": 0}

    # ---- the Component contract -------------------------------------------------------------

    def accepts(self, domain: str) -> bool:
        """Other domains this host serves (tenant MUC domains); the router asks for unknown ones."""
        return self.tenants is not None and self.tenants.tenant_of(domain) is not None

    def receive(self, element: Element, origin: Origin | None) -> None:
        if self.tenants is not None:
            to = element.get("to", "")
            internal = self.tenants.to_internal(to)
            if internal != to:
                element = _forwarded(element, element.get("from", ""), internal)
            if internal.startswith("["):
                self.host.note(element.get("from", ""), internal.split("/", 1)[0].lower(), internal != to)
        try:
            if element.tag == PRESENCE:
                self._presence(element, origin)
            elif element.tag == MESSAGE:
                self._message(element, origin)
            elif element.tag == IQ:
                self._iq(element, origin)
        except jids.JidError as bad:
            if element.get("type") != "error":
                self.host.send(error_reply(element, StanzaError("modify", "jid-malformed", str(bad))))
        except StanzaError as error:
            if element.get("type") != "error":
                self.host.send(error_reply(element, error))

    def session_closed(self, full_jid: str) -> None:
        if self.tenants is not None:
            self.host.forget(full_jid)
        for room_jid in list(self._sessions.get(full_jid, ())):
            room = self.rooms.get(room_jid)
            occupant = room.by_jid.get(full_jid) if room else None
            if occupant is not None:
                self.leave(room, occupant)
        self._sessions.pop(full_jid, None)
        for room_jid in self._held_by_session.pop(full_jid, ()):
            held = self._held.get(room_jid)
            if held is not None:
                held.pop(full_jid, None)
                if not held:
                    del self._held[room_jid]

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
        room_jid = room_jid.lower()
        previous = self._focus_asked.pop(room_jid, None)
        if previous is not None:
            previous.cancel()
        self._focus_asked[room_jid] = self.later(self.options.focus_request_ttl,
                                                 lambda: self._focus_wait_over(room_jid))

    def _focus_wait_over(self, room_jid: str) -> None:
        self._focus_asked.pop(room_jid, None)
        if room_jid in self.rooms or not self.options.restrict_room_creation:
            return  # the focus came (or a join will create the room): nothing waits on the request
        for real, held in self._held.pop(room_jid, {}).items():
            self._held_by_session.get(real, set()).discard(room_jid)
            self.host.send(error_reply(held.stanza, _creation_restricted()))

    def room_jid(self, node: str) -> str:
        return f"{node.lower()}@{self.domain}"

    def get_room(self, room_jid: str) -> Room | None:
        return self.rooms.get(room_jid.lower())

    def rooms_of(self, full_jid: str) -> list[str]:
        """JIDs of the rooms a session occupies here."""
        return list(self._sessions.get(full_jid, ()))

    def create_room(self, node: str) -> Room:
        node = node.lower()
        room = Room(jid=f"{node}@{self.domain}", node=node, domain=self.domain)
        self.rooms[room.jid] = room
        self.hooks.fire("room-created", room)
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

    def announce(self, room: Room, occupant: Occupant) -> None:
        """Occupant's role/affiliation/presence changed: tell everyone, itself with status 110."""
        occupant.invalidate()
        self._fan_out(room, occupant)
        self.host.send(self._self_presence(room, occupant, ()))

    def set_affiliation(self, room: Room, bare: str, affiliation: str, actor: Occupant | None = None,
                        reason: str = "") -> None:
        room.set_affiliation(bare, affiliation)
        for occupant in room.occupants_of(bare):
            if affiliation == "outcast":
                self.leave(room, occupant, codes=("301",), actor=actor, reason=reason)
                continue
            occupant.affiliation = affiliation
            occupant.role = room.default_role(affiliation)
            self.announce(room, occupant)
        self.hooks.fire("affiliation-changed", room, bare, affiliation, actor)

    def kick(self, room: Room, occupant: Occupant, actor: Occupant | None = None, reason: str = "") -> None:
        self.leave(room, occupant, codes=("307",), actor=actor, reason=reason)
        self.hooks.fire("occupant-kicked", room, occupant, actor)

    def leave(self, room: Room, occupant: Occupant, unavailable: Element | None = None,
              codes: tuple[str, ...] = (), actor: Occupant | None = None, reason: str = "",
              extra_x: Iterable[Element] = ()) -> None:
        """Remove ``occupant`` and tell everyone (itself with 110); an empty room goes away."""
        if room.occupants.get(occupant.nick) is not occupant:
            return
        room.remove(occupant)
        self._forget(occupant, room)
        self._buckets.pop(id(occupant), None)
        if unavailable is not None:
            occupant.presence = unavailable
        extra = list(extra_x)
        if actor is not None:
            extra.append(Element(f"{{{MUC_USER}}}actor", nick=actor.nick))
        if reason:
            el = Element(f"{{{MUC_USER}}}reason")
            el.text = reason
            extra.append(el)
        self._fan_out(room, occupant, occupant.build_presence(True, codes, extra, unavailable=True),
                      lambda: occupant.build_presence(False, codes, extra, unavailable=True))
        own = occupant.build_presence(True, codes + ("110",), extra, unavailable=True)
        own.set("to", occupant.jid)
        self.host.send(own)
        self.hooks.fire("occupant-left", room, occupant)
        if not room.occupants and not self.hooks.any("keep-empty", room):
            self.destroy(room)

    def destroy(self, room: Room, reason: str = "", alternate: str | None = None) -> None:
        """XEP-0045 §10.9: every occupant gets its own unavailable presence with ``<destroy>``."""
        if room.destroyed:
            return
        room.destroyed = True
        self.rooms.pop(room.jid, None)
        for occupant in list(room.occupants.values()):
            destroy = Element(f"{{{MUC_USER}}}destroy")
            if alternate:
                destroy.set("jid", alternate)
            if reason:
                SubElement(destroy, f"{{{MUC_USER}}}reason").text = reason
            own = occupant.build_presence(True, ("110",), [destroy], unavailable=True, affiliation="none")
            own.set("to", occupant.jid)
            self.host.send(own)
            room.remove(occupant)
            self._forget(occupant, room)
        self.hooks.fire("room-destroyed", room)

    def _forget(self, occupant: Occupant, room: Room) -> None:
        """The occupant's session is no longer in ``room``."""
        sessions = self._sessions.get(occupant.jid)
        if sessions is not None:
            sessions.discard(room.jid)
            if not sessions:
                del self._sessions[occupant.jid]

    def config_changed(self, room: Room, codes: Iterable[str] = ("104",)) -> None:
        msg = stanza("message", room.jid, type_="groupchat")
        x = SubElement(msg, f"{{{MUC_USER}}}x")
        for code in codes:
            SubElement(x, f"{{{MUC_USER}}}status", code=code)
        self.broadcast(room, msg)

    # ---- presence -----------------------------------------------------------------------------

    def _presence(self, pres: Element, origin: Origin | None) -> None:
        node, _, nick = jids.split(pres.get("to", ""))
        sender = pres.get("from", "")
        type_ = pres.get("type")
        if not node:
            if type_ is None:
                raise StanzaError("modify", "jid-malformed", "Presence to a room needs room@domain/nick")
            return
        room_jid = f"{node}@{self.domain}"
        room = self.rooms.get(room_jid)
        occupant = room.by_jid.get(sender) if room else None
        if type_ == "unavailable":
            if occupant is not None:
                self.leave(room, occupant, pres)
            else:
                self._unhold(room_jid, sender)
            return
        if type_ is not None:
            return  # subscriptions, probes and bounced errors mean nothing to a room
        if occupant is not None:
            if nick != occupant.nick:
                self._change_nick(room, occupant, nick, pres)
            else:
                self._update(room, occupant, pres)
            return
        self._join(room_jid, room, nick, pres, origin)

    def _update(self, room: Room, occupant: Occupant, pres: Element) -> None:
        if not self._allow_presence(occupant):
            self.counters["presence_dropped"] += 1
            raise StanzaError("wait", "policy-violation", "Too many presence updates")
        self.hooks.fire("presence-in", room, occupant.origin, pres)
        occupant.update(pres)
        self.hooks.fire("presence-updated", room, occupant)
        self._fan_out(room, occupant)
        self.host.send(self._self_presence(room, occupant, ()))

    def _change_nick(self, room: Room, occupant: Occupant, nick: str, pres: Element) -> None:
        """XEP-0045 §7.6: unavailable from the old nick with 303 and the new one, then available."""
        if self.options.validate_nick and not room.node.startswith(HEALTH_CHECK_PREFIX):
            # muc_resource_validate: the nick is the endpoint id the focus and the bridge know.
            raise StanzaError("cancel", "not-allowed", "Nick changes are not allowed")
        taken = room.occupants.get(nick)
        if taken is not None:
            raise StanzaError("cancel", "conflict", "Nickname already in use")
        if not self._allow_presence(occupant):
            self.counters["presence_dropped"] += 1
            raise StanzaError("wait", "policy-violation", "Too many presence updates")
        self.hooks.fire("presence-in", room, occupant.origin, pres)

        def gone(with_jid: bool, codes: tuple[str, ...]) -> Element:
            out = occupant.build_presence(with_jid, codes, unavailable=True, role=occupant.role)
            out.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}item").set("nick", nick)
            return out

        self._fan_out(room, occupant, gone(True, ("303",)), lambda: gone(False, ("303",)))
        own = gone(True, ("303", "110"))
        own.set("to", occupant.jid)
        self.host.send(own)
        room.remove(occupant)
        old_jid = occupant.occupant_jid
        occupant.nick = nick
        occupant.occupant_jid = f"{room.jid}/{nick}"
        occupant.update(pres)
        room.add(occupant)
        self.hooks.fire("nick-changed", room, occupant, old_jid)
        self.hooks.fire("presence-updated", room, occupant)
        self._fan_out(room, occupant)
        self.host.send(self._self_presence(room, occupant, ()))

    def _allow_presence(self, occupant: Occupant) -> bool:
        clock = self.options.clock
        if clock is None:
            return True
        now = clock()
        bucket = self._buckets.get(id(occupant))
        if bucket is None:
            bucket = self._buckets[id(occupant)] = _Bucket(float(self.options.presence_burst), now)
        bucket.tokens = min(float(self.options.presence_burst),
                            bucket.tokens + (now - bucket.stamp) * self.options.presence_rate)
        bucket.stamp = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def _join(self, room_jid: str, room: Room | None, nick: str, pres: Element, origin: Origin | None) -> None:
        real = pres.get("from", "")
        bare = jids.bare(real)
        admin = self.is_admin(real, origin)
        if not nick:
            raise StanzaError("modify", "jid-malformed", "A nickname is required")
        allowed = self.options.allowed_domains
        if allowed is not None and origin is not None and not origin.service_account \
                and origin.domain not in allowed:
            raise StanzaError("cancel", "not-allowed", "Only service accounts may join rooms here")
        is_focus = bare == self.options.focus_jid
        if room is None and self.options.restrict_room_creation and not admin \
                and room_jid not in self._focus_asked:
            raise _creation_restricted()
        if self.options.wait_for_focus and not admin and not room_jid.startswith(HEALTH_CHECK_PREFIX):
            if room is None or not self.focus_in(room):
                self._hold(room_jid, real, pres, origin)
                return
        created = room is None
        if room is None and not self.options.create_on_join and not admin:
            raise StanzaError("cancel", "item-not-found", "No such room")
        if room is None:
            room = self.create_room(room_jid.split("@", 1)[0])
        join = Join(room=room, nick=nick, jid=real, bare=bare, origin=origin, stanza=pres,
                    password=_join_password(pres), admin=admin,
                    affiliation="owner" if created else room.affiliation(bare))
        try:
            self._check_join(join)
        except (StanzaError, HoldJoin) as refused:
            if created and not room.occupants:
                self.destroy(room)
            if isinstance(refused, HoldJoin):
                self._hold(room_jid, real, pres, origin)
                return
            raise
        self._enter(room, join, created)
        if is_focus and nick == "focus":
            asked = self._focus_asked.pop(room_jid, None)
            if asked is not None:
                asked.cancel()
            self.release_held(room_jid)

    def _check_join(self, join: Join) -> None:
        room = join.room
        if join.affiliation == "outcast":
            raise StanzaError("auth", "forbidden", "You have been banned from this room")
        taken = room.occupants.get(join.nick)
        if taken is not None and taken.jid != join.jid:
            raise StanzaError("cancel", "conflict", "Nickname already in use")
        if self.options.validate_nick and not join.admin and not _VALID_NICK.match(join.nick):
            raise StanzaError("cancel", "not-allowed", "Invalid resource")
        self.hooks.fire("pre-join", join)
        if join.admin:
            return
        password = room.config.password
        if password and not join.skip_password and join.password != password:
            raise StanzaError("auth", "not-authorized", "A password is required to enter this room")
        if room.config.members_only and not join.skip_members_only \
                and AFFILIATION_RANK[join.affiliation] < AFFILIATION_RANK["member"]:
            raise StanzaError("auth", "registration-required", "Members only room")
        limit = room.config.max_occupants
        if limit is not None and not join.skip_max_occupants and counted_occupants(room) >= limit:
            raise StanzaError("cancel", "service-unavailable", "The room has reached its maximum number of occupants")

    def _enter(self, room: Room, join: Join, created: bool) -> None:
        self.hooks.fire("presence-in", room, join.origin, join.stanza)
        occupant = Occupant(
            nick=join.nick, occupant_jid=f"{room.jid}/{join.nick}", jid=join.jid, bare=join.bare,
            role=room.default_role(join.affiliation), affiliation=join.affiliation, origin=join.origin,
            presence=join.stanza,
        )
        if join.affiliation != room.affiliation(join.bare):
            room.set_affiliation(join.bare, join.affiliation)
        room.add(occupant)
        self._sessions.setdefault(join.jid, set()).add(room.jid)
        self.hooks.fire("occupant-joining", room, occupant)
        see_jids = room.sees_real_jids(occupant)
        visible = self.visibility
        for other in list(room.occupants.values()):
            if other is not occupant and (visible is None or visible(room, other, occupant)):
                self.host.send_many(other.broadcast(see_jids), [occupant.jid])
        self._fan_out(room, occupant)
        self.host.send(self._self_presence(room, occupant, ("201",) if created else ()))
        subject = stanza("message", room.subject_from or room.jid, occupant.jid, "groupchat")
        SubElement(subject, f"{{{CLIENT}}}subject").text = room.subject
        self.host.send(subject)
        self.hooks.fire("occupant-joined", room, occupant)

    def _self_presence(self, room: Room, occupant: Occupant, codes: tuple[str, ...]) -> Element:
        status = ("100", "110") if room.config.whois_anyone else ("110",)
        pres = occupant.build_presence(True, status + codes)
        pres.extend(self.hooks.collect("self-presence", room, occupant))
        pres.set("to", occupant.jid)
        return pres

    def _fan_out(self, room: Room, occupant: Occupant, full: Element | None = None,
                 anonymous: Callable[[], Element] | None = None) -> None:
        """``occupant``'s presence to every other occupant allowed to see it, serialized once."""
        visible = self.visibility
        if room.config.whois_anyone and visible is None:
            recipients = [o.jid for o in room.occupants.values() if o is not occupant]
            if recipients:
                self.host.send_many(full if full is not None else occupant.broadcast(True), recipients)
            return
        with_jid, without = [], []
        for other in room.occupants.values():
            if other is occupant or (visible is not None and not visible(room, occupant, other)):
                continue
            (with_jid if room.sees_real_jids(other) else without).append(other.jid)
        if with_jid:
            self.host.send_many(full if full is not None else occupant.broadcast(True), with_jid)
        if without:
            self.host.send_many(anonymous() if anonymous is not None else occupant.broadcast(False), without)

    def _hold(self, room_jid: str, real: str, pres: Element, origin: Origin | None) -> None:
        held = self._held.setdefault(room_jid, {})
        mine = self._held_by_session.setdefault(real, set())
        if real not in held and (len(held) >= self.options.max_held_joins
                                 or len(mine) >= self.options.max_held_per_session):
            if not held:
                del self._held[room_jid]
            raise StanzaError("wait", "resource-constraint", "Too many joins waiting for the conference to start")
        held[real] = _Held(pres, origin)
        mine.add(room_jid)
        self.counters["held_joins"] += 1

    def _unhold(self, room_jid: str, real: str) -> None:
        held = self._held.get(room_jid)
        if held is not None and held.pop(real, None) is not None:
            self._held_by_session.get(real, set()).discard(room_jid)
            if not held:
                del self._held[room_jid]

    def release_held(self, room_jid: str) -> None:
        """Retry the joins held for a room (the focus arrived, a host arrived...)."""
        for real, held in self._held.pop(room_jid, {}).items():
            self._held_by_session.get(real, set()).discard(room_jid)
            try:  # already addressed to the internal room (tenants) when it was held
                self._presence(held.stanza, held.origin)
            except StanzaError as error:
                self.host.send(error_reply(held.stanza, error))

    # ---- messages -----------------------------------------------------------------------------

    def _message(self, msg: Element, origin: Origin | None) -> None:
        node, _, nick = jids.split(msg.get("to", ""))
        type_ = msg.get("type")
        if not node:
            if not self.hooks.any("domain-message", msg, origin) and type_ not in ("error", "groupchat"):
                raise StanzaError("cancel", "service-unavailable")
            return
        room = self.rooms.get(f"{node}@{self.domain}")
        if room is None:
            raise StanzaError("cancel", "item-not-found", "No such room")
        sender = room.by_jid.get(msg.get("from", ""))
        if nick:
            self._private_message(room, sender, nick, msg)
        elif type_ == "groupchat":
            self._groupchat(room, sender, msg)
        elif type_ != "error":
            self._invite(room, sender, msg)

    def _groupchat(self, room: Room, sender: Occupant | None, msg: Element) -> None:
        if sender is None:
            raise StanzaError("modify", "not-acceptable", "You are not in this room")
        if sender.role == "visitor":
            raise StanzaError("auth", "forbidden", "Visitors may not speak in this room")
        subject = msg.find(f"{{{CLIENT}}}subject")
        if subject is not None and msg.find(f"{{{CLIENT}}}body") is None:
            if not (sender.is_moderator or room.config.change_subject):
                raise StanzaError("auth", "forbidden", "Only moderators may change the subject")
            room.subject = subject.text or ""
            room.subject_from = sender.occupant_jid
        elif self.hooks.any("groupchat", room, sender, msg):
            return
        out = Element(MESSAGE, {"from": sender.occupant_jid, "type": "groupchat"})
        if msg.get("id"):
            out.set("id", msg.get("id"))
        # muc_meeting_id: a display name added to a groupchat is dropped, presence carries it.
        out.extend(child for child in msg if child.tag != f"{{{NICK}}}nick")
        visible = self.visibility
        self.send_to(out, (o for o in room.occupants.values()
                           if visible is None or visible(room, sender, o)))

    def _private_message(self, room: Room, sender: Occupant | None, nick: str, msg: Element) -> None:
        if msg.get("type") == "groupchat":
            raise StanzaError("modify", "bad-request", "Private messages may not be groupchat")
        if sender is None:
            raise StanzaError("modify", "not-acceptable", "You are not in this room")
        target = room.occupants.get(nick)
        if target is None:
            raise StanzaError("cancel", "item-not-found", "No such occupant")
        visible = self.visibility
        if visible is not None and not (visible(room, sender, target) or visible(room, target, sender)):
            raise StanzaError("cancel", "not-allowed", "You may not write to this occupant")
        out = _forwarded(msg, sender.occupant_jid, target.jid)
        if out.find(f"{{{MUC_USER}}}x") is None:
            out.append(Element(f"{{{MUC_USER}}}x"))
        self.host.send(out)

    def _invite(self, room: Room, sender: Occupant | None, msg: Element) -> None:
        x = msg.find(f"{{{MUC_USER}}}x")
        invites = x.findall(f"{{{MUC_USER}}}invite") if x is not None else []
        if not invites:
            if x is not None and x.find(f"{{{MUC_USER}}}decline") is not None:
                return
            raise StanzaError("modify", "bad-request", "Only groupchat messages and invites go to a room")
        if sender is None:
            raise StanzaError("modify", "not-acceptable", "You are not in this room")
        if room.config.members_only and not sender.is_moderator and not room.config.allow_invites:
            raise StanzaError("auth", "forbidden", "Only moderators may invite to a members-only room")
        for invite in invites:
            invitee = invite.get("to", "")
            if not invitee:
                raise StanzaError("modify", "bad-request", "An invite needs a 'to'")
        for invite in invites:
            invitee = invite.get("to", "")
            if room.config.members_only and room.affiliation(jids.bare(invitee)) == "none":
                room.set_affiliation(jids.bare(invitee), "member")
            out = stanza("message", room.jid, invitee)
            ox = SubElement(out, f"{{{MUC_USER}}}x")
            fwd = SubElement(ox, f"{{{MUC_USER}}}invite", {"from": sender.jid})
            fwd.extend(invite)
            # The room password is deliberately not included: admission is the member affiliation.
            self.host.send(out)
            self.hooks.fire("invite", room, sender, invitee)

    # ---- IQs ----------------------------------------------------------------------------------

    def _iq(self, iq: Element, origin: Origin | None) -> None:
        node, _, nick = jids.split(iq.get("to", ""))
        type_ = iq.get("type")
        request = type_ in ("get", "set")
        if not node:
            if request:
                self._domain_iq(iq, origin)
            return
        room = self.rooms.get(f"{node}@{self.domain}")
        if room is None:
            if request:
                raise StanzaError("cancel", "item-not-found", "No such room")
            return
        sender = room.by_jid.get(iq.get("from", ""))
        if nick:
            self._iq_to_occupant(room, sender, nick, iq)
            return
        if not request:
            return
        payload = iq[0] if len(iq) else None
        tag = payload.tag if payload is not None else ""
        admin = self.is_admin(iq.get("from", ""), origin)
        if tag == f"{{{DISCO_INFO}}}query" and type_ == "get":
            if sender is None and not admin and self.options.hide_all:
                raise StanzaError("auth", "forbidden", "Only occupants may query this room")
            self.host.send(result(iq, self._room_info(room, payload.get("node"))))
        elif tag == f"{{{DISCO_ITEMS}}}query" and type_ == "get":
            self.host.send(result(iq, Element(f"{{{DISCO_ITEMS}}}query")))
        elif tag == f"{{{MUC_OWNER}}}query":
            self._owner(room, sender, admin, iq, payload)
        elif tag == f"{{{MUC_ADMIN}}}query":
            self._admin(room, sender, admin, iq, payload)
        elif tag == f"{{{PING}}}ping" and type_ == "get":
            self.host.send(result(iq))
        else:
            raise StanzaError("cancel", "service-unavailable")

    def _iq_to_occupant(self, room: Room, sender: Occupant | None, nick: str, iq: Element) -> None:
        request = iq.get("type") in ("get", "set")
        if sender is None:
            if request:
                raise StanzaError("modify", "not-acceptable", "You are not in this room")
            return
        target = room.occupants.get(nick)
        if target is None:
            if request:
                raise StanzaError("cancel", "item-not-found", "No such occupant")
            return
        if target is sender and request and len(iq) and iq[0].tag == f"{{{PING}}}ping":
            self.host.send(result(iq))  # XEP-0410: the room answers an occupant's self-ping
            return
        self.host.send(_forwarded(iq, sender.occupant_jid, target.jid))

    def _domain_iq(self, iq: Element, origin: Origin | None) -> None:
        payload = iq[0] if len(iq) else None
        tag = payload.tag if payload is not None else ""
        if tag == f"{{{DISCO_INFO}}}query" and iq.get("type") == "get":
            node = payload.get("node")
            query = Element(f"{{{DISCO_INFO}}}query")
            if node:
                query.set("node", node)
                groups = self.hooks.collect("domain-disco", node, origin)
                if not groups:
                    raise StanzaError("cancel", "item-not-found", "Unknown node")
                features = [DISCO_INFO, *(f for group in groups for f in group)]
            else:
                SubElement(query, f"{{{DISCO_INFO}}}identity", category="conference", type="text",
                           name="Conference rooms")
                features = [DISCO_INFO, DISCO_ITEMS, MUC]
            for var in features:
                SubElement(query, f"{{{DISCO_INFO}}}feature", var=var)
            self.host.send(result(iq, query))
        elif tag == f"{{{DISCO_ITEMS}}}query" and iq.get("type") == "get":
            self.host.send(result(iq, Element(f"{{{DISCO_ITEMS}}}query")))  # muc_hide_all
        elif tag == f"{{{PING}}}ping" and iq.get("type") == "get":
            self.host.send(result(iq))
        else:
            raise StanzaError("cancel", "service-unavailable")

    def _room_info(self, room: Room, node: str | None) -> Element:
        config = room.config
        query = Element(f"{{{DISCO_INFO}}}query")
        if node:
            query.set("node", node)
        SubElement(query, f"{{{DISCO_INFO}}}identity", category="conference", type="text",
                   name=config.name or room.node)
        features = [
            MUC, DISCO_INFO,
            "muc_public" if config.public else "muc_hidden",
            "muc_persistent" if config.persistent else "muc_temporary",
            "muc_membersonly" if config.members_only else "muc_open",
            "muc_moderated" if config.moderated else "muc_unmoderated",
            "muc_nonanonymous" if config.whois_anyone else "muc_semianonymous",
            "muc_passwordprotected" if config.password else "muc_unsecured",
        ]
        for var in features:
            SubElement(query, f"{{{DISCO_INFO}}}feature", var=var)
        fields = [
            ("muc#roominfo_description", config.description),
            ("muc#roominfo_occupants", str(len(room.occupants))),
            ("muc#roomconfig_roomname", config.name),
            ("muc#roominfo_subject", room.subject),
        ]
        for extra in self.hooks.collect("roominfo", room):
            fields.extend(extra)
        query.append(form("result", _ROOMINFO_FORM, [(var, None, value) for var, value in fields]))
        return query

    def _owner(self, room: Room, sender: Occupant | None, admin: bool, iq: Element, query: Element) -> None:
        if not admin and (sender is None or sender.affiliation != "owner"):
            raise StanzaError("auth", "forbidden", "Only owners may configure the room")
        if iq.get("type") == "get":
            reply = Element(f"{{{MUC_OWNER}}}query")
            reply.append(self._config_form(room))
            self.host.send(result(iq, reply))
            return
        destroy = query.find(f"{{{MUC_OWNER}}}destroy")
        if destroy is not None:
            reason = destroy.findtext(f"{{{MUC_OWNER}}}reason") or ""
            self.host.send(result(iq))
            self.destroy(room, reason, destroy.get("jid"))
            return
        x = query.find(f"{{{DATA}}}x")
        if x is None:
            raise StanzaError("modify", "bad-request", "A configuration form is required")
        if x.get("type") == "cancel":
            self.host.send(result(iq))
            return
        if x.get("type") != "submit":
            raise StanzaError("modify", "bad-request", "The configuration form must be submitted")
        changed = self._apply_config(room, sender, form_values(x))
        self.host.send(result(iq))
        if changed:
            self.hooks.fire("config-changed", room, sender, changed)
            codes = ["104"]
            if "whois" in changed:
                codes.append("172" if room.config.whois_anyone else "173")
            self.config_changed(room, codes)

    def _config_form(self, room: Room) -> Element:
        c = room.config
        fields = [
            ("muc#roomconfig_roomname", "text-single", c.name),
            ("muc#roomconfig_roomdesc", "text-single", c.description),
            ("muc#roomconfig_persistentroom", "boolean", c.persistent),
            ("muc#roomconfig_publicroom", "boolean", c.public),
            ("muc#roomconfig_membersonly", "boolean", c.members_only),
            ("muc#roomconfig_moderatedroom", "boolean", c.moderated),
            ("muc#roomconfig_passwordprotectedroom", "boolean", bool(c.password)),
            ("muc#roomconfig_roomsecret", "text-private", c.password),
            ("muc#roomconfig_whois", "list-single", "anyone" if c.whois_anyone else "moderators"),
            ("muc#roomconfig_maxusers", "text-single", "" if c.max_occupants is None else str(c.max_occupants)),
            ("muc#roomconfig_changesubject", "boolean", c.change_subject),
            ("muc#roomconfig_allowinvites", "boolean", c.allow_invites),
        ]
        for extra in self.hooks.collect("config-form", room):
            fields.extend(extra)
        x = form("form", _CONFIG_FORM, fields)
        for field_el in x:
            if field_el.get("var") == "muc#roomconfig_whois":
                for value in ("moderators", "anyone"):
                    option = SubElement(field_el, f"{{{DATA}}}option", label=value)
                    SubElement(option, f"{{{DATA}}}value").text = value
        return x

    def _apply_config(self, room: Room, actor: Occupant | None, values: dict[str, list[str]]) -> set[str]:
        known = {f"muc#roomconfig_{name}" for name in (
            "roomname", "roomdesc", "persistentroom", "publicroom", "membersonly", "moderatedroom",
            "passwordprotectedroom", "roomsecret", "whois", "maxusers", "changesubject", "allowinvites")}
        for group in self.hooks.collect("config-fields"):
            known.update(group)
        unknown = sorted(var for var in values if var not in known and var not in _IGNORED_CONFIG_FIELDS)
        if unknown:
            raise StanzaError("modify", "not-acceptable", "Unknown configuration field: " + ", ".join(unknown))
        config = room.config

        def one(var: str) -> str | None:
            got = values.get(f"muc#roomconfig_{var}")
            return None if got is None else (got[0] if got else "")

        updates: dict[str, object] = {}
        for var, attr in (("roomname", "name"), ("roomdesc", "description")):
            if (v := one(var)) is not None:
                updates[attr] = v
        for var, attr in (("persistentroom", "persistent"), ("publicroom", "public"),
                          ("membersonly", "members_only"), ("moderatedroom", "moderated"),
                          ("changesubject", "change_subject"), ("allowinvites", "allow_invites")):
            if (v := one(var)) is not None:
                updates[attr] = truthy(v)
        if (v := one("roomsecret")) is not None:
            updates["password"] = v
        if (v := one("passwordprotectedroom")) is not None and not truthy(v):
            updates["password"] = ""
        if (v := one("whois")) is not None:
            if v not in ("anyone", "moderators"):
                raise StanzaError("modify", "not-acceptable", "whois must be 'anyone' or 'moderators'")
            updates["whois_anyone"] = v == "anyone"
        if (v := one("maxusers")) is not None:
            if v in ("", "none", "0"):
                updates["max_occupants"] = None
            elif v.isdigit():
                updates["max_occupants"] = int(v)
            else:
                raise StanzaError("modify", "not-acceptable", "maxusers must be a number")
        changed = set()
        for attr, value in updates.items():
            if getattr(config, attr) != value:
                setattr(config, attr, value)
                changed.add("whois" if attr == "whois_anyone" else attr)
        self.hooks.fire("config-submitted", room, actor, values, changed)
        if "whois" in changed:
            for occupant in room.occupants.values():
                occupant.invalidate()
        return changed

    def _admin(self, room: Room, sender: Occupant | None, admin: bool, iq: Element, query: Element) -> None:
        items = query.findall(f"{{{MUC_ADMIN}}}item")
        if not items:
            raise StanzaError("modify", "bad-request", "No item")
        if not admin and (sender is None or not sender.is_moderator):
            raise StanzaError("auth", "forbidden", "Only moderators may do this")
        if iq.get("type") == "get":
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
            self.host.send(result(iq, reply))
            return
        actions = [self._admin_action(room, sender, admin, item) for item in items]
        self.host.send(result(iq))
        for action in actions:
            action()

    def _admin_action(self, room: Room, actor: Occupant | None, admin: bool, item: Element) -> Callable[[], None]:
        """Validate one muc#admin item and return its effect; nothing changes until all are valid."""
        reason = item.findtext(f"{{{MUC_ADMIN}}}reason") or ""
        actor_rank = AFFILIATION_RANK["owner"] + 1 if admin else AFFILIATION_RANK[actor.affiliation]
        affiliation, role = item.get("affiliation"), item.get("role")
        if affiliation is not None:
            if affiliation not in AFFILIATIONS:
                raise StanzaError("modify", "bad-request", f"Unknown affiliation {affiliation!r}")
            target_jid = item.get("jid")
            if target_jid is None and item.get("nick") in room.occupants:
                target_jid = room.occupants[item.get("nick")].bare
            if not target_jid:
                raise StanzaError("modify", "bad-request", "An affiliation change needs a jid")
            bare = jids.bare(target_jid)
            needed = AFFILIATION_RANK["owner"] if affiliation in ("owner", "admin") else AFFILIATION_RANK["admin"]
            if actor_rank < needed or AFFILIATION_RANK[room.affiliation(bare)] > actor_rank:
                raise StanzaError("auth", "not-allowed", "You may not change this affiliation")
            if bare == self.options.focus_jid and not admin:
                raise StanzaError("cancel", "not-allowed", "The focus keeps its affiliation")
            return lambda: self.set_affiliation(room, bare, affiliation, actor, reason)
        if role is not None:
            if role not in ROLES:
                raise StanzaError("modify", "bad-request", f"Unknown role {role!r}")
            target = room.occupants.get(item.get("nick", ""))
            if target is None:
                raise StanzaError("cancel", "item-not-found", "No such occupant")
            if not admin and (self.is_focus(target) or AFFILIATION_RANK[target.affiliation] > actor_rank):
                raise StanzaError("cancel", "not-allowed", "You may not change this occupant's role")
            if role == "none":
                return lambda: self.kick(room, target, actor, reason)

            def change_role() -> None:
                if room.occupants.get(target.nick) is target:
                    target.role = role
                    self.announce(room, target)
            return change_role
        raise StanzaError("modify", "bad-request", "An item needs an affiliation or a role")


def _creation_restricted() -> StanzaError:
    # Prosody's words for restrict_room_creation; the client matches this exact text.
    return StanzaError("cancel", "not-allowed", "Room creation is restricted")


def counted_occupants(room: Room) -> int:
    """Occupants a room limit counts: service accounts (focus, recorder...) do not."""
    return sum(1 for o in room.occupants.values() if o.origin is None or not o.origin.service_account)


def _join_password(pres: Element) -> str | None:
    x = pres.find(f"{{{MUC}}}x")
    if x is None:
        return None
    return x.findtext(f"{{{MUC}}}password")


def _forwarded(original: Element, from_: str, to: str) -> Element:
    """A shallow copy of ``original`` re-addressed; the children are shared, not copied."""
    out = Element(original.tag, original.attrib)
    out.set("from", from_)
    out.set("to", to)
    out.extend(original)
    return out
