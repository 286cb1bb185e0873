"""The contract between the server's router and the services it hosts (MUC, Jitsi components).

Stanzas inside the server are ``xml.etree.ElementTree.Element`` trees with Clark-notation tags
(``{jabber:client}presence``, ``{http://jabber.org/protocol/muc}x``): the stream parser gives every
top-level stanza the ``jabber:client`` namespace whatever transport it came on, and the
serializer writes namespaces back as plain ``xmlns="..."`` attributes (never ``ns0:`` prefixes,
which the Jitsi client's attribute selectors would not see).

A hosted service serves one domain (``muc.meet.jitsi``, ``focus.meet.jitsi``...). The router calls
its :meth:`Component.receive` for every stanza addressed to that domain or to a JID on it, with
the :class:`Origin` of the local session that sent it (None for stanzas from another component or
from the server itself). The component answers through the :class:`Host` it was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol
from xml.etree.ElementTree import Element

from ..common.errors import StanzaError, error_reply


@dataclass(frozen=True)
class Origin:
    """Who sent a stanza: the authenticated local session behind its ``from``."""

    jid: str  # full JID bound by the session, e.g. "abc@meet.jitsi/res"
    domain: str  # virtual host the session authenticated on
    transport: str  # "tcp", "websocket", "bosh" or "component"
    anonymous: bool  # logged in with SASL ANONYMOUS (or jitsi-anonymous)
    # Query values of the WebSocket/BOSH URL: "room", "token", "prefix" (the tenant), ...
    query: Mapping[str, str] = field(default_factory=dict)
    # Claims of a verified JWT (AUTH_TYPE=jwt), so room plugins can check "room" and "context".
    claims: Mapping[str, Any] | None = None
    # The session is a service account (focus, jvb, jibri, jigasi) from the auth/hidden domains.
    service_account: bool = False


class Host(Protocol):
    """What the router offers a hosted service."""

    def send(self, stanza: Element) -> None:
        """Route ``stanza`` by its ``to`` (local session, bare JID, or another component)."""

    def send_many(self, stanza: Element, recipients: list[str]) -> None:
        """Route one stanza to many full JIDs, serializing it once; ``to`` is set per recipient."""

    def origin_of(self, full_jid: str) -> Origin | None:
        """The live local session bound to ``full_jid``, if any."""


class Component(Protocol):
    domain: str

    def receive(self, stanza: Element, origin: Origin | None) -> None:
        """Handle one stanza addressed to this domain. Errors are answered, never raised."""

    def session_closed(self, full_jid: str) -> None:
        """A local session ended without saying goodbye: drop it as if it sent unavailable."""


def refuse(host: Host, stanza: Element, error: StanzaError) -> None:
    """Answer ``stanza`` with ``error`` through ``host``; an error itself is never answered."""
    reply = error_reply(stanza, error)
    if reply is not None:
        host.send(reply)
