"""The bridge's "mediajson" export, a codec and no behaviour (docs/transcription.md §6).

A bridge asked by the focus (Colibri2 ``<connect protocol="mediajson">``) opens a WebSocket to a
transcriber or recorder and sends JSON text frames keyed by ``event``: ``info`` and ``sources`` on
open, ``start`` per exported audio source (``tag`` = its source name, Opus at 48 kHz, the sender's
``customParameters.endpointId``), ``media`` per Opus frame (base64 ``payload``; ``chunk`` and
``timestamp`` are numbers written as strings, as VoxImplant's format which it follows; the
sender's ``audioLevel`` and ``vad`` when its packet had them), ``ping``
to be answered with a ``pong`` of the same ``id`` (when the connect asks for pings), and
``session-end``. The peer may send ``transcription-result`` objects back, which the bridge relays
to every endpoint. For example::

    event = parse(frame)              # MediaJsonError on anything malformed
    match event:
        case Media(tag, chunk, timestamp, payload): ...
    socket.send_str(pong(event.id))
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Callable


class MediaJsonError(ValueError):
    """A frame that is not mediajson; the message says what is wrong."""


@dataclass(frozen=True)
class Start:
    tag: str
    endpoint_id: str | None
    encoding: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class Media:
    tag: str
    chunk: int
    timestamp: int
    payload: bytes
    # The sender's RFC 6464 ssrc-audio-level extension of this packet, when it had one: the level in
    # -dBov (0 loudest, 127 silence) and its voice activity flag.
    audio_level: int | None = None
    vad: bool | None = None


@dataclass(frozen=True)
class Ping:
    id: int


@dataclass(frozen=True)
class Pong:
    id: int


@dataclass(frozen=True)
class SessionEnd:
    pass


@dataclass(frozen=True)
class Other:
    """``info``, ``sources`` and anything newer: logged, not acted on."""

    event: str
    fields: dict[str, Any]


Event = Start | Media | Ping | Pong | SessionEnd | Other


def _number(value: Any, what: str) -> int:
    """The numbers VoxImplant's format writes as strings (and bridges may write as numbers)."""
    if isinstance(value, bool):
        raise MediaJsonError(f"{what}: expected a number, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise MediaJsonError(f"{what}: expected a number, got {value!r}") from None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MediaJsonError(f"{what}: expected an object")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise MediaJsonError(f"{what}: expected a non-empty string")
    return value


def _start(frame: dict[str, Any]) -> Start:
    start = _object(frame.get("start"), "start")
    media_format = _object(start.get("mediaFormat"), "start.mediaFormat")
    custom = start.get("customParameters")
    endpoint = _object(custom, "start.customParameters").get("endpointId") if custom is not None else None
    return Start(_text(start.get("tag"), "start.tag"), endpoint if isinstance(endpoint, str) else None,
                 _text(media_format.get("encoding"), "start.mediaFormat.encoding").lower(),
                 _number(media_format.get("sampleRate"), "start.mediaFormat.sampleRate"),
                 _number(media_format.get("channels", 1), "start.mediaFormat.channels"))


def _media(frame: dict[str, Any]) -> Media:
    media = _object(frame.get("media"), "media")
    try:
        payload = base64.b64decode(_text(media.get("payload"), "media.payload"), validate=True)
    except binascii.Error:
        raise MediaJsonError("media.payload: not base64") from None
    level, vad = media.get("audioLevel"), media.get("vad")
    if level is not None and (not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 127):
        raise MediaJsonError(f"media.audioLevel: expected a number from 0 to 127, got {level!r}")
    if vad is not None and not isinstance(vad, bool):
        raise MediaJsonError(f"media.vad: expected true or false, got {vad!r}")
    return Media(_text(media.get("tag"), "media.tag"), _number(media.get("chunk"), "media.chunk"),
                 _number(media.get("timestamp"), "media.timestamp"), payload, level, vad)


def _ping(frame: dict[str, Any]) -> Ping:
    return Ping(_number(frame.get("id"), "ping.id"))


def _pong(frame: dict[str, Any]) -> Pong:
    return Pong(_number(frame.get("id"), "pong.id"))


def _session_end(_frame: dict[str, Any]) -> SessionEnd:
    return SessionEnd()


PARSERS: dict[str, Callable[[dict[str, Any]], Event]] = {
    "start": _start, "media": _media, "ping": _ping, "pong": _pong, "session-end": _session_end,
}


def parse(text: str) -> Event:
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        raise MediaJsonError("not JSON") from None
    frame = _object(frame, "frame")
    event = frame.get("event")
    if not isinstance(event, str):
        raise MediaJsonError("frame without an event")
    parser = PARSERS.get(event)
    return parser(frame) if parser is not None else Other(event, frame)


def pong(ping_id: int) -> str:
    return json.dumps({"event": "pong", "id": ping_id})


def ping(ping_id: int) -> str:
    return json.dumps({"event": "ping", "id": ping_id})


def info(**fields: Any) -> str:
    """What the sender is (``application``, ``version``, ...), sent once on opening; free-form."""
    return json.dumps({"event": "info", **fields})


def session_end() -> str:
    return json.dumps({"event": "session-end"})


def start(sequence: int, tag: str, endpoint_id: str, channels: int = 2, encoding: str = "opus") -> str:
    return json.dumps({"event": "start", "sequenceNumber": str(sequence), "start": {
        "tag": tag, "mediaFormat": {"encoding": encoding, "sampleRate": 48000, "channels": channels},
        "customParameters": {"endpointId": endpoint_id}}})


def media(sequence: int, tag: str, chunk: int, timestamp: int, payload: bytes,
          audio_level: int | None = None, vad: bool | None = None) -> str:
    """A ``media`` frame; the audio level and voice activity (plain JSON number and boolean, unlike
    the numbers before them) only when known, as jicoco's ``MediaJson.kt`` leaves them out."""
    body: dict[str, Any] = {"tag": tag, "chunk": str(chunk), "timestamp": str(timestamp),
                            "payload": base64.b64encode(payload).decode()}
    if audio_level is not None:
        body["audioLevel"] = audio_level
    if vad is not None:
        body["vad"] = vad
    return json.dumps({"event": "media", "sequenceNumber": str(sequence), "media": body})
