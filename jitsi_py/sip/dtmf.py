"""DTMF from the phone: RFC 4733 telephone-events in RTP, and SIP INFO bodies (``application/dtmf-relay``,
``application/dtmf``) as phones and PBXs send them."""

from __future__ import annotations

import struct

EVENTS = "0123456789*#ABCD"
EVENT = struct.Struct("!BBH")


def digit_of(event: int) -> str | None:
    return EVENTS[event] if 0 <= event < len(EVENTS) else None


class Receiver:
    """Turns a stream of telephone-event payloads into digits: one digit per event, however many
    updates and redundant end packets carry it (an event is known by its RTP timestamp)."""

    def __init__(self) -> None:
        self._last_timestamp: int | None = None

    def feed(self, timestamp: int, payload: bytes) -> str | None:
        if len(payload) < EVENT.size:
            return None
        event, _flags, _duration = EVENT.unpack_from(payload)
        if timestamp == self._last_timestamp:
            return None
        self._last_timestamp = timestamp
        return digit_of(event)


def parse_info(content_type: str, body: bytes) -> str | None:
    """The digit of a SIP INFO, or None when the body is not a DTMF one."""
    kind = content_type.split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace").strip()
    if kind == "application/dtmf-relay":
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip().lower() == "signal" and len(value.strip()) == 1:
                digit = value.strip().upper()
                return digit if digit in EVENTS else None
        return None
    if kind == "application/dtmf":
        if text.isdigit() and int(text) < len(EVENTS):
            return EVENTS[int(text)]
        return text.upper() if len(text) == 1 and text.upper() in EVENTS else None
    return None
