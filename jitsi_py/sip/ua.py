"""The gateway's SIP user agent, sans-I/O (RFC 3261 §8, §12-15): calls (dialogs) both ways and the
account's registration, on top of :mod:`.transaction`.

Inputs: :meth:`UserAgent.receive` (a datagram or a framed stream message and its source),
:meth:`UserAgent.handle_timer`, and the calls the gateway makes (:meth:`invite`, :meth:`respond`,
:meth:`hangup`, :meth:`info`, :meth:`register`). Outputs: :meth:`datagrams_to_send`,
:meth:`next_event` (the dataclasses below) and :attr:`deadline`. Bad input is answered with the
status its :class:`SipSyntaxError` names when the message can be answered at all, and is dropped
otherwise; it never touches another call.
"""

from __future__ import annotations

import random
import secrets
from collections import deque
from dataclasses import dataclass, field

from .digest import Credentials
from .message import (
    Address,
    Request,
    Response,
    SipSyntaxError,
    parse,
    parse_address,
    parse_uri,
    parse_via,
)
from .session_timer import TIMER, SessionTimer, answer_request, from_response, parse_min_se, parse_session_expires
from .transaction import T1, T2, Addr, ClientTransaction, Send, ServerTransaction

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
REASONS = {
    100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 422: "Session Interval Too Small",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 491: "Request Pending",
    500: "Server Internal Error", 501: "Not Implemented", 503: "Service Unavailable",
    505: "Version Not Supported", 513: "Message Too Large", 603: "Decline",
}
REGISTER_RETRY = (5.0, 10.0, 30.0, 60.0, 120.0)  # back-off after a refused or unanswered REGISTER
REPEATED_IN_RETRIES = ("authorization", "proxy-authorization", "session-expires", "min-se")


def _token() -> str:
    return secrets.token_hex(8)


def _branch() -> str:
    return "z9hG4bK" + secrets.token_hex(10)


# ---- events ----

@dataclass(frozen=True)
class IncomingCall:
    call: Call


@dataclass(frozen=True)
class CallProgress:
    call: Call
    status: int  # 180, 183
    reason: str


@dataclass(frozen=True)
class CallAnswered:
    """An outgoing call's 2xx (its SDP answer in ``call.remote_sdp``) or an incoming call's ACK;
    ``with_answer`` when ``call.remote_sdp`` is the answer to an offer of ours (always for a 2xx; for
    an ACK, when our 2xx offered because the INVITE had no SDP)."""

    call: Call
    with_answer: bool = True


@dataclass(frozen=True)
class SessionOffer:
    """A re-INVITE in a confirmed call (RFC 3261 §14.2): hold, resume, a codec or address change.
    ``sdp`` is the offer, empty when the peer asks for ours (the ACK then brings its answer as
    :class:`CallAnswered`). The gateway answers with :meth:`UserAgent.respond`; a refusal (488)
    leaves the session as it was."""

    call: Call
    sdp: bytes


@dataclass(frozen=True)
class RefreshDue:
    """Our session refresh (RFC 4028) is due and the peer takes no UPDATE: the gateway re-INVITEs with
    the session's SDP (:meth:`UserAgent.reinvite`)."""

    call: Call


@dataclass(frozen=True)
class RefreshAnswered:
    """The 2xx to our refresh re-INVITE. Its SDP (``call.remote_sdp``, empty when it has none) answers the
    offer of the session as it was; the peer may have moved its media in it, which the gateway follows,
    or the answer may not fit the offer, and the gateway ends the call."""

    call: Call


@dataclass(frozen=True)
class CallEnded:
    call: Call
    status: int  # the final status of a call that never started; 200 for a BYE; 408 on timeout
    reason: str
    by_remote: bool


@dataclass(frozen=True)
class InfoReceived:
    call: Call
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Registered:
    expires: int


@dataclass(frozen=True)
class RegistrationFailed:
    status: int
    reason: str
    retry_in: float


Event = (IncomingCall | CallProgress | CallAnswered | SessionOffer | RefreshDue | RefreshAnswered | CallEnded
         | InfoReceived | Registered | RegistrationFailed)


