"""JIDs (RFC 7622): split, normalise and compare the three parts.

Normalisation is lower-casing of node and domain plus the checks that matter for routing: no
empty part, none over RFC 7622's 1023 octets, no forbidden node characters. Every edge (the XMPP
server's router, the focus's conference requests) checks with :func:`parse`, so a bad address is
refused at once instead of reaching a library that chokes on it. Full PRECIS profiles are not
applied: Jitsi only ever uses ASCII nodes (UUIDs, URI-encoded room names) and servers compare what
clients send back verbatim.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

NODE_FORBIDDEN = frozenset('"&\'/:<>@ \t\r\n')
MAX_PART = 1023  # octets of each part (RFC 7622 §3.2-3.4)
CACHED_LENGTH = 256  # longer texts are parsed each time: a cache full of 3 KB JIDs would be a memory lever


class JidError(ValueError):
    """Not a JID; the stanza carrying it gets <jid-malformed/>."""


class Jid(NamedTuple):
    node: str | None
    domain: str
    resource: str | None

    @property
    def bare(self) -> str:
        return f"{self.node}@{self.domain}" if self.node is not None else self.domain

    @property
    def full(self) -> str:
        return self.bare if self.resource is None else f"{self.bare}/{self.resource}"

    def __str__(self) -> str:
        return self.full


def parse(text: str) -> Jid:
    """Split and normalise; raises :class:`JidError` with the reason. The one JID check at every edge."""
    return _parse_cached(text) if len(text) <= CACHED_LENGTH else _parse(text)


def entity_bare(text: str) -> Jid:
    """A JID with a localpart and no resourcepart (a room, an account); raises :class:`JidError`."""
    jid = parse(text)
    if jid.node is None or jid.resource is not None:
        raise JidError(f"not a bare JID with a localpart: {_shown(text)}")
    return jid


def _parse(text: str) -> Jid:
    rest, slash, resource = text.partition("/")
    if slash and not resource:
        raise JidError(f"empty resourcepart in {_shown(text)}")
    node, at, domain = rest.rpartition("@")
    if not at:
        node, domain = None, rest  # type: ignore[assignment]
    elif not node:
        raise JidError(f"empty localpart in {_shown(text)}")
    domain = domain.lower().rstrip(".")
    if not domain:
        raise JidError(f"empty domainpart in {_shown(text)}")
    if _too_long(domain) or any(c in NODE_FORBIDDEN for c in domain):
        raise JidError(f"bad domainpart in {_shown(text)}")
    if node is not None:
        node = node.lower()
        if _too_long(node) or any(c in NODE_FORBIDDEN for c in node):
            raise JidError(f"bad localpart in {_shown(text)}")
    if slash and _too_long(resource):
        raise JidError(f"resourcepart over {MAX_PART} octets in {_shown(text)}")
    return Jid(node, domain, resource if slash else None)


_parse_cached = lru_cache(maxsize=65536)(_parse)


def _too_long(part: str) -> bool:
    # Four octets at most per character: only a long part needs encoding to be measured.
    return len(part) > MAX_PART // 4 and len(part.encode("utf-8", "surrogatepass")) > MAX_PART


def _shown(text: str) -> str:
    """The offending JID for an error text, cut short: errors must not echo kilobytes back."""
    if len(text) <= 80:
        return repr(text)
    return f"{text[:80]!r}... ({len(text.encode('utf-8', 'surrogatepass'))} octets)"


def bare(text: str) -> str:
    return parse(text).bare


def domain_of(text: str) -> str:
    return parse(text).domain


def split(text: str) -> tuple[str, str, str]:
    """(node, domain, resource) with "" for an absent part: the form room code compares on."""
    jid = parse(text)
    return jid.node or "", jid.domain, jid.resource or ""


def join(node: str, domain: str, resource: str = "") -> str:
    jid = f"{node}@{domain}" if node else domain
    return f"{jid}/{resource}" if resource else jid
