"""XEP-0030 service discovery of the server: features, and the Jitsi component identities.

The Jitsi client and the focus find the room services through identities on the main domain
(category ``component``, ``type`` the feature, ``name`` the service's address). Only hosted or
connected components are advertised, so a client never tries a service that is not there.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, SubElement

from ..common import ns
from .router import Router, result_for

INFO = ns.tag(ns.DISCO_INFO, "query")
ITEMS = ns.tag(ns.DISCO_ITEMS, "query")
SERVER_FEATURES = (ns.DISCO_INFO, ns.DISCO_ITEMS, ns.PING)


def component_identities(router: Router) -> list[tuple[str, str]]:
    """(type, address) for each Jitsi service this server hosts, as docker's Prosody names them."""
    d = router.settings.common.domains
    main = d.domain
    known = {
        f"speakerstats.{main}": "speakerstats",
        f"conferenceduration.{main}": "conference_duration",
        d.lobby: "lobbyrooms",
        d.breakout: "breakout_rooms",
        f"avmoderation.{main}": "av_moderation",
        f"endconference.{main}": "end_conference",
        f"metadata.{main}": "room_metadata",
        f"polls.{main}": "polls",
        f"visitors.{main}": "visitors",
        f"audiotranslation.{main}": "audio-translation",
        f"filesharing.{main}": "file-sharing",
    }
    found = []
    for domain, component in router.components.items():
        kind = getattr(component, "disco_type", None) or known.get(domain)
        if kind:
            found.append((kind, domain))
    return sorted(found)


def server_info(router: Router, iq: Element, address: str) -> Element:
    reply = result_for(iq)
    query = SubElement(reply, INFO)
    if iq[0].get("node"):
        query.set("node", iq[0].get("node", ""))
    if "@" in address:  # an account's bare JID, answered by the server on its behalf
        SubElement(query, ns.tag(ns.DISCO_INFO, "identity"), {"category": "account", "type": "registered"})
        SubElement(query, ns.tag(ns.DISCO_INFO, "feature"), {"var": ns.DISCO_INFO})
        return reply
    SubElement(query, ns.tag(ns.DISCO_INFO, "identity"), {"category": "server", "type": "im", "name": "jitsi-py"})
    if address == router.main_domain:
        for kind, domain in component_identities(router):
            SubElement(query, ns.tag(ns.DISCO_INFO, "identity"),
                       {"category": "component", "type": kind, "name": domain})
    features = list(SERVER_FEATURES)
    if router.server_iq.get(("get", ns.tag(ns.EXTDISCO, "services"))):
        features += [ns.EXTDISCO, ns.EXTDISCO_1]
    for var in sorted(features):
        SubElement(query, ns.tag(ns.DISCO_INFO, "feature"), {"var": var})
    return reply


def server_items(router: Router, iq: Element, address: str) -> Element:
    reply = result_for(iq)
    query = SubElement(reply, ITEMS)
    if address == router.main_domain:
        for domain in sorted(router.components):
            SubElement(query, ns.tag(ns.DISCO_ITEMS, "item"), {"jid": domain})
    return reply


def install(router: Router) -> None:
    router.handle_server_iq("get", INFO, server_info)
    router.handle_server_iq("get", ITEMS, server_items)