@dataclass
class Call:
    """One dialog; ``incoming`` from the INVITE's direction."""

    call_id: str
    incoming: bool
    local: Address
    remote: Address
    peer: Addr  # where in-dialog requests go (the remote target's host, or the outbound proxy)
    invite: Request | None = None
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 1
    remote_cseq: int = 0
    state: str = "early"  # early -> confirmed -> ended
    local_sdp: bytes = b""
    remote_sdp: bytes = b""
    server: ServerTransaction | None = None  # an incoming INVITE's or re-INVITE's, until answered
    client: ClientTransaction | None = None  # an outgoing INVITE's, until answered
    ok: bytes | None = None  # our 2xx, retransmitted until the ACK
    ok_retransmit_at: float | None = None
    ok_interval: float = T1
    ok_give_up_at: float | None = None
    offered: bool = False  # our 2xx carried the offer (the INVITE had none): the ACK carries the answer
    cancel_pending: bool = False
    auth_tries: int = 0
    session: SessionTimer | None = None  # the session timer in force (RFC 4028)
    answering: SessionTimer | None = None  # the one our 2xx to the request in ``server`` sets
    refreshing: ClientTransaction | None = None  # our re-INVITE or UPDATE, until answered
    update_allowed: bool = False  # the peer's Allow names UPDATE: we refresh with it

    @property
    def request_uri(self) -> str:
        return self.invite.uri if self.invite is not None else ""

    def header(self, name: str) -> str | None:
        return self.invite.header(name) if self.invite is not None else None


@dataclass
class Account:
    """Our SIP identity; ``proxy`` (JIGASI_SIP_SERVER) takes every request we start when set."""

    aor: str  # sip:user@domain
    password: str | None
    local: Addr  # our host and port, as the peers must reach us
    transport: str = "UDP"
    proxy: Addr | None = None
    register_expires: int = 600
    keep_alive: str = "OPTIONS"  # or "CRLF" or "NONE"
    keep_alive_interval: float = 25.0
    user_agent: str = "jitsi-py"
    session_expires: int = 1800  # the session timer we ask for and the longest we grant (RFC 4028)
    min_se: int = 90  # the shortest we take; a shorter Session-Expires is answered 422


