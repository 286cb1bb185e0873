"""A lean asyncio XMPP client over WebSocket (RFC 7395) and BOSH (XEP-0124/0206), for load.

Only what the load needs: SASL ANONYMOUS, bind, MUC join and leave, groupchat, IQ with a reply.
Many of these live in one process, so the hot path (groupchat) reads the body from the frame
without building an element tree, and nothing is logged per stanza.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
import re
import time
import xml.etree.ElementTree as ET
from typing import Callable
from xml.sax.saxutils import escape, quoteattr

import aiohttp

from jitsi_py.common import ns

NS_CLIENT, NS_FRAMING, NS_STREAM, NS_SASL, NS_BIND = ns.CLIENT, ns.FRAMING, ns.STREAMS, ns.SASL, ns.BIND
NS_BOSH, NS_MUC, NS_MUC_USER, NS_FOCUS, NS_STANZAS = ns.HTTPBIND, ns.MUC, ns.MUC_USER, ns.JITSI_FOCUS, ns.STANZA_ERRORS

BODY = re.compile(r"<body[^>]*>([^<]*)</body>")
STEP_TIMEOUT = 20.0
_ids = itertools.count(1)

# What a Jitsi web client puts in its MUC presence, so presence sizes are realistic on every server.
JITSI_PRESENCE = (
    "<stats-id>{nick}-bench</stats-id>"
    "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://jitsi.org/jitsi-meet'"
    " ver='cvjWXufsg4xT62Ec2mlATkFZ9lk='/>"
    "<jitsi_participant_codecList>vp9,vp8,h264</jitsi_participant_codecList>"
    "<SourceInfo>{{\"{nick}-a0\":{{\"muted\":true}},\"{nick}-v0\":{{\"muted\":true}}}}</SourceInfo>"
    "<nick xmlns='http://jabber.org/protocol/nick'>{nick}</nick>"
)


class XmppError(Exception):
    """A step that failed: a stream or stanza error, a closed transport, or a timeout."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _error_condition(element: ET.Element) -> str:
    error = element.find(f"{{{NS_CLIENT}}}error")
    if error is None:
        error = element.find("error")
    if error is None:
        return "error"
    for child in error:
        if child.tag.startswith(f"{{{NS_STANZAS}}}") and _local(child.tag) != "text":
            return _local(child.tag)
    return "error"


class WebSocketTransport:
    """One element per WebSocket text frame; `<open/>` and `<close/>` frame the stream."""

    def __init__(self, http: aiohttp.ClientSession, url: str, domain: str):
        self.http = http
        self.url = url
        self.domain = domain
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self) -> None:
        self.ws = await self.http.ws_connect(self.url, protocols=("xmpp",), autoping=True, max_msg_size=1 << 20)
        self.open_stream()

    def open_stream(self) -> None:
        self.send(f"<open xmlns='{NS_FRAMING}' to='{self.domain}' version='1.0'/>")

    restart = open_stream

    def send(self, data: str) -> None:
        # aiohttp writes a text frame synchronously into the transport; the coroutine only drains
        asyncio.ensure_future(self.ws.send_str(data))

    async def frames(self):
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                yield msg.data
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                break

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            try:
                await self.ws.send_str(f"<close xmlns='{NS_FRAMING}'/>")
                await asyncio.wait_for(self.ws.close(), 2)
            except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError, RuntimeError):
                pass


