"""room_metadata_component: per-room JSON metadata set by moderators, pushed to every occupant.

Occupants get ``{"type":"room_metadata","metadata":{...}}`` on every change and, on joining,
before their own presence. The focus gets the same JSON with the room's address (``room=``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from ...common.errors import StanzaError
from ...common.ns import JITSI_MEET as JITMEET
from ...settings import Settings
from ..component import Origin
from ..muc.hooks import Hook
from ..muc.room import Occupant, Room
from ..muc.stanza import json_message
from . import JitsiComponent, RoomContext

# Keys only the server or the focus may set.
RESERVED = frozenset({
    "allownersEnabled", "asyncTranscription", "conferencePresetsServiceEnabled", "dialinEnabled",
    "moderators", "participants", "participantsSoftLimit", "services", "transcriberType",
    "transcription", "visitorsEnabled",
})
MAX_PAYLOAD = 64 * 1024
MAX_KEYS = 100  # per room


@dataclass
class RoomMetadata:
    values: dict = field(default_factory=dict)  # key -> JSON value, as the clients set them


def enabled(settings: Settings) -> bool:
    return True


class Metadata(JitsiComponent):
    disco_type = "room_metadata"

    def __init__(self, ctx: RoomContext) -> None:
        super().__init__(f"metadata.{ctx.domain}", ctx.host)
        self.ctx = ctx

    def metadata(self, room: Room) -> dict:
        return room.state(RoomMetadata).values

    def set(self, room: Room, key: str, value) -> None:
        self.metadata(room)[key] = value
        self.push(room)

    def push(self, room: Room, occupants: list[Occupant] | None = None) -> None:
        service = self.ctx.service_of(room)
        targets = list(room.occupants.values()) if occupants is None else occupants
        payload = {"type": "room_metadata", "metadata": self.metadata(room)}
        focus = [o for o in targets if service.is_focus(o)]
        self.ctx.send_json(self.domain, payload, [o for o in targets if not service.is_focus(o)])
        for occupant in focus:
            self.host.send(json_message(self.domain, occupant.jid, payload, room=room.jid))

    def on_message(self, message: Element, origin: Origin | None) -> None:
        el = message.find(f"{{{JITMEET}}}room_metadata")
        if el is None:
            return
        room, sender = self.ctx.find_occupant(origin, message.get("from", ""), el.get("room"))
        if room is None or sender is None:
            raise StanzaError("cancel", "not-allowed", "Not in the room")
        if not sender.is_moderator:
            raise StanzaError("auth", "forbidden", "Only moderators may set room metadata")
        text = el.text or ""
        if len(text) > MAX_PAYLOAD:
            raise StanzaError("modify", "not-acceptable", "Metadata too large")
        try:
            body = json.loads(text)
        except ValueError:
            raise StanzaError("modify", "bad-request", "Metadata is not JSON") from None
        key = body.get("key") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key:
            raise StanzaError("modify", "bad-request", "Metadata needs a key")
        if key in RESERVED:
            raise StanzaError("auth", "forbidden", f"Metadata key {key!r} is reserved")
        if key not in self.metadata(room) and len(self.metadata(room)) >= MAX_KEYS:
            raise StanzaError("cancel", "resource-constraint", "Too many metadata keys")
        self.set(room, key, body.get("data"))


def attach(ctx: RoomContext) -> Metadata:
    component = Metadata(ctx)
    ctx.components.append(component)

    for service in ctx.rooms_services():
        def joining(room: Room, occupant: Occupant, service=service) -> None:
            if not service.is_focus(occupant):
                component.push(room, [occupant])

        def config_changed(room: Room, actor, changed: set[str]) -> None:
            if "members_only" in changed:
                component.set(room, "lobbyEnabled", room.config.members_only)

        service.hooks.on(Hook.OCCUPANT_JOINING, joining)
        service.hooks.on(Hook.CONFIG_CHANGED, config_changed)
    return component
