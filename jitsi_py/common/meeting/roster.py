"""The other occupants of the room, from their MUC presence: a pure state machine (presence in, events out).

Our own presence and the focus's are told apart by the caller's :meth:`Roster.classify`; everyone else
is a participant. A participant's sources' mute state and video type come from its ``<SourceInfo>``
JSON (lib-jitsi-meet's ``{"<endpoint>-a0": {"muted": true}, "<endpoint>-v0": {"muted": false,
"videoType": "camera"}}``), the older ``<audiomuted>``/``<videomuted>`` standing for ``-a0``/``-v0``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from .. import ns
from . import events

MUC_USER_X = ns.tag(ns.MUC_USER, "x")
NICK = ns.tag(ns.NICK, "nick")


@dataclass
class Participant:
    endpoint_id: str
    display_name: str = ""
    jid: str | None = None
    features: tuple[str, ...] = ()
    hidden: bool = False
    role: str = "participant"
    sources: dict[str, dict] = field(default_factory=dict)  # source name -> {"muted": bool, "videoType": str}
    # the presence property subtitles set (jitsi_participant_requestingTranscription); not in summary(),
    # so it raises no event: a transcriber looks at it
    requesting_transcription: bool = False

    def summary(self) -> tuple:
        return (self.display_name, self.jid, self.features, self.hidden, self.role)


def statuses(presence: Element) -> set[str]:
    x = presence.find(MUC_USER_X)
    return {s.get("code") or "" for s in x.findall(ns.tag(ns.MUC_USER, "status"))} if x is not None else set()


def real_jid(presence: Element) -> str | None:
    item = presence.find(f"{MUC_USER_X}/{ns.tag(ns.MUC_USER, 'item')}")
    return item.get("jid") if item is not None else None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _source_info(presence: Element, endpoint_id: str) -> dict[str, dict]:
    info: dict[str, dict] = {}
    for child in presence:
        tag, text = _local(child.tag), (child.text or "").strip()
        if tag in ("audiomuted", "videomuted"):
            info.setdefault(f"{endpoint_id}-{tag[0]}0", {"muted": text == "true"})
    for child in presence:
        if _local(child.tag) == "SourceInfo":
            try:
                parsed = json.loads(child.text or "{}")
            except (ValueError, RecursionError):
                parsed = {}  # a malformed SourceInfo only loses mute state, as in lib-jitsi-meet
            if isinstance(parsed, dict):
                info.update({name: value for name, value in parsed.items()
                             if isinstance(name, str) and isinstance(value, dict)})
    return info


class Roster:
    def __init__(self, hidden_domain: str) -> None:
        self.hidden_domain = hidden_domain
        self.participants: dict[str, Participant] = {}

    def available(self, endpoint_id: str, presence: Element) -> list:
        """An occupant's available presence: joined, changed and source-muted events."""
        item = presence.find(f"{MUC_USER_X}/{ns.tag(ns.MUC_USER, 'item')}")
        jid = item.get("jid") if item is not None else None
        nick = presence.find(NICK)
        features = next((c for c in presence if _local(c.tag) == "features"), None)
        updated = Participant(
            endpoint_id,
            display_name=(nick.text or "").strip() if nick is not None else "",
            jid=jid,
            features=tuple(f.get("var") or "" for f in features if _local(f.tag) == "feature") if features is not None
            else (),
            hidden=bool(jid and jid.split("/", 1)[0].partition("@")[2] == self.hidden_domain),
            role=(item.get("role") if item is not None else None) or "participant",
            sources=_source_info(presence, endpoint_id),
            requesting_transcription=any(_local(c.tag) == "jitsi_participant_requestingTranscription"
                                         and (c.text or "").strip() == "true" for c in presence),
        )
        before = self.participants.get(endpoint_id)
        self.participants[endpoint_id] = updated
        out: list = []
        if before is None:
            out.append(events.ParticipantJoined(endpoint_id, *updated.summary()))
        elif before.summary() != updated.summary():
            out.append(events.ParticipantChanged(endpoint_id, *updated.summary()))
        old = before.sources if before else {}
        for name, info in updated.sources.items():
            muted = bool(info.get("muted"))
            if name not in old and not muted:
                continue  # a new source starts unmuted: nothing to report
            if bool(old.get(name, {}).get("muted")) != muted:
                out.append(events.SourceMuted(endpoint_id, name, muted))
        return out

    def unavailable(self, endpoint_id: str, presence: Element) -> list:
        if self.participants.pop(endpoint_id, None) is None:
            return []
        return [events.ParticipantLeft(endpoint_id, kicked="307" in statuses(presence))]

    def video_type(self, endpoint_id: str, source_name: str) -> str | None:
        participant = self.participants.get(endpoint_id)
        info = participant.sources.get(source_name, {}) if participant else {}
        value = info.get("videoType")
        return value if isinstance(value, str) else None
