"""Occupancy (XEP-0045 §7): joins and their checks, presence updates, nick changes, leaving,
and the presence fan-out every change of an occupant goes through.

Each fan-out serializes one broadcast for all its recipients (``Host.send_many``); a newcomer
gets the presences the other occupants already have built (:meth:`~.room.Occupant.broadcast`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable
from xml.etree.ElementTree import Element, SubElement

from ...common import jid as jids
from ...common.errors import StanzaError
from ...common.ns import CLIENT, MUC, MUC_USER
from ..component import Origin
from .dispatch import Request
from .hooks import Hook
from .room import AFFILIATION_RANK, Occupant, Room
from .stanza import stanza

if TYPE_CHECKING:
    from .service import MucService

HEALTH_CHECK_PREFIX = "__jicofo-health-check"
# muc_resource_validate: a simple token, so a nick is usable as an endpoint id everywhere.
_VALID_NICK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*\Z")
STRICT_NICK_LENGTH = 8  # anonymous_strict: the nick is this much of the server-given username


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


class Presence:
    def __init__(self, muc: MucService) -> None:
        self.muc = muc
        self.host = muc.host
        self.sessions: dict[str, set[str]] = {}  # real full JID -> rooms it occupies
        self._buckets: dict[int, _Bucket] = {}

    # ---- handlers -----------------------------------------------------------------------------

    def to_domain(self, request: Request) -> None:
        raise StanzaError("modify", "jid-malformed", "Presence to a room needs room@domain/nick")

    def available(self, request: Request) -> None:
        room, occupant, pres = request.room, request.sender, request.stanza
        if occupant is None:
            self._join(request.room_jid, room, request.nick, pres, request.origin)
        elif request.nick != occupant.nick:
            self._change_nick(request.in_room, occupant, request.nick, pres)
        else:
            self._update(request.in_room, occupant, pres)

    def unavailable(self, request: Request) -> None:
        if request.sender is not None:
            self.leave(request.in_room, request.sender, request.stanza)
        else:
            self.muc.held.unhold(request.room_jid, request.stanza.get("from", ""))

    # ---- joining ------------------------------------------------------------------------------

    def _join(self, room_jid: str, room: Room | None, nick: str, pres: Element, origin: Origin | None) -> None:
        muc, options = self.muc, self.muc.options
        real = pres.get("from", "")
        bare = jids.bare(real)
        admin = muc.is_admin(real, origin)
        if not nick:
            raise StanzaError("modify", "jid-malformed", "A nickname is required")
        allowed = options.allowed_domains
        if allowed is not None and origin is not None and not origin.service_account \
                and origin.domain not in allowed:
            raise StanzaError("cancel", "not-allowed", "Only service accounts may join rooms here")
        if room is None and options.restrict_room_creation and not admin and not muc.held.focus_asked(room_jid):
            raise creation_restricted()
        if options.wait_for_focus and not admin and not room_jid.startswith(HEALTH_CHECK_PREFIX):
            if room is None or not muc.focus_in(room):
                muc.held.hold(room_jid, real, pres, origin)
                return
        created = room is None
        if room is None and not options.create_on_join and not admin:
            raise StanzaError("cancel", "item-not-found", "No such room")
        if room is None:
            room = muc.create_room(room_jid.split("@", 1)[0])
        join = Join(room=room, nick=nick, jid=real, bare=bare, origin=origin, stanza=pres,
                    password=_join_password(pres), admin=admin,
                    affiliation="owner" if created else room.affiliation(bare))
        try:
            self._check_join(join)
        except StanzaError:
            if created and not room.occupants:
                self.destroy(room)
            raise
        self._enter(room, join, created)
        if bare == options.focus_jid and nick == "focus":
            muc.held.focus_joined(room_jid)

    def _check_join(self, join: Join) -> None:
        room = join.room
        if join.affiliation == "outcast":
            raise StanzaError("auth", "forbidden", "You have been banned from this room")
        taken = room.occupants.get(join.nick)
        if taken is not None and taken.jid != join.jid:
            raise StanzaError("cancel", "conflict", "Nickname already in use")
        if self.muc.options.validate_nick and not join.admin and not room.node.startswith(HEALTH_CHECK_PREFIX):
            self._validate_nick(join)
        self.muc.hooks.fire(Hook.PRE_JOIN, join)
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

    def _validate_nick(self, join: Join) -> None:
        if not _VALID_NICK.match(join.nick):
            raise StanzaError("cancel", "not-allowed", "Invalid resource")
        user, _, domain = join.bare.partition("@")
        if domain in self.muc.options.strict_nick_domains and join.nick != user[:STRICT_NICK_LENGTH]:
            raise StanzaError("cancel", "not-allowed", "Invalid anonymous user ID")

    def _enter(self, room: Room, join: Join, created: bool) -> None:
        hooks = self.muc.hooks
        hooks.fire(Hook.PRESENCE_IN, room, join.origin, join.stanza)
        occupant = Occupant(
            nick=join.nick, occupant_jid=f"{room.jid}/{join.nick}", jid=join.jid, bare=join.bare,
            role=room.default_role(join.affiliation), affiliation=join.affiliation, origin=join.origin,
            presence=join.stanza,
        )
        if join.affiliation != room.affiliation(join.bare):
            room.set_affiliation(join.bare, join.affiliation)
        room.add(occupant)
        self.sessions.setdefault(join.jid, set()).add(room.jid)
        hooks.fire(Hook.OCCUPANT_JOINING, room, occupant)
        see_jids = room.sees_real_jids(occupant)
        visible = self.muc.visibility
        for other in list(room.occupants.values()):
            if other is not occupant and (visible is None or visible(room, other, occupant)):
                self.host.send_many(other.broadcast(see_jids), [occupant.jid])
        self._fan_out(room, occupant)
        self.host.send(self._self_presence(room, occupant, ("201",) if created else ()))
        subject = stanza("message", room.subject_from or room.jid, occupant.jid, "groupchat")
        SubElement(subject, f"{{{CLIENT}}}subject").text = room.subject
        self.host.send(subject)
        hooks.fire(Hook.OCCUPANT_JOINED, room, occupant)

    # ---- updates ------------------------------------------------------------------------------

    def _update(self, room: Room, occupant: Occupant, pres: Element) -> None:
        self._rate_limit(occupant)
        self.muc.hooks.fire(Hook.PRESENCE_IN, room, occupant.origin, pres)
        occupant.update(pres)
        self.muc.hooks.fire(Hook.PRESENCE_UPDATED, room, occupant)
        self._fan_out(room, occupant)
        self.host.send(self._self_presence(room, occupant, ()))

    def _change_nick(self, room: Room, occupant: Occupant, nick: str, pres: Element) -> None:
        """XEP-0045 §7.6: unavailable from the old nick with 303 and the new one, then available."""
        if self.muc.options.validate_nick and not room.node.startswith(HEALTH_CHECK_PREFIX):
            # muc_resource_validate: the nick is the endpoint id the focus and the bridge know.
            raise StanzaError("cancel", "not-allowed", "Nick changes are not allowed")
        if room.occupants.get(nick) is not None:
            raise StanzaError("cancel", "conflict", "Nickname already in use")
        self._rate_limit(occupant)
        hooks = self.muc.hooks
        hooks.fire(Hook.PRESENCE_IN, room, occupant.origin, pres)

        def gone(with_jid: bool, codes: tuple[str, ...]) -> Element:
            out = occupant.build_presence(with_jid, codes, unavailable=True, role=occupant.role)
            item = out.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}item")
            assert item is not None  # build_presence writes one
            item.set("nick", nick)
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
        hooks.fire(Hook.NICK_CHANGED, room, occupant, old_jid)
        hooks.fire(Hook.PRESENCE_UPDATED, room, occupant)
        self._fan_out(room, occupant)
        self.host.send(self._self_presence(room, occupant, ()))

    def _rate_limit(self, occupant: Occupant) -> None:
        """A token bucket per occupant; an update past it is refused, not relayed."""
        options = self.muc.options
        if options.clock is None:
            return
        now = options.clock()
        bucket = self._buckets.get(id(occupant))
        if bucket is None:
            bucket = self._buckets[id(occupant)] = _Bucket(float(options.presence_burst), now)
        bucket.tokens = min(float(options.presence_burst),
                            bucket.tokens + (now - bucket.stamp) * options.presence_rate)
        bucket.stamp = now
        if bucket.tokens < 1.0:
            self.muc.counters["presence_dropped"] += 1
            raise StanzaError("wait", "policy-violation", "Too many presence updates")
        bucket.tokens -= 1.0

    def announce(self, room: Room, occupant: Occupant) -> None:
        """Occupant's role/affiliation/presence changed: tell everyone, itself with status 110."""
        occupant.invalidate()
        self._fan_out(room, occupant)
        self.host.send(self._self_presence(room, occupant, ()))

    # ---- leaving ------------------------------------------------------------------------------

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
        self.muc.hooks.fire(Hook.OCCUPANT_LEFT, room, occupant)
        if not room.occupants and not self.muc.hooks.any(Hook.KEEP_EMPTY, room):
            self.destroy(room)

    def destroy(self, room: Room, reason: str = "", alternate: str | None = None) -> None:
        """XEP-0045 §10.9: every occupant gets its own unavailable presence with ``<destroy>``."""
        if room.destroyed:
            return
        room.destroyed = True
        self.muc.rooms.pop(room.jid, None)
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
        self.muc.hooks.fire(Hook.ROOM_DESTROYED, room)

    def session_closed(self, full_jid: str) -> None:
        for room_jid in list(self.sessions.get(full_jid, ())):
            room = self.muc.rooms.get(room_jid)
            occupant = room.by_jid.get(full_jid) if room else None
            if room is not None and occupant is not None:
                self.leave(room, occupant)
        self.sessions.pop(full_jid, None)

    def _forget(self, occupant: Occupant, room: Room) -> None:
        """The occupant's session is no longer in ``room``."""
        sessions = self.sessions.get(occupant.jid)
        if sessions is not None:
            sessions.discard(room.jid)
            if not sessions:
                del self.sessions[occupant.jid]

    # ---- fan-out ------------------------------------------------------------------------------

    def _self_presence(self, room: Room, occupant: Occupant, codes: tuple[str, ...]) -> Element:
        status = ("100", "110") if room.config.whois_anyone else ("110",)
        pres = occupant.build_presence(True, status + codes)
        pres.extend(self.muc.hooks.collect(Hook.SELF_PRESENCE, room, occupant))
        pres.set("to", occupant.jid)
        return pres

    def _fan_out(self, room: Room, occupant: Occupant, full: Element | None = None,
                 anonymous: Callable[[], Element] | None = None) -> None:
        """``occupant``'s presence to every other occupant allowed to see it, serialized once."""
        visible = self.muc.visibility
        if room.config.whois_anyone and visible is None:
            recipients = [o.jid for o in room.occupants.values() if o is not occupant]
            if recipients:
                self.host.send_many(full if full is not None else occupant.broadcast(True), recipients)
            return
        with_jid: list[str] = []
        without: list[str] = []
        for other in room.occupants.values():
            if other is occupant or (visible is not None and not visible(room, occupant, other)):
                continue
            (with_jid if room.sees_real_jids(other) else without).append(other.jid)
        if with_jid:
            self.host.send_many(full if full is not None else occupant.broadcast(True), with_jid)
        if without:
            self.host.send_many(anonymous() if anonymous is not None else occupant.broadcast(False), without)


def creation_restricted() -> StanzaError:
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