class BoshTransport:
    """A BOSH session: at most two requests in flight (hold=1); an empty one is always polling."""

    WAIT = 30

    def __init__(self, http: aiohttp.ClientSession, url: str, domain: str):
        # two kept-alive connections of its own, as a browser holds: requests leave in rid order
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2, force_close=False))
        self.url = url
        self.domain = domain
        self.rid = random.randint(1 << 20, 1 << 40)
        self.sid: str | None = None
        self.pending: list[str] = []
        self.inflight = 0
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.closed = False
        self.tasks: set[asyncio.Task] = set()

    def _body(self, payload: str, attrs: str = "") -> str:
        self.rid += 1
        return (f"<body xmlns='{NS_BOSH}' xmlns:xmpp='urn:xmpp:xbosh' rid='{self.rid}' sid='{self.sid}'"
                f"{attrs}>{payload}</body>")

    async def _post(self, body: str) -> ET.Element:
        async with self.http.post(self.url, data=body.encode(),
                                  headers={"Content-Type": "text/xml; charset=utf-8"},
                                  timeout=aiohttp.ClientTimeout(total=self.WAIT + 15)) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise XmppError(f"BOSH HTTP {resp.status}")
        root = ET.fromstring(text)
        if root.get("type") == "terminate":
            self.closed = True
            raise XmppError(f"BOSH session terminated: {root.get('condition')}")
        return root

    async def connect(self) -> None:
        self.rid += 1
        body = (f"<body xmlns='{NS_BOSH}' xmlns:xmpp='urn:xmpp:xbosh' content='text/xml; charset=utf-8'"
                f" hold='1' rid='{self.rid}' to='{self.domain}' ver='1.6' wait='{self.WAIT}'"
                f" xml:lang='en' xmpp:version='1.0'/>")
        root = await self._post(body)
        self.sid = root.get("sid")
        if not self.sid:
            raise XmppError("BOSH session without sid")
        for child in root:
            self.inbox.put_nowait(child)
        self._kick()

    def restart(self) -> None:
        self._spawn(self._body("", f" to='{self.domain}' xml:lang='en' xmpp:restart='true'"))

    def send(self, data: str) -> None:
        self.pending.append(data)
        self._kick()

    def _kick(self) -> None:
        if self.closed:
            return
        if self.pending and self.inflight < 2:
            payload = "".join(self.pending)
            self.pending.clear()
            self._spawn(self._body(payload))
        elif self.inflight == 0:
            self._spawn(self._body(""))

    def _spawn(self, body: str) -> None:
        self.inflight += 1
        task = asyncio.ensure_future(self._request(body))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _request(self, body: str) -> None:
        try:
            root = await self._post(body)
            for child in root:
                self.inbox.put_nowait(child)
        except (XmppError, aiohttp.ClientError, asyncio.TimeoutError, ET.ParseError, ConnectionError) as exc:
            self.closed = True
            self.inbox.put_nowait(exc)
        finally:
            self.inflight -= 1
        self._kick()

    async def frames(self):
        while True:
            item = await self.inbox.get()
            if isinstance(item, BaseException):
                return
            yield item

    async def close(self) -> None:
        try:
            if not self.closed and self.sid:
                self.closed = True
                await asyncio.wait_for(self._post(self._body(
                    "<presence type='unavailable' xmlns='jabber:client'/>", " type='terminate'")), 3)
        except (XmppError, aiohttp.ClientError, asyncio.TimeoutError, ET.ParseError, ConnectionError):
            pass
        finally:
            for task in list(self.tasks):
                task.cancel()
            await self.http.close()


class TcpTransport:
    """RFC 6120 over TCP without TLS (every server under test is configured alike); `url` is tcp://host:port."""

    def __init__(self, http: aiohttp.ClientSession, url: str, domain: str):
        host, port = url.removeprefix("tcp://").rsplit(":", 1)
        self.address = (host, int(port))
        self.domain = domain
        self.writer: asyncio.StreamWriter | None = None
        self.reader: asyncio.StreamReader | None = None
        self.parser: ET.XMLPullParser | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(*self.address)
        self.open_stream()

    def open_stream(self) -> None:
        # the server answers a restart with a new stream header: a new document, so a new parser
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.send(f"<?xml version='1.0'?><stream:stream xmlns='{NS_CLIENT}' xmlns:stream='{NS_STREAM}'"
                  f" to='{self.domain}' version='1.0'>")

    restart = open_stream

    def send(self, data: str) -> None:
        if not self.writer.is_closing():
            self.writer.write(data.encode())

    async def frames(self):
        while True:
            data = await self.reader.read(65536)
            if not data:
                return
            parser = self.parser
            try:
                parser.feed(data)
                for event, element in parser.read_events():
                    if event == "start":
                        self.depth += 1
                        if self.depth == 1:
                            root = element
                    else:
                        self.depth -= 1
                        if self.depth == 1:
                            yield element
                            root.remove(element)
                        elif self.depth == 0:
                            return
            except ET.ParseError:
                return

    async def close(self) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.send("</stream:stream>")
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), 2)
            except (asyncio.TimeoutError, ConnectionError):
                pass


