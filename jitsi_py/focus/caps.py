"""XEP-0115 entity capabilities: the verification string, and a cache that trusts only what it verified.

A participant's presence announces ``<c node ver hash/>``; the focus asks the occupant for disco#info
and may reuse the answer for every later occupant announcing the same ``node#ver``. That reuse is
only safe when the answer hashes to the announced ``ver``: otherwise one participant could announce
a real client's ``ver``, answer with no audio or video features, and have every later participant
with that client offered no media. Unverified answers serve only the occupant that gave them.
"""

from __future__ import annotations

import base64
import hashlib
from collections import OrderedDict
from xml.etree.ElementTree import Element

from ..common import ns
from ..common.stanzas.jingle import q

# IANA hash names (XEP-0115 §5.1) that hashlib knows; MD5 is refused as too weak to verify anything.
HASHES = {"sha-1": "sha1", "sha-224": "sha224", "sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512"}
XML_LANG = q(ns.XML, "lang")


class Malformed(ValueError):
    """The disco#info answer breaks XEP-0115 §5.4 and can never verify."""


def verification_string(query: Element) -> str:
    """The string of XEP-0115 §5.1 for a disco#info ``<query/>``, before hashing."""
    identities = sorted(
        (i.get("category", ""), i.get("type", ""), i.get(XML_LANG, ""), i.get("name", ""))
        for i in query.findall(q(ns.DISCO_INFO, "identity")))
    features = sorted(f.get("var", "") for f in query.findall(q(ns.DISCO_INFO, "feature")))
    if len(set(identities)) != len(identities) or len(set(features)) != len(features):
        raise Malformed("duplicate identity or feature")
    parts = ["/".join(identity) + "<" for identity in identities]
    parts += [feature + "<" for feature in features]
    forms = []
    for form in query.findall(q(ns.DATA_FORMS, "x")):
        if form.get("type") != "result":
            continue
        fields: dict[str, list[str]] = {}
        form_type = None
        for field in form.findall(q(ns.DATA_FORMS, "field")):
            values = [v.text or "" for v in field.findall(q(ns.DATA_FORMS, "value"))]
            var = field.get("var", "")
            if var == "FORM_TYPE":
                if field.get("type") != "hidden" or len(values) != 1 or form_type is not None:
                    raise Malformed("FORM_TYPE must be one hidden value")
                form_type = values[0]
            elif var in fields:
                raise Malformed(f"field {var!r} twice in one form")
            else:
                fields[var] = values
        if form_type is None:
            continue  # §5.4: forms without a FORM_TYPE are left out of the string
        forms.append((form_type, fields))
    if len({form_type for form_type, _ in forms}) != len(forms):
        raise Malformed("two forms with one FORM_TYPE")
    for form_type, fields in sorted(forms, key=lambda item: item[0]):
        parts.append(form_type + "<")
        for var in sorted(fields):
            parts.append(var + "<")
            parts += [value + "<" for value in sorted(fields[var])]
    return "".join(parts)


def verify(query: Element, hash_name: str | None, ver: str) -> bool:
    """Whether ``query`` hashes to the announced ``ver`` under ``hash_name``."""
    algorithm = HASHES.get((hash_name or "").lower())
    if algorithm is None:
        return False  # legacy caps (no hash) or an unknown hash: nothing to check against
    try:
        text = verification_string(query)
    except Malformed:
        return False
    digest = hashlib.new(algorithm, text.encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii") == ver


class CapsCache:
    """Verified ``node#ver`` -> features, least recently used dropped beyond ``size`` entries."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, frozenset[str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, node: str | None, ver: str | None) -> frozenset[str] | None:
        if not ver:
            return None
        key = f"{node}#{ver}"
        features = self._entries.get(key)
        if features is not None:
            self._entries.move_to_end(key)
        return features

    def learn(self, node: str | None, ver: str | None, hash_name: str | None, query: Element) -> frozenset[str]:
        """The features of ``query``; cached under ``node#ver`` only when ``query`` verifies."""
        features = frozenset(f.get("var") or "" for f in query.findall(q(ns.DISCO_INFO, "feature"))) - {""}
        if ver and verify(query, hash_name, ver):
            key = f"{node}#{ver}"
            self._entries[key] = features
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return features
