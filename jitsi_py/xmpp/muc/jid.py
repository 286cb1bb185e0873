"""JID splitting for the MUC until ``common/jid.py`` lands (then this module should go).

Only what the MUC needs: split into node, domain and resource, the bare form, and the
case-folding of node and domain that room and occupant lookups compare on. Full stringprep is
the router's business; it has already checked the JIDs it hands us.
"""

from __future__ import annotations


def split(jid: str) -> tuple[str, str, str]:
    """``node@domain/resource`` -> (node, domain, resource); missing parts are empty strings."""
    slash = jid.find("/")
    if slash >= 0:
        bare, resource = jid[:slash], jid[slash + 1 :]
    else:
        bare, resource = jid, ""
    at = bare.find("@")
    if at >= 0:
        return bare[:at].lower(), bare[at + 1 :].lower(), resource
    return "", bare.lower(), resource


def bare(jid: str) -> str:
    node, domain, _ = split(jid)
    return f"{node}@{domain}" if node else domain


def join(node: str, domain: str, resource: str = "") -> str:
    jid = f"{node}@{domain}" if node else domain
    return f"{jid}/{resource}" if resource else jid
