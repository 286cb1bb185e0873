"""One client session, any transport, without I/O: stream features, STARTTLS, SASL, bind, XEP-0198.

The transport glue (``tcp.py``, ``websocket.py``, ``bosh.py``) parses bytes into stream events and
hands them to :meth:`C2SSession.receive` with the current time; the session answers through its
:class:`Link` (serialized elements out, stream open/close, TLS upgrade, parser restart) and asks
for its next timer with :meth:`C2SSession.deadline`. The auth backends are the glue's to call: when
SASL needs one, the session puts an :class:`AuthCall` in :attr:`C2SSession.auth_call` and is
:attr:`~C2SSession.waiting`; the glue feeds it nothing more until the backend's answer is in
(:meth:`C2SSession.auth_result`) and the verdict is out, which the login throttle may hold back
until a deadline (:meth:`C2SSession.handle_timer`). ``router.authenticate`` does that for every transport.

What may arrive in each state is the table :data:`TRANSITIONS`; anything else closes the stream
(``not-authorized`` before login, ``unsupported-stanza-type`` after). Every ``StreamError``,
wherever it comes from, ends in :meth:`C2SSession.stream_error`: one ``<stream:error/>``, this
stream closed, nothing else touched. Password logins go through the router's login throttle
(``login_throttle.py``): refused at once from an address that guessed too much, held back on an
account under attack: the verdict waits for a deadline, and so does everything after it.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Protocol, get_args
from xml.etree.ElementTree import Element, SubElement

from ..common import ns
from ..common.jid import Jid
from ..common.xmlstream import STREAM_CLOSE, StreamError, StreamOpen, serialize
from .auth.base import Attempt, AuthFailure, BackendAnswer, BackendRequest, Identity
from .component import Origin
from .login_throttle import Guess
from .sasl import Challenge, SaslExchange, Step, Success, decode_payload, encode_payload

if TYPE_CHECKING:
    from .router import Router

logger = logging.getLogger(__name__)

IQ, MESSAGE, PRESENCE = (ns.tag(ns.CLIENT, n) for n in ("iq", "message", "presence"))
STARTTLS = ns.tag(ns.TLS, "starttls")
AUTH, RESPONSE, ABORT = (ns.tag(ns.SASL, n) for n in ("auth", "response", "abort"))
SM_ENABLE, SM_RESUME, SM_R, SM_A = (ns.tag(ns.SM, n) for n in ("enable", "resume", "r", "a"))
BIND = ns.tag(ns.BIND, "bind")
SESSION = ns.tag(ns.SESSION, "session")
PING = ns.tag(ns.PING, "ping")

# States: (name, authenticated?)
OPENING = "opening"  # waiting for the stream header (again, after STARTTLS or SASL)
CONNECTED = "connected"  # features sent, not logged in
SASL = "sasl"  # a mechanism is running: only <response/> and <abort/>
AUTHORIZED = "authorized"  # logged in, restarted: bind or resume
BOUND = "bound"  # a full JID: stanzas flow
CLOSED = "closed"

TRANSITIONS: dict[str, dict[str, str]] = {
    CONNECTED: {STARTTLS: "_starttls", AUTH: "_auth"},
    SASL: {RESPONSE: "_sasl_response", ABORT: "_sasl_abort"},
    AUTHORIZED: {IQ: "_bind_iq", SM_RESUME: "_sm_resume", SM_ENABLE: "_sm_too_early"},
    BOUND: {
        IQ: "_stanza", MESSAGE: "_stanza", PRESENCE: "_stanza",
        SM_ENABLE: "_sm_enable", SM_R: "_sm_request", SM_A: "_sm_ack", SM_RESUME: "_sm_too_late",
    },
}
STANZAS = frozenset((IQ, MESSAGE, PRESENCE))

# What a SASL step asks of the session, by the step's type (sasl.Step).
SASL_STEPS: dict[type, str] = {
    Challenge: "_sasl_challenge",
    Success: "_sasl_verdict",
    AuthFailure: "_sasl_verdict",
    **dict.fromkeys(get_args(BackendRequest), "_ask_backend"),
}


class Link(Protocol):
    """What a session needs from its transport."""

    transport_name: str  # "tcp", "websocket", "bosh"
    secure: bool  # TLS here, or terminated by a proxy in front of HTTP transports
    can_starttls: bool
    query: Mapping[str, str]
    remote_ip: str | None

    def send(self, data: bytes) -> None:
        """One serialized top-level element."""

    def send_open(self, stream_id: str, domain: str) -> None:
        """The server's stream header (``<stream:stream>``, ``<open/>``, or BOSH's session body)."""

    def start_tls(self) -> None:
        """Upgrade after ``<proceed/>`` was sent; the parser restarts."""

    def restart(self) -> None:
        """The parser restarts (after SASL success)."""

    def close(self, error: bytes | None) -> None:
        """Send ``error`` (a ``<stream:error/>``) if any, close the stream and the connection."""

    def attach(self, session: "C2SSession") -> None:
        """From now on feed ``session`` (XEP-0198 resumption moved this link to an older session)."""


@dataclass(frozen=True)
class SessionLimits:
    unauthenticated_timeout: float = 60.0
    ping_interval: float = 60.0  # a stream-managed session idle this long gets a ping (XEP-0199)
    ping_timeout: float = 30.0  # then nothing for this long: the connection is dead
    hibernation: float = 60.0  # XEP-0198 resumption window
    max_unacked: int = 500  # stanzas queued for an unacknowledged client; past this, give up
    ack_every: int = 5  # ask <r/> after this many unacked stanzas, as docker's Prosody
    max_auth_failures: int = 5  # then the stream closes: password guessing costs a reconnect


@dataclass(frozen=True)
class AuthCall:
    """Output: ``request`` for the auth backend of ``attempt.domain``; the answer goes to ``auth_result``."""

    attempt: Attempt
    request: BackendRequest


@dataclass(frozen=True)
class HeldVerdict:
    """A login's verdict that the login throttle holds back until ``until``."""

    verdict: Success | AuthFailure
    exchange: SaslExchange
    guess: Guess | None
    counted_at: float  # when the throttle counts it: as if it had been given at the end of the hold
    until: float


