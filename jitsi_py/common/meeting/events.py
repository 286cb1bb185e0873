"""What a :class:`~jitsi_py.common.meeting.Meeting` reports, in the order it happened on the wire."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ParticipantJoined:
    endpoint_id: str  # the occupant's MUC nick, its endpoint id on the bridge
    display_name: str
    jid: str | None  # real JID, when the room is non-anonymous to us
    features: tuple[str, ...]  # presence <features><feature var/>
    hidden: bool  # logged in on the hidden domain (a recorder, a transcriber)
    role: str  # "moderator" | "participant" | "visitor"


@dataclass(frozen=True)
class ParticipantChanged:
    endpoint_id: str
    display_name: str
    jid: str | None
    features: tuple[str, ...]
    hidden: bool
    role: str


@dataclass(frozen=True)
class ParticipantLeft:
    endpoint_id: str
    kicked: bool = False


@dataclass(frozen=True)
class TrackAdded:
    endpoint_id: str
    source_name: str
    kind: str  # "audio" | "video"
    video_type: str | None  # "camera" | "desktop" for video, None for audio
    track: Any  # aiortc MediaStreamTrack: recv() -> av.AudioFrame (48 kHz) | av.VideoFrame


@dataclass(frozen=True)
class TrackRemoved:
    endpoint_id: str
    source_name: str


@dataclass(frozen=True)
class SourceMuted:
    endpoint_id: str
    source_name: str
    muted: bool


@dataclass(frozen=True)
class DominantSpeaker:
    endpoint_id: str


@dataclass(frozen=True)
class EndpointConnectivity:
    """The bridge says this endpoint's media stopped reaching it (or reach it again), or, for an
    endpoint on another bridge, that the relay to that bridge failed (recovered)."""

    endpoint_id: str
    active: bool


@dataclass(frozen=True)
class EndpointMessage:
    from_endpoint: str
    payload: Any


@dataclass(frozen=True)
class GroupMessage:
    from_endpoint: str
    body: str | None
    json: Any  # the parsed <json-message xmlns=http://jitsi.org/jitmeet>, None without one


@dataclass(frozen=True)
class MuteRequest:
    kind: str  # "audio" | "video" | "desktop"
    muted: bool = True  # the focus also relays our own unmutes


@dataclass(frozen=True)
class Dtmf:
    """A digit another endpoint sent as RFC 4733 telephone-events in its audio (lib-jitsi-meet's
    ``sendTones``), once per event."""

    endpoint_id: str
    digit: str


@dataclass(frozen=True)
class Ended:
    reason: str  # "kicked" | "room destroyed" | "removed" | "connection lost" | "left"


Event = (ParticipantJoined | ParticipantChanged | ParticipantLeft | TrackAdded | TrackRemoved | SourceMuted
         | DominantSpeaker | EndpointMessage | GroupMessage | MuteRequest | Dtmf | Ended)
