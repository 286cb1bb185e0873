"""Breakout rooms (ENABLE_BREAKOUT_ROOMS): muc_breakout_rooms plus the breakout MUC host.

Moderators of a main room send commands to the breakout host's domain; rooms are
``<uuid>@breakout.<domain>``, inherit the main room's affiliations, and everyone in the main
room and its breakout rooms gets the new layout after a change, at most every
``BROADCAST_INTERVAL`` (the first change at once, later ones gathered into one update). A removed
breakout room sends its occupants back (destroy with the main room as alternate).

Once a conference has breakout rooms, its rooms outlive their occupants for a while, as upstream:
a breakout room without participants goes ``EMPTY_ROOM_TTL`` seconds later (it stays listed, and
the focus re-creates it when someone is sent there again), and the main room with all its
breakout rooms goes ``ROOMS_TTL_IF_ALL_LEFT`` seconds after the last participant left them all,
so that participants moving between rooms never find the conference gone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Callable
from xml.etree.ElementTree import Element

from ...common.errors import StanzaError
from ...common.ns import CLIENT, JITSI_BREAKOUT_ROOMS, NICK
from ...settings import Settings
from ..muc.dispatch import ANY, Address, Request
from ..muc.hooks import Hook
from ..muc.presence import Join
from ..muc.room import AFFILIATION_RANK, Occupant, Room
from ..muc.service import MucService
from ..muc.stanza import json_message
from ..muc.timers import Timer
from . import RoomContext
from .lobby import Lobby
from .meeting_id import MeetingId

ADD = "features/breakout-rooms/add"
REMOVE = "features/breakout-rooms/remove"
RENAME = "features/breakout-rooms/rename"
MOVE = "features/breakout-rooms/move-to-room"
UPDATE = "features/breakout-rooms/update"
MAX_BREAKOUT_ROOMS = 100
BROADCAST_INTERVAL = 0.3  # seconds between two layout updates of one conference
ROOMS_TTL_IF_ALL_LEFT = 5.0  # seconds an abandoned conference with breakout rooms lives on
EMPTY_ROOM_TTL = 5.0  # seconds an empty breakout room lives on


@dataclass
class Layout:
    """A main room's breakout rooms and the updates about them."""

    rooms: dict[str, str] = field(default_factory=dict)  # breakout room JID -> name, in creation order
    counter: int = 0  # breakout rooms ever added (names the next one)
    sent: float | None = None  # when the last update went out
    pending: Timer | None = None  # the gathered next update
    closing: Timer | None = None  # the end of the conference once everyone left


@dataclass
class BreakoutOf:
    """A breakout room's main room, and its end once empty."""

    main: str = ""
    empty: Timer | None = None


def enabled(settings: Settings) -> bool:
    return settings.xmpp.rooms.breakout_rooms


