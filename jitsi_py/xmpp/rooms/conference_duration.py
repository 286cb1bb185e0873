"""conference_duration: when the conference really started, for the clients' duration timer.

The start is the first join that leaves the room with more than one occupant (the focus counts,
so in practice the first participant after the focus), once per room. Today's client reads it from
the room's disco#info form, ``muc#roominfo_created_timestamp`` (milliseconds since the epoch as a
decimal string, empty before the start). Clients from before 2024 instead find the
``conference_duration`` component identity on the main domain and take a
``{"type": "conference_duration", "created_timestamp": <ms>}`` JSON message from that address, which
the component sends to each occupant joining a started conference.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...settings import Settings
from ..muc.hooks import Hook
from ..muc.room import Occupant, Room
from ..muc.stanza import json_message
from . import JitsiComponent, RoomContext

CREATED = "muc#roominfo_created_timestamp"


@dataclass
class Started:
    """When the conference started: epoch milliseconds as a decimal string, empty before."""

    ms: str = ""


def enabled(settings: Settings) -> bool:
    return True  # docker loads it on every main domain


class ConferenceDuration(JitsiComponent):
    disco_type = "conference_duration"

    def __init__(self, ctx: RoomContext) -> None:
        super().__init__(f"conferenceduration.{ctx.domain}", ctx.host)
        self.ctx = ctx

    def joined(self, room: Room, occupant: Occupant) -> None:
        if len(room.occupants) < 2:
            return
        started = room.state(Started)
        if not started.ms:
            started.ms = str(int(self.ctx.wallclock() * 1000))
        self.host.send(json_message(self.domain, occupant.jid, {
            "type": "conference_duration", "created_timestamp": int(started.ms)}))


def attach(ctx: RoomContext) -> None:
    component = ConferenceDuration(ctx)
    for service in ctx.rooms_services():
        service.hooks.on(Hook.OCCUPANT_JOINED, component.joined)
        service.hooks.on(Hook.ROOMINFO, lambda room: [(CREATED, room.state(Started).ms)])
    ctx.components.append(component)
