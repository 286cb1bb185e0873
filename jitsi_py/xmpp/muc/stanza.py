"""Namespaces and element builders the MUC and the room modules share.

Everything here builds fresh ``Element`` trees in the server's convention: Clark-notation tags,
top-level stanzas in ``jabber:client``. Stanza errors are ``common.errors``' one type.
"""

from __future__ import annotations

import json
from typing import Any, Iterable
from xml.etree.ElementTree import Element, SubElement

from ...common.ns import (  # noqa: F401 - the MUC and room modules take their namespaces from here
    CLIENT, DISCO_INFO, DISCO_ITEMS, MUC, MUC_ADMIN, MUC_OWNER, MUC_USER, NICK, PING,
)
from ...common.ns import DATA_FORMS as DATA  # noqa: F401
from ...common.ns import JITSI_FOCUS as FOCUS  # noqa: F401
from ...common.ns import JITSI_MEET as JITMEET  # noqa: F401
from ...common.ns import STANZA_ERRORS as STANZAS  # noqa: F401

PRESENCE = f"{{{CLIENT}}}presence"
MESSAGE = f"{{{CLIENT}}}message"
IQ = f"{{{CLIENT}}}iq"


def stanza(kind: str, from_: str | None = None, to: str | None = None, type_: str | None = None,
           id_: str | None = None) -> Element:
    """A top-level ``jabber:client`` stanza; ``kind`` is "presence", "message" or "iq"."""
    el = Element(f"{{{CLIENT}}}{kind}")
    if from_ is not None:
        el.set("from", from_)
    if to is not None:
        el.set("to", to)
    if type_ is not None:
        el.set("type", type_)
    if id_ is not None:
        el.set("id", id_)
    return el


def result(iq: Element, payload: Element | None = None) -> Element:
    reply = stanza("iq", iq.get("to"), iq.get("from"), "result", iq.get("id"))
    if payload is not None:
        reply.append(payload)
    return reply


def json_message(from_: str, to: str | None, payload: dict[str, Any], type_: str | None = None,
                 **attrs: str) -> Element:
    """A message carrying ``<json-message xmlns="http://jitsi.org/jitmeet">``; ``to`` None for
    ``Host.send_many``."""
    msg = stanza("message", from_, to, type_)
    body = SubElement(msg, f"{{{JITMEET}}}json-message", attrs)
    body.text = json.dumps(payload, separators=(",", ":"))
    return msg


def form(type_: str, form_type: str, fields: Iterable[tuple[str, str | None, Any]]) -> Element:
    """A ``jabber:x:data`` form of (var, field type or None, value); booleans become "1"/"0"."""
    x = Element(f"{{{DATA}}}x", type=type_)
    hidden = SubElement(x, f"{{{DATA}}}field", var="FORM_TYPE", type="hidden")
    SubElement(hidden, f"{{{DATA}}}value").text = form_type
    for var, field_type, value in fields:
        attrs = {"var": var}
        if field_type:
            attrs["type"] = field_type
        el = SubElement(x, f"{{{DATA}}}field", attrs)
        if isinstance(value, bool):
            value = "1" if value else "0"
        SubElement(el, f"{{{DATA}}}value").text = "" if value is None else str(value)
    return x


def form_values(x: Element) -> dict[str, list[str]]:
    """A submitted ``jabber:x:data`` form as var -> values (FORM_TYPE included)."""
    values: dict[str, list[str]] = {}
    for field in x.findall(f"{{{DATA}}}field"):
        var = field.get("var")
        if var:
            values[var] = [v.text or "" for v in field.findall(f"{{{DATA}}}value")]
    return values


def truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true")
