"""XEP-0215 external services (STUN/TURN) from the ``TURN_*`` settings, as docker's Prosody lists them.

With ``TURN_CREDENTIALS`` the TURN entries carry time-limited credentials (the TURN REST API
scheme coturn's ``use-auth-secret`` checks): username = expiry time, password =
base64(HMAC-SHA1(secret, username)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime, timezone
from xml.etree.ElementTree import Element, SubElement

from ..common import ns
from ..settings.xmpp import Turn
from .router import Router, result_for


def services(turn: Turn, now: float) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    if turn.stun_host:
        found.append({"type": "stun", "host": turn.stun_host, "port": str(turn.stun_port), "transport": "udp"})
    for kind, host, port, transport in (
        ("turn", turn.turn_host, turn.turn_port, turn.turn_transport),
        ("turns", turn.turns_host, turn.turns_port, "tcp"),
    ):
        if not host:
            continue
        entry = {"type": kind, "host": host, "port": str(port), "transport": transport}
        if turn.credentials:
            expires = int(now) + turn.ttl
            username = str(expires)
            password = base64.b64encode(hmac.new(turn.credentials.encode(), username.encode(), hashlib.sha1).digest())
            entry.update(
                username=username, password=password.decode(), restricted="1",
                expires=datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
        elif turn.username and turn.password:
            entry.update(username=turn.username, password=turn.password)
        found.append(entry)
    return found


def install(router: Router, turn: Turn) -> None:
    if not (turn.stun_host or turn.turn_host or turn.turns_host):
        return  # docker enables the module only with a TURN host; clients then get an error and go on

    def answer(router: Router, iq: Element, address: str) -> Element:
        wanted_ns = iq[0].tag[1:].partition("}")[0]
        wanted_type = iq[0].get("type")
        reply = result_for(iq)
        query = SubElement(reply, ns.tag(wanted_ns, "services"))
        for entry in services(turn, time.time()):
            if wanted_type is None or entry["type"] == wanted_type:
                SubElement(query, ns.tag(wanted_ns, "service"), entry)
        return reply

    for namespace in (ns.EXTDISCO, ns.EXTDISCO_1):
        router.handle_server_iq("get", ns.tag(namespace, "services"), answer)