class BreakoutRooms:
    def __init__(self, ctx: RoomContext) -> None:
        assert ctx.breakout is not None, "the breakout module needs the breakout MUC host"
        self.ctx = ctx
        self.main: MucService = ctx.conference
        self.muc: MucService = ctx.breakout
        self.domain = self.muc.domain
        self.listed: dict[str, str] = {}  # breakout room JID -> main room JID, while listed
        # The commands by their ``type`` on the wire.
        self.commands: dict[str, Callable[[Room, Element], bool]] = {
            ADD: self.add, REMOVE: self.remove, RENAME: self.rename, MOVE: self.move_command,
        }

    # -- layout ---------------------------------------------------------------------------------

    def breakouts(self, main: Room) -> dict[str, str]:
        """Breakout room JID -> name, in creation order."""
        return main.state(Layout).rooms

    def main_of(self, room: Room) -> Room | None:
        if room.domain == self.main.domain:
            return room
        return self.main.get_room(room.state(BreakoutOf).main)

    def layout(self, main: Room) -> dict:
        def participants(room: Room | None, service: MucService) -> dict:
            if room is None:
                return {}
            return {o.occupant_jid: {"jid": o.jid, "role": o.role, "displayName": _display_name(o)}
                    for o in room.occupants.values() if not service.is_focus(o)}

        meeting = main.peek(MeetingId)
        rooms = {main.jid: {"isMainRoom": True, "id": meeting.value if meeting is not None else main.node,
                            "jid": main.jid, "name": main.node, "participants": participants(main, self.main)}}
        for jid, name in self.breakouts(main).items():
            rooms[jid] = {"id": jid.split("@", 1)[0], "jid": jid, "name": name,
                          "participants": participants(self.muc.get_room(jid), self.muc)}
        return {"type": "breakout_rooms", "event": UPDATE, "roomCounter": main.state(Layout).counter,
                "rooms": rooms}

    def active(self, main: Room) -> bool:
        return bool(self.breakouts(main)) or bool(main.state(Layout).counter)

    def update(self, main: Room) -> None:
        """Send the layout now, or once the interval since the last one has passed."""
        layout = main.state(Layout)
        if not self.active(main) or layout.pending is not None:
            return
        last = layout.sent
        now = self.main.now()
        if last is None or now - last >= BROADCAST_INTERVAL:
            self.broadcast(main, now)
        else:
            layout.pending = self.main.timers.call_at(
                last + BROADCAST_INTERVAL, lambda: self._pending_update(main))

    def _pending_update(self, main: Room) -> None:
        main.state(Layout).pending = None
        if self.main.get_room(main.jid) is main:
            self.broadcast(main, self.main.now())

    def broadcast(self, main: Room, now: float) -> None:
        main.state(Layout).sent = now
        everyone = [o for o in main.occupants.values() if not self.main.is_focus(o)]
        for jid in self.breakouts(main):
            room = self.muc.get_room(jid)
            if room is not None:
                everyone.extend(o for o in room.occupants.values() if not self.muc.is_focus(o))
        self.ctx.send_json(self.domain, self.layout(main), everyone)

    # -- commands -------------------------------------------------------------------------------

    def command(self, request: Request) -> None:
        """A moderator's command to the breakout host's domain (``<breakout_rooms type=...>``)."""
        message, origin = request.stanza, request.origin
        el = message.find(f"{{{CLIENT}}}breakout_rooms")
        assert el is not None  # the handler table's row is keyed by this payload
        sender_jid = message.get("from", "")
        room, actor = self.ctx.find_occupant(origin, sender_jid)
        main = self.main_of(room) if room is not None else None
        if main is None or actor is None:
            raise StanzaError("cancel", "not-allowed", "Not in a conference")
        main_actor = main.by_jid.get(sender_jid, actor)
        if not main_actor.is_moderator and main.affiliation(actor.bare) not in ("owner", "admin"):
            raise StanzaError("auth", "forbidden", "Only moderators manage breakout rooms")
        kind = el.get("type")
        command = self.commands.get(kind or "")
        if command is None:
            raise StanzaError("modify", "bad-request", f"Unknown breakout command {kind!r}")
        if command(main, el):
            self.update(main)
            self.watch_all_left(main)

    # Each command returns whether the layout changed (a move changes it only once the client moves).

    def add(self, main: Room, el: Element) -> bool:
        if len(self.breakouts(main)) >= MAX_BREAKOUT_ROOMS:
            raise StanzaError("cancel", "not-allowed", "Too many breakout rooms")
        room = self.muc.create_room(str(uuid.uuid4()))
        room.state(BreakoutOf).main = main.jid
        self.listed[room.jid] = main.jid
        layout = main.state(Layout)
        layout.counter += 1
        layout.rooms[room.jid] = room.subject = el.get("subject") or f"Breakout room {layout.counter}"
        return True

    def remove(self, main: Room, el: Element) -> bool:
        jid = (el.get("breakoutRoomJid") or "").lower()
        if jid not in self.breakouts(main):
            raise StanzaError("cancel", "item-not-found", "No such breakout room")
        del self.breakouts(main)[jid]
        self.listed.pop(jid, None)
        room = self.muc.get_room(jid)
        if room is not None:
            self.muc.destroy(room, "Breakout room removed", main.jid)
        return True

    def rename(self, main: Room, el: Element) -> bool:
        jid = (el.get("breakoutRoomJid") or "").lower()
        subject = el.get("subject")
        if jid not in self.breakouts(main) or not subject:
            raise StanzaError("modify", "bad-request", "Rename needs a breakout room and a subject")
        self.breakouts(main)[jid] = subject
        room = self.muc.get_room(jid)
        if room is not None:
            room.subject = subject
        return True

    def move_command(self, main: Room, el: Element) -> bool:
        self.move(main, self.ctx.internal_jid(el.get("participantJid") or ""),
                  self.ctx.internal_jid(el.get("roomJid") or "").lower())
        return False

    def move(self, main: Room, participant: str, target: str) -> None:
        if target != main.jid and target not in self.breakouts(main):
            raise StanzaError("cancel", "item-not-found", "No such room")
        room_jid, _, nick = participant.partition("/")
        candidates = [main] + [r for r in (self.muc.get_room(j) for j in self.breakouts(main)) if r is not None]
        for room in candidates:
            if room.jid == room_jid.lower() and nick in room.occupants:
                self.ctx.host.send(json_message(self.domain, room.occupants[nick].jid, {
                    "type": "breakout_rooms", "event": MOVE, "roomJid": target}))
                return
        raise StanzaError("cancel", "item-not-found", "No such participant")

    # -- hooks ----------------------------------------------------------------------------------

    def breakout_pre_join(self, join: Join) -> None:
        main = self.main_of(join.room)
        if main is None:
            raise StanzaError("cancel", "item-not-found", "This breakout room is closed")
        inherited = main.affiliation(join.bare)
        if AFFILIATION_RANK[inherited] > AFFILIATION_RANK[join.affiliation]:
            join.affiliation = inherited

    def breakout_created(self, room: Room) -> None:
        """A listed breakout room the focus creates again after it went empty."""
        main_jid = self.listed.get(room.jid)
        main = self.main.get_room(main_jid) if main_jid else None
        if main is not None and room.jid in self.breakouts(main):
            room.state(BreakoutOf).main = main.jid
            room.subject = self.breakouts(main)[room.jid]

    def changed(self, room: Room, occupant: Occupant) -> None:
        main = self.main_of(room)
        if main is not None:
            self.update(main)
            self.watch_all_left(main)

    def breakout_joined(self, room: Room, occupant: Occupant) -> None:
        of = room.state(BreakoutOf)
        if of.empty is not None and self.has_participants(room, self.muc):  # the focus alone keeps nothing
            of.empty.cancel()
            of.empty = None
        self.changed(room, occupant)

    def breakout_left(self, room: Room, occupant: Occupant) -> None:
        self.changed(room, occupant)
        of = room.state(BreakoutOf)
        if not self.has_participants(room, self.muc) and of.empty is None and not room.destroyed:
            of.empty = self.muc.later(EMPTY_ROOM_TTL, lambda: self._empty_expired(room))

    def _empty_expired(self, room: Room) -> None:
        room.state(BreakoutOf).empty = None
        if self.muc.get_room(room.jid) is room and not self.has_participants(room, self.muc):
            main = self.main_of(room)
            self.muc.destroy(room, "Breakout room is empty", main.jid if main is not None else None)

    def has_participants(self, room: Room | None, service: MucService) -> bool:
        return room is not None and any(not service.is_focus(o) for o in room.occupants.values())

    def in_use(self, main: Room) -> bool:
        return self.has_participants(main, self.main) or any(
            self.has_participants(self.muc.get_room(j), self.muc) for j in self.breakouts(main))

    def watch_all_left(self, main: Room) -> None:
        """Close the conference a while after the last participant left all its rooms."""
        layout = main.state(Layout)
        if not self.active(main) or main.destroyed:
            return
        if self.in_use(main):
            if layout.closing is not None:
                layout.closing.cancel()
                layout.closing = None
        elif layout.closing is None:
            layout.closing = self.main.later(ROOMS_TTL_IF_ALL_LEFT, lambda: self._all_left(main))

    def _all_left(self, main: Room) -> None:
        main.state(Layout).closing = None
        if self.main.get_room(main.jid) is main and not self.in_use(main):
            self.main.destroy(main, "All occupants left.")

    def main_destroyed(self, main: Room) -> None:
        layout = main.state(Layout)
        for timer in (layout.pending, layout.closing):
            if timer is not None:
                timer.cancel()
        layout.pending = layout.closing = None
        for jid in list(self.breakouts(main)):
            self.listed.pop(jid, None)
            room = self.muc.get_room(jid)
            if room is not None:
                self.muc.destroy(room, "The conference ended")

    def breakout_destroyed(self, room: Room) -> None:
        of = room.state(BreakoutOf)
        if of.empty is not None:
            of.empty.cancel()
            of.empty = None

    def listed_breakout(self, room: Room) -> bool:
        """An empty breakout room its conference still lists stays (until EMPTY_ROOM_TTL)."""
        main = self.main_of(room)
        return main is not None and room.jid in self.breakouts(main)

    def roominfo(self, room: Room):
        main = self.main_of(room)
        if main is None:
            return None
        fields = [("muc#roominfo_isbreakout", "true"), ("muc#roominfo_breakout_main_room", main.jid)]
        lobby = main.peek(Lobby)
        if lobby is not None and lobby.room:
            fields.append(("muc#roominfo_lobbyroom", lobby.room))
        return fields


