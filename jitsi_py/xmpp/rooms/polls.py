"""polls_component (unless DISABLE_POLLS): polls created and answered through the component.

The sender's identity (``senderId`` = its nick, ``senderName`` = its display name) always comes
from the occupant its session is, never from the JSON: whatever the body claims is replaced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from ...common.errors import StanzaError
from ...common.ns import CLIENT, JITSI_MEET as JITMEET, NICK
from ...settings import Settings
from ..component import Origin
from ..muc.hooks import Hook
from ..muc.room import Occupant, Room
from . import JitsiComponent, RoomContext
from .metadata import RoomMetadata

MAX_PAYLOAD = 1024  # characters; longer commands are refused
MAX_POLLS = 128  # per room
MAX_ANSWERS = 32


@dataclass
class Poll:
    poll_id: str
    sender_id: str
    sender_name: str
    question: str
    answers: list[str]
    voters: list[dict[str, str]] = field(default_factory=list)  # per answer: nick -> name

    def as_json(self) -> dict:
        return {"pollId": self.poll_id, "senderId": self.sender_id, "senderName": self.sender_name,
                "question": self.question,
                "answers": [{"name": name, "voters": [{"id": i, "name": n} for i, n in voters.items()]}
                            for name, voters in zip(self.answers, self.voters)]}


@dataclass
class RoomPolls:
    by_id: dict[str, Poll] = field(default_factory=dict)


def enabled(settings: Settings) -> bool:
    return not settings.xmpp.rooms.polls_disabled


class Polls(JitsiComponent):
    disco_type = "polls"

    def __init__(self, ctx: RoomContext) -> None:
        super().__init__(f"polls.{ctx.domain}", ctx.host)
        self.ctx = ctx

    @staticmethod
    def polls(room: Room) -> dict[str, Poll]:
        return room.state(RoomPolls).by_id

    def on_message(self, message: Element, origin: Origin | None) -> None:
        if message.get("type") == "groupchat" or message.find(f"{{{CLIENT}}}body") is not None:
            return
        el = message.find(f"{{{JITMEET}}}json-message")
        if el is None:
            return
        text = el.text or ""
        if len(text) >= MAX_PAYLOAD:
            raise StanzaError("modify", "not-acceptable", "Poll message too large")
        try:
            body = json.loads(text)
        except ValueError:
            raise StanzaError("modify", "bad-request", "Not JSON") from None
        if not isinstance(body, dict) or body.get("type") != "polls":
            raise StanzaError("modify", "bad-request", "Not a polls message")
        room, sender = self.ctx.find_occupant(origin, message.get("from", ""))
        if room is None or sender is None:
            raise StanzaError("cancel", "not-allowed", "Not in the room")
        command = body.get("command")
        if command == "new-poll":
            self._new_poll(room, sender, body)
        elif command == "answer-poll":
            self._answer(room, sender, body)
        else:
            raise StanzaError("modify", "bad-request", f"Unknown command {command!r}")

    def _new_poll(self, room: Room, sender: Occupant, body: dict) -> None:
        poll_id, question, answers = body.get("pollId"), body.get("question"), body.get("answers")
        if not isinstance(poll_id, str) or not poll_id or not isinstance(question, str) \
                or not isinstance(answers, list) or not 0 < len(answers) <= MAX_ANSWERS \
                or not all(isinstance(a, dict) and isinstance(a.get("name"), str) for a in answers):
            raise StanzaError("modify", "bad-request", "Malformed poll")
        polls = self.polls(room)
        if poll_id in polls:
            raise StanzaError("cancel", "not-allowed", "Poll already exists")
        if len(polls) >= MAX_POLLS:
            raise StanzaError("cancel", "not-allowed", "Too many polls")
        metadata = room.peek(RoomMetadata)
        restricted = ((metadata.values if metadata is not None else {}).get("permissions") or {}) \
            .get("pollCreationRestricted")
        if restricted and not _may_create_polls(sender):
            raise StanzaError("auth", "forbidden", "Poll creation is restricted")
        name = _display_name(sender)
        poll = Poll(poll_id, sender.nick, name, question, [a["name"] for a in answers],
                    [{} for _ in answers])
        polls[poll_id] = poll
        self.ctx.send_json(self.domain, {
            "type": "polls", "command": "new-poll", "pollId": poll_id, "question": question,
            "answers": [{"name": a} for a in poll.answers], "senderId": sender.nick, "senderName": name,
        }, room.occupants.values())

    def _answer(self, room: Room, sender: Occupant, body: dict) -> None:
        poll_id = body.get("pollId")
        poll = self.polls(room).get(poll_id) if isinstance(poll_id, str) else None
        if poll is None:
            raise StanzaError("cancel", "item-not-found", "No such poll")
        answers = body.get("answers")
        if not isinstance(answers, list) or len(answers) != len(poll.answers) \
                or not all(isinstance(a, bool) for a in answers):
            raise StanzaError("modify", "bad-request", "Answers must be one boolean per option")
        name = _display_name(sender)
        for chosen, voters in zip(answers, poll.voters):
            if chosen:
                voters[sender.nick] = name
            else:
                voters.pop(sender.nick, None)
        self.ctx.send_json(self.domain, {
            "type": "polls", "command": "answer-poll", "pollId": poll.poll_id, "answers": answers,
            "senderId": sender.nick, "senderName": name,
        }, room.occupants.values())

    def joined(self, room: Room, occupant: Occupant) -> None:
        polls = room.peek(RoomPolls)
        if polls is not None and polls.by_id and not self.ctx.service_of(room).is_focus(occupant):
            self.ctx.send_json(self.domain, {"type": "polls", "command": "old-polls",
                                             "polls": [p.as_json() for p in polls.by_id.values()]}, [occupant])


def _display_name(occupant: Occupant) -> str:
    return occupant.presence.findtext(f"{{{NICK}}}nick") or ""


def _may_create_polls(occupant: Occupant) -> bool:
    claims = occupant.origin.claims if occupant.origin is not None else None
    features = ((claims or {}).get("context") or {}).get("features") or {}
    value = features.get("create-polls") if isinstance(features, dict) else None
    return value is True or str(value).lower() == "true"


def attach(ctx: RoomContext) -> None:
    component = Polls(ctx)
    ctx.components.append(component)
    for service in ctx.rooms_services():
        service.hooks.on(Hook.OCCUPANT_JOINED, component.joined)
