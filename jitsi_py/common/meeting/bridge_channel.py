"""The endpoint's side of the bridge channel (docs/bridge-media.md §5-6): JSON text in, events out; the
messages we send. No I/O: the caller owns the data channel."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from . import events

LABEL = "JVB data channel"  # what lib-jitsi-meet names it
PROTOCOL = "http://jitsi.org/protocols/colibri"
OTHERS_MAX_HEIGHT = 180  # what sources off the stage are asked at


def _dominant_speaker(message: dict) -> list:
    speaker = message.get("dominantSpeakerEndpoint")
    return [events.DominantSpeaker(speaker)] if isinstance(speaker, str) and speaker else []


def _endpoint_message(message: dict) -> list:
    sender = message.get("from")
    return [events.EndpointMessage(sender, message.get("msgPayload"))] if isinstance(sender, str) else []


def _connectivity(message: dict) -> list:
    endpoint, active = message.get("endpoint"), message.get("active")
    if not isinstance(endpoint, str) or (active not in ("true", "false") and not isinstance(active, bool)):
        return []  # as lib-jitsi-meet, the string JVB sends; a boolean is read the same
    return [events.EndpointConnectivity(endpoint, active in ("true", True))]


HANDLERS: dict[str, Callable[[dict], list]] = {
    "DominantSpeakerEndpointChangeEvent": _dominant_speaker,
    "EndpointConnectivityStatusChangeEvent": _connectivity,
    "EndpointMessage": _endpoint_message,
}


def received(text: str | bytes) -> list:
    """Events of one message from the bridge; anything malformed or of another class: none."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        return []
    colibri_class = message.get("colibriClass") if isinstance(message, dict) else None
    handler = HANDLERS.get(colibri_class) if isinstance(colibri_class, str) else None
    return handler(message) if handler else []


def receiver_video_constraints(on_stage: Iterable[str], max_height: int, receive_video: bool) -> str:
    """The whole ``ReceiverVideoConstraints``: the stage sources at ``max_height``, every other source
    at 180p, or nothing at all (last-N 0) when we take no video."""
    stage = sorted(on_stage)
    message: dict[str, Any] = {
        "colibriClass": "ReceiverVideoConstraints",
        "lastN": -1 if receive_video else 0,
        "onStageSources": stage,
        "selectedSources": [],
        "defaultConstraints": {"maxHeight": OTHERS_MAX_HEIGHT if receive_video else 0},
        "constraints": {name: {"maxHeight": max_height} for name in stage},
    }
    return json.dumps(message, separators=(",", ":"))


def endpoint_message(to: str, payload: Any) -> str:
    return json.dumps({"colibriClass": "EndpointMessage", "to": to, "msgPayload": payload}, separators=(",", ":"))
