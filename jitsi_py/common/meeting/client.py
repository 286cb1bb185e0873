"""The meeting participant's asyncio glue: slixmpp for XMPP, aiortc for media (docs/meeting-client.md).

The wire logic lives in the pure modules beside this one: ``sdp`` (Jingle <-> SDP with one m-line per
remote source), ``roster`` (occupants from presence), ``bridge_channel`` (colibriClass messages).
Here: the login, the conference request, the MUC join, the Jingle session on an aiortc peer
connection, and the bridge channel on its data channel.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from xml.etree.ElementTree import Element, SubElement

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from .. import ns
from ..errors import StanzaError, refusal
from ..stanzas.jingle import NS_JINGLE, BridgeSession, Jingle, JingleError, parse_jingle
from ..stanzas.jitsi import (
    FEATURE_AUDIO,
    FEATURE_JSON_SOURCES,
    FEATURE_RECEIVE_MULTIPLE_VIDEO,
    FEATURE_SCTP,
    FEATURE_SOURCE_NAMES,
    FEATURE_VIDEO,
    MUTE_NAMESPACES,
    ConferenceIq,
    JitsiStanzaError,
    MuteIq,
)
from ..stanzas.room_metadata import metadata_of
from ..xmpp_client import send_error, service_client
from . import bridge_channel, events
from .roster import Participant, Roster, real_jid, statuses
from .session import MediaSession

log = logging.getLogger(__name__)

CAPS_NODE = "https://github.com/jitsi-py/meeting"
IDENTITY = ("client", "bot", "jitsi-py meeting")
# What lib-jitsi-meet announces (docs/focus.md §2.2) minus what aiortc cannot do with several remote
# sources: RTX (aiortc registers only a receiver's primary SSRC, so retransmissions would be dropped),
# transport-cc (aiortc has none), REMB (aiortc's is per m-line, see sdp.ABS_SEND_TIME) and SSRC
# rewriting (we need every source in Jingle to give it an m-line of its own).
BASE_FEATURES = (
    ns.CAPS, ns.JINGLE, ns.JINGLE_RTP, ns.JINGLE_ICE_UDP, ns.JINGLE_DTLS, FEATURE_SCTP, FEATURE_AUDIO,
    FEATURE_JSON_SOURCES, FEATURE_SOURCE_NAMES, FEATURE_RECEIVE_MULTIPLE_VIDEO,
)
# The focus's reasons for refusing a conference request, and the MUC's for refusing our presence.
FOCUS_REFUSALS = {
    "not-authorized": "authentication required",
    "not-acceptable": "session not accepted",
    "bad-request": "not a conference room",
    "forbidden": "forbidden",
}
MUC_REFUSALS = {
    "not-authorized": "room locked (password)",
    "registration-required": "members-only",
    "forbidden": "banned",
    "conflict": "nickname in use",
    "service-unavailable": "room full",
    "not-allowed": "room creation restricted",
}
DECODABLE_VIDEO_CODECS = "vp8,h264"
# An IQ set another occupant sends us (its payload's tag is the key of Meeting's ``requests``): the
# handler gets the sender and the payload and raises StanzaError to refuse it; returning is the result.
RequestHandler = Callable[[Participant, Element], None]
FOCUS_RETRY = 1.0  # seconds between conference requests while the focus is not ready


class JoinError(Exception):
    """Joining failed; ``reason`` is a short phrase for a status line or a log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class XmppServer:
    host: str
    port: int  # c2s, STARTTLS when offered
    domain: str  # XMPP_DOMAIN: anonymous logins, the focus's address
    muc_domain: str  # XMPP_MUC_DOMAIN
    focus_jid: str | None = None  # where conference requests go; focus.<domain>
    hidden_domain: str | None = None  # occupants logged in there are flagged hidden; hidden.<domain>
    metadata_jid: str | None = None  # the room metadata component; metadata.<domain>

    @classmethod
    def of(cls, domains, host: str, port: int) -> "XmppServer":
        """From ``settings.common.domains``."""
        return cls(host, port, domains.domain, domains.muc, hidden_domain=domains.hidden)


@dataclass(frozen=True)
class Login:
    jid: str
    password: str


