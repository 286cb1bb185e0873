"""External components (XEP-0114): a stream on the component port, a SHA-1 handshake, then routing.

A component that shakes hands with the shared secret (``JICOFO_COMPONENT_SECRET``) serves the
domain of its stream's ``to`` as long as its connection lasts, exactly like a hosted component.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from typing import Callable
from xml.etree.ElementTree import Element

from ..common import jid as jids, ns
from ..common.xmlstream import STREAM_CLOSE, StreamError, StreamOpen, serialize
from .c2s import SessionLimits, stream_error_bytes
from .component import Origin
from .router import Router
from .tcp import StreamConnection

logger = logging.getLogger(__name__)

HANDSHAKE = ns.tag(ns.CLIENT, "handshake")  # the parser reads jabber:component:accept as jabber:client


class ComponentSession:
    """One external component: implements the router's Component and the c2s-like glue interface."""

    service_account = True  # not rate limited: components carry whole conferences
    hibernating_until = None  # a component's stream is never kept for resumption (XEP-0198 is c2s only)
    waiting = False  # the handshake is checked here, never by an auth backend the glue must await

    def __init__(self, router: Router, link, now: float, secret: str | None, limits: SessionLimits) -> None:
        self.router = router
        self.link = link
        self.secret = secret
        self.state = "opening"
        self.domain = ""
        self.stream_id = ""
        self._deadline: float | None = now + limits.unauthenticated_timeout

    # --- the stream ----------------------------------------------------------------------------

    def receive(self, event: object, now: float) -> None:
        try:
            if isinstance(event, StreamOpen):
                self._open(event)
            elif event is STREAM_CLOSE:
                self.close(None)
            elif self.state == "handshake" and isinstance(event, Element) and event.tag == HANDSHAKE:
                self._handshake(event)
            elif self.state == "ready" and isinstance(event, Element):
                self._stanza(event)
            else:
                raise StreamError("not-authorized", "handshake first")
        except StreamError as exc:
            self.stream_error(exc.condition, exc.text)

    def _open(self, event: StreamOpen) -> None:
        if self.state != "opening":
            raise StreamError("not-well-formed", "unexpected stream header")
        self.domain = (event.attrs.get("to") or "").lower()
        self.stream_id = uuid.uuid4().hex
        self.link.send_open(self.stream_id, self.domain or "localhost")
        if not self.secret:
            raise StreamError("not-authorized", "no component secret is configured")
        if not self.domain or self.domain in self.router.backends or self.domain in self.router.components:
            raise StreamError("host-unknown", f"{self.domain or '(none)'} cannot be served by a component")
        self.state = "handshake"

    def _handshake(self, element: Element) -> None:
        assert self.secret is not None
        expected = hashlib.sha1((self.stream_id + self.secret).encode()).hexdigest()
        if not hmac.compare_digest((element.text or "").strip().lower(), expected):
            raise StreamError("not-authorized", "wrong handshake")
        if self.domain in self.router.components:
            raise StreamError("conflict", f"{self.domain} is already connected")
        self.router.add_component(ServedDomain(self), external=True)
        self.state = "ready"
        self._deadline = None
        self.link.send(b"<handshake/>")
        logger.info("external component %s connected", self.domain)

    def _stanza(self, stanza: Element) -> None:
        sender = stanza.get("from")
        try:
            domain = jids.domain_of(sender) if sender else ""
        except jids.JidError:
            domain = ""
        if domain != self.domain and not domain.endswith("." + self.domain):
            raise StreamError("invalid-from", f"from must be on {self.domain}")
        self.router.route(stanza, None)

    def deadline(self) -> float | None:
        return self._deadline

    def heard(self, now: float) -> None:
        """Liveness is the connection's business for components."""

    def handle_timer(self, now: float) -> None:
        if self._deadline is not None and now >= self._deadline:
            self.stream_error("connection-timeout", "no handshake in time")

    def stream_error(self, condition: str, text: str = "") -> None:
        self.router.metrics.stream_errors.labels(condition).inc()
        logger.info("component stream error %s (%s) for %s", condition, text, self.domain)
        self.close(stream_error_bytes(condition, text))

    def close(self, error: bytes | None) -> None:
        if self.state == "closed":
            return
        if self.state == "ready":
            self.router.remove_component(self.domain)
        self.state = "closed"
        link, self.link = self.link, None
        if link is not None:
            link.close(error)

    def connection_lost(self, now: float) -> None:
        self.close(None)



class ServedDomain:
    """What the router sees of a connected component: stanzas for its domain go down its stream."""

    def __init__(self, session: ComponentSession) -> None:
        self.domain = session.domain
        self.session = session

    def receive(self, stanza: Element, origin: Origin | None) -> None:
        link = self.session.link
        if link is not None:
            link.send(serialize(stanza, ns.COMPONENT))

    def session_closed(self, full_jid: str) -> None:
        """External components learn of sessions only through the presence they are sent."""


def component_factory(router: Router, limits: SessionLimits, parser_limits: dict[str, int],
                      secret: str | None) -> Callable[[], StreamConnection]:
    class ComponentConnection(StreamConnection):
        stream_ns = ns.COMPONENT

    def make_session(link: StreamConnection, now: float) -> ComponentSession:
        router.metrics.connections.labels("component").inc()
        return ComponentSession(router, link, now, secret, limits)

    return lambda: ComponentConnection(make_session, parser_limits, None, None)
