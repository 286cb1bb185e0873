"""Mute requests in SIP INFO, as Jigasi exchanges them with the phone: an ``application/json`` body
``{"type": "muteRequest", "data": {"audio": true}, "id": "<uuid>"}`` either way, and the side that
was asked answers in another INFO, ``{"type": "muteResponse", "data": {"audio": true}, "id": <the
request's>, "status": "OK"}`` (``"FAILED"`` when it could not)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class MuteRequest:
    muted: bool
    id: str


def request(muted: bool) -> bytes:
    """Ours, to the phone: the meeting muted (or unmuted) its audio."""
    return json.dumps({"type": "muteRequest", "data": {"audio": muted}, "id": str(uuid.uuid4())}).encode()


def response(asked: MuteRequest, done: bool) -> bytes:
    return json.dumps({"type": "muteResponse", "data": {"audio": asked.muted}, "id": asked.id,
                       "status": "OK" if done else "FAILED"}).encode()


def parse_request(content_type: str, body: bytes) -> MuteRequest | None:
    """The phone's mute request in a SIP INFO; None for any other INFO. ValueError for a JSON mute
    request without a boolean ``data.audio`` or a string ``id`` (nothing to answer to)."""
    if content_type.split(";")[0].strip().lower() != CONTENT_TYPE:
        return None
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or str(message.get("type", "")).lower() != "muterequest":
        return None
    data, ident = message.get("data"), message.get("id")
    audio = data.get("audio") if isinstance(data, dict) else None
    if not isinstance(audio, bool) or not isinstance(ident, str):
        raise ValueError(f"a mute request without a boolean data.audio and a string id: {body[:200]!r}")
    return MuteRequest(audio, ident)
