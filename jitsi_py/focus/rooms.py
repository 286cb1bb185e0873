"""The focus's rooms, sans-I/O: which room a conference request may name, and what a MUC presence
(XEP-0045) says about the focus or an occupant.

The glue (``room_tracker.py`` for conference rooms, ``brewery.py`` for the bridge brewery) reads
every MUC presence with :func:`read_presence` and acts on the :class:`MucPresence`: our own join
answered (``created`` when the MUC made the room for us) or refused, our exit (``final`` when it
ends the conference), an occupant's arrival, change or exit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping
from xml.etree.ElementTree import Element

from ..common import jid as jids, ns
from ..common.errors import StanzaError
from ..common.stanzas.jibri import FEATURE as FEATURE_JIBRI
from ..common.stanzas.jingle import q
from ..common.stanzas.rayo import FEATURE_JIGASI, FEATURE_TRANSCRIBER

if TYPE_CHECKING:
    from ..settings.common import Domains

NICK = "focus"  # the focus's nick in every room it owns and in the brewery

# Status codes of XEP-0045 §15.6.
SELF_PRESENCE = "110"
ROOM_CREATED = "201"
# Our own unavailable presence with one of these takes us out for good, and the conference with
# us: banned (301), kicked (307), removed by an affiliation change (321) or because the room became
# members-only (322), or the MUC shut down (332). Any other exit (our previous session replaced
# after a reconnect) is followed by a rejoin.
REMOVED = frozenset({"301", "307", "321", "322", "332"})


def conference_room(requested: str, domains: Domains) -> str:
    """The room a conference request names, as the focus keys it (lower case); ``bad-request``
    unless it is a valid JID (RFC 7622) of a room of the conference or breakout MUC."""
    room = requested.lower()
    local, _, domain = room.partition("@")
    if not local or domain not in (domains.muc, domains.breakout):
        raise StanzaError("modify", "bad-request", f"not a conference room: {requested}")
    try:  # checked here: slixmpp would choke on an oversize JID only when joining, after a timeout
        jids.entity_bare(requested)
    except jids.JidError as exc:
        raise StanzaError("modify", "bad-request", f"invalid room: {exc}") from None
    return room


def needs_authentication(room: str, domains: Domains) -> bool:
    """With ENABLE_AUTH, whether a request for ``room`` must pass the authority: breakout rooms
    are entered from a conference the user is already in."""
    return room.partition("@")[2] != domains.breakout


# The presence features by which a member says it is a recorder, a gateway or a transcriber.
SERVICE_FEATURES = frozenset({FEATURE_JIBRI, FEATURE_JIGASI, FEATURE_TRANSCRIBER})


def trusted_services(features: frozenset[str], real_jid: str | None,
                     trusted_domains: tuple[str, ...]) -> frozenset[str]:
    """The service features a member is believed to have: only from a trusted domain (jicofo's
    ``jicofo.xmpp.trusted-domains``, docs/focus.md §10), or anyone could hide from the counts."""
    if real_jid is None:
        return frozenset()
    domain = real_jid.partition("/")[0].rpartition("@")[2].lower()
    return features & SERVICE_FEATURES if domain in trusted_domains else frozenset()


def answer_properties(auth_enabled: bool, auth_type: str, sip_gateway: bool = False) -> Mapping[str, str]:
    """The ``<property>`` children of every conference answer. ``sipGatewayEnabled`` (jicofo: when it
    watches a gateway brewery) lets lib-jitsi-meet offer dial-out to moderators."""
    properties = {"authentication": str(auth_enabled).lower(), "visitors-supported": "false"}
    if auth_enabled and auth_type == "jwt":
        properties["externalAuth"] = "true"
    if sip_gateway:
        properties["sipGatewayEnabled"] = "true"
    return properties


@dataclass(frozen=True)
class MucPresence:
    """One presence from a MUC occupant, as far as the focus acts on it."""

    nick: str
    type: str  # the presence type, "available" when it has none
    codes: frozenset[str | None]
    destroyed: bool
    role: str
    affiliation: str
    real_jid: str | None
    error: str | None  # the error's conditions, for a presence of type error

    @property
    def ours(self) -> bool:
        return self.nick == NICK or SELF_PRESENCE in self.codes

    @property
    def gone(self) -> bool:
        return self.type == "unavailable"

    @property
    def created(self) -> bool:
        """Our join made the room: it is locked until configured."""
        return ROOM_CREATED in self.codes

    @property
    def final(self) -> bool:
        """Our exit ends the conference: the room was destroyed or we were removed from it."""
        return self.destroyed or bool(self.codes & REMOVED)


def read_presence(nick: str, stanza: Element) -> MucPresence:
    """``stanza`` is the presence from ``<room>/<nick>``."""
    x = stanza.find(q(ns.MUC_USER, "x"))
    codes = frozenset(s.get("code") for s in x.findall(q(ns.MUC_USER, "status"))) if x is not None else frozenset()
    item = x.find(q(ns.MUC_USER, "item")) if x is not None else None
    kind = stanza.get("type") or "available"
    return MucPresence(
        nick, kind, codes,
        destroyed=x is not None and x.find(q(ns.MUC_USER, "destroy")) is not None,
        role=item.get("role", "participant") if item is not None else "participant",
        affiliation=item.get("affiliation", "none") if item is not None else "none",
        real_jid=item.get("jid") if item is not None else None,
        error=_error_conditions(stanza) if kind == "error" else None)


def _error_conditions(stanza: Element) -> str:
    error = stanza.find(q(ns.CLIENT, "error"))
    if error is None:
        return "error"
    return " ".join(c.tag.rsplit("}", 1)[-1] for c in error)
