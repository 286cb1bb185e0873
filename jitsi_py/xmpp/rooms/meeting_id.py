"""muc_meeting_id and jitsi_permissions on the conference and breakout MUCs.

- every room gets a meeting id (``muc#roominfo_meetingId``) the focus may overwrite;
- a moderator's status-110 presence carries ``<permissions>`` (token features override);
- a kicked occupant loses its affiliation;
- ``muc#roomconfig_moderatedroom`` is ignored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from xml.etree.ElementTree import Element, SubElement

from ...common.ns import JITSI_MEET as JITMEET
from ...settings import Settings
from ..muc.hooks import Hook
from ..muc.room import Occupant, Room
from . import RoomContext

MEETING_ID = "muc#roominfo_meetingId"
@dataclass
class MeetingId:
    """The room's meeting id (empty until the room is created here)."""

    value: str = ""


DEFAULT_PERMISSIONS = ("livestreaming", "recording", "transcription", "outbound-call", "create-polls",
                       "send-groupchat", "flip")


def enabled(settings: Settings) -> bool:
    return True


def attach(ctx: RoomContext) -> None:
    for service in ctx.rooms_services():
        _attach(ctx, service)


def _attach(ctx: RoomContext, service) -> None:
    def created(room: Room) -> None:
        room.state(MeetingId).value = str(uuid.uuid4())

    def roominfo(room: Room):
        return [(MEETING_ID, room.state(MeetingId).value)]

    def config_form(room: Room):
        return [(MEETING_ID, "text-single", room.state(MeetingId).value)]

    def config_submitted(room: Room, actor: Occupant | None, values, changed) -> None:
        new = values.get(MEETING_ID)
        if new and new[0] and (actor is None or service.is_focus(actor)):
            room.state(MeetingId).value = new[0]
        if "moderated" in changed:  # a Jitsi room is never moderated: everyone may speak
            room.config.moderated = False
            changed.discard("moderated")

    def permissions(room: Room, occupant: Occupant) -> Element | None:
        if occupant.role != "moderator" or service.is_focus(occupant):
            return None
        granted = {name: True for name in DEFAULT_PERMISSIONS}
        claims = occupant.origin.claims if occupant.origin is not None else None
        features = ((claims or {}).get("context") or {}).get("features")
        if isinstance(features, dict):
            for name, value in features.items():
                granted[str(name)] = value is True or str(value).lower() == "true"
        el = Element(f"{{{JITMEET}}}permissions")
        for name, value in granted.items():
            SubElement(el, f"{{{JITMEET}}}p", name=name, val="true" if value else "false")
        return el

    def kicked(room: Room, occupant: Occupant, actor) -> None:
        room.set_affiliation(occupant.bare, "none")

    hooks = service.hooks
    hooks.on(Hook.ROOM_CREATED, created)
    hooks.on(Hook.ROOMINFO, roominfo)
    hooks.on(Hook.CONFIG_FORM, config_form)
    hooks.on(Hook.CONFIG_FIELDS, lambda: {MEETING_ID})
    hooks.on(Hook.CONFIG_SUBMITTED, config_submitted)
    hooks.on(Hook.SELF_PRESENCE, permissions)
    hooks.on(Hook.OCCUPANT_KICKED, kicked)
