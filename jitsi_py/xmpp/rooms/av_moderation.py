"""av_moderation_component (ENABLE_AV_MODERATION): moderators decide who may unmute.

Per room and media type (audio, video, desktop): moderation on or off, and a whitelist of
occupant JIDs allowed to send. Everyone learns the on/off state; moderators (the focus among
them, which enforces it) learn the whitelists; the approved or removed participant is told.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from ...common.errors import StanzaError
from ...common.ns import CLIENT
from ...settings import Settings
from ..component import Origin
from ..muc.hooks import Hook
from ..muc.room import Occupant, Room
from ..muc.stanza import json_message
from . import JitsiComponent, RoomContext

MEDIA_TYPES = ("audio", "video", "desktop")


@dataclass
class AvState:
    enabled: dict[str, str] = field(default_factory=dict)  # media -> actor occupant JID
    whitelists: dict[str, list[str]] = field(default_factory=dict)  # media -> occupant JIDs


def enabled(settings: Settings) -> bool:
    return settings.xmpp.rooms.av_moderation


class AvModeration(JitsiComponent):
    disco_type = "av_moderation"

    def __init__(self, ctx: RoomContext) -> None:
        super().__init__(f"avmoderation.{ctx.domain}", ctx.host)
        self.ctx = ctx

    @staticmethod
    def state(room: Room) -> AvState:
        return room.state(AvState)

    def on_message(self, message: Element, origin: Origin | None) -> None:
        el = message.find(f"{{{CLIENT}}}av_moderation")
        if el is None:
            return
        room, actor = self.ctx.find_occupant(origin, message.get("from", ""))
        if room is None or actor is None:
            raise StanzaError("cancel", "not-allowed", "Not in the room")
        if not actor.is_moderator:
            raise StanzaError("auth", "forbidden", "Only moderators may moderate")
        media = el.get("mediaType", "")
        if media not in MEDIA_TYPES:
            raise StanzaError("modify", "bad-request", f"Unknown mediaType {media!r}")
        state = self.state(room)
        if el.get("enable") is not None:
            on = el.get("enable") == "true"
            if on == (media in state.enabled):
                return
            if on:
                state.enabled[media] = actor.occupant_jid
            else:
                state.enabled.pop(media)
            state.whitelists.pop(media, None)
            self.ctx.send_json(self.domain, {"type": "av_moderation", "enabled": on, "room": room.jid,
                                             "actor": actor.occupant_jid, "mediaType": media},
                               room.occupants.values())
        elif whitelisted := el.get("jidToWhitelist"):
            self._whitelist(room, state, actor, media, whitelisted, True)
        elif blacklisted := el.get("jidToBlacklist"):
            self._whitelist(room, state, actor, media, blacklisted, False)
        else:
            raise StanzaError("modify", "bad-request", "Nothing to do")

    def _whitelist(self, room: Room, state: AvState, actor: Occupant, media: str, target_jid: str, add: bool) -> None:
        target_jid = self.ctx.internal_jid(target_jid)
        nick = target_jid.split("/", 1)[1] if "/" in target_jid else ""
        target = room.occupants.get(nick)
        if target is None or target_jid.split("/", 1)[0].lower() != room.jid:
            raise StanzaError("cancel", "item-not-found", "No such participant")
        if media not in state.enabled:
            if add:  # moderation off: a plain "please unmute"
                self.host.send(json_message(self.domain, target.jid, {
                    "type": "av_moderation", "room": room.jid, "mediaType": media, "approved": True,
                    "from": actor.occupant_jid}))
            return
        listed = state.whitelists.setdefault(media, [])
        if add and target.occupant_jid not in listed:
            listed.append(target.occupant_jid)
        elif not add and target.occupant_jid in listed:
            listed.remove(target.occupant_jid)
        self._tell_moderators(room, state, media, removed=not add)
        change: dict[str, object] = {"type": "av_moderation", "room": room.jid, "mediaType": media}
        change["approved" if add else "removed"] = True
        self.host.send(json_message(self.domain, target.jid, change))

    def _tell_moderators(self, room: Room, state: AvState, media: str, removed: bool = False) -> None:
        payload: dict[str, object] = {"type": "av_moderation", "room": room.jid, "whitelists": state.whitelists,
                                      "mediaType": media}
        if removed:
            payload["removed"] = True
        self.ctx.send_json(self.domain, payload, room.moderators())

    def joined(self, room: Room, occupant: Occupant) -> None:
        state = room.peek(AvState)
        if state is None:
            return
        for media, actor in state.enabled.items():
            self.host.send(json_message(self.domain, occupant.jid, {
                "type": "av_moderation", "enabled": True, "room": room.jid, "actor": actor, "mediaType": media}))
            if occupant.is_moderator:
                self.host.send(json_message(self.domain, occupant.jid, {
                    "type": "av_moderation", "room": room.jid, "whitelists": state.whitelists, "mediaType": media}))

    def promoted(self, room: Room, bare: str, affiliation: str, actor) -> None:
        """A new moderator learns the whitelists it now manages."""
        state = room.peek(AvState)
        if state is None:
            return
        for occupant in room.occupants_of(bare):
            if occupant.is_moderator:
                for media in state.enabled:
                    self.host.send(json_message(self.domain, occupant.jid, {
                        "type": "av_moderation", "room": room.jid, "whitelists": state.whitelists,
                        "mediaType": media}))

    def left(self, room: Room, occupant: Occupant) -> None:
        state = room.peek(AvState)
        if state is None:
            return
        for media, listed in state.whitelists.items():
            if occupant.occupant_jid in listed:
                listed.remove(occupant.occupant_jid)
                self._tell_moderators(room, state, media, removed=True)

    def renamed(self, room: Room, occupant: Occupant, old_jid: str) -> None:
        state = room.peek(AvState)
        if state is None:
            return
        for listed in state.whitelists.values():
            if old_jid in listed:
                listed[listed.index(old_jid)] = occupant.occupant_jid


def attach(ctx: RoomContext) -> None:
    component = AvModeration(ctx)
    ctx.components.append(component)
    for service in ctx.rooms_services():
        service.hooks.on(Hook.OCCUPANT_JOINED, component.joined)
        service.hooks.on(Hook.OCCUPANT_LEFT, component.left)
        service.hooks.on(Hook.NICK_CHANGED, component.renamed)
        service.hooks.on(Hook.AFFILIATION_CHANGED, component.promoted)