def stream_error_bytes(condition: str, text: str = "") -> bytes:
    error = Element(ns.tag(ns.STREAMS, "error"))
    SubElement(error, ns.tag(ns.STREAM_ERRORS, condition))
    if text:
        SubElement(error, ns.tag(ns.STREAM_ERRORS, "text")).text = text
    return serialize(error)


def _el(tag: str, attrs: dict[str, str] | None = None, text: str | None = None) -> Element:
    element = Element(tag, attrs or {})
    if text is not None:
        element.text = text
    return element


class C2SSession:
    def __init__(self, router: "Router", link: Link, now: float, limits: SessionLimits) -> None:
        self.router = router
        self.link: Link | None = link
        self.limits = limits
        self.state = OPENING
        self.stream_id = ""
        self.domain = ""
        self.secure = link.secure
        self.transport = link.transport_name
        self.query = dict(link.query)
        self.identity: Identity | None = None
        self.jid: Jid | None = None
        self.full_jid = ""
        self.to_attr = b""  # ' to="<full JID>"', spliced into fanned-out stanzas
        self.origin: Origin | None = None
        self.available = False  # sent available presence without to=
        self.presence: Element | None = None
        self.service_account = False
        self._sasl: SaslExchange | None = None
        self._attempt: Attempt | None = None  # the login of the running SASL exchange
        self.auth_call: AuthCall | None = None  # output: the glue asks the backend, then calls auth_result
        self._held: HeldVerdict | None = None
        self._guess: Guess | None = None  # this stream's password login in progress
        self._auth_failures = 0
        self._auth_deadline: float | None = now + limits.unauthenticated_timeout
        self._last_rx = now
        self._ping_sent: float | None = None
        self._ping_seq = 0
        # XEP-0198
        self.sm_id: str | None = None
        self.sm_resumable = False
        self.sm_in = 0  # stanzas received since <enable/>, mod 2**32
        self.sm_out = 0  # stanzas sent since <enable/>
        self.sm_queue: deque[bytes] = deque()
        self._sm_r_pending = False
        self.hibernating_until: float | None = None

    # --- inputs ---------------------------------------------------------------------------------

    def receive(self, event: object, now: float) -> None:
        """One event from the stream parser; none may come while the session is :attr:`waiting`."""
        self._last_rx = now
        self._ping_sent = None
        try:
            if isinstance(event, StreamOpen):
                self._stream_open(event)
                return
            if event is STREAM_CLOSE:
                self.close(None)
                return
            assert isinstance(event, Element)
            if self.state == OPENING:
                raise StreamError("not-well-formed", "stream header expected")
            handler = TRANSITIONS.get(self.state, {}).get(event.tag)
            if handler is None:
                if self.state in (CONNECTED, SASL):
                    raise StreamError("not-authorized", f"{_local(event.tag)} before authentication")
                if event.tag in STANZAS and self.state == AUTHORIZED:
                    raise StreamError("not-authorized", "bind a resource first")
                raise StreamError("unsupported-stanza-type", _local(event.tag))
            getattr(self, handler)(event)
        except StreamError as exc:
            self.stream_error(exc.condition, exc.text)

    @property
    def waiting(self) -> bool:
        """An auth call is out or a verdict held back: the next event must wait until this is False."""
        return self.state != CLOSED and (self.auth_call is not None or self._held is not None)

    def auth_result(self, answer: BackendAnswer, now: float) -> None:
        """The backend's answer to :attr:`auth_call`: what it returned, or the AuthFailure it raised."""
        call, self.auth_call = self.auth_call, None
        if call is None:
            raise RuntimeError("no auth call is out")
        if self._sasl is not None:  # None: the exchange ended meanwhile (a glue that fed us while waiting)
            self._sasl_step(self._sasl.answer(answer), now)

    def deadline(self) -> float | None:
        if self.state == CLOSED:
            return None
        if self.link is None:
            return self.hibernating_until
        if self._auth_deadline is not None:
            held = self._held
            return self._auth_deadline if held is None else min(held.until, self._auth_deadline)
        if self._ping_sent is not None:
            return self._ping_sent + self.limits.ping_timeout
        if self.sm_id is None:
            return None  # no server pings without XEP-0198 (Prosody sends none either)
        return self._last_rx + self.limits.ping_interval

    def heard(self, now: float) -> None:
        """Bytes arrived (whitespace keepalives included): the peer is alive."""
        self._last_rx = now
        self._ping_sent = None

    def handle_timer(self, now: float) -> None:
        if self.state == CLOSED:
            return
        if self.link is None:
            self.hibernation_check(now)
            return
        if self._auth_deadline is not None:
            held = self._held
            if held is not None and now >= held.until:
                self._release(held)
            if self._auth_deadline is not None and now >= self._auth_deadline:
                self.stream_error("connection-timeout", "not authenticated in time")
            return
        if self._ping_sent is not None:
            if now >= self._ping_sent + self.limits.ping_timeout:
                self.connection_lost(now)
            return
        if now >= self._last_rx + self.limits.ping_interval and self.state == BOUND and self.sm_id is not None:
            # An idle stream-managed session: ping it (XEP-0199) and ask for an ack, so a client
            # that ignores the IQ still answers; silence means the connection is dead, and the
            # session hibernates for resumption instead of waiting for TCP to notice.
            self._ping_seq += 1
            iq = _el(IQ, {"type": "get", "id": f"s2c-ping-{self._ping_seq}", "to": self.full_jid,
                          "from": self.domain})
            SubElement(iq, PING)
            self._send_stanza_element(iq)
            if self.link is not None and not self._sm_r_pending:
                self._sm_r_pending = True
                self.link.send(b'<r xmlns="urn:xmpp:sm:3"/>')
            self._ping_sent = now

    def hibernation_check(self, now: float) -> None:
        """Called by the glue when the resumption window of a cut session should be over."""
        if self.link is None and self.hibernating_until is not None and now >= self.hibernating_until - 0.01:
            self.router.metrics.sessions_hibernating.dec()
            self._end()

    def connection_lost(self, now: float) -> None:
        """The transport went away without a closing handshake: hibernate if resumable, else end."""
        if self.state == CLOSED:
            return
        link, self.link = self.link, None
        if self.state == BOUND and self.sm_resumable:
            self.hibernating_until = now + self.limits.hibernation
            self.router.metrics.sessions_hibernating.inc()
            if link is not None:
                link.close(None)
            return
        self.state = CLOSED
        if link is not None:
            link.close(None)
        self._end()

    # --- outputs --------------------------------------------------------------------------------

    def deliver(self, data: bytes) -> None:
        """A serialized stanza for this session (routing's hot path)."""
        if self.sm_id is not None:
            queue = self.sm_queue
            queue.append(data)
            self.sm_out = (self.sm_out + 1) & 0xFFFFFFFF
            if len(queue) > self.limits.max_unacked:
                self.sm_resumable = False
                self.stream_error("resource-constraint", "too many unacknowledged stanzas")
                return
            link = self.link
            if link is not None:
                link.send(data)
                if not self._sm_r_pending and len(queue) % self.limits.ack_every == 0:
                    self._sm_r_pending = True
                    link.send(b'<r xmlns="urn:xmpp:sm:3"/>')
            return
        link = self.link
        if link is not None:
            link.send(data)

    def _send(self, element: Element) -> None:
        if self.link is not None:
            self.link.send(serialize(element))

    def _send_stanza_element(self, element: Element) -> None:
        self.deliver(serialize(element))

    def stream_error(self, condition: str, text: str = "") -> None:
        if self.state == CLOSED:
            return
        self.router.metrics.stream_errors.labels(condition).inc()
        logger.info("stream error %s (%s) on %s %s", condition, text, self.transport, self.full_jid or self.stream_id)
        self.sm_resumable = False
        self.close(stream_error_bytes(condition, text))

    def close(self, error: bytes | None) -> None:
        """End the stream cleanly (our </stream>, or the peer's); no resumption after this."""
        if self.state == CLOSED:
            return
        self.state = CLOSED
        link, self.link = self.link, None
        if link is not None:
            link.close(error)
        self._end()

    def _end(self) -> None:
        self.state = CLOSED
        self.hibernating_until = None
        if self._held is not None:
            self._release(self._held)  # hanging up during the hold does not keep a guess from counting
        self.router.session_ended(self)

    # --- stream header and features ----------------------------------------------------------------

    def _stream_open(self, event: StreamOpen) -> None:
        if self.state not in (OPENING, CONNECTED, AUTHORIZED):
            raise StreamError("not-well-formed", "unexpected stream header")
        to = (event.attrs.get("to") or "").lower()
        if self.domain and to and to != self.domain:
            raise StreamError("host-unknown", "the domain changed on restart")
        domain = to or self.domain
        if domain not in self.router.backends:
            self.domain = self.domain or self.router.settings.common.domains.domain
            self.stream_id = self.stream_id or uuid.uuid4().hex
            self._open_and_raise("host-unknown", f"{to or '(none)'} is not served here")
        self.domain = domain
        self.stream_id = uuid.uuid4().hex
        if self.link is not None:
            self.link.send_open(self.stream_id, domain)
        features = Element(ns.tag(ns.STREAMS, "features"))
        if self.identity is None:
            self.state = CONNECTED
            if self.link is not None and self.link.can_starttls and not self.secure:
                tls = SubElement(features, STARTTLS)
                if self.router.require_encryption:
                    SubElement(tls, ns.tag(ns.TLS, "required"))
            mechs = self._mechanisms()
            if mechs:
                mechanisms = SubElement(features, ns.tag(ns.SASL, "mechanisms"))
                for mech in mechs:
                    SubElement(mechanisms, ns.tag(ns.SASL, "mechanism")).text = mech
        else:
            self.state = AUTHORIZED
            SubElement(features, BIND)
            session = SubElement(features, SESSION)
            SubElement(session, ns.tag(ns.SESSION, "optional"))
            if self.transport != "bosh":
                SubElement(features, ns.tag(ns.SM, "sm"))
        self._send(features)

    def _open_and_raise(self, condition: str, text: str) -> None:
        if self.link is not None:
            self.link.send_open(self.stream_id, self.domain)
        raise StreamError(condition, text)

    def _mechanisms(self) -> tuple[str, ...]:
        if self.router.require_encryption and self.link is not None and self.link.can_starttls and not self.secure:
            return ()  # RFC 6120 §5.3.1: TLS first; nothing else until then
        offered = self.router.backends[self.domain].mechanisms
        if not self.secure:
            offered = tuple(m for m in offered if m != "PLAIN")
        return offered

    # --- STARTTLS ------------------------------------------------------------------------------

    def _starttls(self, element: Element) -> None:
        if self.link is None or not self.link.can_starttls or self.secure:
            self._send(_el(ns.tag(ns.TLS, "failure")))
            self.close(None)
            return
        self._send(_el(ns.tag(ns.TLS, "proceed")))
        self.secure = True
        self.state = OPENING
        self.link.start_tls()

    # --- SASL --------------------------------------------------------------------------------------

    def _auth(self, element: Element) -> None:
        mechanism = element.get("mechanism", "")
        if mechanism not in self._mechanisms():
            self._sasl_failure(AuthFailure("invalid-mechanism", f"{mechanism or '(none)'} is not offered"))
            return
        link = self.link
        # Only the HTTP transports (WebSocket, BOSH) had a request whose header could carry a token.
        attempt = Attempt(self.domain, self.transport, self.query, link.remote_ip if link else None,
                          getattr(link, "bearer", None))
        try:
            exchange = SaslExchange(mechanism)
            if exchange.checks_password:
                self._guess = self.router.logins.start(attempt.remote_ip, self._last_rx)
            payload = decode_payload(element.text if element.text is not None else None)
        except AuthFailure as failure:
            self._sasl_failure(failure)
            return
        self._sasl, self._attempt = exchange, attempt
        self.state = SASL
        self._sasl_step(exchange.respond(payload), self._last_rx)

    def _sasl_response(self, element: Element) -> None:
        try:
            payload = decode_payload(element.text or "")
        except AuthFailure as failure:
            self._sasl_failure(failure)
            return
        assert self._sasl is not None
        self._sasl_step(self._sasl.respond(payload), self._last_rx)

    def _sasl_abort(self, element: Element) -> None:
        self._sasl_failure(AuthFailure("aborted"))

    def _sasl_step(self, step: Step, now: float) -> None:
        getattr(self, SASL_STEPS[type(step)])(step, now)

    def _ask_backend(self, request: BackendRequest, now: float) -> None:
        assert self._attempt is not None
        self.auth_call = AuthCall(self._attempt, request)

    def _sasl_challenge(self, challenge: Challenge, now: float) -> None:
        if self.state == SASL:  # not closed meanwhile
            self._send(_el(ns.tag(ns.SASL, "challenge"), text=encode_payload(challenge.data)))

    def _sasl_verdict(self, verdict: Success | AuthFailure, now: float) -> None:
        """Held back while the account is under attack, then counted by the throttle (login_throttle.py)."""
        exchange = self._sasl
        assert exchange is not None
        guess, self._guess = self._guess, None
        delay = 0.0
        if guess is not None:  # None: anonymous, nothing to guess
            account = f"{exchange.username}@{self.domain}" if exchange.username else None
            delay = self.router.logins.delay(guess, account, self._last_rx)
        held = HeldVerdict(verdict, exchange, guess, self._last_rx + delay, now + delay)
        if delay and self.state != CLOSED:
            self._held = held  # handle_timer gives it at its deadline
            return
        self._release(held)

    def _release(self, held: HeldVerdict) -> None:
        self._held = None
        verdict, guess = held.verdict, held.guess
        if guess is not None:
            logins = self.router.logins
            if isinstance(verdict, Success):
                logins.succeeded(guess)
            elif verdict.condition == "temporary-auth-failure":
                logins.withdraw(guess)  # the backend could not judge: an outage must not lock users out
            else:
                logins.failed(guess, held.counted_at)
        if isinstance(verdict, AuthFailure):
            self._sasl_failure(verdict)
            return
        if self.state != SASL:
            return  # closed meanwhile
        identity = verdict.identity
        if identity.username is None:
            identity = Identity(self.router.anonymous_username(self.domain, self.query.get("previd")),
                                identity.claims, True)
        self.identity = identity
        self._sasl = self._attempt = None
        self._auth_deadline = None
        self.service_account = self.domain in self.router.service_domains
        self.router.metrics.auth_success.labels(held.exchange.mechanism).inc()
        self._send(_el(ns.tag(ns.SASL, "success"), text=encode_payload(verdict.data) if verdict.data else None))
        self.state = OPENING
        if self.link is not None:
            self.link.restart()

    def _sasl_failure(self, failure: AuthFailure) -> None:
        self._sasl = self._attempt = None
        self._guess = None  # one that never reached a verdict keeps counting against its address
        if self.state == CLOSED:
            return
        self.state = CONNECTED
        self.router.metrics.auth_failures.labels(failure.condition).inc()
        el = _el(ns.tag(ns.SASL, "failure"))
        SubElement(el, ns.tag(ns.SASL, failure.condition))
        if failure.text:
            SubElement(el, ns.tag(ns.SASL, "text")).text = failure.text
        self._send(el)
        self._auth_failures += 1
        if self._auth_failures >= self.limits.max_auth_failures:
            self.stream_error("policy-violation", "too many failed logins")

    # --- resource binding --------------------------------------------------------------------------

    def _bind_iq(self, iq: Element) -> None:
        bind = iq.find(BIND)
        if iq.get("type") != "set" or bind is None:
            if iq.find(SESSION) is not None:
                raise StreamError("not-authorized", "bind before session")
            raise StreamError("not-authorized", "bind a resource first")
        assert self.identity is not None and self.identity.username is not None
        wanted = (bind.findtext(ns.tag(ns.BIND, "resource")) or "").strip()
        self.jid = self.router.bind(self, self.identity.username, wanted)
        self.full_jid = self.jid.full
        self.origin = Origin(
            jid=self.full_jid, domain=self.domain, transport=self.transport,
            anonymous=self.identity.anonymous, query=self.query, claims=self.identity.claims,
            service_account=self.service_account,
        )
        self.state = BOUND
        result = _el(IQ, {"type": "result", "id": iq.get("id", "")})
        SubElement(SubElement(result, BIND), ns.tag(ns.BIND, "jid")).text = self.full_jid
        self._send(result)

    # --- stanzas -------------------------------------------------------------------------------------

    def _stanza(self, stanza: Element) -> None:
        if self.sm_id is not None:
            self.sm_in = (self.sm_in + 1) & 0xFFFFFFFF
        # RFC 6120 §8.1.2.1: the server stamps the sender's full JID whatever the client wrote.
        stanza.set("from", self.full_jid)
        if stanza.tag == IQ and self._local_session_iq(stanza):
            return
        self.router.route(stanza, self)

    def _local_session_iq(self, iq: Element) -> bool:
        """The few IQs that are about this stream: legacy session, our own pings' answers."""
        to = iq.get("to")
        if to and to != self.domain and to != self.full_jid and to != self.jid.bare:  # type: ignore[union-attr]
            return False
        kind = iq.get("type")
        if kind == "set" and iq.find(SESSION) is not None:
            self._send_stanza_element(_el(IQ, {"type": "result", "id": iq.get("id", ""), "to": self.full_jid}))
            return True
        if kind in ("result", "error") and iq.get("id", "").startswith("s2c-ping-") and to in (None, self.domain):
            return True
        return False

    # --- XEP-0198 ----------------------------------------------------------------------------------

    def _sm_enable(self, element: Element) -> None:
        if self.sm_id is not None:
            self._send(_failed("unexpected-request", "already enabled"))
            return
        if self.transport == "bosh":
            self._send(_failed("feature-not-implemented", "not over BOSH"))
            return
        self.sm_id = uuid.uuid4().hex
        self.sm_resumable = element.get("resume") in ("true", "1")
        attrs = {"id": self.sm_id}
        if self.sm_resumable:
            attrs.update(resume="true", max=str(int(self.limits.hibernation)))
            self.router.sm_register(self)
        self._send(_el(ns.tag(ns.SM, "enabled"), attrs))

    def _sm_too_early(self, element: Element) -> None:
        self._send(_failed("unexpected-request", "bind a resource first"))

    def _sm_too_late(self, element: Element) -> None:
        self._send(_failed("unexpected-request", "already bound"))

    def _sm_request(self, element: Element) -> None:
        self._send(_el(ns.tag(ns.SM, "a"), {"h": str(self.sm_in)}))

    def _sm_ack(self, element: Element) -> None:
        self._sm_r_pending = False
        try:
            h = int(element.get("h", ""))
        except ValueError:
            raise StreamError("undefined-condition", "<a/> without a valid h") from None
        self._acknowledge(h)

    def _acknowledge(self, h: int) -> None:
        queue = self.sm_queue
        unacked = (self.sm_out - h) & 0xFFFFFFFF
        if unacked > len(queue):
            raise StreamError("undefined-condition", "h acknowledges stanzas never sent")
        while len(queue) > unacked:
            queue.popleft()

    def _sm_resume(self, element: Element) -> None:
        previd = element.get("previd", "")
        old = self.router.sm_lookup(previd)
        assert self.identity is not None
        if old is None or old.jid is None or old.jid.node != self.identity.username or old.domain != self.domain:
            self._send(_failed("item-not-found", "no session to resume", h=None))
            return
        try:
            h = int(element.get("h", ""))
            old._acknowledge(h)
        except (ValueError, StreamError):
            self._send(_failed("unexpected-request", "bad h", h=None))
            return
        link = self.link
        assert link is not None
        self.state = CLOSED  # this stream's own session is folded into the old one
        self.link = None
        old.take_over(link)
        link.attach(old)

    def take_over(self, link: Link) -> None:
        """XEP-0198 §5: a new connection resumes this session; replay what was not acknowledged."""
        previous, self.link = self.link, link
        if previous is not None:
            previous.close(stream_error_bytes("conflict", "resumed on another connection"))
        if self.hibernating_until is not None:
            self.router.metrics.sessions_hibernating.dec()
        self.hibernating_until = None
        self._sm_r_pending = False
        self.transport = link.transport_name
        link.send(serialize(_el(ns.tag(ns.SM, "resumed"), {"previd": self.sm_id or "", "h": str(self.sm_in)})))
        for data in self.sm_queue:
            link.send(data)
        if self.sm_queue:
            self._sm_r_pending = True
            link.send(b'<r xmlns="urn:xmpp:sm:3"/>')


def _failed(condition: str, text: str, h: int | None = None) -> Element:
    el = _el(ns.tag(ns.SM, "failed"), {} if h is None else {"h": str(h)})
    SubElement(el, ns.tag(ns.STANZA_ERRORS, condition))
    return el


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]

