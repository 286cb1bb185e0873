"""XMPP over BOSH (XEP-0124 sessions, XEP-0206 XMPP binding) in front of ``c2s.py``.

One :class:`BoshSession` per ``sid``: requests are processed in ``rid`` order within the window
of ``requests``, the last responses are kept for retransmission, at most ``hold`` requests wait
for stanzas (up to ``wait`` seconds), and a session with no request for ``inactivity`` seconds
ends. The session-creation response carries the stream features, so a client logs in with as
few round trips as Strophe expects. A bad body is answered by a ``terminate`` body with the
XEP-0124 condition; it costs that session only.

Overactivity (XEP-0124 §11, §12) ends a session with ``policy-violation``: a new empty request
that brings the unanswered ones up to ``requests`` within ``polling`` seconds of the previous
request, or an empty request within ``polling`` seconds of an empty one that got an empty answer
(in a session with ``hold`` > 0 within ``wait`` at most, as such an answer comes when ``wait`` ran out).
A long-polling client (Strophe: one empty request held, another sent only when none is out) does
neither. The c2s read rate limit (``PROSODY_C2S_LIMIT``) counts request bodies; HTTP cannot pause
a reader as TCP does, so a client past the limit and its burst ends the same way. Service
accounts are exempt, as on TCP and WebSocket.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict

from aiohttp import web

from ..common import ns
from ..common.aio import Rearm
from ..common.xmlstream import STREAM_CLOSE, StreamError, StreamOpen, escape_attr, parse_document
from .c2s import C2SSession, SessionLimits
from .proxies import TrustedProxies
from .router import Router
from .tcp import RateLimit
from .websocket import bearer_token, client_address

logger = logging.getLogger(__name__)

BODY = ns.tag(ns.HTTPBIND, "body")
RESTART = ns.tag(ns.XBOSH, "restart")
XMPP_VERSION = ns.tag(ns.XBOSH, "version")
BODY_OPEN = f'<body xmlns="{ns.HTTPBIND}" xmlns:xmpp="{ns.XBOSH}" xmlns:stream="{ns.STREAMS}"'
HEADERS = {
    "Content-Type": "text/xml; charset=utf-8",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Cache-Control": "no-store",
}


def body(payload: list[bytes], **attrs: str) -> web.Response:
    head = BODY_OPEN + "".join(f' {k.replace("_", ":", 1) if k.startswith("xmpp_") else k}="{escape_attr(v)}"'
                               for k, v in attrs.items())
    if not payload:
        return web.Response(body=(head + "/>").encode(), headers=HEADERS)
    return web.Response(body=b"".join((head.encode(), b">", *payload, b"</body>")), headers=HEADERS)


def terminate(condition: str | None = None, payload: list[bytes] | None = None) -> web.Response:
    attrs = {"type": "terminate"}
    if condition:
        attrs["condition"] = condition
    return body(payload or [], **attrs)


class BoshLink:
    transport_name = "bosh"
    secure = True  # TLS ends at the proxy in front (Prosody's consider_bosh_secure)
    can_starttls = False

    def __init__(self, bosh: "BoshSession", query: dict[str, str], remote_ip: str | None,
                 bearer: str | None = None) -> None:
        self.bosh = bosh
        self.query = query
        self.remote_ip = remote_ip
        self.bearer = bearer  # from the request that created the session, as upstream's bosh-session hook

    def send(self, data: bytes) -> None:
        self.bosh.queue(data)

    def send_open(self, stream_id: str, domain: str) -> None:
        self.bosh.stream_id, self.bosh.domain = stream_id, domain

    def start_tls(self) -> None:
        raise AssertionError("no STARTTLS over BOSH")

    def restart(self) -> None:
        """The next request carries ``xmpp:restart``; nothing to reset here."""

    def close(self, error: bytes | None) -> None:
        self.bosh.closed(error)

    def attach(self, session: C2SSession) -> None:
        self.bosh.session = session


class BoshSession:
    def __init__(self, endpoint: "BoshEndpoint", sid: str, rid: int, wait: float, hold: int,
                 query: dict[str, str], remote_ip: str | None, bearer: str | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.endpoint = endpoint
        self.sid = sid
        self.last_rid = rid - 1
        self.wait = wait
        self.hold = hold
        self.requests = max(2, hold + 1)  # XEP-0124 §7.1: at least two, so sending never waits on a poll
        # A held request answered empty after the full ``wait`` is the long poll working as meant:
        # the client may ask again at once, even when it asked for a wait shorter than ``polling``.
        self.min_poll_interval = endpoint.polling if hold == 0 else min(endpoint.polling, wait)
        self.stream_id = ""
        self.domain = ""
        self.link = BoshLink(self, query, remote_ip, bearer)
        self.session = C2SSession(endpoint.router, self.link, loop.time(), endpoint.limits)  # type: ignore[arg-type]
        self._out: list[bytes] = []
        self._held: list[asyncio.Future[None]] = []
        self._inflight = 0
        self._unanswered = 0  # requests past the rid-order gate, not yet answered
        self._order = asyncio.Condition()
        # Requests pass the rid gate in order but are processed side by side: this keeps the next
        # one's elements out of the session while a login waits for its backend (c2s ``waiting``).
        self._feeding = asyncio.Lock()
        self._responses: OrderedDict[int, bytes] = OrderedDict()  # rid -> body, for retransmissions
        self._end_error: bytes | None = None
        self._end_condition: str | None = None
        self.ended = False
        self._last_request = loop.time()
        self._last_arrival = loop.time()
        self._empty_answered_rid = -1  # the last empty request that got an empty answer
        self._empty_answered_at = 0.0  # and when it arrived
        rate = endpoint.rate
        self._limit = RateLimit(rate, max(rate * 2, 65536), loop.time()) if rate else None
        self._timer = Rearm(loop, self._on_timer)
        self._rearm()

    # --- from the c2s session ----------------------------------------------------------------

    def queue(self, data: bytes) -> None:
        if self.ended:
            return
        self._out.append(data)
        if self._held and len(self._out) == 1:
            asyncio.get_running_loop().call_soon(self._release_one)  # batch what the same tick adds

    def closed(self, error: bytes | None) -> None:
        if self.ended:
            return
        self.ended = True
        self._end_error = error
        if self.endpoint.sessions.pop(self.sid, None) is not None:
            self.endpoint.router.connections -= 1
        self._timer.cancel()
        for waiter in self._held:
            if not waiter.done():
                waiter.set_result(None)

    # --- requests ------------------------------------------------------------------------------

    def over_rate(self, size: int, now: float) -> bool:
        """Count ``size`` bytes read for this session; True (and the session ended) past the limit."""
        limit = self._limit
        if limit is None or self.session.service_account or limit.delay(size, now) <= 0:
            return False
        self._fail("policy-violation", "BOSH requests faster than the c2s read rate limit")
        return True

    async def request(self, attrs: dict[str, str], children: list, size: int,
                      loop: asyncio.AbstractEventLoop) -> web.Response:
        now = loop.time()
        if self.over_rate(size, now):
            return self._final_response()
        try:
            rid = int(attrs.get("rid", ""))
        except ValueError:
            return terminate("bad-request")
        if rid in self._responses:
            return web.Response(body=self._responses[rid], headers=HEADERS)  # a retransmission (XEP-0124 §14.3)
        if rid <= self.last_rid or rid > self.last_rid + self.requests:
            self._fail("item-not-found")
            return terminate("item-not-found")
        if self._inflight >= self.requests + 1:
            self._fail("policy-violation", "BOSH requests over the window")
            return self._final_response()
        empty = not children and not any(attrs.get(a) for a in ("pause", "type", RESTART))
        self._inflight += 1
        try:
            async with self._order:
                ok = await _wait_for(self._order.wait_for(lambda: self.last_rid == rid - 1 or self.ended), self.wait)
                if not ok or self.ended:
                    return self._final_response()
                self.last_rid = rid
                self._order.notify_all()
            # judged in rid order: two connections may deliver a client's requests the other way round
            if empty and self._overactive(rid, now):
                self._fail("policy-violation", "BOSH polling too often")
                return self._final_response()
            self._last_arrival = now
            self._last_request = loop.time()
            self._unanswered += 1
            try:
                response = await self._process(attrs, children, loop)
            finally:
                self._unanswered -= 1
            if empty and response.body.endswith(b"/>"):  # type: ignore[union-attr]
                self._empty_answered_rid, self._empty_answered_at = rid, now
            self._responses[rid] = response.body  # type: ignore[assignment]
            while len(self._responses) > self.requests:
                self._responses.popitem(last=False)
            return response
        finally:
            self._inflight -= 1
            self._last_request = loop.time()
            self._rearm()

    async def _process(self, attrs: dict[str, str], children: list, loop: asyncio.AbstractEventLoop) -> web.Response:
        session = self.session
        async with self._feeding:
            if attrs.get(RESTART) == "true":
                session.receive(StreamOpen(BODY, {"to": attrs.get("to", self.domain), "version": "1.0"}), loop.time())
            for child in children:
                session.receive(child, loop.time())
                if session.waiting:
                    await self.endpoint.router.authenticate(session)
                if self.ended:
                    break
            if attrs.get("type") == "terminate" and not self.ended:
                session.receive(STREAM_CLOSE, loop.time())
        if self.ended:
            return self._final_response()
        if self._out or self.hold == 0:
            return self._take()
        waiter = loop.create_future()
        self._held.append(waiter)
        while len(self._held) > self.hold:
            oldest = self._held.pop(0)
            if not oldest.done():
                oldest.set_result(None)  # XEP-0124 §10: answer the oldest to stay within hold
        await _wait_for(waiter, self.wait)
        if waiter in self._held:
            self._held.remove(waiter)
        if self.ended:
            return self._final_response()
        return self._take()

    def _overactive(self, rid: int, now: float) -> bool:
        """XEP-0124 §11 and §12 for a new empty request arriving at ``now``."""
        if self._unanswered + 1 >= self.requests and now - self._last_arrival < self.endpoint.polling:
            return True  # all the requests allowed are out unanswered, the newest empty and hard on the one before
        return rid == self._empty_answered_rid + 1 and now - self._empty_answered_at < self.min_poll_interval

    def _release_one(self) -> None:
        while self._held:
            waiter = self._held.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return

    def _take(self) -> web.Response:
        payload, self._out = self._out, []
        return body(payload)

    def _final_response(self) -> web.Response:
        payload, self._out = self._out, []
        if self._end_error is not None:
            return terminate(self._end_condition or "remote-stream-error", payload + [self._end_error])
        return terminate(self._end_condition, payload)

    def _fail(self, condition: str, text: str = "") -> None:
        if self.ended:
            return
        self._end_condition = condition
        self.session.stream_error("policy-violation" if condition == "policy-violation" else "undefined-condition",
                                  text or f"BOSH {condition}")

    # --- timers -------------------------------------------------------------------------------

    def _rearm(self) -> None:
        if self.ended:
            return
        deadline = self.session.deadline()
        if not self._inflight:
            idle_end = self._last_request + self.endpoint.max_inactivity
            deadline = idle_end if deadline is None else min(deadline, idle_end)
        self._timer.at(deadline)

    def _on_timer(self, now: float) -> None:
        if not self._inflight and now >= self._last_request + self.endpoint.max_inactivity - 0.01:
            self.session.connection_lost(now)  # no XEP-0198 over BOSH: the session ends
            self.closed(None)
            return
        self.session.handle_timer(now)
        self._rearm()


async def _wait_for(awaitable, timeout: float) -> bool:
    try:
        await asyncio.wait_for(awaitable, timeout)
        return True
    except asyncio.TimeoutError:
        return False


class BoshEndpoint:
    def __init__(self, router: Router, limits: SessionLimits, parser_limits: dict[str, int], body_limit: int,
                 max_wait: float, max_inactivity: float, polling: float, max_requests: int,
                 trusted_proxies: tuple[str, ...], rate: float | None = None) -> None:
        self.router = router
        self.limits = limits
        self.parser_limits = {**parser_limits, "max_stanza_size": body_limit}
        self.body_limit = body_limit
        self.max_wait = max_wait
        self.max_inactivity = max_inactivity
        self.polling = polling
        self.rate = rate  # bytes/s read per session, as on c2s TCP; None: no limit
        self.max_hold = max(1, max_requests - 1)
        self.trusted_proxies = TrustedProxies(trusted_proxies)
        self.sessions: dict[str, BoshSession] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return web.Response(headers=HEADERS)
        if request.method != "POST":
            return web.Response(text="XMPP over BOSH lives here (XEP-0206); POST a <body/>.\n", headers=HEADERS)
        data = await request.content.read(self.body_limit + 1)
        if len(data) > self.body_limit:
            self.router.metrics.stream_errors.labels("policy-violation").inc()
            return terminate("policy-violation")
        try:
            root, children = parse_document(data, **self.parser_limits)
        except StreamError as exc:
            self.router.metrics.stream_errors.labels(exc.condition).inc()
            return terminate("bad-request")
        if root.tag != BODY:
            return terminate("bad-request")
        loop = asyncio.get_running_loop()
        sid = root.attrs.get("sid")
        if sid is None:
            return await self._create(request, root.attrs, children, len(data), loop)
        session = self.sessions.get(sid)
        if session is None:
            return terminate("item-not-found")
        return await session.request(root.attrs, children, len(data), loop)

    async def _create(self, request: web.Request, attrs: dict[str, str], children: list, size: int,
                      loop: asyncio.AbstractEventLoop) -> web.Response:
        to = attrs.get("to")
        try:
            rid = int(attrs.get("rid", ""))
            wait = min(float(attrs.get("wait", "60")), self.max_wait)
            hold = min(int(attrs.get("hold", "1")), self.max_hold)
        except ValueError:
            return terminate("bad-request")
        if not to or wait < 0 or hold < 0:
            return terminate("improper-addressing" if not to else "bad-request")
        if self.router.connections >= self.router.max_connections:
            return terminate("system-shutdown")
        sid = uuid.uuid4().hex
        self.router.connections += 1
        self.router.metrics.connections.labels("bosh").inc()
        bosh = BoshSession(self, sid, rid + 1, wait, hold, dict(request.query),
                           client_address(request, self.trusted_proxies), bearer_token(request))
        self.sessions[sid] = bosh
        if bosh.over_rate(size, loop.time()):
            return bosh._final_response()
        bosh.session.receive(StreamOpen(BODY, {"to": to, "version": attrs.get(XMPP_VERSION, "1.0")}), loop.time())
        if bosh.ended:
            return bosh._final_response()
        payload, bosh._out = bosh._out, []
        return body(
            payload, sid=sid, wait=str(int(wait)), requests=str(bosh.requests), hold=str(hold),
            inactivity=str(int(self.max_inactivity)), polling=str(int(self.polling)), ver="1.6",
            authid=bosh.stream_id, secure="true",
            **{"from": bosh.domain, "xmpp_version": "1.0", "xmpp_restartlogic": "true"},
        )

    def close_all(self) -> None:
        for bosh in list(self.sessions.values()):
            bosh.session.close(None)
