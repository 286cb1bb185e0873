"""Element builders the MUC and the room modules share (namespaces come from ``common.ns``).

Everything here builds fresh ``Element`` trees in the server's convention: Clark-notation tags,
top-level stanzas in ``jabber:client``. Stanza errors are ``common.errors``' one type.
"""

from __future__ import annotations

import json
from typing import Any, Iterable
from xml.etree.ElementTree import Element, SubElement

from ...common.ns import CLIENT, DATA_FORMS, JITSI_MEET

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
    body = SubElement(msg, f"{{{JITSI_MEET}}}json-message", attrs)
    body.text = json.dumps(payload, separators=(",", ":"))
    return msg


def form(type_: str, form_type: str, fields: Iterable[tuple[str, str | None, Any]]) -> Element:
    """A ``jabber:x:data`` form of (var, field type or None, value); booleans become "1"/"0"."""
    x = Element(f"{{{DATA_FORMS}}}x", type=type_)
    hidden = SubElement(x, f"{{{DATA_FORMS}}}field", var="FORM_TYPE", type="hidden")
    SubElement(hidden, f"{{{DATA_FORMS}}}value").text = form_type
    for var, field_type, value in fields:
        attrs = {"var": var}
        if field_type:
            attrs["type"] = field_type
        el = SubElement(x, f"{{{DATA_FORMS}}}field", attrs)
        if isinstance(value, bool):
            value = "1" if value else "0"
        SubElement(el, f"{{{DATA_FORMS}}}value").text = "" if value is None else str(value)
    return x


def form_values(x: Element) -> dict[str, list[str]]:
    """A submitted ``jabber:x:data`` form as var -> values (FORM_TYPE included)."""
    values: dict[str, list[str]] = {}
    for field in x.findall(f"{{{DATA_FORMS}}}field"):
        var = field.get("var")
        if var:
            values[var] = [v.text or "" for v in field.findall(f"{{{DATA_FORMS}}}value")]
    return values


def truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true")