def _display_name(occupant: Occupant) -> str:
    return occupant.presence.findtext(f"{{{NICK}}}nick") or ""


def attach(ctx: RoomContext) -> None:
    b = BreakoutRooms(ctx)
    b.muc.handlers.register(Address.DOMAIN, "message", ANY, f"{{{CLIENT}}}breakout_rooms", b.command)
    b.muc.hooks.on(Hook.DOMAIN_DISCO, lambda node, origin: [JITSI_BREAKOUT_ROOMS, JITSI_BREAKOUT_ROOMS + "#rename"]
                   if node == "breakout_rooms" else None)
    b.muc.hooks.on(Hook.PRE_JOIN, b.breakout_pre_join)
    b.muc.hooks.on(Hook.ROOM_CREATED, b.breakout_created)
    b.muc.hooks.on(Hook.OCCUPANT_JOINED, b.breakout_joined)
    b.muc.hooks.on(Hook.OCCUPANT_LEFT, b.breakout_left)
    b.muc.hooks.on(Hook.ROOM_DESTROYED, b.breakout_destroyed)
    b.muc.hooks.on(Hook.KEEP_EMPTY, b.listed_breakout)
    b.muc.hooks.on(Hook.ROOMINFO, b.roominfo)
    b.main.hooks.on(Hook.OCCUPANT_JOINED, b.changed)
    b.main.hooks.on(Hook.OCCUPANT_LEFT, b.changed)
    b.main.hooks.on(Hook.KEEP_EMPTY, b.active)
    b.main.hooks.on(Hook.ROOM_DESTROYED, b.main_destroyed)
    b.muc.disco_type = "breakout_rooms"
