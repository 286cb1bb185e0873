"""presence_identity (AUTH_TYPE=jwt): the server, not the client, says who an occupant is.

A token's ``context.user`` (id, name, avatar, email...) and ``context.group`` become an
``<identity>`` child of the occupant's presence; whatever ``<identity>`` the client sent is dropped,
so nobody can claim another user's identity.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement

from ...common.ns import CLIENT
from ...settings import Settings
from ..component import Origin
from ..muc.hooks import Hook
from ..muc.room import Room
from . import RoomContext

IDENTITY = f"{{{CLIENT}}}identity"


def enabled(settings: Settings) -> bool:
    return settings.common.auth.enabled and settings.common.auth.type == "jwt"


def identity_of(claims) -> Element | None:
    context = (claims or {}).get("context")
    if not isinstance(context, dict):
        return None
    user, group = context.get("user"), context.get("group")
    if not isinstance(user, dict) and not isinstance(group, str):
        return None
    el = Element(IDENTITY)
    if isinstance(user, dict):
        user_el = SubElement(el, f"{{{CLIENT}}}user")
        for key, value in user.items():
            if isinstance(value, (str, int, float, bool)) and isinstance(key, str) and key.isidentifier():
                text = str(value).lower() if isinstance(value, bool) else str(value)
                SubElement(user_el, f"{{{CLIENT}}}{key}").text = text
    if isinstance(group, str):
        SubElement(el, f"{{{CLIENT}}}group").text = group
    return el


def attach(ctx: RoomContext) -> None:
    def presence_in(room: Room, origin: Origin | None, presence: Element) -> None:
        for claimed in presence.findall(IDENTITY):
            presence.remove(claimed)
        identity = identity_of(origin.claims) if origin is not None else None
        if identity is not None:
            presence.append(identity)

    for service in ctx.rooms_services():
        service.hooks.on(Hook.PRESENCE_IN, presence_in)
