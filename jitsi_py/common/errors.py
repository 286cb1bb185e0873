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


def error_reply(original: Element, error: StanzaError, include_payload: bool = False,
                legacy_code: bool = True) -> Element | None:
    """The error answer to ``original``: addresses swapped, same id, ``<error>`` appended.

    None when ``original`` is itself an error, which is never answered (RFC 6120 §8.3.1).
    ``legacy_code=False`` leaves out the XEP-0086 ``code``, as the server's own bounces do
    (Prosody's do not carry it either).
    """
    if original.get("type") == "error":
        return None
    reply = Element(original.tag)
    for key in ("id",):
        if key in original.attrib:
            reply.set(key, original.attrib[key])
    to, from_ = original.get("to"), original.get("from")
    if to is not None:
        reply.set("from", to)
    if from_ is not None:
        reply.set("to", from_)
    reply.set("type", "error")
    if include_payload:
        reply.extend(list(original))
    reply.append(error_element(error, legacy_code=legacy_code))
    return reply


def error_element(error: StanzaError, *, legacy_code: bool = True) -> Element:
    """The ``<error>`` child; ``legacy_code=False`` leaves out XEP-0086's ``code``, which neither the
    focus's answers (as jicofo's) nor the bridge's (as JVB's, read by the focus) carry."""
    el = Element(f"{{{CLIENT}}}error", type=error.type)
    code = _LEGACY_CODES.get(error.condition) if legacy_code else None
    if code:
        el.set("code", code)
    SubElement(el, f"{{{STANZA_ERRORS}}}{error.condition}")
    if error.text:
        SubElement(el, f"{{{STANZA_ERRORS}}}text").text = error.text
    el.extend(error.extra)
    return el


# The error type RFC 6120 §8.3.3 gives each condition, as Jitsi's Java services (Smack) fill it in
# when they answer with a bare condition.
CONDITION_TYPES = {
    "bad-request": "modify", "conflict": "cancel", "feature-not-implemented": "cancel", "forbidden": "auth",
    "gone": "cancel", "internal-server-error": "cancel", "item-not-found": "cancel", "jid-malformed": "modify",
    "not-acceptable": "modify", "not-allowed": "cancel", "not-authorized": "auth", "policy-violation": "modify",
    "recipient-unavailable": "wait", "redirect": "modify", "registration-required": "auth",
    "remote-server-not-found": "cancel", "remote-server-timeout": "wait", "resource-constraint": "wait",
    "service-unavailable": "cancel", "subscription-required": "auth", "undefined-condition": "modify",
    "unexpected-request": "wait",
}


def refusal(condition: str, text: str = "") -> StanzaError:
    """A :class:`StanzaError` of the condition's usual type."""
    return StanzaError(CONDITION_TYPES[condition], condition, text)
