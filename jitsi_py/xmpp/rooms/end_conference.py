"""end_conference (ENABLE_END_CONFERENCE): a moderator ends the meeting for everyone."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from ...common.ns import CLIENT
from ...settings import Settings
from ..component import Origin
from . import JitsiComponent, RoomContext
from .breakout_rooms import BreakoutOf

REASON = "The meeting has been terminated"


def enabled(settings: Settings) -> bool:
    return settings.xmpp.rooms.end_conference


class EndConference(JitsiComponent):
    disco_type = "end_conference"

    def __init__(self, ctx: RoomContext) -> None:
        super().__init__(f"endconference.{ctx.domain}", ctx.host)
        self.ctx = ctx

    def on_message(self, message: Element, origin: Origin | None) -> None:
        if message.find(f"{{{CLIENT}}}end_conference") is None:
            return
        room, sender = self.ctx.find_occupant(origin, message.get("from", ""))
        if room is None or sender is None or not sender.is_moderator:
            return  # as upstream: ignored, not answered
        service = self.ctx.service_of(room)
        breakout = room.peek(BreakoutOf)
        main_jid = breakout.main if breakout is not None else ""
        if main_jid:
            main = self.ctx.conference.get_room(main_jid)
            if main is not None:
                room, service = main, self.ctx.conference
        service.destroy(room, REASON)


def attach(ctx: RoomContext) -> None:
    ctx.components.append(EndConference(ctx))