class UserAgent:
    def __init__(self, account: Account) -> None:
        self.account = account
        aor = parse_uri(account.aor)
        self.user = aor.user
        self.domain = aor.host if aor.port is None else f"{aor.host}:{aor.port}"
        self.credentials = Credentials(aor.user, account.password) if account.password else None
        self.reliable = account.transport in ("TCP", "TLS")
        self.calls: dict[str, Call] = {}
        self.clients: dict[tuple[str, str], ClientTransaction] = {}
        self.servers: dict[tuple[str, str], ServerTransaction] = {}
        self._outbox: list[Send] = []
        self._events: deque[Event] = deque()
        # registration
        self.registered_until: float | None = None
        self._register_call_id = _token() + "@jitsi-py"
        self._register_cseq = 0
        self._register_at: float | None = None
        self._register_failures = 0
        self._register_auth_tries = 0
        self._keep_alive_at: float | None = None
        self.rejected = 0  # malformed messages answered or dropped

    # ---- outputs ----

    def datagrams_to_send(self) -> list[Send]:
        out = self._outbox
        for transactions in (self.clients, self.servers):
            for tx in transactions.values():
                if tx.outbox:
                    out += tx.outbox
                    tx.outbox = []
        self._outbox = []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    @property
    def deadline(self) -> float | None:
        times = [t for t in (self._register_at, self._keep_alive_at) if t is not None]
        for transactions in (self.clients, self.servers):
            times += [d for tx in transactions.values() if (d := tx.deadline) is not None]
        for call in self.calls.values():
            times += [t for t in (call.ok_retransmit_at, call.ok_give_up_at) if t is not None]
            if call.session is not None and (d := call.session.deadline) is not None:
                times.append(d)
        return min(times) if times else None

    # ---- inputs ----

    def receive(self, data: bytes, source: Addr, now: float) -> None:
        if not data.strip(b"\r\n"):
            return  # a CRLF keep-alive (RFC 5626 §3.5.1)
        try:
            msg = parse(data)
        except SipSyntaxError as exc:
            self.rejected += 1
            self._reject_unparsable(data, source, exc)
            return
        try:
            if isinstance(msg, Response):
                self._on_response(msg, now)
            else:
                self._on_request(msg, source, now)
        except ValueError as exc:  # a header value the codec let through but its reader refuses
            self.rejected += 1
            if isinstance(msg, Request) and msg.method != "ACK":
                status, reason = (exc.status, exc.reason) if isinstance(exc, SipSyntaxError) else (400, str(exc))
                self._send_response(msg, source, status, reason[:100])

    def handle_timer(self, now: float) -> None:
        for key, tx in list(self.clients.items()):
            if tx.deadline is not None and now >= tx.deadline and tx.handle_timer(now):
                self._client_timed_out(tx, now)
            if tx.done:
                self.clients.pop(key, None)
        for key, stx in list(self.servers.items()):
            if stx.deadline is not None and now >= stx.deadline:
                stx.handle_timer(now)
            if stx.done:
                self.servers.pop(key, None)
        for call in list(self.calls.values()):
            self._call_timers(call, now)
        if self._register_at is not None and now >= self._register_at:
            self._register_at = None
            self._send_register(now)
        if self._keep_alive_at is not None and now >= self._keep_alive_at:
            self._keep_alive(now)

    # ---- calls: what the gateway asks ----

    def invite(self, target: str, sdp: bytes, now: float, *, display: str = "",
               headers: dict[str, str] | None = None) -> Call:
        """Dial ``target`` (a SIP URI, or a number/user at our domain)."""
        if ":" not in target:
            target = f"sip:{target}@{self.domain}"
        uri = parse_uri(target)
        peer = self.account.proxy or (uri.host, uri.port or 5060)
        call = Call(call_id=_token() + "@jitsi-py", incoming=False,
                    local=Address(self.account.aor, display, {"tag": _token()}),
                    remote=Address(target), peer=peer, remote_target=target, local_sdp=sdp)
        request = self._request(call, "INVITE", body=sdp, content_type="application/sdp")
        self._ask_session_timer(request, self.account.session_expires)
        for name, value in (headers or {}).items():
            request.add(name, value)
        call.invite = request
        self.calls[call.call_id] = call
        call.client = self._start_client(request, peer, now)
        return call

    def respond(self, call: Call, status: int, now: float, sdp: bytes = b"", reason: str = "") -> None:
        """Answer an incoming call: 18x, then 2xx (with our SDP) or a failure; or a re-INVITE (2xx or a
        failure that leaves the call as it was)."""
        tx = call.server
        if tx is None or call.state == "ended":
            return
        response = self._response(tx.request, status, reason)
        response.set("To", str(call.local))
        if status < 300:
            response.add("Contact", self._contact())
        if 200 <= status < 300:
            response.add("Allow", ALLOW)
            response.add("Supported", TIMER)
            self._grant_session_timer(call, call.answering, response, now)
        if sdp:
            response.body = sdp
            response.add("Content-Type", "application/sdp")
            call.local_sdp = sdp
        tx.respond(response, now)
        if status >= 200:
            call.server = call.answering = None
        if status >= 300 and call.state == "early":
            self._end(call, status, response.reason, by_remote=False)
        elif 200 <= status < 300 and tx.request.method == "INVITE":
            call.offered = not tx.request.body.strip()
            self._retransmit_ok(call, response, now)

    def _retransmit_ok(self, call: Call, ok: Response, now: float) -> None:
        """A 2xx to an INVITE is ours to resend until the ACK (the transaction ended with it, §13.3.1.4)."""
        call.ok = bytes(ok)
        call.ok_interval = T1
        call.ok_retransmit_at = None if self.reliable else now + T1
        call.ok_give_up_at = now + 64 * T1

    def hangup(self, call: Call, now: float, status: int = 486) -> None:
        """End the call from our side, whatever its state: BYE, CANCEL, or a refusal (``status``)."""
        if call.state == "ended":
            return
        if call.server is not None:  # their INVITE or re-INVITE, not answered yet
            self.respond(call, status if call.state == "early" else 487, now)
            if call.state == "ended":
                return
        if not call.incoming and call.state == "early":
            if call.client is not None and call.client.state == "proceeding":
                self._cancel(call, now)
            else:
                call.cancel_pending = True  # CANCEL may only follow a provisional (§9.1)
            return
        self._bye(call, now, 200, "hung up", by_remote=False)

    def reinvite(self, call: Call, sdp: bytes, now: float) -> None:
        """Refresh the session (RFC 4028) with a re-INVITE offering ``sdp``, the session as it is."""
        if call.state != "confirmed" or call.session is None or call.refreshing is not None:
            return
        if call.server is not None or call.ok is not None:  # the peer's offer is open: after it
            call.session.refresh_at = now + 2 * T1
            return
        request = self._request(call, "INVITE", body=sdp, content_type="application/sdp")
        self._ask_session_timer(request, call.session.interval, refresher="uac")
        call.local_sdp = sdp
        call.refreshing = self._start_client(request, call.peer, now)

    def info(self, call: Call, content_type: str, body: bytes, now: float) -> None:
        if call.state == "confirmed":
            self._start_client(self._request(call, "INFO", body=body, content_type=content_type), call.peer, now)

    # ---- registration ----

    def register(self, now: float) -> None:
        """Register now, then keep registered (refresh at half the granted time, back-off on failure)."""
        if self.account.proxy is None:
            raise ValueError("registration needs the SIP server (JIGASI_SIP_SERVER or the AOR's domain)")
        self._register_auth_tries = 0
        self._send_register(now)

    def unregister(self, now: float) -> None:
        self._register_at = self._keep_alive_at = None
        if self.registered_until is not None:
            self._send_register(now, expires=0)
            self.registered_until = None

    def _send_register(self, now: float, expires: int | None = None, authorization: tuple[str, str] | None = None,
                       ) -> None:
        assert self.account.proxy is not None
        self._register_cseq += 1
        request = Request(method="REGISTER", uri=f"sip:{self.domain}")
        self._via(request)
        request.add("Max-Forwards", "70")
        request.add("From", str(Address(self.account.aor, "", {"tag": _token()})))
        request.add("To", f"<{self.account.aor}>")
        request.add("Call-ID", self._register_call_id)
        request.add("CSeq", f"{self._register_cseq} REGISTER")
        request.add("Contact", self._contact())
        request.add("Expires", str(self.account.register_expires if expires is None else expires))
        request.add("User-Agent", self.account.user_agent)
        if authorization is not None:
            request.add(*authorization)
        self._start_client(request, self.account.proxy, now)

    def _on_register_response(self, tx: ClientTransaction, response: Response, now: float) -> None:
        if response.status < 200:
            return
        expires_asked = int(tx.request.header("expires") or "0")
        if response.status in (401, 407) and self.credentials is not None and self._register_auth_tries < 2:
            challenge = response.header("www-authenticate" if response.status == 401 else "proxy-authenticate")
            if challenge:
                self._register_auth_tries += 1
                name = "Authorization" if response.status == 401 else "Proxy-Authorization"
                try:
                    value = self.credentials.authorization(challenge, "REGISTER", tx.request.uri)
                except SipSyntaxError as exc:
                    self._registration_failed(response.status, exc.reason, now)
                    return
                self._send_register(now, expires_asked, (name, value))
                return
        if response.status == 423 and response.header("min-expires") and expires_asked:
            self.account.register_expires = int(response.header("min-expires") or "0")
            self._send_register(now)
            return
        if response.status >= 300:
            self._registration_failed(response.status, response.reason, now)
            return
        self._register_auth_tries = 0
        if expires_asked == 0:
            return
        granted = expires_asked
        for contact in response.header_all("contact"):
            address = parse_address(contact)
            if "expires" in address.params and address.params["expires"].isdigit():
                granted = int(address.params["expires"])
        if response.header("expires") and (response.header("expires") or "").isdigit():
            granted = min(granted, int(response.header("expires") or "0")) if granted else granted
        self._register_failures = 0
        self.registered_until = now + granted
        self._register_at = now + max(granted / 2, 1.0)
        if self.account.keep_alive != "NONE" and self._keep_alive_at is None:
            self._keep_alive_at = now + self.account.keep_alive_interval
        self._events.append(Registered(granted))

    def _registration_failed(self, status: int, reason: str, now: float) -> None:
        delay = REGISTER_RETRY[min(self._register_failures, len(REGISTER_RETRY) - 1)]
        self._register_failures += 1
        self._register_auth_tries = 0
        self.registered_until = None
        self._register_at = now + delay
        self._events.append(RegistrationFailed(status, reason, delay))

    def _send_options(self, target: str, call_id: str, to: Addr, now: float) -> None:
        request = Request(method="OPTIONS", uri=target)
        self._via(request)
        request.add("Max-Forwards", "70")
        request.add("From", str(Address(self.account.aor, "", {"tag": _token()})))
        request.add("To", f"<{target}>")
        request.add("Call-ID", call_id)
        request.add("CSeq", "1 OPTIONS")
        request.add("User-Agent", self.account.user_agent)
        self._start_client(request, to, now)

    def _keep_alive(self, now: float) -> None:
        self._keep_alive_at = now + self.account.keep_alive_interval
        if self.account.proxy is None:
            return
        if self.account.keep_alive == "CRLF":
            self._outbox.append(Send(b"\r\n\r\n", self.account.proxy))
            return
        self._send_options(f"sip:{self.domain}", _token() + "@jitsi-py", self.account.proxy, now)

    # ---- session timers (RFC 4028) ----

    def _ask_session_timer(self, request: Request, interval: int, refresher: str = "") -> None:
        request.add("Session-Expires", f"{interval};refresher={refresher}" if refresher else str(interval))
        request.add("Min-SE", str(self.account.min_se))

    def _grant_session_timer(self, call: Call, timer: SessionTimer | None, response: Response, now: float) -> None:
        """Our 2xx to an INVITE, re-INVITE or UPDATE: the timer its request negotiated starts (RFC 4028 §9)."""
        if timer is None:
            return
        response.add("Session-Expires", timer.header())
        if timer.require:
            response.add("Require", TIMER)
        call.session = timer
        timer.restart(now)

    def _refresh(self, call: Call, now: float) -> None:
        assert call.session is not None
        call.session.refresh_at = None
        if call.refreshing is not None:
            return
        if not call.update_allowed:
            self._events.append(RefreshDue(call))
            return
        request = self._request(call, "UPDATE")  # no offer: nothing to answer, the session stays as it is
        self._ask_session_timer(request, call.session.interval, refresher="uac")
        call.refreshing = self._start_client(request, call.peer, now)

    def _on_refresh_response(self, call: Call, tx: ClientTransaction, response: Response, now: float) -> None:
        if response.status < 200:
            return
        call.refreshing = None
        method = tx.request.method
        if method == "INVITE" and response.status < 300:
            self._send_ack(call, response)
        if call.state != "confirmed" or call.session is None:
            return
        if response.status < 300:
            call.session = from_response(response)
            if call.session is not None:
                call.session.restart(now)
            if method == "INVITE":
                call.remote_sdp = response.body
                self._events.append(RefreshAnswered(call))
        elif response.status == 422 and response.header("min-se"):
            call.session.interval = max(call.session.interval, parse_min_se(response.header("min-se") or ""))
            self._refresh(call, now)
        elif response.status == 491:  # their offer crossed ours (RFC 3261 §14.1)
            call.session.refresh_at = now + (random.uniform(2.1, 4.0) if not call.incoming
                                             else random.uniform(0.0, 2.0))
        elif method == "UPDATE" and response.status in (405, 501):
            call.update_allowed = False
            self._refresh(call, now)
        elif response.status in (408, 481):  # the dialog is gone (RFC 3261 §12.2.1.2)
            self._bye(call, now, response.status, "the session refresh failed")
        # else the session runs on to its expiry, and then ends

    def _bye(self, call: Call, now: float, status: int, reason: str, *, by_remote: bool = True) -> None:
        """End a confirmed call with a BYE; ``by_remote`` as CallEnded says it: False only for a hang-up asked of us."""
        self._start_client(self._request(call, "BYE"), call.peer, now)
        self._end(call, status, reason, by_remote=by_remote)

    # ---- building messages ----

    def _contact(self) -> str:
        host, port = self.account.local
        transport = "" if self.account.transport == "UDP" else f";transport={self.account.transport.lower()}"
        return f"<sip:{self.user}@{host}:{port}{transport}>"

    def _via(self, request: Request) -> None:
        host, port = self.account.local
        request.add("Via", f"SIP/2.0/{self.account.transport} {host}:{port};rport;branch={_branch()}", first=True)

    def _request(self, call: Call, method: str, body: bytes = b"", content_type: str = "") -> Request:
        if method != "ACK" and (method != "INVITE" or call.invite is not None):
            call.local_cseq += 1  # the first INVITE takes the call's initial number
        request = Request(method=method, uri=call.remote_target)
        self._via(request)
        request.add("Max-Forwards", "70")
        for route in call.route_set:
            request.add("Route", route)
        request.add("From", str(call.local))
        request.add("To", str(call.remote))
        request.add("Call-ID", call.call_id)
        request.add("CSeq", f"{call.local_cseq} {method}")
        if method in ("INVITE", "UPDATE"):
            request.add("Contact", self._contact())
            request.add("Allow", ALLOW)
            request.add("Supported", TIMER)
        request.add("User-Agent", self.account.user_agent)
        if body:
            request.add("Content-Type", content_type)
            request.body = body
        return request

    def _response(self, request: Request, status: int, reason: str = "") -> Response:
        response = Response(status=status, reason=reason or REASONS.get(status, "Unknown"))
        for name in ("via", "from", "to", "call-id", "cseq"):
            for value in request.header_all(name):
                response.add(name, value)
        to = response.header("to") or ""
        if status > 100 and "tag=" not in to.lower():
            response.set("To", f"{to};tag={_token()}")
        response.add("Server", self.account.user_agent)
        return response

    def _send_response(self, request: Request, source: Addr, status: int, reason: str = "") -> None:
        self._outbox.append(Send(bytes(self._response(request, status, reason)), source))

    def _start_client(self, request: Request, to: Addr, now: float) -> ClientTransaction:
        tx = ClientTransaction(request, to, now, self.reliable)
        self.clients[tx.key] = tx
        return tx

    def _reject_unparsable(self, data: bytes, source: Addr, exc: SipSyntaxError) -> None:
        """Answer what can be answered: a request (not an ACK) whose Via, From, To, Call-ID and CSeq
        parse; anything else is dropped (there is nobody to answer)."""
        try:
            partial = parse(data, lenient=True)
        except SipSyntaxError:
            return
        if isinstance(partial, Request) and partial.method != "ACK":
            self._send_response(partial, source, exc.status, exc.reason[:100])

    # ---- responses ----

    def _on_response(self, response: Response, now: float) -> None:
        via = parse_via(response.header("via") or "")
        tx = self.clients.get((via.params.get("branch", ""), response.cseq[1]))
        if tx is None:
            if response.cseq[1] == "INVITE" and 200 <= response.status < 300:
                self._stray_ok(response)
            return
        if not tx.receive(response, now):
            return
        call = self.calls.get(response.call_id)
        if call is not None and call.refreshing is tx:
            self._on_refresh_response(call, tx, response, now)
            return
        method = tx.request.method
        if method == "REGISTER":
            self._on_register_response(tx, response, now)
        elif method == "INVITE":
            self._on_invite_response(tx, response, now)

    def _on_invite_response(self, tx: ClientTransaction, response: Response, now: float) -> None:
        call = self.calls.get(response.call_id)
        if call is None or call.state == "ended":
            if call is not None and 200 <= response.status < 300:
                self._ack_and_bye(call, response, now)
            if call is not None and response.status >= 200:
                self.calls.pop(call.call_id, None)
            return
        to = parse_address(response.header("to") or "")
        if response.status < 200:
            if to.tag:
                call.remote = to
            if call.cancel_pending:
                self._cancel(call, now)
            elif response.status > 100:
                self._events.append(CallProgress(call, response.status, response.reason))
            return
        call.client = None
        if response.status in (401, 407) and self.credentials is not None and call.auth_tries < 1:
            challenge = response.header("www-authenticate" if response.status == 401 else "proxy-authenticate")
            if challenge and call.invite is not None:
                call.auth_tries += 1
                try:
                    value = self.credentials.authorization(challenge, "INVITE", call.invite.uri)
                except SipSyntaxError as exc:
                    self._end(call, response.status, exc.reason, by_remote=True)
                    return
                self._invite_again(call, now, ("Authorization" if response.status == 401 else "Proxy-Authorization",
                                               value))
                return
        if response.status == 422 and call.invite is not None:
            # RFC 4028 §7.3: again with at least the interval the UAS asks for, unless we asked that already
            ours = call.invite.header("session-expires")
            asked = parse_session_expires(ours)[0] if ours else 0
            interval = parse_min_se(response.header("min-se") or "0")
            if interval > asked:
                self._invite_again(call, now, ("Session-Expires", str(interval)), ("Min-SE", str(interval)))
                return
        if response.status >= 300:
            self._end(call, response.status, response.reason, by_remote=True)
            return
        call.remote = to
        contact = response.header("contact")
        if contact:
            call.remote_target = parse_address(contact).uri
            if self.account.proxy is None and not response.header_all("record-route"):
                target = parse_uri(call.remote_target)
                call.peer = (target.host, target.port or 5060)
        call.route_set = list(reversed(response.header_all("record-route")))
        call.remote_sdp = response.body
        call.state = "confirmed"
        call.update_allowed = _allows_update(response)
        call.session = from_response(response)
        if call.session is not None:
            call.session.restart(now)
        self._send_ack(call, response)
        if call.cancel_pending:
            self.hangup(call, now)
            return
        self._events.append(CallAnswered(call))

    def _invite_again(self, call: Call, now: float, *changed: tuple[str, str]) -> None:
        """Our INVITE once more, after a challenge or a 422: a new CSeq and branch, the room's headers,
        the credentials and the session timer of the last one, ``changed`` in place of theirs."""
        assert call.invite is not None
        retry = self._request(call, "INVITE", body=call.local_sdp, content_type="application/sdp")
        replaced = {name.lower() for name, _ in changed}
        for name, value in call.invite.headers:
            low = name.lower()
            if low not in replaced and (low.startswith(("x-", "jitsi-")) or low in REPEATED_IN_RETRIES):
                retry.add(name, value)
        for name, value in changed:
            retry.add(name, value)
        call.invite = retry
        call.client = self._start_client(retry, call.peer, now)

    def _send_ack(self, call: Call, ok: Response) -> None:
        ack = self._request(call, "ACK")
        ack.set("CSeq", f"{ok.cseq[0]} ACK")
        self._outbox.append(Send(bytes(ack), call.peer))

    def _stray_ok(self, response: Response) -> None:
        """A retransmitted 2xx after its transaction ended: its ACK was lost (§13.2.2.4)."""
        call = self.calls.get(response.call_id)
        if call is not None and call.state == "confirmed":
            self._send_ack(call, response)

    def _ack_and_bye(self, call: Call, response: Response, now: float) -> None:
        """A 2xx that crossed our CANCEL: confirm and end it at once."""
        call.remote = parse_address(response.header("to") or "")
        call.state = "confirmed"
        self._send_ack(call, response)
        self._start_client(self._request(call, "BYE"), call.peer, now)
        call.state = "ended"

    def _cancel(self, call: Call, now: float) -> None:
        call.cancel_pending = False
        tx = call.client
        if tx is None or call.invite is None:
            return
        cancel = Request(method="CANCEL", uri=call.invite.uri)
        cancel.add("Via", call.invite.header_all("via")[0])
        for route in call.invite.header_all("route"):
            cancel.add("Route", route)
        for name in ("from", "to", "call-id"):
            cancel.add(name, call.invite.header(name) or "")
        cancel.add("CSeq", f"{call.invite.cseq[0]} CANCEL")
        cancel.add("Max-Forwards", "70")
        self._start_client(cancel, call.peer, now)
        self._end(call, 487, "cancelled", by_remote=False)

    def _client_timed_out(self, tx: ClientTransaction, now: float) -> None:
        method = tx.request.method
        call = self.calls.get(tx.request.call_id)
        if call is not None and call.refreshing is tx:
            call.refreshing = None
            self._bye(call, now, 408, "no answer to the session refresh")
            return
        if method == "INVITE":
            lingering = self.calls.get(tx.request.call_id)
            if lingering is not None and lingering.state == "ended":
                self.calls.pop(lingering.call_id, None)  # cancelled, and never answered
        if method == "REGISTER":
            self._registration_failed(408, "no answer from the registrar", now)
        elif method == "INVITE":
            call = self.calls.get(tx.request.call_id)
            if call is not None and call.state == "early":
                self._end(call, 408, "no answer", by_remote=True)

    # ---- requests ----

    def _on_request(self, request: Request, source: Addr, now: float) -> None:
        via = parse_via(request.header("via") or "")
        if source[0] != via.host:
            request.headers[self._via_index(request)] = ("Via", f"{request.header('via')};received={source[0]}")
        if "rport" in via.params and not via.params["rport"]:
            index = self._via_index(request)
            value = request.headers[index][1]
            request.headers[index] = ("Via", value.replace(";rport", f";rport={source[1]}", 1))
        branch = via.params.get("branch", "")
        key = (branch, "INVITE" if request.method == "ACK" else request.method)
        existing = self.servers.get(key)
        if request.method == "ACK":
            if existing is not None and existing.invite and existing.final_status >= 300:
                existing.ack(now)
                return
            self._on_ack(request, now)
            return
        if existing is not None:
            existing.retransmission()
            return
        if request.method == "CANCEL":
            self._on_cancel(request, source, branch, now)
            return
        tx = ServerTransaction(request, source, now, self.reliable)
        self.servers[key] = tx
        to = parse_address(request.header("to") or "")
        if request.method == "INVITE" and not to.tag:
            self._on_invite(request, source, tx, now)
        elif to.tag:
            self._in_dialog(request, tx, now)
        elif request.method == "OPTIONS":
            response = self._response(request, 200)
            response.add("Allow", ALLOW)
            response.add("Accept", "application/sdp")
            response.add("Supported", TIMER)
            tx.respond(response, now)
        elif request.method in ("BYE", "INFO", "UPDATE"):
            tx.respond(self._response(request, 481), now)
        else:
            status = 501 if request.method not in ALLOW else 405
            response = self._response(request, status)
            response.add("Allow", ALLOW)
            tx.respond(response, now)

    @staticmethod
    def _via_index(request: Request) -> int:
        return next(i for i, (name, _) in enumerate(request.headers) if name.lower() == "via")

    def _on_invite(self, request: Request, source: Addr, tx: ServerTransaction, now: float) -> None:
        if request.call_id in self.calls:
            tx.respond(self._response(request, 482, "Loop Detected"), now)
            return
        content_type = (request.header("content-type") or "application/sdp").split(";")[0].strip().lower()
        if request.body and content_type != "application/sdp":
            response = self._response(request, 415)
            response.add("Accept", "application/sdp")
            tx.respond(response, now)
            return
        remote = parse_address(request.header("from") or "")
        local = parse_address(request.header("to") or "")
        local.params["tag"] = _token()
        contact = request.header("contact")
        if not contact:
            tx.respond(self._response(request, 400, "Missing Contact"), now)
            return
        remote_target = parse_address(contact).uri
        parse_uri(remote_target)
        parse_uri(request.uri)  # 416 for a scheme we do not take
        timer = self._session_timer_of(request, tx, None, now)
        if isinstance(timer, int):
            return
        call = Call(call_id=request.call_id, incoming=True, local=local, remote=remote, peer=source,
                    invite=request, remote_target=remote_target,
                    route_set=request.header_all("record-route"), remote_cseq=request.cseq[0],
                    remote_sdp=request.body, server=tx, answering=timer, update_allowed=_allows_update(request))
        self.calls[call.call_id] = call
        tx.respond(self._response(request, 100), now)
        self._events.append(IncomingCall(call))

    def _session_timer_of(self, request: Request, tx: ServerTransaction, current: SessionTimer | None,
                          now: float) -> SessionTimer | int | None:
        """The timer our 2xx to ``request`` will set; an int when it was refused 422 (RFC 4028 §9)."""
        timer = answer_request(request, self.account.session_expires, self.account.min_se, current)
        if isinstance(timer, int):
            response = self._response(request, 422)
            response.add("Min-SE", str(timer))
            tx.respond(response, now)
        return timer

    def _on_ack(self, request: Request, now: float) -> None:
        call = self.calls.get(request.call_id)
        if call is None or call.ok is None:
            return
        call.ok = call.ok_retransmit_at = call.ok_give_up_at = None
        offered, call.offered = call.offered, False
        if offered:
            call.remote_sdp = request.body  # empty: no answer to our offer, which the gateway refuses
        if call.state == "early":
            call.state = "confirmed"
            self._events.append(CallAnswered(call, offered))
        elif offered:
            self._events.append(CallAnswered(call))

    def _on_cancel(self, request: Request, source: Addr, branch: str, now: float) -> None:
        invite_tx = self.servers.get((branch, "INVITE"))
        call = self.calls.get(request.call_id)
        if invite_tx is None or call is None or call.server is not invite_tx:
            self._send_response(request, source, 481)
            return
        self._send_response(request, source, 200)
        response = self._response(invite_tx.request, 487)
        response.set("To", str(call.local))
        invite_tx.respond(response, now)
        call.server = None
        self._end(call, 487, "cancelled by the caller", by_remote=True)

    def _in_dialog(self, request: Request, tx: ServerTransaction, now: float) -> None:
        call = self.calls.get(request.call_id)
        if call is None or call.state == "ended":
            tx.respond(self._response(request, 481), now)
            return
        number = request.cseq[0]
        if number <= call.remote_cseq and request.method != "ACK":
            tx.respond(self._response(request, 500, "CSeq Out of Order"), now)
            return
        call.remote_cseq = number
        if request.method == "BYE":
            tx.respond(self._response(request, 200), now)
            self._end(call, 200, "hung up by the peer", by_remote=True)
        elif request.method == "INFO":
            tx.respond(self._response(request, 200), now)
            self._events.append(InfoReceived(call, request.header("content-type") or "", request.body))
        elif request.method in ("INVITE", "UPDATE"):
            self._reinvite(call, request, tx, now)
        elif request.method == "OPTIONS":
            tx.respond(self._response(request, 200), now)
        else:
            tx.respond(self._response(request, 501), now)

    def _reinvite(self, call: Call, request: Request, tx: ServerTransaction, now: float) -> None:
        """A re-INVITE or an UPDATE: a new offer, or (an UPDATE without SDP) a session refresh only."""
        offering = request.method == "INVITE" or bool(request.body.strip())
        ours = call.refreshing is not None and call.refreshing.request.method == "INVITE"
        if offering and (call.server is not None or call.ok is not None or ours):
            # One offer at a time (RFC 3261 §14.2): ours is unanswered or our 2xx not yet acknowledged.
            response = self._response(request, 491)
            response.add("Retry-After", "1")
            tx.respond(response, now)
            return
        content_type = (request.header("content-type") or "application/sdp").split(";")[0].strip().lower()
        if request.body.strip() and content_type != "application/sdp":
            response = self._response(request, 415)
            response.add("Accept", "application/sdp")
            tx.respond(response, now)
            return
        timer = self._session_timer_of(request, tx, call.session, now)
        if isinstance(timer, int):
            return
        contact = request.header("contact")
        if contact:  # a target refresh (§12.2.2)
            target = parse_address(contact).uri
            parse_uri(target)
            call.remote_target = target
        if request.header("allow"):
            call.update_allowed = _allows_update(request)
        if not offering:
            response = self._response(request, 200)
            response.set("To", str(call.local))
            response.add("Contact", self._contact())
            response.add("Supported", TIMER)
            self._grant_session_timer(call, timer, response, now)
            tx.respond(response, now)
            return
        call.server, call.answering = tx, timer
        self._events.append(SessionOffer(call, request.body))

    def _call_timers(self, call: Call, now: float) -> None:
        session = call.session
        if session is not None and call.state == "confirmed":
            if session.expire_at is not None and now >= session.expire_at:
                # no refresh came (RFC 4028 §10): the session is over
                self._bye(call, now, 408, "the session expired")
                return
            if session.refresh_at is not None and now >= session.refresh_at:
                self._refresh(call, now)
        if call.ok is None:
            return
        if call.ok_give_up_at is not None and now >= call.ok_give_up_at:
            # No ACK to our 2xx in 64*T1: the call is dead (§13.3.1.4).
            call.ok = call.ok_retransmit_at = call.ok_give_up_at = None
            self._bye(call, now, 408, "no ACK")
            return
        if call.ok_retransmit_at is not None and now >= call.ok_retransmit_at:
            self._outbox.append(Send(call.ok, call.peer))
            call.ok_interval = min(call.ok_interval * 2, T2)
            call.ok_retransmit_at = now + call.ok_interval

    def _end(self, call: Call, status: int, reason: str, by_remote: bool) -> None:
        if call.state == "ended":
            return
        call.state = "ended"
        call.ok_retransmit_at = None
        if call.incoming or call.client is None:
            self.calls.pop(call.call_id, None)
        # else: our cancelled INVITE may still be answered 2xx; _on_invite_response acks and ends it
        self._events.append(CallEnded(call, status, reason, by_remote))


def _allows_update(message: Request | Response) -> bool:
    return any(method.strip().upper() == "UPDATE" for method in message.header_all("allow"))