TRANSPORTS = {"websocket": WebSocketTransport, "bosh": BoshTransport, "tcp": TcpTransport}


class Client:
    """One anonymous user. `on_groupchat(room, body)` sees every groupchat body, cheaply."""

    def __init__(self, http: aiohttp.ClientSession, transport: str, url: str, domain: str):
        self.transport = TRANSPORTS[transport](http, url, domain)
        self.domain = domain
        self.jid: str | None = None
        self.on_groupchat: Callable[[str, str], None] | None = None
        self.on_presence: Callable[[ET.Element], None] | None = None
        self.on_iq: Callable[[ET.Element], None] | None = None
        self._waiters: list[tuple[Callable[[ET.Element], bool], asyncio.Future]] = []
        self._reader: asyncio.Task | None = None
        self.closed = asyncio.Event()
        self.timings: dict[str, float] = {}

    # -- receiving ---------------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            async for frame in self.transport.frames():
                if isinstance(frame, str):
                    if frame.startswith("<message") and "groupchat" in frame[:200] and self.on_groupchat:
                        found = BODY.search(frame)
                        if found:
                            self.on_groupchat(_attr(frame, "from"), found.group(1))
                            continue
                    try:
                        element = ET.fromstring(frame)
                    except ET.ParseError:
                        continue
                else:
                    element = frame
                self._dispatch(element)
        except (aiohttp.ClientError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.closed.set()
            for _, future in self._waiters:
                if not future.done():
                    future.set_exception(XmppError("stream closed"))
            self._waiters.clear()

    def _dispatch(self, element: ET.Element) -> None:
        kind = _local(element.tag)
        if kind == "message" and element.get("type") == "groupchat" and self.on_groupchat:
            body = element.find(f"{{{NS_CLIENT}}}body")
            if body is not None:
                self.on_groupchat(element.get("from", ""), body.text or "")
                return
        for entry in list(self._waiters):
            match, future = entry
            if not future.done() and match(element):
                future.set_result(element)
                self._waiters.remove(entry)
                return
        if kind == "presence" and self.on_presence is not None:
            self.on_presence(element)
        elif kind == "iq" and element.get("type") in ("get", "set"):
            if self.on_iq is not None:
                self.on_iq(element)
            else:
                self.reply_error(element, "service-unavailable")

    async def _wait_for(self, match: Callable[[ET.Element], bool], timeout: float = STEP_TIMEOUT) -> ET.Element:
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((match, future))
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError as exc:
            raise XmppError("timeout") from exc
        finally:
            if (match, future) in self._waiters:
                self._waiters.remove((match, future))

    # -- session -----------------------------------------------------------------------------
    async def login(self, username: str | None = None, password: str | None = None) -> dict[str, float]:
        """Connect, SASL (ANONYMOUS, or PLAIN with a username), bind; seconds spent in connect, auth and bind."""
        start = time.perf_counter()
        features = lambda e: _local(e.tag) == "features"  # noqa: E731
        await self.transport.connect()
        self._reader = asyncio.ensure_future(self._read())
        await self._wait_for(features)
        connected = time.perf_counter()
        if username is None:
            self.transport.send(f"<auth xmlns='{NS_SASL}' mechanism='ANONYMOUS'/>")
        else:
            token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
            self.transport.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{token}</auth>")
        result = await self._wait_for(lambda e: e.tag in (f"{{{NS_SASL}}}success", f"{{{NS_SASL}}}failure"))
        if _local(result.tag) == "failure":
            raise XmppError("SASL failure: " + ",".join(_local(c.tag) for c in result))
        authed = time.perf_counter()
        got_features = self._wait_for(features)
        self.transport.restart()
        await got_features
        answer = await self.iq("set", None, f"<bind xmlns='{NS_BIND}'/>")
        jid = answer.find(f"{{{NS_BIND}}}bind/{{{NS_BIND}}}jid")
        if jid is None or not jid.text:
            raise XmppError("bind without a JID")
        self.jid = jid.text
        bound = time.perf_counter()
        self.timings = {"connect": connected - start, "auth": authed - connected, "bind": bound - authed,
                        "login": bound - start}
        return self.timings

    async def iq(self, kind: str, to: str | None, payload: str, timeout: float = STEP_TIMEOUT) -> ET.Element:
        ident = f"b{next(_ids)}"
        target = f" to={quoteattr(to)}" if to else ""
        waiting = asyncio.ensure_future(self._wait_for(
            lambda e: _local(e.tag) == "iq" and e.get("id") == ident and e.get("type") in ("result", "error"),
            timeout))
        self.transport.send(f"<iq xmlns='{NS_CLIENT}' type='{kind}' id='{ident}'{target}>{payload}</iq>")
        answer = await waiting
        if answer.get("type") == "error":
            raise XmppError(f"iq error: {_error_condition(answer)}")
        return answer

    def reply(self, request: ET.Element, payload: str = "") -> None:
        to = request.get("from")
        target = f" to={quoteattr(to)}" if to else ""
        self.transport.send(f"<iq xmlns='{NS_CLIENT}' type='result' id={quoteattr(request.get('id', ''))}{target}>"
                            f"{payload}</iq>")

    def reply_error(self, request: ET.Element, condition: str) -> None:
        to = request.get("from")
        target = f" to={quoteattr(to)}" if to else ""
        self.transport.send(f"<iq xmlns='{NS_CLIENT}' type='error' id={quoteattr(request.get('id', ''))}{target}>"
                            f"<error type='cancel'><{condition} xmlns='{NS_STANZAS}'/></error></iq>")

    async def conference_request(self, focus: str, room: str) -> ET.Element:
        """The request a Jitsi client sends the focus before joining; waits for ready='true'."""
        answer = await self.iq("set", focus, (
            f"<conference xmlns='{NS_FOCUS}' room={quoteattr(room)} machine-uid='{self.jid}'>"
            "<property name='rtcstatsEnabled' value='false'/></conference>"))
        conference = answer.find(f"{{{NS_FOCUS}}}conference")
        if conference is None or conference.get("ready") != "true":
            raise XmppError("focus answered without ready='true'")
        return conference

    async def join(self, room: str, nick: str, timeout: float = STEP_TIMEOUT) -> ET.Element:
        """Send the MUC join; returns our self-presence (status 110) or raises with the error."""
        occupant = f"{room}/{nick}"

        def self_presence(e: ET.Element) -> bool:
            if _local(e.tag) != "presence" or e.get("from") != occupant:
                return False
            if e.get("type") == "error":
                return True
            return any(s.get("code") == "110" for s in e.iter(f"{{{NS_MUC_USER}}}status"))

        waiting = asyncio.ensure_future(self._wait_for(self_presence, timeout))
        self.transport.send(
            f"<presence xmlns='{NS_CLIENT}' to={quoteattr(occupant)}><x xmlns='{NS_MUC}'/>"
            + JITSI_PRESENCE.format(nick=escape(nick)) + "</presence>")
        answer = await waiting
        if answer.get("type") == "error":
            raise XmppError(f"join error: {_error_condition(answer)}")
        return answer

    def groupchat(self, room: str, body: str) -> None:
        self.transport.send(f"<message xmlns='{NS_CLIENT}' to='{room}' type='groupchat'><body>{body}</body></message>")

    def presence(self, to: str, payload: str = "") -> None:
        self.transport.send(f"<presence xmlns='{NS_CLIENT}' to={quoteattr(to)}>{payload}</presence>")

    def leave(self, room: str, nick: str) -> None:
        self.transport.send(f"<presence xmlns='{NS_CLIENT}' to={quoteattr(room + '/' + nick)} type='unavailable'/>")

    async def close(self) -> None:
        await self.transport.close()
        if self._reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), 2)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._reader.cancel()


def _attr(frame: str, name: str) -> str:
    """An attribute of a frame's first tag, either quote style, without parsing the frame."""
    head = frame[: frame.find(">")]
    at = head.find(f" {name}=")
    if at < 0:
        return ""
    quote = head[at + len(name) + 2]
    end = head.find(quote, at + len(name) + 3)
    return head[at + len(name) + 3:end]
