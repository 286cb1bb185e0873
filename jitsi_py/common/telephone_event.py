"""RFC 4733 telephone-events: DTMF digits in RTP (event, end bit and volume, duration). Read by the SIP
gateway from phones and by the meeting client from the bridge (a browser's RTCDTMFSender), written
by the gateway towards phones."""

from __future__ import annotations

import struct

EVENTS = "0123456789*#ABCD"
EVENT = struct.Struct("!BBH")
END = 0x80
VOLUME = 10  # -10 dBm0, a usual level for generated tones


def digit_of(event: int) -> str | None:
    return EVENTS[event] if 0 <= event < len(EVENTS) else None


def payload(digit: str, duration: int, end: bool) -> bytes:
    """One event packet's payload; ``duration`` in RTP timestamp units since the event began."""
    return EVENT.pack(EVENTS.index(digit), (END if end else 0) | VOLUME, min(duration, 0xFFFF))


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
