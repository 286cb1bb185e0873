"""Lobby (ENABLE_LOBBY): muc_lobby_rooms on the conference MUC plus the lobby MUC host.

A moderator turns members-only on; the room gets a lobby room of the same name on the lobby host.
Non-members then get ``registration-required`` with the lobby's address, knock there, and are
admitted by a moderator's invite (which makes them members) or refused by a kick from the lobby.
Admission never hands out the room password: a member's join skips the password check instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from xml.etree.ElementTree import Element, SubElement

from ...common import jid as jids
from ...common.errors import StanzaError
from ...common.ns import CLIENT, JITSI_LOBBY_ROOMS, JITSI_MEET as JITMEET, MUC, NICK
from ...settings import Settings
from ..muc.hooks import Hook
from ..muc.presence import Join
from ..muc.room import AFFILIATION_RANK, Occupant, Room
from ..muc.stanza import stanza
from . import RoomContext

DISPLAYNAME_REQUIRED = JITSI_LOBBY_ROOMS + "#displayname_required"
LOBBY_ROOM = "muc#roominfo_lobbyroom"
LOBBY_PASSWORD = "muc#roomconfig_lobbypassword"  # a shared password that skips the lobby


@dataclass
class Lobby:
    """A main room's lobby."""

    room: str = ""  # the lobby room's JID, while the room is members-only
    password: str = ""  # the shared password that skips the lobby; empty: none


@dataclass
class LobbyOf:
    """A lobby room's main room."""

    main: str = ""


def enabled(settings: Settings) -> bool:
    return settings.xmpp.rooms.lobby


