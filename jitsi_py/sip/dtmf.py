"""DTMF in SIP INFO bodies (``application/dtmf-relay``, ``application/dtmf``) as phones and PBXs send
them; RFC 4733 events in RTP are ``common.telephone_event``'s."""

from __future__ import annotations

from ..common.telephone_event import EVENTS


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
