"""JIDs (RFC 7622): split, normalise and compare the three parts.

Normalisation is lower-casing of node and domain plus the checks that matter for routing
(lengths, forbidden node characters). Full PRECIS profiles are not applied: Jitsi only ever uses
ASCII nodes (UUIDs, URI-encoded room names) and servers compare what clients send back verbatim.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

NODE_FORBIDDEN = frozenset('"&\'/:<>@ \t\r\n')
MAX_PART = 1023


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


@lru_cache(maxsize=65536)
def parse(text: str) -> Jid:
    """Split and normalise; raises :class:`JidError` with the reason."""
    rest, slash, resource = text.partition("/")
    if slash and not resource:
        raise JidError(f"empty resource in {text!r}")
    node, at, domain = rest.rpartition("@")
    if not at:
        node, domain = None, rest  # type: ignore[assignment]
    elif not node:
        raise JidError(f"empty node in {text!r}")
    domain = domain.lower().rstrip(".")
    if not domain or len(domain) > MAX_PART or any(c in NODE_FORBIDDEN for c in domain):
        raise JidError(f"bad domain in {text!r}")
    if node is not None:
        node = node.lower()
        if len(node) > MAX_PART or any(c in NODE_FORBIDDEN for c in node):
            raise JidError(f"bad node in {text!r}")
    if slash and len(resource) > MAX_PART:
        raise JidError(f"resource too long in {text!r}")
    return Jid(node, domain, resource if slash else None)


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
