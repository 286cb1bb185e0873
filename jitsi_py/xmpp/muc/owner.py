"""Room configuration by its owners (XEP-0045 §10, ``muc#owner``): the form, its submission, and
the destroy request. Room modules add their own fields through the ``config-*`` hooks.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, SubElement

from ...common.errors import StanzaError
from ...common.ns import DATA_FORMS, MUC_OWNER, MUC_ROOMCONFIG
from .dispatch import Request
from .hooks import Hook
from .room import Occupant, Room
from .stanza import form, form_values, result, truthy

if TYPE_CHECKING:
    from .service import MucService

_FIELDS = ("roomname", "roomdesc", "persistentroom", "publicroom", "membersonly", "moderatedroom",
           "passwordprotectedroom", "roomsecret", "whois", "maxusers", "changesubject", "allowinvites")
# XEP-0045 registry fields we accept in a submitted owner form without acting on them.
_IGNORED_FIELDS = frozenset({
    "FORM_TYPE", "muc#roomconfig_allowpm", "muc#roomconfig_enablelogging", "muc#roomconfig_getmemberlist",
    "muc#roomconfig_lang", "muc#roomconfig_pubsub", "muc#roomconfig_presencebroadcast",
    "muc#roomconfig_roomadmins", "muc#roomconfig_roomowners", "muc#roomconfig_historylength",
    "muc#roomconfig_defaulthistorymessages", "muc#roomconfig_maxhistoryfetch",
    "muc#roomconfig_allowmemberinvites",
})
_BOOLEANS = (("persistentroom", "persistent"), ("publicroom", "public"), ("membersonly", "members_only"),
             ("moderatedroom", "moderated"), ("changesubject", "change_subject"),
             ("allowinvites", "allow_invites"))


class Owner:
    def __init__(self, muc: MucService) -> None:
        self.muc = muc

    def _check(self, request: Request) -> Room:
        sender, room = request.sender, request.room
        if not self.muc.is_admin(request.stanza.get("from", ""), request.origin) \
                and (sender is None or sender.affiliation != "owner"):
            raise StanzaError("auth", "forbidden", "Only owners may configure the room")
        assert room is not None
        return room

    def get(self, request: Request) -> None:
        room = self._check(request)
        reply = Element(f"{{{MUC_OWNER}}}query")
        reply.append(self._config_form(room))
        self.muc.host.send(result(request.stanza, reply))

    def set(self, request: Request) -> None:
        room = self._check(request)
        iq, query, sender = request.stanza, request.stanza[0], request.sender
        destroy = query.find(f"{{{MUC_OWNER}}}destroy")
        if destroy is not None:
            reason = destroy.findtext(f"{{{MUC_OWNER}}}reason") or ""
            self.muc.host.send(result(iq))
            self.muc.destroy(room, reason, destroy.get("jid"))
            return
        x = query.find(f"{{{DATA_FORMS}}}x")
        if x is None:
            raise StanzaError("modify", "bad-request", "A configuration form is required")
        if x.get("type") == "cancel":
            self.muc.host.send(result(iq))
            return
        if x.get("type") != "submit":
            raise StanzaError("modify", "bad-request", "The configuration form must be submitted")
        changed = self._apply(room, sender, form_values(x))
        self.muc.host.send(result(iq))
        if changed:
            self.muc.hooks.fire(Hook.CONFIG_CHANGED, room, sender, changed)
            codes = ["104"]
            if "whois" in changed:
                codes.append("172" if room.config.whois_anyone else "173")
            self.muc.config_changed(room, codes)

    def _config_form(self, room: Room) -> Element:
        c = room.config
        fields = [
            ("muc#roomconfig_roomname", "text-single", c.name),
            ("muc#roomconfig_roomdesc", "text-single", c.description),
            ("muc#roomconfig_persistentroom", "boolean", c.persistent),
            ("muc#roomconfig_publicroom", "boolean", c.public),
            ("muc#roomconfig_membersonly", "boolean", c.members_only),
            ("muc#roomconfig_moderatedroom", "boolean", c.moderated),
            ("muc#roomconfig_passwordprotectedroom", "boolean", bool(c.password)),
            ("muc#roomconfig_roomsecret", "text-private", c.password),
            ("muc#roomconfig_whois", "list-single", "anyone" if c.whois_anyone else "moderators"),
            ("muc#roomconfig_maxusers", "text-single", "" if c.max_occupants is None else str(c.max_occupants)),
            ("muc#roomconfig_changesubject", "boolean", c.change_subject),
            ("muc#roomconfig_allowinvites", "boolean", c.allow_invites),
        ]
        for extra in self.muc.hooks.collect(Hook.CONFIG_FORM, room):
            fields.extend(extra)
        x = form("form", MUC_ROOMCONFIG, fields)
        for field_el in x:
            if field_el.get("var") == "muc#roomconfig_whois":
                for value in ("moderators", "anyone"):
                    option = SubElement(field_el, f"{{{DATA_FORMS}}}option", label=value)
                    SubElement(option, f"{{{DATA_FORMS}}}value").text = value
        return x

    def _apply(self, room: Room, actor: Occupant | None, values: dict[str, list[str]]) -> builtins.set[str]:
        known = {f"muc#roomconfig_{name}" for name in _FIELDS}
        for group in self.muc.hooks.collect(Hook.CONFIG_FIELDS):
            known.update(group)
        unknown = sorted(var for var in values if var not in known and var not in _IGNORED_FIELDS)
        if unknown:
            raise StanzaError("modify", "not-acceptable", "Unknown configuration field: " + ", ".join(unknown))
        config = room.config

        def one(var: str) -> str | None:
            got = values.get(f"muc#roomconfig_{var}")
            return None if got is None else (got[0] if got else "")

        updates: dict[str, object] = {}
        for var, attr in (("roomname", "name"), ("roomdesc", "description")):
            if (v := one(var)) is not None:
                updates[attr] = v
        for var, attr in _BOOLEANS:
            if (v := one(var)) is not None:
                updates[attr] = truthy(v)
        if (v := one("roomsecret")) is not None:
            updates["password"] = v
        if (v := one("passwordprotectedroom")) is not None and not truthy(v):
            updates["password"] = ""
        if (v := one("whois")) is not None:
            if v not in ("anyone", "moderators"):
                raise StanzaError("modify", "not-acceptable", "whois must be 'anyone' or 'moderators'")
            updates["whois_anyone"] = v == "anyone"
        if (v := one("maxusers")) is not None:
            if v in ("", "none", "0"):
                updates["max_occupants"] = None
            elif v.isdigit():
                updates["max_occupants"] = int(v)
            else:
                raise StanzaError("modify", "not-acceptable", "maxusers must be a number")
        changed = set()
        for attr, value in updates.items():
            if getattr(config, attr) != value:
                setattr(config, attr, value)
                changed.add("whois" if attr == "whois_anyone" else attr)
        self.muc.hooks.fire(Hook.CONFIG_SUBMITTED, room, actor, values, changed)
        if "whois" in changed:
            for occupant in room.occupants.values():
                occupant.invalidate()
        return changed
