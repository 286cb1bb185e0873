"""The one stanza error (RFC 6120 §8.3): raised where a request is refused, rendered in one place.

Every service answers a refused stanza the same way: addresses swapped, same id, type ``error``,
an ``<error>`` with the defined condition, optional text and application-specific children.
"""

from __future__ import annotations

from typing import Iterable
from xml.etree.ElementTree import Element, SubElement

from .ns import CLIENT, STANZA_ERRORS

# Legacy numeric codes (XEP-0086) lib-jitsi-meet and old clients still look at.
_LEGACY_CODES = {
    "not-authorized": "401", "forbidden": "403", "item-not-found": "404", "not-allowed": "405",
    "not-acceptable": "406", "registration-required": "407", "conflict": "409",
    "service-unavailable": "503", "bad-request": "400", "jid-malformed": "400",
    "feature-not-implemented": "501", "internal-server-error": "500",
    "remote-server-not-found": "404", "policy-violation": "403", "resource-constraint": "500",
}


class StanzaError(Exception):
    """A request refused with an XMPP stanza error (RFC 6120 §8.3)."""

    def __init__(self, type_: str, condition: str, text: str = "", extra: Iterable[Element] = ()) -> None:
        super().__init__(f"{type_}/{condition}" + (f": {text}" if text else ""))
        self.type = type_
        self.condition = condition
        self.text = text
        self.extra = list(extra)


def error_reply(original: Element, error: StanzaError, include_payload: bool = False) -> Element:
    """The error answer to ``original``: addresses swapped, same id, ``<error>`` appended."""
    reply = Element(original.tag)
    for key in ("id",):
        if key in original.attrib:
            reply.set(key, original.get(key))
    if original.get("to"):
        reply.set("from", original.get("to"))
    if original.get("from"):
        reply.set("to", original.get("from"))
    reply.set("type", "error")
    if include_payload:
        reply.extend(list(original))
    reply.append(error_element(error))
    return reply


def error_element(error: StanzaError, *, legacy_code: bool = True) -> Element:
    """``<error>`` with the XEP-0086 ``code`` unless ``legacy_code`` is off (the bridge: JVB,
    whose errors the focus reads, sends none)."""
    el = Element(f"{{{CLIENT}}}error", type=error.type)
    code = _LEGACY_CODES.get(error.condition) if legacy_code else None
    if code:
        el.set("code", code)
    SubElement(el, f"{{{STANZA_ERRORS}}}{error.condition}")
    if error.text:
        SubElement(el, f"{{{STANZA_ERRORS}}}text").text = error.text
    el.extend(error.extra)
    return el
