"""Routing between local sessions, the server itself and components (RFC 6120 §10, RFC 6121 §8).

The router is the :class:`~.component.Host` the components are given. Its hot path is
:meth:`Router.send_many`: a stanza fanned out to a room is serialized once and each recipient
gets ``head + to="..." + tail`` bytes, with the ``to`` attribute precomputed per session.

Components with timers (``deadline()`` / ``handle_timer(now)``, the MUC hosts) get one event-loop
timer each, re-armed after every stanza or session end the router hands to any component (a room
module may schedule on another host than the one that received the stanza).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from copy import copy
from typing import Callable
from xml.etree.ElementTree import Element, SubElement

from ..common import jid as jids, ns
from ..common.addresses import Networks
from ..common.aio import Rearm
from ..common.errors import StanzaError, error_reply
from ..common.xmlstream import serialize, split_for_fanout, to_attribute
from ..settings import Settings
from .auth import ask
from .auth.base import AuthBackend
from .c2s import IQ, MESSAGE, PRESENCE, C2SSession
from .component import Component, Origin
from .login_throttle import LoginThrottle, ThrottleLimits
from .metrics import XmppMetrics

logger = logging.getLogger(__name__)

ServerIqHandler = Callable[["Router", Element, str], Element | None]


def result_for(iq: Element) -> Element:
    reply = Element(IQ, {"type": "result", "id": iq.get("id", "")})
    if iq.get("from"):
        reply.set("to", iq.get("from", ""))
    if iq.get("to"):
        reply.set("from", iq.get("to", ""))
    return reply


class Router:
    def __init__(self, settings: Settings, backends: dict[str, AuthBackend], metrics: XmppMetrics) -> None:
        self.settings = settings
        self.backends = backends  # virtual host -> auth backend
        domains = settings.common.domains
        self.main_domain = domains.domain
        self.service_domains = frozenset((domains.auth, domains.hidden))
        self.require_encryption = settings.xmpp.require_encryption
        self.metrics = metrics
        self.sessions: dict[str, C2SSession] = {}  # full JID -> session
        self.by_bare: dict[str, dict[str, C2SSession]] = {}  # bare JID -> resource -> session
        self.sm_sessions: dict[str, C2SSession] = {}  # XEP-0198 id -> resumable session
        self.components: dict[str, Component] = {}
        self.external_components: set[str] = set()
        self.timed: dict[str, Component] = {}  # components with deadline() / handle_timer()
        self._timers: dict[str, Rearm] = {}
        # RFC 6121 subscriptions kept by the server: bare JID -> who sees its presence. docker
        # subscribes the focus client proxy to focus@auth so it knows where the focus is.
        self.subscribers: dict[str, set[str]] = {f"focus@{domains.auth}": {domains.focus_component}}
        self.server_iq: dict[tuple[str, str], ServerIqHandler] = {}
        self.stanzas_in = 0
        self.stanzas_out = 0
        self.connections = 0  # open client connections and BOSH sessions, against max_connections
        limits = settings.xmpp.limits
        self.max_connections = limits.max_connections
        self.logins = LoginThrottle(ThrottleLimits(
            per_address=limits.login_failures_per_address, per_account=limits.login_failures_per_account,
            window=limits.login_failure_window, max_delay=limits.login_max_delay,
            table_size=limits.login_throttle_table_size, exempt=Networks(settings.xmpp.trusted_proxies)))
        metrics.watch(self)

    # --- registration ------------------------------------------------------------------------

    def add_component(self, component: Component, external: bool = False) -> None:
        if component.domain in self.components or component.domain in self.backends:
            raise ValueError(f"{component.domain} is already served")
        self.components[component.domain] = component
        if callable(getattr(component, "deadline", None)) and callable(getattr(component, "handle_timer", None)):
            self.timed[component.domain] = component
        if external:
            self.external_components.add(component.domain)

    def remove_component(self, domain: str) -> None:
        self.components.pop(domain, None)
        self.timed.pop(domain, None)
        timer = self._timers.pop(domain, None)
        if timer is not None:
            timer.cancel()
        self.external_components.discard(domain)

    def handle_server_iq(self, kind: str, payload_tag: str, handler: ServerIqHandler) -> None:
        """IQs to the server (``to`` a virtual host, or no ``to``), keyed by type and payload."""
        self.server_iq[(kind, payload_tag)] = handler

    # --- sessions ----------------------------------------------------------------------------

    def anonymous_username(self, domain: str, previd: str | None) -> str:
        """A fresh UUID, or the hibernating session's node when the client comes back (previd=)."""
        if previd:
            old = self.sm_sessions.get(previd)
            if old is not None and old.jid is not None and old.domain == domain:
                return old.jid.node or str(uuid.uuid4())
        return str(uuid.uuid4())

    async def authenticate(self, session: C2SSession) -> None:
        """Until ``session`` stops :attr:`~.c2s.C2SSession.waiting`: ask the backend its auth calls and
        feed the answers back, and wake it at its deadline for a verdict the login throttle holds back.
        The transports await this before they feed the session its next event."""
        loop = asyncio.get_running_loop()
        while session.waiting:
            call = session.auth_call
            if call is not None:
                backend = self.backends[call.attempt.domain]
                session.auth_result(await ask(backend, call.attempt, call.request), loop.time())
                continue
            deadline = session.deadline()
            if deadline is None:
                return
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            session.handle_timer(loop.time())

    def bind(self, session: C2SSession, username: str, wanted: str) -> jids.Jid:
        bare = f"{username}@{session.domain}"
        resources = self.by_bare.get(bare, {})
        resource = wanted if wanted and len(wanted) < 256 else uuid.uuid4().hex[:12]
        previous = resources.get(resource)
        if previous is not None:
            # Prosody's default conflict rule, kick_old: a restarted service gets its JID back.
            previous.sm_resumable = False
            previous.stream_error("conflict", "replaced by a new connection")
        resources = self.by_bare.setdefault(bare, {})
        full = jids.Jid(username, session.domain, resource)
        resources[resource] = session
        self.sessions[full.full] = session
        session.to_attr = to_attribute(full.full)
        return full

    def sm_register(self, session: C2SSession) -> None:
        assert session.sm_id is not None
        self.sm_sessions[session.sm_id] = session

    def sm_lookup(self, sm_id: str) -> C2SSession | None:
        return self.sm_sessions.get(sm_id)

    def origin_of(self, full_jid: str) -> Origin | None:
        session = self.sessions.get(full_jid)
        return None if session is None else session.origin

    def session_ended(self, session: C2SSession) -> None:
        if session.sm_id is not None:
            self.sm_sessions.pop(session.sm_id, None)
        full = session.full_jid
        if not full or self.sessions.get(full) is not session:
            return
        del self.sessions[full]
        assert session.jid is not None
        bare = session.jid.bare
        resources = self.by_bare.get(bare)
        if resources is not None:
            resources.pop(session.jid.resource or "", None)
            if not resources:
                del self.by_bare[bare]
        if session.available:
            self._broadcast_presence(Element(PRESENCE, {"type": "unavailable", "from": full}), bare)
        for component in list(self.components.values()):
            try:
                component.session_closed(full)
            except Exception:
                logger.exception("%s failed on session_closed", component.domain)
        self.rearm_timers()

    # --- component timers ----------------------------------------------------------------------

    def rearm_timers(self) -> None:
        """Keep each timed component's event-loop timer at its current deadline."""
        if not self.timed:
            return
        for domain, component in self.timed.items():
            timer = self._timers.get(domain)
            if timer is None:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:
                    return  # driven without an event loop (unit tests): nobody fires timers
                timer = self._timers[domain] = Rearm(loop, self._timer_fired(component))
            timer.at(component.deadline())  # type: ignore[attr-defined]

    def _timer_fired(self, component: Component) -> Callable[[float], None]:
        def fire(now: float) -> None:
            try:
                component.handle_timer(now)  # type: ignore[attr-defined]
            except Exception:
                logger.exception("component %s failed on its timer", component.domain)
            self.rearm_timers()
        return fire

    # --- Host API ------------------------------------------------------------------------------

    def send(self, stanza: Element) -> None:
        self.route(stanza, None)

    def send_many(self, stanza: Element, recipients: list[str]) -> None:
        head, tail = split_for_fanout(stanza)
        sessions = self.sessions
        delivered = 0
        for recipient in recipients:
            session = sessions.get(recipient)
            if session is not None:
                session.deliver(head + session.to_attr + tail)
                delivered += 1
            else:
                copied = copy(stanza)
                copied.set("to", recipient)
                self.route(copied, None)
        self.stanzas_out += delivered

    # --- routing -------------------------------------------------------------------------------

    def route(self, stanza: Element, sender: C2SSession | None) -> None:
        """Deliver ``stanza`` by its ``to``; ``sender`` is the local session it came from, if any."""
        self.stanzas_in += 1
        to = stanza.get("to")
        if to is None:
            self._to_own_account(stanza, sender)
            return
        try:
            target = jids.parse(to)
        except jids.JidError as exc:
            self._bounce(stanza, "modify", "jid-malformed", str(exc))
            return
        component = self.components.get(target.domain) or self._component_accepting(target.domain)
        if component is not None:
            try:
                component.receive(stanza, sender.origin if sender is not None else None)
            except Exception:
                logger.exception("component %s failed on a stanza", target.domain)
                self._bounce(stanza, "wait", "internal-server-error")
            self.rearm_timers()
            return
        if target.domain not in self.backends:
            self._bounce(stanza, "cancel", "remote-server-not-found", f"{target.domain} is not served here")
            return
        if target.node is None:
            self._to_server(stanza, target.domain)
        elif target.resource is not None:
            self._to_full(stanza, to, target)
        else:
            self._to_bare(stanza, target.bare, sender)

    def _component_accepting(self, domain: str) -> Component | None:
        """A component serving more domains than its own (the MUC's tenant domains)."""
        for component in self.components.values():
            accepts = getattr(component, "accepts", None)
            if accepts is not None and accepts(domain):
                return component
        return None

    def deliver_to(self, session: C2SSession, stanza: Element) -> None:
        session.deliver(serialize(stanza))
        self.stanzas_out += 1

    def _to_full(self, stanza: Element, to: str, target: jids.Jid) -> None:
        session = self.sessions.get(to) or self.sessions.get(target.full)
        if session is not None:
            self.deliver_to(session, stanza)
            return
        tag, kind = stanza.tag, stanza.get("type")
        if tag == MESSAGE and kind in (None, "normal", "chat"):
            self._to_bare(stanza, target.bare, None)
        elif tag == IQ and kind in ("get", "set"):
            self._bounce(stanza, "cancel", "service-unavailable")
        # presence, groupchat, headline, iq results to a gone resource: dropped (RFC 6121 §8.5.3.2)

    def _to_bare(self, stanza: Element, bare: str, sender: C2SSession | None) -> None:
        tag = stanza.tag
        if tag == IQ:
            self._account_iq(stanza, bare, sender)
            return
        # Only components (the focus proxy) subscribe through the server; a client cannot make the
        # server keep state for it this way.
        if tag == PRESENCE and sender is None and self._subscription(stanza, bare):
            return
        resources = self.by_bare.get(bare)
        if resources:
            data = serialize(stanza)
            for session in list(resources.values()):
                session.deliver(data)
            self.stanzas_out += len(resources)
        elif tag == MESSAGE and stanza.get("type") in (None, "normal", "chat"):
            self._bounce(stanza, "cancel", "service-unavailable")

    def _to_own_account(self, stanza: Element, sender: C2SSession | None) -> None:
        if sender is None or sender.jid is None:
            return  # a component must address its stanzas
        tag = stanza.tag
        if tag == PRESENCE:
            kind = stanza.get("type")
            if kind in (None, "unavailable"):
                sender.available = kind is None
                sender.presence = stanza if kind is None else None
                self._broadcast_presence(stanza, sender.jid.bare)
            return
        if tag == IQ:
            if stanza.get("type") in ("get", "set") and self._server_iq(stanza, sender.domain, sender.jid.bare):
                return
            self._account_iq(stanza, sender.jid.bare, sender)
            return
        # A message without to= is for the sender's own account: nothing stores it.

    def _broadcast_presence(self, stanza: Element, bare: str) -> None:
        for subscriber in self.subscribers.get(bare, ()):
            copied = copy(stanza)
            copied.set("to", subscriber)
            self.route(copied, None)

    def _subscription(self, stanza: Element, bare: str) -> bool:
        """Probes and subscription requests to a local account, answered by the server."""
        kind = stanza.get("type")
        asker = stanza.get("from")
        if kind not in ("probe", "subscribe", "unsubscribe") or not asker:
            return False
        asker_bare = jids.bare(asker)
        if kind == "unsubscribe":
            self.subscribers.get(bare, set()).discard(asker_bare)
            return True
        if kind == "subscribe":
            self.subscribers.setdefault(bare, set()).add(asker_bare)
            self.route(Element(PRESENCE, {"type": "subscribed", "from": bare, "to": asker}), None)
        elif asker_bare not in self.subscribers.get(bare, ()):
            return True
        for session in list(self.by_bare.get(bare, {}).values()):
            if session.available and session.presence is not None:
                copied = copy(session.presence)
                copied.set("from", session.full_jid)
                copied.set("to", asker)
                self.route(copied, None)
        return True

    def _to_server(self, stanza: Element, domain: str) -> None:
        if stanza.tag == IQ and stanza.get("type") in ("get", "set"):
            if not self._server_iq(stanza, domain, domain):
                self._bounce(stanza, "cancel", "service-unavailable")
        # presence to the server and messages to it have no business here; results are ours.

    def _server_iq(self, iq: Element, domain: str, address: str) -> bool:
        payload = iq[0] if len(iq) else None
        handler = self.server_iq.get((iq.get("type", ""), payload.tag if payload is not None else ""))
        if handler is None:
            return False
        reply = handler(self, iq, address)
        if reply is not None:
            reply.set("from", address)
            self.route(reply, None)
        return True

    def _account_iq(self, iq: Element, bare: str, sender: C2SSession | None) -> None:
        """An IQ to a bare account JID is the server's to answer (RFC 6121 §8.5.1)."""
        kind = iq.get("type")
        if kind not in ("get", "set"):
            return
        own = sender is not None and sender.jid is not None and sender.jid.bare == bare
        payload = iq[0] if len(iq) else None
        if own and payload is not None and payload.tag == ns.tag(ns.ROSTER, "query") and kind == "get":
            reply = result_for(iq)
            reply.set("from", bare)
            SubElement(reply, ns.tag(ns.ROSTER, "query"))
            self.route(reply, None)
            return
        if payload is not None and self.server_iq.get(("get", payload.tag)) and payload.tag in (
            ns.tag(ns.PING, "ping"), ns.tag(ns.DISCO_INFO, "query")
        ) and kind == "get":
            self._server_iq(iq, jids.domain_of(bare), bare)
            return
        self._bounce(iq, "cancel", "service-unavailable")

    def _bounce(self, stanza: Element, error_type: str, condition: str, text: str = "") -> None:
        # The server's own bounces carry no legacy code, as Prosody's do not.
        reply = error_reply(stanza, StanzaError(error_type, condition, text), legacy_code=False)
        if reply is None or not reply.get("to"):
            return
        if reply.get("from") is None:
            reply.set("from", self.main_domain)
        self.route(reply, None)
