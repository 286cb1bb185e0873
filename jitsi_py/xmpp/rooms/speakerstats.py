"""speakerstats_component: dominant-speaker time per participant, given to each newcomer.

Clients report when they become the dominant speaker (``silence="false"``) and when they fall
silent; the component adds up the intervals. Time is the wall clock in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from ...common.ns import JITSI_MEET as JITMEET, NICK
from ...settings import Settings
from ..component import Origin
from ..muc.hooks import Hook
from ..muc.room import Occupant, Room
from . import JitsiComponent, RoomContext

MAX_FACE_LANDMARKS = 100
MAX_TRACKED = 1000  # participants per room, those who left included


@dataclass
class Stats:
    display_name: str = ""
    total_ms: int = 0
    since_ms: int | None = None  # speaking since
    face_landmarks: list[dict] = field(default_factory=list)

    def stop(self, now_ms: int) -> None:
        if self.since_ms is not None:
            self.total_ms += max(0, now_ms - self.since_ms)
            self.since_ms = None

    def as_json(self, now_ms: int) -> dict:
        running = now_ms - self.since_ms if self.since_ms is not None else 0
        return {"displayName": self.display_name, "totalDominantSpeakerTime": self.total_ms + running,
                "faceLandmarks": self.face_landmarks}


@dataclass
class RoomStats:
    by_nick: dict[str, Stats] = field(default_factory=dict)


def enabled(settings: Settings) -> bool:
    return True


class SpeakerStats(JitsiComponent):
    disco_type = "speakerstats"

    def __init__(self, ctx: RoomContext) -> None:
        super().__init__(f"speakerstats.{ctx.domain}", ctx.host)
        self.ctx = ctx

    def now_ms(self) -> int:
        return int(self.ctx.wallclock() * 1000)

    @staticmethod
    def stats(room: Room) -> dict[str, Stats]:
        return room.state(RoomStats).by_nick

    def on_message(self, message: Element, origin: Origin | None) -> None:
        report = message.find(f"{{{JITMEET}}}speakerstats")
        face = message.find(f"{{{JITMEET}}}faceLandmarks")
        el = report if report is not None else face
        if el is None:
            return
        room, sender = self.ctx.find_occupant(origin, message.get("from", ""), el.get("room"))
        if room is None or sender is None:
            return
        stats = self.stats(room)
        now = self.now_ms()
        mine = stats.get(sender.nick)
        if mine is None:
            if len(stats) >= MAX_TRACKED:
                return
            mine = stats[sender.nick] = Stats(_display_name(sender))
        if report is not None:
            if report.get("silence") == "true":
                mine.stop(now)
            else:
                for other in stats.values():
                    if other is not mine:
                        other.stop(now)
                if mine.since_ms is None:
                    mine.since_ms = now
        elif face is not None and len(mine.face_landmarks) < MAX_FACE_LANDMARKS:
            mine.face_landmarks.append({key: face.get(key) for key in ("faceExpression", "duration", "timestamp")
                                        if face.get(key) is not None})

    def joined(self, room: Room, occupant: Occupant) -> None:
        service = self.ctx.service_of(room)
        if service.is_focus(occupant):
            return
        stats = self.stats(room)
        if occupant.nick not in stats and len(stats) < MAX_TRACKED:
            stats[occupant.nick] = Stats(_display_name(occupant))
        now = self.now_ms()
        users = {nick: s.as_json(now) for nick, s in stats.items() if nick != occupant.nick}
        if users:
            self.ctx.send_json(self.domain, {"type": "speakerstats", "users": users}, [occupant])

    def left(self, room: Room, occupant: Occupant) -> None:
        mine = self.stats(room).get(occupant.nick)
        if mine is not None:
            mine.stop(self.now_ms())

    def renamed(self, room: Room, occupant: Occupant, old_jid: str) -> None:
        stats = self.stats(room)
        mine = stats.pop(old_jid.rsplit("/", 1)[-1], None)
        if mine is not None:
            stats.setdefault(occupant.nick, mine)

    def presence_updated(self, room: Room, occupant: Occupant) -> None:
        mine = self.stats(room).get(occupant.nick)
        if mine is not None:
            mine.display_name = _display_name(occupant)


def _display_name(occupant: Occupant) -> str:
    return occupant.presence.findtext(f"{{{NICK}}}nick") or ""


def attach(ctx: RoomContext) -> None:
    component = SpeakerStats(ctx)
    ctx.components.append(component)
    for service in ctx.rooms_services():
        service.hooks.on(Hook.OCCUPANT_JOINED, component.joined)
        service.hooks.on(Hook.OCCUPANT_LEFT, component.left)
        service.hooks.on(Hook.PRESENCE_UPDATED, component.presence_updated)
        service.hooks.on(Hook.NICK_CHANGED, component.renamed)
