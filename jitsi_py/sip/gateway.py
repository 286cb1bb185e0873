"""The gateway: the SIP user agent's glue (one signalling socket, one timer) and what each call does in
its meeting (docs/sip.md).

A call is a :class:`Leg`: its dialog in the user agent, its media and its meeting participant. Dial-in:
an INVITE names the room (a room header, else the request-URI's user, else the default room); the
caller hears ringing while the gateway joins the meeting with the caller's number as its name, then the
200 OK. Dial-out (:meth:`Gateway.dial`): the gateway joins the meeting, then calls; call progress is the
participant's presence status. Either side hanging up ends both; so does a moderator's Rayo ``<hangup>``
sent to the call's occupant (the dial's ``ref``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
import time
from dataclasses import dataclass, field, replace
from typing import Any, Awaitable, Callable
from xml.etree.ElementTree import Element

import numpy as np

from ..common import ns
from ..common.aio import Rearm
from ..common.errors import StanzaError, refusal
from ..common.meeting import JoinError, Login, Meeting, Participant, XmppServer, events
from ..common.stanzas.rayo import (
    FEATURE_AUDIO_MUTE,
    FEATURE_DTMF,
    FEATURE_JIGASI,
    HANGUP,
    ROOM_NAME_HEADER,
    ROOM_PASSWORD_HEADER,
    Dial,
    Ref,
)
from . import dtmf, mute, sdes, sdp
from .audio import RATE
from .media import CallMedia, MediaClock, PortPool
from .message import parse_address, parse_uri
from .transport import Signalling
from .ua import (
    Account,
    Call,
    CallAnswered,
    CallEnded,
    CallProgress,
    IncomingCall,
    InfoReceived,
    RefreshAnswered,
    RefreshDue,
    Registered,
    RegistrationFailed,
    SessionOffer,
    UserAgent,
)

log = logging.getLogger(__name__)

FEATURES = (FEATURE_JIGASI, FEATURE_DTMF, FEATURE_AUDIO_MUTE)
ROOM_HEADER = "Jitsi-Conference-Room"  # what our INVITEs carry (Jigasi's JITSI_MEET_ROOM_HEADER_NAME)
DIAL_JOIN_TIMEOUT = 10.0  # below the focus's wait for our answer, so it never tries a second gateway
FAILED_STATUS_SHOWN = 3.0  # a failed call's participant stays this long, so the room sees why
PASSWORD_HEADERS = ("Jitsi-Conference-Room-Pass", "X-Room-Pass")
# Call progress as the room sees it: the presence status texts jitsi-meet labels.
STATUS_INITIALIZING, STATUS_RINGING, STATUS_CONNECTED = "Initializing Call", "Ringing", "Connected"
STATUS_BUSY, STATUS_FAILED = "Busy", "Failed"
TONE_INFO_MS = 100  # the duration a digit relayed by SIP INFO claims
HUNG_UP = "hung up"  # a dial-out's outcome when a moderator hung up before the answer
PIN_ATTEMPTS = 3
PIN_TIMEOUT = 20.0  # for the whole PIN, each attempt
PIN_END = "#"
MAX_PIN = 16
HEALTH_CALL_TIMEOUT = 10.0  # as Jigasi: a health-check call without audio this long after dialling failed

# the conference mapper's answer to a PIN: the room's JID, or None when the PIN names no room
PinResolver = Callable[[str], Awaitable[str | None]]


def beeps(hz: float, count: int, length: float, gap: float = 0.1) -> np.ndarray:
    """The prompts the caller hears while typing a PIN (tones, no speech)."""
    t = np.arange(int(RATE * length)) / RATE
    beep = (6000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    silence = np.zeros(int(RATE * gap), np.int16)
    return np.concatenate([part for _ in range(count) for part in (beep, silence)])


ENTER_PIN = beeps(800, 2, 0.2)
WRONG_PIN = beeps(400, 3, 0.3)


@dataclass
class Leg:
    call: Call | None
    room: str
    name: str  # the phone's number or name: the participant's display name
    media: CallMedia
    meeting: Meeting
    offer: sdp.AudioDescription | None = None
    answer: sdp.AudioDescription | None = None
    task: asyncio.Task[None] | None = None
    digits: list[str] = field(default_factory=list)
    typed: asyncio.Event = field(default_factory=asyncio.Event)
    outcome: asyncio.Future[str] | None = None  # dial-out: "connected", HUNG_UP or why not
    leaving: bool = False
    key: bytes = b""  # SDES-SRTP in an offer of ours: its key
    sdp_id: int = field(default_factory=lambda: secrets.randbits(31))
    sdp_version: int = 0
    sent: sdp.AudioDescription | None = None  # our last SDP, to tell whether it changed

    def local_sdp(self, ours: sdp.AudioDescription) -> bytes:
        """Our SDP for this call, its o-line version one up when it differs from the last (RFC 3264 §8)."""
        if self.sent is not None and ours != self.sent:
            self.sdp_version += 1
        self.sent = ours
        return sdp.serialize(ours, self.sdp_id, self.sdp_version)

    def refresh_sdp(self) -> bytes:
        """The offer of a session refresh (RFC 4028): the session as it is, our last SDP narrowed to the
        codec in use (an offer of ours listed them all), its o-line version one up."""
        assert self.sent is not None
        codec = self.media.transcoder.codec if self.media.transcoder is not None else None
        codecs = {pt: c for pt, c in self.sent.codecs.items() if c == codec} or self.sent.codecs
        self.sent = replace(self.sent, codecs=codecs)
        self.sdp_version += 1
        return sdp.serialize(self.sent, self.sdp_id, self.sdp_version)


@dataclass
class Probe:
    """A health-check call: media but no meeting."""

    media: CallMedia
    key: bytes
    outcome: asyncio.Future[str]  # "connected" or why not


class Gateway:
    def __init__(self, account: Account, *, bind: tuple[str, int], media_address: str, ports: PortPool,
                 meeting_server: XmppServer, login: Login | None = None, room_headers: tuple[str, ...] = (),
                 default_room: str | None = None, join_timeout: float = 30, max_calls: int = 100,
                 resolve_pin: PinResolver | None = None, tls: ssl.SSLContext | None = None,
                 server_tls: ssl.SSLContext | None = None, srtp: bool = False) -> None:
        self.ua = UserAgent(account)
        self.bind = bind
        self.media_address = media_address
        self.ports = ports
        self.meeting_server = meeting_server
        self.login = login
        self.room_headers = room_headers
        self.default_room = default_room
        self.join_timeout = join_timeout
        self.max_calls = max_calls
        self.resolve_pin = resolve_pin
        self.srtp = srtp
        self.clock = MediaClock()
        self.legs: dict[str, Leg] = {}  # by Call-ID
        self.probes: dict[str, Probe] = {}  # health-check calls, by Call-ID
        self.registered = asyncio.Event()
        self.on_load: Callable[[], None] = lambda: None  # calls came or went: the brewery stats changed
        self.accepting = True  # false in a graceful shutdown: calls in progress go on, no new ones
        self.calls_total = self.calls_failed = 0
        self._ended_stray = self._ended_bad = 0  # the RTP counters of the calls that ended
        self.signalling = Signalling(account.transport, self.receive, tls, self._connection_lost, server_tls)
        self._timer: Rearm | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handlers: dict[type, Callable[[Any], None]] = {
            IncomingCall: self._incoming, CallProgress: self._progress, CallAnswered: self._answered,
            SessionOffer: self._reoffered, RefreshDue: self._refresh_due, RefreshAnswered: self._refresh_answered,
            CallEnded: self._ended,
            InfoReceived: self._info,
            Registered: self._registered, RegistrationFailed: self._registration_failed,
        }

    # ---- the glue ----

    async def start(self, register: bool) -> None:
        loop = asyncio.get_running_loop()
        self._timer = Rearm(loop, lambda now: self._fed(self.ua.handle_timer, now))
        await self.signalling.open(self.bind)
        if register:
            self._fed(self.ua.register, loop.time())

    def _connection_lost(self, peer: tuple[str, int]) -> None:
        """Over TCP or TLS the SIP server reaches us through our connection: when it closes, register
        again at once (over a new one) rather than be unreachable until the refresh."""
        if peer == self.ua.account.proxy and self.ua.registered_until is not None:
            log.warning("sip: the connection to the SIP server %s:%d closed: registering again", *peer)
            self._fed(self.ua.register, self._now())

    def receive(self, data: bytes, source: Any) -> None:
        self._fed(self.ua.receive, data, (source[0], source[1]), self._now())

    def _fed(self, step: Callable[..., None], *args: Any) -> None:
        step(*args)
        self.flush()

    def flush(self) -> None:
        for out in self.ua.datagrams_to_send():
            self.signalling.send(out.data, out.to)
        while (event := self.ua.next_event()) is not None:
            try:
                self._handlers[type(event)](event)
            except Exception:  # noqa: BLE001 - one call's failure must cost nothing else
                log.exception("sip: handling %s failed", type(event).__name__)
                if isinstance(event, (IncomingCall, SessionOffer)):
                    self.ua.respond(event.call, 500, self._now())
        for out in self.ua.datagrams_to_send():
            self.signalling.send(out.data, out.to)
        if self._timer is not None:
            self._timer.at(self.ua.deadline)

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    async def close(self) -> None:
        for leg in list(self.legs.values()):
            if leg.call is not None:
                self.ua.hangup(leg.call, self._now())
        self.flush()
        self.ua.unregister(self._now())
        self.flush()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=3)
        for task in self._tasks:
            task.cancel()
        self.clock.stop()
        if self._timer is not None:
            self._timer.cancel()
        self.signalling.close()

    def _spawn(self, work: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- dial-in ----

    def _room_of(self, call: Call) -> str | None:
        for name in self.room_headers:
            value = call.header(name)
            if value:
                return value.strip()
        user = parse_uri(call.request_uri).user
        if user and user != self.ua.user:
            return user
        return self.default_room

    def _incoming(self, event: IncomingCall) -> None:
        call, now = event.call, self._now()
        self.calls_total += 1
        caller = parse_address(call.header("from") or "")
        try:
            name = caller.display or parse_uri(caller.uri).user or "phone"
        except ValueError:  # a caller of a scheme we do not read: still a caller
            name = caller.display or "phone"
        if not self.accepting:
            return self._refuse(call, 503, "the gateway is shutting down")
        if len(self.legs) >= self.max_calls:
            return self._refuse(call, 486, "the gateway is at JITSI_PY_SIP_MAX_CALLS")
        room = self._room_of(call)
        if not room and self.resolve_pin is None:
            return self._refuse(call, 404, "no room header, no room in the request-URI, no default room")
        if not call.remote_sdp.strip():
            return self._delayed_offer(call, room, name)
        port = self.ports.take()
        if port is None:
            return self._refuse(call, 503, "no free RTP port in JIGASI_PORT_MIN..MAX")
        try:
            offer, answer, crypto = self._answer(call.remote_sdp, port)
        except sdp.SdpError as exc:
            self.ports.give_back(port)
            return self._refuse(call, 488, str(exc))
        leg = self._leg(call, room or "", name, port)
        leg.offer, leg.answer = offer, answer
        leg.media.protection = crypto
        self.legs[call.call_id] = leg
        self.on_load()
        log.info("sip: call %s from %s for %s (%s)", call.call_id, name, f"room {room}" if room else "a PIN",
                 answer.first[1].name)
        if not room:
            leg.task = self._spawn(self._pin_entry(leg))
            return
        self.ua.respond(call, 180, now)
        password = next((v for h in PASSWORD_HEADERS if (v := call.header(h))), None)
        leg.task = self._spawn(self._dial_in(leg, password))

    def _answer(self, offer_sdp: bytes, port: int) -> tuple[sdp.AudioDescription, sdp.AudioDescription,
                                                             sdes.Protection | None]:
        """A phone's offer, our answer and the SRTP it settles on; SdpError (488) when we cannot take it."""
        offer = sdp.parse(offer_sdp)
        crypto: sdes.Protection | None = None
        ours = None
        if offer.crypto and self.srtp:
            accepted = sdes.accept(offer.crypto)
            if accepted is None:
                raise sdp.SdpError("no SRTP crypto suite we take (AES_CM_128_HMAC_SHA1_80/32)")
            ours = accepted[0]
            crypto = sdes.Protection(ours.suite, accepted[1], accepted[2])
        elif offer.profile == "RTP/SAVP":
            raise sdp.SdpError("SRTP offered and JIGASI_ENABLE_SDES_SRTP is off")
        return offer, sdp.answer(offer, self.media_address, port, crypto=ours), crypto

    def _delayed_offer(self, call: Call, room: str | None, name: str) -> None:
        """An INVITE without SDP (RFC 3261 §13.2.1): our 200 carries the offer, the ACK the answer,
        and the media starts with the ACK (:meth:`_answered`)."""
        port = self.ports.take()
        if port is None:
            return self._refuse(call, 503, "no free RTP port in JIGASI_PORT_MIN..MAX")
        leg = self._leg(call, room or "", name, port)
        leg.answer = sdp.offer(self.media_address, port)
        self.legs[call.call_id] = leg
        self.on_load()
        log.info("sip: call %s from %s for %s (delayed offer)", call.call_id, name, f"room {room}" if room else "a PIN")
        if not room:
            leg.task = self._spawn(self._pin_entry(leg))
            return
        self.ua.respond(call, 180, self._now())
        password = next((v for h in PASSWORD_HEADERS if (v := call.header(h))), None)
        leg.task = self._spawn(self._dial_in(leg, password))

    def _refuse(self, call: Call, status: int, reason: str) -> None:
        self.calls_failed += 1
        log.warning("sip: call %s refused with %d: %s", call.call_id, status, reason)
        self.ua.respond(call, status, self._now(), reason=reason[:60] if status != 488 else "")

    def _leg(self, call: Call | None, room: str, name: str, port: int) -> Leg:
        # Bound where SIP listens (a wildcard in a container); the SDP gives peers media_address.
        media = CallMedia(port, self.bind[0], lambda digit: self._digit(call_id(), digit))
        meeting = Meeting(self.meeting_server, self.login, display_name=name, features=FEATURES,
                          receive_video=False, audio_source=media.track, inline_audio=True,
                          shared_decoders=True,  # each source of the meeting decoded once, not per call
                          requests={HANGUP: lambda sender, _payload: self._hangup_requested(leg, sender)})
        leg = Leg(call, room, name, media, meeting)

        def call_id() -> str:
            return leg.call.call_id if leg.call is not None else ""
        return leg

    async def _dial_in(self, leg: Leg, password: str | None) -> None:
        assert leg.call is not None and leg.answer is not None
        call = leg.call
        try:
            await leg.media.open()
            await leg.meeting.join(leg.room, password, timeout=self.join_timeout, wait_for_media=False)
        except (JoinError, OSError) as exc:
            reason = exc.reason if isinstance(exc, JoinError) else f"RTP port {leg.media.port}: {exc}"
            status = 403 if "locked" in reason or "members-only" in reason else 480
            if call.state != "ended":
                self._refuse(call, status, f"cannot join {leg.room}: {reason}")
                self.flush()
            self._drop(leg)
            return
        if call.state == "ended":  # the caller gave up while we joined
            await self._leave(leg)
            return
        if leg.offer is not None:  # else a delayed offer: the media starts with the ACK's answer
            pt, codec = leg.answer.first
            leg.media.start(leg.offer, pt, codec)
            self.clock.add(leg.media)
        self.ua.respond(call, 200, self._now(), sdp=leg.local_sdp(leg.answer))
        self.flush()
        await self._in_meeting(leg)

    # ---- dial-in by PIN ----

    async def _pin_entry(self, leg: Leg) -> None:
        """Answer, ask for the PIN (DTMF, ending with #), ask the conference mapper for its room; a wrong
        PIN is tried again, then the call ends with the error tone."""
        assert leg.call is not None and leg.answer is not None
        assert self.resolve_pin is not None
        call = leg.call
        try:
            await leg.media.open()
        except OSError as exc:
            self._refuse(call, 503, f"RTP port {leg.media.port}: {exc}")
            self.flush()
            self._drop(leg)
            return
        if leg.offer is not None:  # else a delayed offer: the prompts wait for the ACK's answer
            pt, codec = leg.answer.first
            leg.media.start(leg.offer, pt, codec)
            self.clock.add(leg.media)
        self.ua.respond(call, 200, self._now(), sdp=leg.local_sdp(leg.answer))
        self.flush()
        for attempt in range(1, PIN_ATTEMPTS + 1):
            leg.media.play(ENTER_PIN)
            pin = await self._typed_pin(leg)
            if call.state == "ended":
                return self._drop(leg)
            room = None
            if pin:
                try:
                    room = await self.resolve_pin(pin)
                except Exception as exc:  # noqa: BLE001 - the mapper is another service: any failure is "no room"
                    log.warning("sip: call %s: the conference mapper failed: %s", call.call_id, exc)
            if room:
                leg.room = room
                break
            log.info("sip: call %s: PIN attempt %d names no room", call.call_id, attempt)
            leg.media.play(WRONG_PIN)
        else:
            await asyncio.sleep(len(WRONG_PIN) / RATE + 0.3)
            self._hang_up(leg)
            return self._drop(leg)
        try:
            await leg.meeting.join(leg.room, None, timeout=self.join_timeout, wait_for_media=False)
        except JoinError as exc:
            log.warning("sip: call %s cannot join %s: %s", call.call_id, leg.room, exc.reason)
            leg.media.play(WRONG_PIN)
            await asyncio.sleep(len(WRONG_PIN) / RATE + 0.3)
            self._hang_up(leg)
            return self._drop(leg)
        await self._in_meeting(leg)

    async def _typed_pin(self, leg: Leg) -> str | None:
        """The digits typed before #; None when nothing came in time."""
        leg.digits.clear()
        try:
            async with asyncio.timeout(PIN_TIMEOUT):
                while PIN_END not in leg.digits and len(leg.digits) < MAX_PIN and leg.call is not None \
                        and leg.call.state != "ended":
                    leg.typed.clear()
                    await leg.typed.wait()
        except TimeoutError:
            return None
        return "".join(leg.digits).split(PIN_END, 1)[0]

    def _hang_up(self, leg: Leg) -> None:
        if leg.call is not None and leg.call.state != "ended":
            self.ua.hangup(leg.call, self._now())
            self.flush()

    # ---- dial-out ----

    async def dial(self, request: Dial) -> Ref:
        """A moderator's dial (relayed by the focus): join the room, then call; the answer names our
        participant. Raises the StanzaError to answer instead."""
        room = request.room
        if not room:
            raise refusal("bad-request", f"dial without a {ROOM_NAME_HEADER} header")
        if "@" not in room:
            room = f"{room}@{self.meeting_server.muc_domain}"
        if not self.accepting:
            raise refusal("service-unavailable", "the gateway is shutting down")
        if len(self.legs) >= self.max_calls:
            raise refusal("resource-constraint", "the gateway is at JITSI_PY_SIP_MAX_CALLS")
        port = self.ports.take()
        if port is None:
            raise refusal("resource-constraint", "no free RTP port in JIGASI_PORT_MIN..MAX")
        leg = self._leg(None, room, request.to, port)
        leg.meeting.status = STATUS_INITIALIZING
        try:
            await leg.media.open()
            await leg.meeting.join(room, request.headers.get(ROOM_PASSWORD_HEADER), timeout=DIAL_JOIN_TIMEOUT,
                                   wait_for_media=False)
        except (JoinError, OSError) as exc:
            self._drop(leg)
            reason = exc.reason if isinstance(exc, JoinError) else str(exc)
            raise refusal("service-unavailable", f"cannot join {room}: {reason}") from None
        ours, key = sdes.offer_crypto() if self.srtp else (None, b"")
        leg.key = key
        offer = sdp.offer(self.media_address, port, crypto=ours)
        headers = {ROOM_HEADER: room, **{k: v for k, v in request.headers.items()
                                         if k not in (ROOM_NAME_HEADER, ROOM_PASSWORD_HEADER)}}
        self.calls_total += 1
        call = self.ua.invite(request.to, leg.local_sdp(offer), self._now(),
                              display=request.from_ or "", headers=headers)
        leg.call, leg.offer = call, offer
        leg.outcome = asyncio.get_running_loop().create_future()
        self.legs[call.call_id] = leg
        self.on_load()
        self.flush()
        log.info("sip: dialling %s for %s (call %s)", request.to, room, call.call_id)
        leg.task = self._spawn(self._dial_out(leg))
        return Ref.of_occupant(leg.meeting.room_jid, leg.meeting.endpoint_id)

    async def _dial_out(self, leg: Leg) -> None:
        assert leg.outcome is not None
        outcome = await leg.outcome
        if outcome == HUNG_UP:
            await self._leave(leg)
            return
        if outcome != "connected":
            self.calls_failed += 1
            busy = outcome.startswith(("486", "600", "603"))
            await leg.meeting.set_status(STATUS_BUSY if busy else STATUS_FAILED)
            await asyncio.sleep(FAILED_STATUS_SHOWN)
            await self._leave(leg)
            return
        await leg.meeting.set_status(STATUS_CONNECTED)
        await self._in_meeting(leg)

    # ---- both directions: the meeting's side of a call ----

    async def _in_meeting(self, leg: Leg) -> None:
        async for event in leg.meeting.events():
            match event:
                case events.TrackAdded(source_name=source, kind="audio", track=track):
                    leg.media.add_source(source, track)
                case events.TrackRemoved(source_name=source):
                    leg.media.remove_source(source)
                case events.MuteRequest(kind="audio", muted=muted) if leg.call is not None:
                    # The meeting client already stopped sending; the phone is told, as Jigasi does.
                    self.ua.info(leg.call, mute.CONTENT_TYPE, mute.request(muted), self._now())
                    self.flush()
                case events.Dtmf(endpoint_id=sender, digit=digit) if leg.call is not None \
                        and leg.call.state == "confirmed":
                    self._relay_tone(leg, sender, digit)
                case events.Ended(reason=reason):
                    log.info("sip: call %s: the meeting ended for it (%s)", leg.call.call_id if leg.call else "-",
                             reason)
                    if leg.call is not None and leg.call.state != "ended":
                        self.ua.hangup(leg.call, self._now())
                        self.flush()
        self._drop(leg)

    def _hangup_requested(self, leg: Leg, sender: Participant) -> None:
        """A Rayo ``<hangup>`` sent to this call's occupant (the dial's ref), as Jigasi takes it: BYE, or
        CANCEL while it rings, and the participant leaves. Raises the refusal to answer instead."""
        if sender.role != "moderator":
            raise refusal("forbidden", "only a moderator may hang up a call")
        if leg.call is None:
            raise refusal("unexpected-request", "the call is not placed yet")
        if leg.call.state == "ended":
            raise refusal("item-not-found", "the call has ended")
        log.info("sip: call %s: hung up by %s (%s)", leg.call.call_id, sender.endpoint_id, sender.display_name)
        if leg.outcome is not None and not leg.outcome.done():
            leg.outcome.set_result(HUNG_UP)
        self._hang_up(leg)

    def _relay_tone(self, leg: Leg, sender: str, digit: str) -> None:
        """A digit sent in the meeting (lib-jitsi-meet's sendTones), to the phone as Jigasi forwards
        it: RFC 4733 events when the phone took telephone-event, else a SIP INFO."""
        assert leg.call is not None
        log.info("sip: call %s: DTMF %s from %s", leg.call.call_id, digit, sender)
        if leg.media.send_tone(digit):
            return
        body = f"Signal={digit}\r\nDuration={TONE_INFO_MS}\r\n".encode()
        self.ua.info(leg.call, "application/dtmf-relay", body, self._now())
        self.flush()

    async def _leave(self, leg: Leg) -> None:
        if leg.leaving:  # a hangup asked for and the call's end both lead here
            return
        leg.leaving = True
        with contextlib.suppress(Exception):  # best effort: the XMPP side may already be gone
            await asyncio.wait_for(leg.meeting.leave(), 5)
        self._drop(leg)

    def _drop(self, leg: Leg) -> None:
        if leg.call is not None and self.legs.get(leg.call.call_id) is leg:
            del self.legs[leg.call.call_id]
            self.on_load()
        self.clock.discard(leg.media)
        if leg.media.port not in self.ports.free:
            leg.media.close()
            self.ports.give_back(leg.media.port)
            self._ended_stray += leg.media.stray_packets
            self._ended_bad += leg.media.bad_packets

    def rtp_dropped(self) -> tuple[int, int]:
        """RTP the calls dropped, those in progress and those that ended: (from addresses that are not
        the latched source, malformed or not authenticated)."""
        live = [leg.media for leg in self.legs.values()]
        return (self._ended_stray + sum(m.stray_packets for m in live),
                self._ended_bad + sum(m.bad_packets for m in live))

    # ---- the user agent's events ----

    def _ended(self, event: CallEnded) -> None:
        probe = self.probes.get(event.call.call_id)
        if probe is not None and not probe.outcome.done():
            probe.outcome.set_result(f"{event.status} {event.reason}")
        leg = self.legs.get(event.call.call_id)
        log.info("sip: call %s ended: %d %s%s", event.call.call_id, event.status, event.reason,
                 " (by the peer)" if event.by_remote else "")
        if leg is None:
            return
        self.clock.discard(leg.media)
        leg.typed.set()  # a caller typing a PIN hung up
        if leg.outcome is not None and not leg.outcome.done():
            leg.outcome.set_result(f"{event.status} {event.reason}")
            return  # _dial_out shows why, then leaves
        if leg.task is not None and not leg.task.done() and leg.meeting.endpoint_id:
            self._spawn(self._leave(leg))
        elif leg.task is None or leg.task.done():
            self._drop(leg)

    def _progress(self, event: CallProgress) -> None:
        leg = self.legs.get(event.call.call_id)
        if leg is not None and event.status == 180:
            self._spawn(leg.meeting.set_status(STATUS_RINGING))

    def _answered(self, event: CallAnswered) -> None:
        """The SDP answer to our offer: a dial-out's or a health check's 2xx, or the ACK after an INVITE
        or re-INVITE without SDP (our 2xx offered)."""
        leg = self.legs.get(event.call.call_id) or self.probes.get(event.call.call_id)
        if leg is None or not event.with_answer:
            return
        try:
            remote = sdp.parse(event.call.remote_sdp)
            pt, codec = remote.first
            if leg.key:
                answered = next((c for c in remote.crypto if c.tag == 1 and c.suite in sdes.SUITES), None)
                if answered is None:
                    raise sdp.SdpError("the answer has no crypto line for our SRTP offer")
                leg.media.protection = sdes.Protection(answered.suite, leg.key, sdes.Protection.their_key(answered))
        except (ValueError, StopIteration) as exc:
            log.warning("sip: call %s answered with unusable SDP (%s): hanging up", event.call.call_id, exc)
            self.ua.hangup(event.call, self._now())
            return
        leg.media.start(remote, pt, codec)
        self.clock.add(leg.media)
        if leg.outcome is not None and not leg.outcome.done():
            leg.outcome.set_result("connected")

    def _reoffered(self, event: SessionOffer) -> None:
        """A re-INVITE: hold (sendonly, inactive), resume, another codec or address. Answered 200 with our
        SDP for the new session, or 488 keeping the one before; with no SDP we offer, the ACK answers."""
        call, now = event.call, self._now()
        leg = self.legs.get(call.call_id)
        if leg is None:
            self.ua.respond(call, 500, now, reason="no media for this call")
            return
        if not event.sdp.strip():
            ours, leg.key = sdes.offer_crypto() if leg.media.protection is not None else (None, b"")
            self.ua.respond(call, 200, now, sdp=leg.local_sdp(sdp.offer(self.media_address, leg.media.port,
                                                                         crypto=ours)))
            return
        try:
            offer, answer, crypto = self._answer(event.sdp, leg.media.port)
        except sdp.SdpError as exc:
            log.warning("sip: call %s: re-INVITE refused with 488, the session stays as it was: %s",
                        call.call_id, exc)
            self.ua.respond(call, 488, now)
            return
        leg.offer, leg.answer, leg.key = offer, answer, b""
        leg.media.protection = crypto
        pt, codec = answer.first
        leg.media.start(offer, pt, codec)
        self.clock.add(leg.media)
        log.info("sip: call %s: re-INVITE, %s %s", call.call_id, codec.name, answer.direction)
        self.ua.respond(call, 200, now, sdp=leg.local_sdp(answer))

    def _refresh_due(self, event: RefreshDue) -> None:
        leg = self.legs.get(event.call.call_id)
        if leg is None or leg.sent is None:
            return  # nothing to offer: the session expires and ends
        log.info("sip: call %s: refreshing the session (re-INVITE)", event.call.call_id)
        self.ua.reinvite(event.call, leg.refresh_sdp(), self._now())

    def _refresh_answered(self, event: RefreshAnswered) -> None:
        """The 2xx to our refresh re-INVITE: its SDP is taken as the peer's own re-INVITE's would be (another
        address or port, another codec of those offered, hold or resume); an answer the offer does not
        allow, or none, ends the call."""
        call = event.call
        leg = self.legs.get(call.call_id)
        if leg is None or leg.sent is None or call.state != "confirmed":
            return
        try:
            answer = sdp.parse(call.remote_sdp)
            pt, codec = sdp.check_answer(leg.sent, answer)
        except sdp.SdpError as exc:
            log.warning("sip: call %s: the answer to our session refresh does not fit our offer (%s): hanging up",
                        call.call_id, exc)
            self.ua.hangup(call, self._now())
            return
        leg.media.start(answer, pt, codec)
        log.info("sip: call %s: session refreshed, %s %s to %s:%d", call.call_id, codec.name, answer.direction,
                 answer.address, answer.port)

    def _info(self, event: InfoReceived) -> None:
        digit = dtmf.parse_info(event.content_type, event.body)
        if digit is not None:
            self._digit(event.call.call_id, digit)
            return
        try:
            asked = mute.parse_request(event.content_type, event.body)
        except ValueError as exc:
            log.warning("sip: call %s: %s", event.call.call_id, exc)
            return
        leg = self.legs.get(event.call.call_id)
        if asked is not None and leg is not None:
            self._spawn(self._muted_by_phone(leg, asked))

    async def _muted_by_phone(self, leg: Leg, asked: mute.MuteRequest) -> None:
        """The phone's own mute or unmute (Jigasi's JSON INFO): the participant's audio in the meeting
        stops or starts as a local mute does (presence audiomuted, the source muted), and the phone is
        answered. An unmute goes by the focus, which refuses it under audio moderation (then the phone
        is answered FAILED, stays muted and raises its hand), as Jigasi does. A caller still typing its
        PIN joins muted."""
        assert leg.call is not None
        done = not leg.leaving
        if done and asked.muted:
            await leg.meeting.set_audio_muted(True)
        elif done:
            try:
                await leg.meeting.unmute_audio()
            except StanzaError as refused:  # audio moderation on, and the caller not allowed to speak
                done = False
                log.info("sip: call %s: the phone may not unmute: %s", leg.call.call_id, refused)
                # as Jigasi: the caller's hand goes up, asking the moderators to let it speak
                hand = Element(ns.tag(ns.CLIENT, "jitsi_participant_raisedHand"))
                hand.text = str(int(time.time() * 1000))
                await leg.meeting.set_presence_extras([hand])
            else:
                if leg.meeting.presence_extras:  # allowed now: the hand goes down
                    await leg.meeting.set_presence_extras([])
        if done:
            log.info("sip: call %s: the phone %s its audio", leg.call.call_id, "muted" if asked.muted else "unmuted")
        if leg.call.state == "confirmed":
            self.ua.info(leg.call, mute.CONTENT_TYPE, mute.response(asked, done), self._now())
            self.flush()

    def _digit(self, call_id: str, digit: str) -> None:
        leg = self.legs.get(call_id)
        if leg is not None and len(leg.digits) < MAX_PIN:
            leg.digits.append(digit)
            leg.typed.set()

    async def health_call(self, target: str, timeout: float = HEALTH_CALL_TIMEOUT) -> str | None:
        """Jigasi's SIP health check: call ``target`` and wait for its first audio packet, then hang up.
        None when audio came; else why not. The call has no meeting and is not one of the calls the
        brewery counts."""
        port = self.ports.take()
        if port is None:
            return "no free RTP port in JIGASI_PORT_MIN..MAX"
        media = CallMedia(port, self.bind[0], lambda _digit: None)
        call: Call | None = None
        try:
            await media.open()
            ours, key = sdes.offer_crypto() if self.srtp else (None, b"")
            offer = sdp.serialize(sdp.offer(self.media_address, port, crypto=ours), secrets.randbits(31))
            call = self.ua.invite(target, offer, self._now(), display="health check")
            probe = self.probes[call.call_id] = Probe(media, key, asyncio.get_running_loop().create_future())
            self.flush()
            async with asyncio.timeout(timeout):
                outcome = await probe.outcome
                if outcome != "connected":
                    return f"the call failed: {outcome}"
                while media.buffer.received == 0:
                    await asyncio.sleep(0.05)
            return None
        except TimeoutError:
            return f"no audio within {timeout:g} s"
        except OSError as exc:
            return f"RTP port {port}: {exc}"
        finally:
            if call is not None:
                self.probes.pop(call.call_id, None)
                self.ua.hangup(call, self._now())
                self.flush()
            self.clock.discard(media)
            media.close()
            self.ports.give_back(port)

    def _registered(self, event: Registered) -> None:
        if not self.registered.is_set():
            log.info("sip: registered as %s for %d s", self.ua.account.aor, event.expires)
        self.registered.set()

    def _registration_failed(self, event: RegistrationFailed) -> None:
        self.registered.clear()
        log.error("sip: registration of %s refused or unanswered: %d %s; again in %.0f s",
                  self.ua.account.aor, event.status, event.reason, event.retry_in)
