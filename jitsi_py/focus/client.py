"""The focus's XMPP client: the connection, the handler table, and running the cores' commands.

It logs in as ``focus@<auth domain>``, sits in the bridge brewery (``brewery.py``), answers
conference requests (directly addressed or through Prosody's ``client_proxy``), owns each
conference room (``room_tracker.py``) and runs each :class:`Conference` core: MUC presence, Jingle
and mute IQs go in; the commands that come out are executed here (Colibri2 IQs to the bridge's
brewery occupant JID, Jingle to occupant JIDs, owner grants, presence). A refused IQ is answered
with its :class:`StanzaError` by one boundary, and touches nothing else.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from typing import Any, Callable
from xml.etree.ElementTree import Element, SubElement

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ..common import ns
from ..common.errors import StanzaError
from ..common.stanzas.jibri import JibriIq, JibriStanzaError, JibriStatus
from ..common.stanzas.jingle import JingleError, parse_jingle, q
from ..common.stanzas.jitsi import MUTE_NAMESPACES, ConferenceIq, JitsiStanzaError, LogoutIq, MuteIq, bridge_stats
from ..common.stanzas.rayo import ROOM_NAME_HEADER, TRANSCRIBER_CALLEE, Dial, RayoStanzaError
from ..common.stanzas.room_metadata import metadata_of, transcribing_enabled, transcription_requested
from ..common.xmpp_client import send_error, service_client
from ..settings import Settings
from .auth import Authority
from .brewery import Brewery, ServiceBrewery
from .bridges import UNANSWERED, BridgeTable, IceFailureDetection, LoadRedistribution
from .caps import CapsCache
from .colibri2 import BridgeError, read_error
from .conference import (
    ColibriRequest,
    End,
    GrantOwner,
    RestartLimits,
    SendJingle,
    SendMute,
    SetBridgeAvailable,
    unknown_session,
)
from .jibri import AnswerRequest, PublishStatus, RecorderPool, SendToRecorder
from .jigasi import DialOut, GatewayPool, check_dial
from .jingle import Offer
from .room_tracker import Room, RoomJoinError, RoomTracker
from .rooms import NICK, answer_properties, conference_room, needs_authentication

log = logging.getLogger("jitsi_py.focus")

RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0)


class Focus:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        common = settings.common
        fs = settings.focus
        self.domains = common.domains
        self.jid = f"focus@{self.domains.auth}/{NICK}"
        self.bare_jid = f"focus@{self.domains.auth}"
        self.bridges = BridgeTable(participant_stress=fs.participant_stress, stress_threshold=fs.stress_threshold,
                                   max_participants=fs.max_bridge_participants, region=fs.region,
                                   strategy=fs.selection_strategy, ice_failure=IceFailureDetection(
                                       fs.ice_failure_detection, fs.ice_failure_interval,
                                       fs.ice_failure_min_endpoints, fs.ice_failure_threshold),
                                   redistribution=LoadRedistribution(fs.load_redistribution))
        self.restart_limits = RestartLimits(max_requests=fs.restart_request_max,
                                            interval=fs.restart_request_interval)
        self.offer = Offer.from_settings(fs)
        if fs.auth.user and fs.auth.user != "focus":
            log.warning("focus: JICOFO_AUTH_USER=%s is no longer read upstream: the focus logs in as focus",
                        fs.auth.user)
        if fs.auth.type == "jwt":
            # jicofo's JWT authority: a session only carries a login over to the guest
            # connection for a minute, and never outlives its conference
            self.authority = Authority(self.domains.domain, 60.0, auto_login=False)
        else:
            self.authority = Authority(self.domains.domain, fs.auth_lifetime, auto_login=fs.auto_login)
        self.connected = asyncio.Event()
        self.stopping = False
        self.counters = {"conference_requests": 0, "conferences_created": 0, "participants_invited": 0,
                         "bridge_failures": 0, "relay_failures": 0, "participants_moved": 0, "jingle_errors": 0}
        self.caps = CapsCache(fs.caps_cache_size)
        self.rooms = RoomTracker(self)
        self.brewery = Brewery(self)
        # By brewery JID: the bridges', and the recorders' and gateways' when configured (docs/focus.md §8, §9).
        self.breweries: dict[str, Brewery | ServiceBrewery] = {self.brewery.jid: self.brewery}
        services = fs.services
        self.recorders = RecorderPool() if services.recording else None
        if self.recorders is not None:
            jid = self.domains.jibri_brewery_jid
            self.breweries[jid] = ServiceBrewery(self, jid, "recorder", self._recorder_presence, self._recorder_left,
                                                 self.recorders.left)
        self.gateways = GatewayPool(fs.region) if services.jigasi else None
        if self.gateways is not None:
            jid = self.domains.jigasi_brewery_jid
            self.breweries[jid] = ServiceBrewery(self, jid, "gateway", self._gateway_presence, self.gateways.left,
                                                 self.gateways.left)
        self._tasks: set[asyncio.Task] = set()
        self._reconnects = 0
        # The commands of the conference cores, by type: how each is carried out.
        self._execute: dict[type, Callable[[Room, Any], None]] = {
            ColibriRequest: self._colibri,
            SendJingle: self._send_jingle,
            SendMute: self._send_mute,
            GrantOwner: self._grant_owner,
            SetBridgeAvailable: self._set_bridge_available,
            End: self._end,
        }
        # The commands of the recording cores (focus/jibri.py).
        self._execute_recording: dict[type, Callable[[Room, Any], None]] = {
            SendToRecorder: self._send_to_recorder,
            AnswerRequest: self._answer_jibri,
            PublishStatus: self._publish_recording,
        }
        # IQs by payload; a StanzaError their handler raises is the answer.
        self.iq_handlers: dict[str, Callable[[slixmpp.Iq], None]] = {
            q(ns.JITSI_FOCUS, "conference"): self._answering(self._on_conference_iq),
            q(ns.JITSI_FOCUS, "logout"): self._answering(self._on_logout_iq),
            q(ns.JINGLE, "jingle"): self._answering(self._on_jingle_iq),
            **{q(mute_ns, "mute"): self._answering(self._on_mute_iq) for mute_ns in MUTE_NAMESPACES},
            q(ns.JIBRI, "jibri"): self._answering(self._on_jibri_iq),
            q(ns.RAYO, "dial"): self._answering(self._on_dial_iq),
        }
        self.xmpp = self._make_client(fs.password or "")

    # --- connection -------------------------------------------------------------------------------

    def _make_client(self, password: str) -> slixmpp.ClientXMPP:
        xmpp = service_client(self.jid, password)
        xmpp.plugin["xep_0030"].add_feature(ns.JITSI_FOCUS)
        client = xmpp.default_ns
        for payload, handler in self.iq_handlers.items():
            xmpp.register_handler(Callback(f"focus-iq-{payload}", MatchXPath(f"{q(client, 'iq')}/{payload}"),
                                           handler))
        xmpp.register_handler(Callback("focus-presence", MatchXPath(q(client, "presence")), self._on_presence))
        xmpp.register_handler(Callback("focus-json-message",
                                       MatchXPath(f"{q(client, 'message')}/{q(ns.JITSI_MEET, 'json-message')}"),
                                       self._on_json_message))
        xmpp.add_event_handler("session_start", self._on_session_start)
        xmpp.add_event_handler("disconnected", self._on_disconnected)
        xmpp.add_event_handler("failed_auth", self._on_failed_auth)
        return xmpp

    async def start(self) -> None:
        xmpp_settings = self.settings.focus.xmpp
        self.xmpp.connect(host=xmpp_settings.server, port=xmpp_settings.port)
        self.spawn(self.brewery.health_loop())
        self.spawn(self._redistribution_loop())

    async def _redistribution_loop(self) -> None:
        rule = self.bridges.redistribution
        if not rule.enabled:
            return
        while True:
            await asyncio.sleep(rule.interval)
            self.rooms.redistribute(self.now())

    async def stop(self) -> None:
        self.stopping = True
        self.rooms.stop()
        for task in list(self._tasks):
            task.cancel()
        if self.xmpp.transport is not None:
            try:
                await asyncio.wait_for(self.xmpp.disconnect(wait=0.2), 0.5)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - best effort on shutdown
                self.xmpp.abort()

    async def _on_session_start(self, _event: Any) -> None:
        if self.stopping:  # a login that completes while we leave: leave, do not join
            return
        self._reconnects = 0
        self.xmpp.send_presence()
        self.connected.set()
        log.info("focus: logged in as %s", self.xmpp.boundjid.full)
        for brewery in self.breweries.values():
            brewery.connected()
        self.rooms.connected()

    def _on_disconnected(self, _event: Any) -> None:
        self.connected.clear()
        for brewery in self.breweries.values():
            brewery.disconnected()
        if self.stopping:
            return
        self.rooms.disconnected()
        delay = RECONNECT_DELAYS[min(self._reconnects, len(RECONNECT_DELAYS) - 1)]
        self._reconnects += 1
        log.warning("focus: XMPP connection lost; reconnecting in %.1f s", delay)
        xmpp_settings = self.settings.focus.xmpp
        loop = asyncio.get_running_loop()
        loop.call_later(delay, lambda: self.stopping or self.xmpp.connect(host=xmpp_settings.server,
                                                                          port=xmpp_settings.port))

    def _on_failed_auth(self, _event: Any) -> None:
        log.error("focus: the XMPP server refused %s's password (JICOFO_AUTH_PASSWORD)", self.bare_jid)

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("focus: task failed", exc_info=task.exception())

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()

    def join(self, room_jid: str, extensions: list[Element] | None = None) -> None:
        """Our presence into a MUC room as ``focus``."""
        presence = self.xmpp.make_presence(pto=f"{room_jid}/{NICK}")
        SubElement(presence.xml, q(ns.MUC, "x"))
        for ext in extensions or []:
            presence.xml.append(ext)
        presence.send()

    def _on_presence(self, presence: slixmpp.Presence) -> None:
        if self.stopping:
            return  # bridges and occupants leaving as the deployment stops: nothing left to act on
        sender = presence["from"]
        brewery = self.breweries.get(sender.bare)
        if brewery is not None:
            brewery.presence(sender.resource, presence.xml)
            return
        room = self.rooms.get(sender.bare)
        if room is not None and sender.resource:
            self.rooms.presence(room, sender.resource, presence.xml)

    # --- refusals ---------------------------------------------------------------------------------

    def _answering(self, handler: Callable[[slixmpp.Iq], None]) -> Callable[[slixmpp.Iq], None]:
        """The one boundary where a refused IQ gets its error answer; malformed payloads, which
        the codecs reject, are ``bad-request``."""
        def answer(iq: slixmpp.Iq) -> None:
            try:
                handler(iq)
            except StanzaError as exc:
                send_error(iq, exc)
            except (JingleError, JitsiStanzaError, JibriStanzaError, RayoStanzaError) as exc:
                send_error(iq, StanzaError("modify", "bad-request", str(exc)))
        return answer

    # --- conference request (docs/focus.md §1) ---------------------------------------------------------

    def _on_conference_iq(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set":
            raise StanzaError("modify", "bad-request", "conference requests are IQ set")
        self.counters["conference_requests"] += 1
        room_jid, answer = self._conference_request(iq)
        self.spawn(self._answer_conference(iq, room_jid, answer))

    def _conference_request(self, iq: slixmpp.Iq) -> tuple[str, ConferenceIq]:
        """The room asked for and the answer so far; raises the refusal."""
        request = ConferenceIq.from_element(iq.xml.find(q(ns.JITSI_FOCUS, "conference")))
        room_jid = conference_room(request.room, self.domains)
        answer = ConferenceIq(request.room, focus_jid=self.bare_jid)
        if self.settings.focus.auth.enabled and needs_authentication(room_jid, self.domains):
            requester = self._requester(iq)
            session = self.authority.check(request, requester, room_exists=room_jid in self.rooms, now=time.time())
            if session is not None:
                answer.session_id, answer.identity = session.id, session.identity
                self.rooms.authenticated(room_jid, requester)
        return room_jid, answer

    async def _answer_conference(self, iq: slixmpp.Iq, room_jid: str, answer: ConferenceIq) -> None:
        """Once the room is set up (or could not be): ``ready`` says whether its conference runs."""
        try:
            room = await self.rooms.ensure(room_jid)
        except (asyncio.TimeoutError, RoomJoinError) as exc:
            log.warning("focus: cannot join %s: %s", room_jid, exc)
            answer.ready = False
        else:
            answer.ready = room.core is not None
        auth = self.settings.focus.auth
        answer.properties = dict(answer_properties(auth.enabled, auth.type, self.gateways is not None))
        reply = iq.reply(clear=True)
        reply.xml.append(answer.to_element())
        reply.send()

    def _on_logout_iq(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set":
            raise StanzaError("modify", "bad-request", "logout requests are IQ set")
        if not self.settings.focus.auth.enabled:
            raise StanzaError("cancel", "service-unavailable", "authentication is not enabled")
        request = LogoutIq.from_element(iq.xml.find(q(ns.JITSI_FOCUS, "logout")))
        self.authority.logout(request.session_id, time.time())
        log.info("focus: %s logged out", self._requester(iq))
        reply = iq.reply(clear=True)
        reply.xml.append(LogoutIq().to_element())  # no logout-url: nothing outside us to log out of
        reply.send()

    def _requester(self, iq: slixmpp.Iq) -> str:
        """The real requester: Prosody's client_proxy puts it in the resource (docs/focus.md §1.1)."""
        sender = iq["from"]
        if sender.bare == self.domains.focus_component and sender.resource:
            return sender.resource
        return sender.full

    # --- Jingle, mute and state from the room -----------------------------------------------------

    def _on_jingle_iq(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set":
            return
        try:
            room = self._jingle(iq)
        except (StanzaError, JingleError):
            self.counters["jingle_errors"] += 1
            # A refused request may still have changed something (a rate-limited restart ends its session).
            refused_in = self.rooms.get(iq["from"].bare)
            if refused_in is not None and refused_in.core is not None:
                self.flush(refused_in)
            raise
        iq.reply(clear=True).send()
        self.flush(room)

    def _jingle(self, iq: slixmpp.Iq) -> Room:
        sender = iq["from"]
        room = self.rooms.get(sender.bare)
        if room is None or room.core is None:
            raise unknown_session("no such conference")
        jingle = parse_jingle(iq.xml.find(q(ns.JINGLE, "jingle")))
        room.core.jingle(sender.resource, jingle, self.now())
        return room

    def _on_mute_iq(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set":
            return
        sender = iq["from"]
        room = self.rooms.get(sender.bare)
        if room is None or room.core is None:
            raise StanzaError("cancel", "item-not-found", "no such conference")
        mute_elem = next((c for c in iq.xml if c.tag.endswith("}mute")), None)
        room.core.mute(sender.resource, MuteIq.from_element(mute_elem))
        iq.reply(clear=True).send()
        self.flush(room)

    def _on_json_message(self, message: slixmpp.Message) -> None:
        """State pushed by Jitsi components; the focus acts on av_moderation's and room_metadata's."""
        body = message.xml.find(q(ns.JITSI_MEET, "json-message"))
        try:
            data = json.loads(body.text or "")
        except ValueError:
            return
        if not isinstance(data, dict) or data.get("type") not in ("av_moderation", "room_metadata"):
            return
        # av_moderation names the room in its JSON, room_metadata on the element (as Prosody's modules)
        room = self.rooms.get(str(data.get("room") or body.get("room") or "").lower())
        if room is None or room.core is None:
            return
        metadata = metadata_of(data)
        if metadata is not None:
            room.core.set_transcribing(transcribing_enabled(metadata))
            if room.core.transcription_url is None:  # else the bridge's export transcribes
                self._invite_transcriber(room, transcription_requested(metadata))
            self.flush(room)
            return
        media = data.get("mediaType")
        if isinstance(data.get("enabled"), bool) and isinstance(media, str):
            room.core.av_moderation(media, enabled=data["enabled"])
        whitelists = data.get("whitelists")
        if isinstance(whitelists, dict):
            for kind, jids in whitelists.items():
                if isinstance(jids, list):
                    room.core.av_moderation(kind, whitelist=[j for j in jids if isinstance(j, str)])
        self.flush(room)

    # --- recording (docs/focus.md §8) ---------------------------------------------------------------

    def _on_jibri_iq(self, iq: slixmpp.Iq) -> None:
        if iq["type"] in ("result", "error"):
            return  # a recorder's answer to our start: its waiter takes it (this handler sees it too)
        if iq["type"] != "set":
            raise StanzaError("modify", "bad-request", "jibri requests are IQ set")
        request = JibriIq.from_element(iq.xml.find(q(ns.JIBRI, "jibri")))
        sender = iq["from"]
        now = self.now()
        if self.recorders is not None and sender.bare == self.domains.jibri_brewery_jid:
            room = next((r for r in self.rooms.values() if r.recording is not None
                         and r.recording.handles(sender.full)), None)
            if room is None or room.recording is None:
                raise StanzaError("cancel", "item-not-found", "no session with this recorder")
            room.recording.recorder_update(sender.full, request, now)
            iq.reply(clear=True).send()
            self.flush(room)
            return
        room = self.rooms.get(sender.bare)
        # Video SIP gateways (a SIP address) need a SIP recorder brewery, which we do not join.
        if room is None or room.core is None or room.recording is None or request.sipaddress:
            raise StanzaError("cancel", "item-not-found", "no recorder for this conference")
        moderator = room.moderator(sender.resource)
        try:
            room.recording.request(iq, sender.full, request, now, member=moderator is not None,
                                   moderator=bool(moderator))
        finally:
            self.flush(room)

    def _recorder_presence(self, jid: str, stanza: Element) -> None:
        assert self.recorders is not None
        try:
            status = JibriStatus.from_presence(stanza)
        except JibriStanzaError as exc:
            log.warning("focus: recorder %s: %s", jid, exc)
            return
        if status is not None:
            self.recorders.presence(jid, status)

    def _recorder_left(self, jid: str) -> None:
        assert self.recorders is not None
        self.recorders.left(jid)
        for room in list(self.rooms.values()):
            if room.recording is not None and room.recording.handles(jid):
                room.recording.recorder_left(jid, self.now())
                self.flush(room)

    def _send_to_recorder(self, room: Room, command: SendToRecorder) -> None:
        iq = self.xmpp.make_iq_set(ito=command.to)
        iq.xml.append(command.iq.to_element())
        if command.attempt is None:
            self.spawn(self._sent(iq))  # a stop: jicofo does not wait for its answer either
        else:
            self.spawn(self._recorder_start(room, command.attempt, iq))

    async def _recorder_start(self, room: Room, attempt: int, iq: slixmpp.Iq) -> None:
        answer = None
        try:
            result = await iq.send(timeout=self.settings.focus.services.reply_timeout)
            answer = JibriIq.from_element(result.xml.find(q(ns.JIBRI, "jibri")))
        except IqError as exc:
            log.info("focus: recorder %s refused the start: %s", iq["to"], exc.iq["error"]["condition"])
        except IqTimeout:
            log.info("focus: recorder %s did not answer the start", iq["to"])
        except JibriStanzaError as exc:
            log.info("focus: recorder %s answered the start with %s", iq["to"], exc)
        if room.recording is not None and self.rooms.get(room.jid) is room:
            room.recording.start_answered(attempt, answer, self.now())
            self.flush(room)

    def _answer_jibri(self, room: Room, command: AnswerRequest) -> None:
        request: slixmpp.Iq = command.request  # type: ignore[assignment]
        if command.error is not None:
            send_error(request, command.error)
            return
        reply = request.reply(clear=True)
        if command.result is not None:
            reply.xml.append(command.result.to_element())
        reply.send()

    def _publish_recording(self, room: Room, command: PublishStatus) -> None:
        log.info("focus: recording in %s is %s", room.jid, command.status.status)
        room.recording_status = command.status
        self.rooms.publish(room)

    # --- dial-out (docs/focus.md §9) ---------------------------------------------------------------

    def _gateway_presence(self, jid: str, stanza: Element) -> None:
        assert self.gateways is not None
        stats = bridge_stats(stanza)
        if stats is not None:
            self.gateways.presence(jid, stats)

    def _on_dial_iq(self, iq: slixmpp.Iq) -> None:
        if iq["type"] in ("result", "error"):
            return
        if iq["type"] != "set":
            raise StanzaError("modify", "bad-request", "dial requests are IQ set")
        sender = iq["from"]
        room = self.rooms.get(sender.bare)
        if room is None or room.core is None:
            raise StanzaError("cancel", "item-not-found", "no such conference")
        if self.gateways is None:
            raise StanzaError("cancel", "service-unavailable", "no SIP gateway brewery is configured")
        dial = Dial.from_element(iq.xml.find(q(ns.RAYO, "dial")))
        check_dial(dial, room.jid, moderator=bool(room.moderator(sender.resource)),
                   transcriber_present=self._transcriber_present(room)
                   or room.transcriber_invite.under_way(self.now()),
                   moderator_checks=self.settings.focus.services.moderator_checks)
        self.spawn(self._dial(iq, room, DialOut(dial, self._regions(room))))

    @staticmethod
    def _transcriber_present(room: Room) -> bool:
        return room.core is not None and any(p.is_transcriber for p in room.core.participants.values())

    def _regions(self, room: Room) -> set[str]:
        sessions = room.core.sessions if room.core is not None else {}
        return {b.region for jid, b in self.bridges.bridges.items() if jid in sessions and b.region}

    async def _dial(self, iq: slixmpp.Iq, room: Room, out: DialOut) -> None:
        """A member's dial: the first gateway's answer is ours."""
        try:
            result = await self._forward_dial(iq.xml.find(q(ns.RAYO, "dial")), room, out)
        except StanzaError as exc:
            send_error(iq, exc)
            return
        reply = iq.reply(clear=True)
        for child in result.xml:
            reply.xml.append(copy.deepcopy(child))
        reply.send()

    def _invite_transcriber(self, room: Room, requested: bool) -> None:
        """The room metadata asks for transcription (or no more): a transcriber from the brewery
        when none is in the room or on its way (docs/transcription.md §1). It leaves by itself once
        neither the metadata nor anyone's presence asks."""
        if self.gateways is None:
            return
        if room.transcriber_invite.should_dial(requested=requested, present=self._transcriber_present(room),
                                               now=self.now()):
            log.info("focus: the room metadata of %s asks for transcription: inviting a transcriber", room.jid)
            dial = Dial(TRANSCRIBER_CALLEE, None, {ROOM_NAME_HEADER: room.jid})
            self.spawn(self._metadata_dial(room, DialOut(dial, self._regions(room)), dial.to_element()))

    async def _metadata_dial(self, room: Room, out: DialOut, dial: Element) -> None:
        try:
            await self._forward_dial(dial, room, out)
        except StanzaError as exc:
            log.warning("focus: no transcriber for %s: %s", room.jid, exc)

    async def _forward_dial(self, dial: Element, room: Room, out: DialOut) -> slixmpp.Iq:
        """Forward a copy to one gateway after another until one answers; raises when none does.
        A transcriber dial keeps the room's invitation under way until the transcriber is in."""
        assert self.gateways is not None
        invite = room.transcriber_invite if out.transcriber else None
        if invite is not None:
            invite.dialing(self.now())
        try:
            while True:
                target = out.target(self.gateways)
                forward = self.xmpp.make_iq_set(ito=target)
                forward.xml.append(copy.deepcopy(dial))
                try:
                    result = await forward.send(timeout=self.settings.focus.services.reply_timeout)
                except IqError as exc:
                    log.info("focus: gateway %s refused a dial: %s", target, exc.iq["error"]["condition"])
                    out.failed(timed_out=False)
                    continue
                except IqTimeout:
                    log.info("focus: gateway %s did not answer a dial", target)
                    out.failed(timed_out=True)
                    continue
                if invite is not None:
                    invite.dialing(self.now())
                return result
        except StanzaError:
            if invite is not None:
                invite.done()
            raise

    # --- running the core's commands ---------------------------------------------------------------

    def flush(self, room: Room) -> None:
        core = room.core
        if core is None:
            return
        for command in core.commands():
            self._execute[type(command)](room, command)
        if room.recording is not None:
            for recording_command in room.recording.commands():
                self._execute_recording[type(recording_command)](room, recording_command)
        if not core.ended:
            room.timer.at(room.next_deadline())

    def _set_bridge_available(self, room: Room, command: SetBridgeAvailable) -> None:
        room.bridge_available = command.available
        self.rooms.publish(room)

    def _send_jingle(self, room: Room, command: SendJingle) -> None:
        if command.jingle.action == "session-initiate":
            self.counters["participants_invited"] += 1
        self._send_iq(f"{room.jid}/{command.nick}", command.jingle.to_element())

    def _send_mute(self, room: Room, command: SendMute) -> None:
        self._send_iq(f"{room.jid}/{command.nick}", command.mute.to_element())

    def _grant_owner(self, room: Room, command: GrantOwner) -> None:
        iq = self.xmpp.make_iq_set(ito=room.jid)
        query = SubElement(iq.xml, q(ns.MUC_ADMIN, "query"))
        SubElement(query, q(ns.MUC_ADMIN, "item"), affiliation="owner", jid=command.jid.partition("/")[0])
        self.spawn(self._sent(iq))

    def _end(self, room: Room, command: End) -> None:
        log.info("focus: conference %s ends: %s", room.jid, command.reason)
        if room.recording is not None:
            room.recording.end()
            for stop in room.recording.commands():
                self._execute_recording[type(stop)](room, stop)
            room.recording = None
        self.rooms.leave(room)

    def _colibri(self, room: Room, command: ColibriRequest) -> None:
        self.spawn(self._colibri_exchange(room, command))

    async def _colibri_exchange(self, room: Room, command: ColibriRequest) -> None:
        iq = self.xmpp.make_iq_set(ito=command.bridge)
        iq.xml.append(command.request)
        answer, error = None, None
        try:
            result = await iq.send(timeout=self.settings.focus.colibri_timeout)
            answer = next(iter(result.xml), None)
        except IqError as exc:
            error = read_error(exc.iq.xml.find(q(self.xmpp.default_ns, "error")))
        except IqTimeout:
            if not self.connected.is_set():
                return  # our own connection dropped; the brewery rejoin decides about the bridge
            error = BridgeError(UNANSWERED, text="no answer from the bridge")
        if error is not None:
            log.warning("focus: Colibri2 %s to %s failed: %s", command.key[0], command.bridge, error)
        if room.core is not None and not room.core.ended:
            room.core.colibri_result(command.key, answer, error, self.now())
            self.flush(room)

    def _send_iq(self, to: str, payload: Element) -> None:
        iq = self.xmpp.make_iq_set(ito=to)
        iq.xml.append(payload)
        self.spawn(self._sent(iq))

    async def _sent(self, iq: slixmpp.Iq) -> None:
        try:
            await iq.send(timeout=10)
        except IqError as exc:
            log.info("focus: %s answered an error: %s", iq["to"], exc.iq["error"]["condition"])
        except IqTimeout:
            pass  # a missing answer counts as success, as upstream's does

    # --- statistics -------------------------------------------------------------------------------

    def stats(self) -> dict:
        conferences = [r.core for r in self.rooms.values() if r.core is not None]
        now = self.now()
        return {
            "conferences": len(conferences),
            "participants": sum(len(c.participants) for c in conferences),
            "bridges": len(self.bridges.bridges),
            "operational_bridges": len(self.bridges.available(now)),
            "recorders": len(self.recorders.recorders) if self.recorders is not None else 0,
            "recordings": sum(1 for r in self.rooms.values() if r.recording is not None and r.recording.session),
            "gateways": len(self.gateways.gateways) if self.gateways is not None else 0,
            "xmpp_connected": self.connected.is_set(),
            **self.counters,
        }

    def debug(self) -> dict:
        return {room.jid: room.core.stats() for room in self.rooms.values() if room.core is not None}