def attach(ctx: RoomContext) -> None:
    lobby_muc = ctx.lobby
    assert lobby_muc is not None, "the lobby module needs the lobby MUC host"
    d = ctx.settings.common.domains
    whitelist_domains = {d.hidden}
    mains = [s for s in ctx.rooms_services()]

    def main_of(lobby_room: Room) -> tuple[object, Room] | tuple[None, None]:
        for service in mains:
            room = service.get_room(lobby_room.state(LobbyOf).main)
            if room is not None:
                return service, room
        return None, None

    def notify(service, room: Room, actor: Occupant | None, payload: dict) -> None:
        msg = stanza("message", actor.occupant_jid if actor is not None else room.jid, type_="groupchat")
        SubElement(msg, f"{{{JITMEET}}}json-message").text = json.dumps(payload, separators=(",", ":"))
        service.broadcast(room, msg)

    def attach_main(service) -> None:
        def config_changed(room: Room, actor: Occupant | None, changed: set[str]) -> None:
            if "members_only" not in changed or (actor is not None and service.is_focus(actor)):
                return
            if room.config.members_only:
                lobby_room = lobby_muc.get_room(lobby_muc.room_jid(room.node)) or lobby_muc.create_room(room.node)
                lobby_room.state(LobbyOf).main = room.jid
                room.state(Lobby).room = lobby_room.jid
            else:
                close(room)
                room.state(Lobby).password = ""
            notify(service, room, actor, {"type": "lobby-notify", "event": "LOBBY-ENABLED",
                                          "value": room.config.members_only})

        def close(room: Room) -> None:
            lobby = room.peek(Lobby)
            if lobby is None or not lobby.room:
                return
            lobby_room = lobby_muc.get_room(lobby.room)
            lobby.room = ""
            if lobby_room is not None:
                lobby_muc.destroy(lobby_room, "Lobby closed", room.jid)

        def pre_join(join: Join) -> None:
            room = join.room
            lobby = room.peek(Lobby)
            if join.admin or not room.config.members_only or lobby is None or not lobby.room:
                return
            domain = jids.split(join.jid)[1]
            if domain in whitelist_domains:
                join.affiliation = "member"
                join.skip_members_only = True
                return
            if AFFILIATION_RANK[join.affiliation] >= AFFILIATION_RANK["member"]:
                join.skip_password = True
                return
            if room.config.password and join.password == room.config.password:
                join.affiliation = "member"
                join.skip_members_only = True
                return
            shared = join.stanza.findtext(f"{{{MUC}}}x/{{{MUC}}}lobbySharedPassword")
            if shared and shared == lobby.password:
                join.affiliation = "member"
                join.skip_members_only = True
                return
            if not (join.stanza.findtext(f"{{{NICK}}}nick") or "").strip():
                raise StanzaError("modify", "not-acceptable", "Display name required",
                                  [Element(f"{{{JITMEET}}}displayname-required", lobby="true")])
            lobby_el = Element(f"{{{JITMEET}}}lobbyroom")
            lobby_el.text = lobby.room
            legacy = Element(f"{{{CLIENT}}}lobbyroom")
            legacy.text = lobby.room
            raise StanzaError("auth", "registration-required", "Members only room", [lobby_el, legacy])

        def config_submitted(room: Room, actor: Occupant | None, values, changed: set[str]) -> None:
            shared = values.get(LOBBY_PASSWORD)
            if shared is not None:
                room.state(Lobby).password = shared[0] if shared else ""

        def roominfo(room: Room):
            lobby = room.peek(Lobby)
            return [(LOBBY_ROOM, lobby.room)] if lobby is not None and lobby.room else None

        def invite(room: Room, actor: Occupant, invitee: str) -> None:
            lobby_room = lobby_muc.get_room(room.state(Lobby).room)
            knocker = lobby_room.by_jid.get(invitee) if lobby_room is not None else None
            if knocker is not None:
                notify(service, room, actor, {
                    "type": "lobby-notify", "event": "LOBBY-ACCESS-GRANTED", "value": knocker.occupant_jid,
                    "name": knocker.presence.findtext(f"{{{NICK}}}nick") or ""})

        service.hooks.on(Hook.CONFIG_CHANGED, config_changed)
        service.hooks.on(Hook.PRE_JOIN, pre_join)
        service.hooks.on(Hook.ROOMINFO, roominfo)
        service.hooks.on(Hook.CONFIG_FORM, lambda room: [(LOBBY_PASSWORD, "text-private", "")])
        service.hooks.on(Hook.CONFIG_FIELDS, lambda: {LOBBY_PASSWORD})
        service.hooks.on(Hook.CONFIG_SUBMITTED, config_submitted)
        service.hooks.on(Hook.INVITE, invite)
        service.hooks.on(Hook.ROOM_DESTROYED, close)

    for service in mains:
        attach_main(service)

    def lobby_pre_join(join: Join) -> None:
        _, main = main_of(join.room)
        if main is None:
            raise StanzaError("cancel", "item-not-found", "This room has no lobby")
        join.affiliation = main.affiliation(join.bare)
        if not join.admin and AFFILIATION_RANK[join.affiliation] < AFFILIATION_RANK["admin"] \
                and not (join.stanza.findtext(f"{{{NICK}}}nick") or "").strip():
            raise StanzaError("modify", "not-acceptable", "Display name required",
                              [Element(f"{{{JITMEET}}}displayname-required", lobby="true")])

    def denied(lobby_room: Room, knocker: Occupant, actor: Occupant | None) -> None:
        service, main = main_of(lobby_room)
        if main is None or knocker.is_moderator:
            return
        main_actor = main.by_jid.get(actor.jid) if actor is not None else None
        notify(service, main, main_actor, {
            "type": "lobby-notify", "event": "LOBBY-ACCESS-DENIED", "value": knocker.occupant_jid,
            "name": knocker.presence.findtext(f"{{{NICK}}}nick") or ""})

    def keep_lobby(lobby_room: Room) -> bool:
        return main_of(lobby_room)[1] is not None

    lobby_muc.hooks.on(Hook.PRE_JOIN, lobby_pre_join)
    lobby_muc.hooks.on(Hook.OCCUPANT_KICKED, denied)
    lobby_muc.hooks.on(Hook.KEEP_EMPTY, keep_lobby)
    def lobby_features(node: str, origin) -> list[str] | None:
        """The client asks before joining: a display name is needed when its room has a lobby."""
        if node != "lobbyrooms":
            return None
        room = None
        if origin is not None and origin.query.get("room"):
            prefix = origin.query.get("prefix")
            node_name = origin.query["room"].lower()
            room = ctx.conference.get_room(ctx.conference.room_jid(f"[{prefix}]{node_name}" if prefix else node_name))
        lobby = room.peek(Lobby) if room is not None else None
        return [DISPLAYNAME_REQUIRED] if lobby is not None and lobby.room else []

    lobby_muc.hooks.on(Hook.DOMAIN_DISCO, lobby_features)
    # Knockers see only moderators' traffic and only moderators see knockers.
    lobby_muc.visibility = lambda room, subject, viewer: viewer.is_moderator
    lobby_muc.disco_type = "lobbyrooms"