def caps_ver(features: Iterable[str]) -> str:
    """XEP-0115 §5.1 over our one identity and ``features`` (no forms)."""
    text = "/".join((IDENTITY[0], IDENTITY[1], "", IDENTITY[2])) + "<" + "".join(f + "<" for f in sorted(features))
    return base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()


def disco_info(features: Iterable[str], node: str | None = None) -> Element:
    """Our disco#info answer: it hashes to :func:`caps_ver` of the same features."""
    query = Element(ns.tag(ns.DISCO_INFO, "query"))
    if node:
        query.set("node", node)
    SubElement(query, ns.tag(ns.DISCO_INFO, "identity"), category=IDENTITY[0], type=IDENTITY[1], name=IDENTITY[2])
    for feature in features:
        SubElement(query, ns.tag(ns.DISCO_INFO, "feature"), var=feature)
    return query


class Meeting:
    """One participant in one meeting: ``join`` once, then events until ``Ended``."""

    JoinError = JoinError

    def __init__(self, server: XmppServer, login: Login | None = None, *, display_name: str = "",
                 features: Iterable[str] = (), presence_extras: Iterable[Element] = (),
                 receive_video: bool = True, receive_audio: bool = True, audio_source=None,
                 video_height: int = 720, requests: Mapping[str, RequestHandler] | None = None,
                 inline_audio: bool = False, shared_decoders: bool = False) -> None:
        self.server = server
        self.login = login
        self.display_name = display_name
        self.features = tuple(features)
        self.presence_extras = list(presence_extras)
        self.receive_video = receive_video
        self.receive_audio = receive_audio
        self.audio_source = audio_source
        self.inline_audio = inline_audio  # remote audio as InlineAudioTrack (audio.py)
        self.shared_decoders = shared_decoders  # one decoder per source in the process
        self.video_height = video_height
        self.requests = dict(requests or {})
        self.endpoint_id = ""
        self.room_jid = ""
        self.status: str | None = None
        self.audio_muted = False
        self.focus_jid = server.focus_jid or f"focus.{server.domain}"
        self.metadata_jid = server.metadata_jid or f"metadata.{server.domain}"
        self.room_metadata: dict = {}  # the room's, as its metadata component last pushed it
        self._disco_features = BASE_FEATURES + ((FEATURE_VIDEO,) if receive_video else ())
        self._roster = Roster(server.hidden_domain or f"hidden.{server.domain}")
        self._events: asyncio.Queue = asyncio.Queue()
        self._xmpp: slixmpp.ClientXMPP | None = None
        self._machine_uid = secrets.token_hex(16)
        self._password: str | None = None
        self._focus_bare: str | None = None
        self._joined: asyncio.Future | None = None
        self._media_ready: asyncio.Future | None = None
        self._ended = False
        self._ended_taken = False
        self._jingles: asyncio.Queue = asyncio.Queue()
        self._tasks: set[asyncio.Task] = set()
        self._session: MediaSession | None = None
        self._channel = None
        self._stage: set[str] | None = None  # None: follow the dominant speaker's camera
        self._stage_height: int = video_height
        self._speaker: str | None = None
        self._sent_constraints: str | None = None

    # ---- the public surface ----

    @property
    def participants(self) -> dict[str, Participant]:
        return self._roster.participants

    async def join(self, room: str, password: str | None = None, timeout: float = 30,
                   wait_for_media: bool = True) -> None:
        """Log in, ask the focus for the conference, enter the room and (unless ``wait_for_media`` is
        false) wait until the focus's Jingle session is up on ICE and DTLS. Raises :class:`JoinError`."""
        self.room_jid = room.lower() if "@" in room else f"{room.lower()}@{self.server.muc_domain}"
        self._password = password
        loop = asyncio.get_running_loop()
        self._media_ready = media_ready = loop.create_future() if wait_for_media else None
        stage = "connecting"
        try:
            async with asyncio.timeout(timeout):
                await self._connect()
                stage = "conference request"
                await self._request_conference()
                stage = "joining the room"
                self._joined = joined = loop.create_future()
                self._send_presence(join=True)
                await joined
                self._spawn(self._jingle_worker())
                if media_ready is not None:
                    stage = "waiting for the media session (no session-initiate)"
                    await media_ready
        except TimeoutError:
            await self._fail(f"timed out {stage}")
        except JoinError as exc:
            await self._fail(exc.reason)
        finally:
            self._media_ready = None  # from now on, a media failure restarts the session

    async def events(self) -> AsyncIterator:
        """Every event in order, from one queue (two iterators share it); ends after ``Ended``, at once
        when that was already taken."""
        while not self._ended_taken:
            event = await self._events.get()
            if isinstance(event, events.Ended):
                self._ended_taken = True
            yield event
            if isinstance(event, events.Ended):
                return

    async def set_presence_extras(self, extras: Iterable[Element]) -> None:
        self.presence_extras = list(extras)
        self._send_presence()

    async def set_status(self, text: str | None) -> None:
        self.status = text
        self._send_presence()

    async def send_group_message(self, body: str | None = None, json_payload=None) -> None:
        message = self._require_xmpp().make_message(mto=self.room_jid, mtype="groupchat")
        if body is not None:
            message["body"] = body
        if json_payload is not None:
            SubElement(message.xml, ns.tag(ns.JITSI_MEET, "json-message")).text = json.dumps(json_payload)
        message.send()

    async def send_endpoint_message(self, to: str = "", payload=None) -> None:
        if self._channel is None or self._channel.readyState != "open":
            raise RuntimeError("the bridge channel is not open")
        self._channel.send(bridge_channel.endpoint_message(to, payload))

    def set_video_constraints(self, on_stage: set[str] | None, max_height: int | None = None) -> None:
        """The sources to receive at ``max_height`` (others at 180p); ``None``: follow the dominant
        speaker's camera, as a recorder does."""
        self._stage = None if on_stage is None else set(on_stage)
        self._stage_height = self.video_height if max_height is None else max_height
        self._send_constraints()

    async def set_audio_muted(self, muted: bool) -> None:
        await self._apply_audio_mute(muted)
        self._send_presence()

    @property
    def in_room(self) -> bool:
        """Joined (the room's self-presence came) and not ended."""
        joined = self._joined
        return (self._xmpp is not None and not self._ended and joined is not None and joined.done()
                and not joined.cancelled() and joined.exception() is None)

    async def unmute_audio(self, timeout: float = 10) -> None:
        """Unmute our audio as a participant asks to: the focus first (a self-unmute IQ, as jicofo
        takes it), which refuses while audio moderation is on and we are not allowed to speak; then
        locally. A refusal or no answer raises :class:`StanzaError` and leaves us muted. Before joining
        there is nobody to ask: we join unmuted, and the focus applies its moderation then."""
        if not self.in_room:
            await self.set_audio_muted(False)
            return
        iq = self._require_xmpp().make_iq_set(ito=f"{self.room_jid}/focus")
        iq.xml.append(MuteIq("audio", f"{self.room_jid}/{self.endpoint_id}", False).to_element())
        try:
            await iq.send(timeout=timeout)
        except IqError as exc:
            raise StanzaError("cancel", exc.iq["error"]["condition"] or "undefined-condition",
                              exc.iq["error"]["text"] or "the focus refused the unmute") from None
        except IqTimeout:
            raise StanzaError("wait", "remote-server-timeout", "the focus did not answer the unmute") from None
        await self.set_audio_muted(False)

    async def leave(self) -> None:
        if self._ended:
            return
        if self._xmpp is not None and self._session is not None:
            terminate = Jingle("session-terminate", self._session.sid, reason="success")
            with contextlib.suppress(IqError, IqTimeout, JoinError):
                await asyncio.wait_for(self._send_jingle(terminate), 2)
        if self._xmpp is not None and self.endpoint_id:
            self._xmpp.make_presence(pto=f"{self.room_jid}/{self.endpoint_id}", ptype="unavailable").send()
        await self._shutdown("left")

    # ---- XMPP ----

    def _require_xmpp(self) -> slixmpp.ClientXMPP:
        if self._xmpp is None or self._ended:
            raise RuntimeError("not in a meeting")
        return self._xmpp

    async def _connect(self) -> None:
        jid, password = (self.login.jid, self.login.password) if self.login else (self.server.domain, "")
        self._xmpp = xmpp = service_client(jid, password)
        # We answer disco#info ourselves: the answer must hash to the caps ver of our presence.
        xmpp.remove_handler("Disco Info")
        client = f"{{{ns.CLIENT}}}"
        handlers: list[tuple[str, str, Callable[[Any], None]]] = [
            ("disco", f"{client}iq/{{{ns.DISCO_INFO}}}query", self._on_disco),
            ("jingle", f"{client}iq/{{{NS_JINGLE}}}jingle", self._on_jingle),
            ("presence", f"{client}presence", self._on_presence),
            ("message", f"{client}message", self._on_message),
        ]
        handlers += [(f"mute {media}", f"{client}iq/{{{namespace}}}mute", self._on_mute)
                     for namespace, media in MUTE_NAMESPACES.items()]
        handlers += [(f"request {tag}", f"{client}iq/{tag}", self._on_request) for tag in self.requests]
        for name, path, handler in handlers:
            xmpp.register_handler(Callback(f"meeting {name}", MatchXPath(path), handler))
        started = asyncio.get_running_loop().create_future()

        def settle(error: JoinError | None) -> Callable[[object], None]:
            def handler(_event: object) -> None:
                if started.done():
                    return
                if error is None:
                    started.set_result(None)
                else:
                    started.set_exception(error)
            return handler

        def fail(reason: str) -> Callable[[object], None]:
            return settle(JoinError(reason))

        xmpp.add_event_handler("session_start", settle(None))
        xmpp.add_event_handler("failed_auth", fail("authentication failed"))
        xmpp.add_event_handler("connection_failed", fail("cannot connect to the XMPP server"))
        xmpp.add_event_handler("disconnected", self._on_disconnected)
        xmpp.connect(host=self.server.host, port=self.server.port)
        await started
        user = xmpp.boundjid.user or ""
        # Our endpoint id: like lib-jitsi-meet, the start of an anonymous JID's random node.
        head = user[:8].lower()
        self.endpoint_id = head if len(head) == 8 and all(c in "0123456789abcdef" for c in head) \
            else secrets.token_hex(4)

    async def _request_conference(self) -> None:
        xmpp = self._require_xmpp()
        while True:
            iq = xmpp.make_iq_set(ito=self.focus_jid)
            iq.xml.append(ConferenceIq(self.room_jid, machine_uid=self._machine_uid).to_element())
            try:
                result = await iq.send(timeout=3600)  # the join's own timeout bounds the wait
            except IqError as exc:
                condition = exc.iq["error"]["condition"]
                if condition != "service-unavailable":  # no focus connected (yet): ask again
                    raise JoinError(f"focus refused: {FOCUS_REFUSALS.get(condition, condition)}") from None
            else:
                answer = ConferenceIq.from_element(result.xml.find(ns.tag(ns.JITSI_FOCUS, "conference")))
                if answer.ready:
                    self._focus_bare = answer.focus_jid
                    return
            await asyncio.sleep(FOCUS_RETRY)

    def _send_presence(self, join: bool = False) -> None:
        if self._xmpp is None or self._ended:
            return
        presence = self._xmpp.make_presence(pto=f"{self.room_jid}/{self.endpoint_id}")
        xml = presence.xml
        if join:
            x = SubElement(xml, ns.tag(ns.MUC, "x"))
            if self._password:
                SubElement(x, ns.tag(ns.MUC, "password")).text = self._password
        SubElement(xml, ns.tag(ns.CLIENT, "stats-id")).text = self.endpoint_id
        SubElement(xml, ns.tag(ns.CAPS, "c"), hash="sha-1", node=CAPS_NODE, ver=caps_ver(self._disco_features))
        if self.display_name:
            SubElement(xml, ns.tag(ns.NICK, "nick")).text = self.display_name
        if self.features:
            features = SubElement(xml, ns.tag(ns.CLIENT, "features"))
            for feature in self.features:
                SubElement(features, ns.tag(ns.CLIENT, "feature"), var=feature)
        source_info = {f"{self.endpoint_id}-a0": {"muted": self.audio_muted}} if self.audio_source else {}
        SubElement(xml, ns.tag(ns.CLIENT, "SourceInfo")).text = json.dumps(source_info)
        SubElement(xml, ns.tag(ns.CLIENT, "audiomuted")).text = str(self.audio_muted or not self.audio_source).lower()
        SubElement(xml, ns.tag(ns.CLIENT, "videomuted")).text = "true"
        if self.receive_video:
            # lib-jitsi-meet's senders pick a codec every receiver lists: keep them to what aiortc decodes
            SubElement(xml, ns.tag(ns.CLIENT, "jitsi_participant_codecList")).text = DECODABLE_VIDEO_CODECS
        if self.status:
            presence["status"] = self.status
        for extra in self.presence_extras:
            xml.append(extra)
        presence.send()

    def _on_disco(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "get":
            return
        reply = iq.reply(clear=True)
        query = iq.xml.find(ns.tag(ns.DISCO_INFO, "query"))
        reply.xml.append(disco_info(self._disco_features, query.get("node") if query is not None else None))
        reply.send()

    def _on_presence(self, presence: slixmpp.Presence) -> None:
        sender = presence["from"]
        if sender.bare != self.room_jid or self._ended:
            return
        xml, nick, ptype = presence.xml, sender.resource, presence["type"]
        if ptype == "error":
            if self._joined is not None and not self._joined.done():
                condition = presence["error"]["condition"]
                self._joined.set_exception(JoinError(MUC_REFUSALS.get(condition, condition)))
            return
        codes = statuses(xml)
        if nick == self.endpoint_id or "110" in codes:
            self._on_own_presence(xml, ptype, codes)
            return
        jid = real_jid(xml)
        if nick == "focus" or (jid and self._focus_bare and jid.split("/", 1)[0] == self._focus_bare):
            return
        if ptype == "unavailable":
            self._emit(*self._roster.unavailable(nick, xml))
        else:
            self._emit(*self._roster.available(nick, xml))

    def _on_own_presence(self, xml: Element, ptype: str, codes: set[str]) -> None:
        if ptype != "unavailable":
            if self._joined is not None and not self._joined.done():
                self._joined.set_result(None)
            return
        destroyed = xml.find(f"{{{ns.MUC_USER}}}x/{{{ns.MUC_USER}}}destroy") is not None
        reason = "kicked" if "307" in codes else "room destroyed" if destroyed else "removed"
        if self._joined is not None and not self._joined.done():
            self._joined.set_exception(JoinError(reason))
        self._spawn(self._shutdown(reason))

    def _on_message(self, message: slixmpp.Message) -> None:
        sender = message["from"]
        if sender.full == self.metadata_jid:
            self._on_metadata(message)
            return
        if (message["type"] != "groupchat" or sender.bare != self.room_jid or not sender.resource
                or sender.resource == self.endpoint_id):
            return
        body = message["body"] or None
        payload = None
        element = message.xml.find(ns.tag(ns.JITSI_MEET, "json-message"))
        if element is not None:
            with contextlib.suppress(ValueError, RecursionError):
                payload = json.loads(element.text or "")
        if body is not None or payload is not None:
            self._emit(events.GroupMessage(sender.resource, body, payload))

    def _on_metadata(self, message: slixmpp.Message) -> None:
        """The component pushes the whole metadata on every change (and before our join completes)."""
        element = message.xml.find(ns.tag(ns.JITSI_MEET, "json-message"))
        if element is None:
            return
        with contextlib.suppress(ValueError, RecursionError):
            metadata = metadata_of(json.loads(element.text or ""))
            if metadata is not None:
                self.room_metadata = metadata

    def _from_focus(self, iq: slixmpp.Iq) -> bool:
        return iq["type"] == "set" and iq["from"].bare == self.room_jid and iq["from"].resource == "focus"

    def _on_mute(self, iq: slixmpp.Iq) -> None:
        if not self._from_focus(iq):
            return
        element = next(iter(iq.xml), None)
        try:
            if element is None:
                raise JitsiStanzaError("an empty mute request")
            request = MuteIq.from_element(element)
        except JitsiStanzaError:
            reply = iq.reply(clear=True)
            reply["type"] = "error"
            reply["error"]["condition"] = "bad-request"
            reply.send()
            return
        iq.reply(clear=True).send()
        if request.media == "audio":
            self._spawn(self.set_audio_muted(request.mute))
        self._emit(events.MuteRequest(request.media, request.mute))

    def _on_request(self, iq: slixmpp.Iq) -> None:
        if iq["type"] in ("result", "error") or self._ended:
            return
        sender = iq["from"]
        payload = next(iter(iq.xml))
        participant = self._roster.participants.get(sender.resource) if sender.bare == self.room_jid else None
        try:
            if iq["type"] != "set":
                raise refusal("bad-request", "expected an IQ set")
            if participant is None:
                raise refusal("forbidden", "only another occupant of the room may ask")
            self.requests[payload.tag](participant, payload)
        except StanzaError as exc:
            send_error(iq, exc)
            return
        iq.reply(clear=True).send()

    def _on_disconnected(self, _event) -> None:
        if self._ended:
            return
        if self._joined is not None and not self._joined.done():
            self._joined.set_exception(JoinError("connection lost"))
        self._media_failed("connection lost")
        self._spawn(self._shutdown("connection lost"))

    # ---- Jingle ----

    def _on_jingle(self, iq: slixmpp.Iq) -> None:
        if not self._from_focus(iq):
            return
        try:
            jingle = parse_jingle(iq.xml.find(ns.tag(NS_JINGLE, "jingle")))
        except JingleError as exc:
            reply = iq.reply(clear=True)
            reply["type"] = "error"
            reply["error"]["condition"] = "bad-request"
            reply["error"]["text"] = str(exc)
            reply.send()
            return
        iq.reply(clear=True).send()
        self._jingles.put_nowait(jingle)

    async def _jingle_worker(self) -> None:
        """One Jingle IQ at a time: each may renegotiate the peer connection."""
        while True:
            jingle = await self._jingles.get()
            handler = JINGLE_HANDLERS.get(jingle.action)
            if handler is None:
                continue
            try:
                await handler(self, jingle)
            except (JingleError, JitsiStanzaError, ValueError) as exc:
                log.warning("meeting %s: %s refused: %s", self.endpoint_id, jingle.action, exc)
                self._media_failed(f"cannot answer {jingle.action}: {exc}")
            except Exception as exc:  # aiortc's errors have no common base; one bad offer must not end us
                log.exception("meeting %s: %s failed", self.endpoint_id, jingle.action)
                self._media_failed(f"cannot answer {jingle.action}: {exc}")

    async def _send_jingle(self, jingle: Jingle) -> None:
        iq = self._require_xmpp().make_iq_set(ito=f"{self.room_jid}/focus")
        iq.xml.append(jingle.to_element())
        await iq.send(timeout=10)

    async def _session_initiate(self, jingle: Jingle) -> None:
        await self._start_session(jingle, "session-accept")

    async def _transport_replace(self, jingle: Jingle) -> None:
        """The bridge moved without a new offer: same sources, new transport, a fresh peer connection."""
        session = self._session
        if session is None or jingle.sid != session.sid:
            return
        transports = {c.name: c.transport for c in jingle.contents if c.transport is not None}
        offer = Jingle(jingle.action, jingle.sid, jingle.initiator, contents=[
            replace(old, transport=transports.get(old.name, old.transport)) for old in session.offer.contents],
            bridge_session=jingle.bridge_session or session.offer.bridge_session)
        await self._start_session(offer, "transport-accept", session.remote_sources())

    async def _source_add(self, jingle: Jingle) -> None:
        if self._session is not None and jingle.sid == self._session.sid:
            await self._session.add_sources(jingle)
            self._send_constraints()

    async def _source_remove(self, jingle: Jingle) -> None:
        if self._session is not None and jingle.sid == self._session.sid:
            await self._session.remove_sources(jingle)
            self._send_constraints()

    async def _session_terminate(self, jingle: Jingle) -> None:
        """The focus ended our session (we are alone, or it is moving us): the tracks end; a new
        session-initiate brings new ones."""
        if self._session is not None and jingle.sid == self._session.sid:
            await self._close_session()

    async def _start_session(self, offer: Jingle, accept_action: str, sources=None) -> None:
        await self._close_session()
        receiving = {kind for kind, wanted in (("audio", self.receive_audio), ("video", self.receive_video)) if wanted}
        self._session = session = MediaSession(
            offer, self.endpoint_id, tracks=[self.audio_source] if self.audio_source is not None else [],
            receiving=frozenset(receiving), on_event=self._emit, video_type_of=self._roster.video_type,
            inline_audio=self.inline_audio, shared_decoders=self.shared_decoders)
        pc = session.pc
        pc.on("connectionstatechange", lambda: self._on_connection_state(pc))
        accept = await session.answer(self._require_xmpp().boundjid.full, accept_action, sources)
        if self.audio_muted and "audio" in session.senders:
            session.senders["audio"].replaceTrack(None)
        if any((c.media or "application") == "application" for c in offer.contents):
            self._open_channel(pc)
        await self._send_jingle(accept)

    async def _close_session(self) -> None:
        session, self._session = self._session, None
        self._channel = self._sent_constraints = None
        if session is not None:
            await session.close()

    def _on_connection_state(self, pc) -> None:
        if self._session is None or pc is not self._session.pc:
            return
        ready = self._media_ready
        joining = ready is not None and not ready.done()
        if pc.connectionState == "connected" and ready is not None and joining:
            ready.set_result(None)
        elif pc.connectionState == "failed":
            if joining:
                self._media_failed("ICE/DTLS failed")
            else:
                self._spawn(self._restart())

    def _media_failed(self, reason: str) -> None:
        if self._media_ready is not None and not self._media_ready.done():
            self._media_ready.set_exception(JoinError(reason))

    async def _restart(self) -> None:
        """Our media failed after it worked: end the session asking the focus for a new one, as
        lib-jitsi-meet does when the focus announced support-terminate-restart."""
        if self._session is None:
            return
        current = self._session.offer.bridge_session or BridgeSession()
        terminate = Jingle("session-terminate", self._session.sid, reason="connectivity-error",
                           bridge_session=BridgeSession(current.id, current.region, restart=True))
        await self._close_session()
        with contextlib.suppress(IqError, IqTimeout):
            await self._send_jingle(terminate)

    # ---- the bridge channel ----

    def _open_channel(self, pc) -> None:
        channel = pc.createDataChannel(bridge_channel.LABEL, protocol=bridge_channel.PROTOCOL)
        self._channel = channel
        channel.on("open", self._send_constraints)
        channel.on("message", self._on_channel_message)

    def _on_channel_message(self, text) -> None:
        for event in bridge_channel.received(text):
            if isinstance(event, events.DominantSpeaker):
                self._speaker = event.endpoint_id
                self._send_constraints()
            self._emit(event)

    def _send_constraints(self) -> None:
        channel = self._channel
        if channel is None or channel.readyState != "open":
            return
        if self._stage is not None:
            stage = self._stage
        else:
            announced = self._session.announced if self._session is not None else {}
            stage = {name for name, line in announced.items()
                     if line.source.owner == self._speaker and line.media == "video"
                     and (line.source.video_type or "camera") == "camera"}
        message = bridge_channel.receiver_video_constraints(stage, self._stage_height, self.receive_video)
        if message != self._sent_constraints:
            self._sent_constraints = message
            channel.send(message)

    # ---- audio ----

    async def _apply_audio_mute(self, muted: bool) -> None:
        self.audio_muted = muted
        session = self._session
        sender = session.senders.get("audio") if session is not None else None
        if session is not None and sender is not None:
            sender.replaceTrack(None if muted else next(t for t in session.tracks if t.kind == "audio"))

    # ---- life and death ----

    def _emit(self, *items) -> None:
        for item in items:
            self._events.put_nowait(item)

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fail(self, reason: str) -> None:
        await self._shutdown("join failed")
        raise JoinError(reason)

    async def _shutdown(self, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        await self._close_session()
        if self._xmpp is not None:
            self._xmpp.abort()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        self._emit(events.Ended(reason))


JINGLE_HANDLERS = {
    "session-initiate": Meeting._session_initiate,
    "transport-replace": Meeting._transport_replace,
    "source-add": Meeting._source_add,
    "source-remove": Meeting._source_remove,
    "session-terminate": Meeting._session_terminate,
}
