"""The focus's XMPP client: slixmpp glue around the sans-I/O cores.

It logs in as ``focus@<auth domain>``, joins the bridge brewery, answers conference requests
(directly addressed or through Prosody's ``client_proxy``), joins each conference room as ``focus``
and owns it, and runs each :class:`Conference` core: MUC presence, Jingle and mute IQs go in; the
commands that come out are executed here (Colibri2 IQs to the bridge's brewery occupant JID, Jingle
to occupant JIDs, owner grants, presence). Every handler answers bad input with an XMPP error and
touches nothing else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any
from xml.etree.ElementTree import Element, SubElement

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ..common import ns
from ..common.aio import Rearm
from ..common.xmpp_client import service_client
from ..common.stanzas.jingle import NS_FOCUS, NS_JINGLE, NS_JINGLE_ERRORS, NS_JITMEET, JingleError, parse_jingle, q
from ..common.stanzas.jitsi import (
    DEFAULT_FEATURES, MUTE_NAMESPACES, ConferenceIq, JitsiStanzaError, LogoutIq, MuteIq, ParticipantPresence,
    bridge_not_available, bridge_stats, conference_properties, focus_versions, healthcheck, session_invalid,
)
from ..settings import Settings
from .auth import Authority, Refused
from .bridges import BridgeTable
from .caps import CapsCache
from .colibri2 import BridgeError, read_error
from .conference import (
    ColibriRequest, Conference, End, GrantOwner, JingleReject, MuteReject, Participant, SendJingle, SendMute,
    SetBridgeAvailable,
)
from .jingle import Offer

log = logging.getLogger("jitsi_py.focus")

NS_MUC, NS_MUC_USER, NS_MUC_OWNER, NS_MUC_ADMIN = ns.MUC, ns.MUC_USER, ns.MUC_OWNER, ns.MUC_ADMIN
NS_DISCO_INFO, NS_DATA = ns.DISCO_INFO, ns.DATA_FORMS
NICK = "focus"
VERSION = "1.0-jitsi-py"
JOIN_TIMEOUT = 10.0
DISCO_TIMEOUT = 5.0
RECONNECT_DELAYS = (0.5, 1.0, 2.0, 5.0)


class Room:
    """One conference room: the core, its timer, and which occupants we know."""

    def __init__(self, focus: "Focus", jid: str) -> None:
        self.focus = focus
        self.jid = jid
        self.core: Conference | None = None
        self.joined: asyncio.Future[bool] | None = None  # our join: True when it created the room
        self.setup: asyncio.Future[None] | None = None
        self.timer = Rearm(asyncio.get_running_loop(), self._on_timer)
        self.pending: set[str] = set()  # nicks whose features are being discovered
        self.early: dict[str, slixmpp.Presence] = {}  # occupants seen before the core exists
        self.bridge_available = True

    def _on_timer(self, now: float) -> None:
        if self.core is not None:
            self.core.handle_timer(now)
            self.focus.flush(self)


class Focus:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        common = settings.common
        fs = settings.focus
        self.domains = common.domains
        self.jid = f"focus@{self.domains.auth}/{NICK}"
        self.bare_jid = f"focus@{self.domains.auth}"
        self.brewery = self.domains.jvb_brewery_jid
        self.bridges = BridgeTable(participant_stress=fs.participant_stress, stress_threshold=fs.stress_threshold,
                                   max_participants=fs.max_bridge_participants, region=fs.region,
                                   strategy=fs.selection_strategy)
        self.offer = Offer.from_settings(fs)
        self.rooms: dict[str, Room] = {}
        if common.auth.type == "jwt":
            # jicofo's JWT authority: a session only carries a login over to the guest
            # connection for a minute, and never outlives its conference
            self.authority = Authority(self.domains.domain, 60.0, auto_login=False)
        else:
            self.authority = Authority(self.domains.domain, fs.auth_lifetime, auto_login=fs.auto_login)
        self.connected = asyncio.Event()
        self.in_brewery = False  # bridges are only judged while we see the brewery
        self.stopping = False
        self.counters = {"conference_requests": 0, "conferences_created": 0, "participants_invited": 0,
                         "bridge_failures": 0, "participants_moved": 0, "jingle_errors": 0}
        self._tasks: set[asyncio.Task] = set()
        self._caps = CapsCache(fs.caps_cache_size)
        self._reconnects = 0
        self.xmpp = self._make_client(fs.password or "")

    # --- connection -------------------------------------------------------------------------------

    def _make_client(self, password: str) -> slixmpp.ClientXMPP:
        xmpp = service_client(self.jid, password)
        xmpp.plugin["xep_0030"].add_feature(NS_FOCUS)
        ns = xmpp.default_ns
        for name, xpath, handler in (
            ("conference", f"{{{ns}}}iq/{{{NS_FOCUS}}}conference", self._on_conference_iq),
            ("logout", f"{{{ns}}}iq/{{{NS_FOCUS}}}logout", self._on_logout_iq),
            ("jingle", f"{{{ns}}}iq/{{{NS_JINGLE}}}jingle", self._on_jingle_iq),
            ("presence", f"{{{ns}}}presence", self._on_presence),
            ("json-message", f"{{{ns}}}message/{{{NS_JITMEET}}}json-message", self._on_json_message),
            *((f"mute-{media}", f"{{{ns}}}iq/{{{mns}}}mute", self._on_mute_iq)
              for mns, media in MUTE_NAMESPACES.items()),
        ):
            xmpp.register_handler(Callback(f"focus-{name}", MatchXPath(xpath), handler))
        xmpp.add_event_handler("session_start", self._on_session_start)
        xmpp.add_event_handler("disconnected", self._on_disconnected)
        xmpp.add_event_handler("failed_auth", self._on_failed_auth)
        return xmpp

    async def start(self) -> None:
        xmpp_settings = self.settings.focus.xmpp
        self.xmpp.connect(host=xmpp_settings.server, port=xmpp_settings.port)
        self._spawn(self._health_loop())

    async def stop(self) -> None:
        self.stopping = True
        for room in self.rooms.values():
            room.timer.cancel()
            if room.setup is not None:
                room.setup.cancel()
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
        self._send_join(self.brewery, [])
        for room in list(self.rooms.values()):
            self._spawn(self._rejoin(room))

    def _on_disconnected(self, _event: Any) -> None:
        self.connected.clear()
        self.in_brewery = False
        if self.stopping:
            return
        for room in self.rooms.values():
            if room.joined is not None and not room.joined.done():
                room.joined.cancel()
            room.joined = None
        delay = RECONNECT_DELAYS[min(self._reconnects, len(RECONNECT_DELAYS) - 1)]
        self._reconnects += 1
        log.warning("focus: XMPP connection lost; reconnecting in %.1f s", delay)
        xmpp_settings = self.settings.focus.xmpp
        loop = asyncio.get_running_loop()
        loop.call_later(delay, lambda: self.stopping or self.xmpp.connect(host=xmpp_settings.server,
                                                                          port=xmpp_settings.port))

    def _on_failed_auth(self, _event: Any) -> None:
        log.error("focus: the XMPP server refused %s's password (JICOFO_AUTH_PASSWORD)", self.bare_jid)

    def _spawn(self, coro) -> asyncio.Task:
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

    # --- conference request (focus.md §1) ---------------------------------------------------------

    def _on_conference_iq(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set":
            return self._error(iq, "bad-request", "modify", "conference requests are IQ set")
        self._spawn(self._answer_conference(iq))

    async def _answer_conference(self, iq: slixmpp.Iq) -> None:
        self.counters["conference_requests"] += 1
        try:
            request = ConferenceIq.from_element(iq.xml.find(q(NS_FOCUS, "conference")))
        except JitsiStanzaError as exc:
            return self._error(iq, "bad-request", "modify", str(exc))
        requester = self._requester(iq)
        room_jid = request.room.lower()
        room_domain = room_jid.partition("@")[2]
        if not room_jid.partition("@")[0] or room_domain not in (self.domains.muc, self.domains.breakout):
            return self._error(iq, "bad-request", "modify", f"not a conference room: {request.room}")
        answer = ConferenceIq(request.room, focus_jid=self.bare_jid)
        auth = self.settings.common.auth
        if auth.enabled and room_domain != self.domains.breakout:
            try:
                session = self.authority.check(request, requester, room_exists=room_jid in self.rooms,
                                               now=time.time())
            except Refused as exc:
                return self._error(iq, exc.condition, exc.kind, exc.text)
            if session is not None:
                answer.session_id, answer.identity = session.id, session.identity
                self._authenticated(room_jid, requester)
        try:
            room = await self._ensure_room(room_jid)
        except (asyncio.TimeoutError, RoomJoinError) as exc:
            log.warning("focus: cannot join %s: %s", room_jid, exc)
            answer.ready = False
        else:
            answer.ready = room.core is not None
        answer.properties = {
            "authentication": str(auth.enabled).lower(),
            "visitors-supported": "false",
        }
        if auth.enabled and auth.type == "jwt":
            answer.properties["externalAuth"] = "true"
        reply = iq.reply(clear=True)
        reply.xml.append(answer.to_element())
        reply.send()

    def _authenticated(self, room_jid: str, requester: str) -> None:
        """A member already in the room who authenticates (a guest logging in) becomes an owner."""
        room = self.rooms.get(room_jid)
        if room is not None and room.core is not None:
            room.core.authenticated(requester)
            self.flush(room)

    def _on_logout_iq(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set":
            return self._error(iq, "bad-request", "modify", "logout requests are IQ set")
        if not self.settings.common.auth.enabled:
            return self._error(iq, "service-unavailable", "cancel", "authentication is not enabled")
        try:
            request = LogoutIq.from_element(iq.xml.find(q(NS_FOCUS, "logout")))
            self.authority.logout(request.session_id, time.time())
        except JitsiStanzaError as exc:
            return self._error(iq, "bad-request", "modify", str(exc))
        except Refused as exc:
            return self._error(iq, exc.condition, exc.kind, exc.text)
        log.info("focus: %s logged out", self._requester(iq))
        reply = iq.reply(clear=True)
        reply.xml.append(LogoutIq().to_element())  # no logout-url: nothing outside us to log out of
        reply.send()

    def _requester(self, iq: slixmpp.Iq) -> str:
        """The real requester: Prosody's client_proxy puts it in the resource (focus.md §1.1)."""
        sender = iq["from"]
        if sender.bare == self.domains.focus_component and sender.resource:
            return sender.resource
        return sender.full

    # --- rooms ------------------------------------------------------------------------------------

    async def _ensure_room(self, room_jid: str) -> Room:
        """The room, joined and with its conference; concurrent requests share one set-up."""
        room = self.rooms.get(room_jid)
        if room is None:
            room = self.rooms[room_jid] = Room(self, room_jid)
            room.setup = asyncio.ensure_future(self._set_up(room))
        if room.core is None and room.setup is not None:
            try:
                await asyncio.shield(room.setup)
            except BaseException:
                if self.rooms.get(room_jid) is room and room.core is None:
                    del self.rooms[room_jid]
                raise
        return room

    async def _set_up(self, room: Room) -> None:
        room.joined = asyncio.get_running_loop().create_future()
        self._send_join(room.jid, self._room_extensions(room))
        created = await asyncio.wait_for(asyncio.shield(room.joined), JOIN_TIMEOUT)
        await self._configure(room.jid, created)
        meeting_id = await self._meeting_id(room.jid)
        fs = self.settings.focus
        # with authentication, as jicofo's AuthenticationRoleManager: authenticated users are the
        # owners, no one else is elected
        auto_owner = fs.auto_owner and not self.settings.common.auth.enabled
        room.core = Conference(
            room.jid, meeting_id, focus_jid=self.xmpp.boundjid.full, bridges=self.bridges, offer=self.offer,
            now=self.now(), initial_timeout=fs.initial_timeout, single_participant_timeout=fs.single_participant_timeout,
            max_ssrcs=fs.max_ssrcs_per_user, max_groups=fs.max_ssrc_groups_per_user, octo=fs.octo,
            strip_simulcast=fs.strip_simulcast, ssrc_rewriting=fs.ssrc_rewriting, auto_owner=auto_owner)
        self.counters["conferences_created"] += 1
        log.info("focus: conference %s (meeting %s)", room.jid, meeting_id)
        early, room.early = room.early, {}
        for nick, presence in early.items():
            self._occupant(room, nick, presence)
        self.flush(room)

    async def _rejoin(self, room: Room) -> None:
        """After a reconnect: join again, then ask each known participant whether it is still
        there (the MUC answers ``item-not-found`` for one who left while we were away)."""
        room.joined = joined = asyncio.get_running_loop().create_future()
        self._send_join(room.jid, self._room_extensions(room))
        try:
            await asyncio.wait_for(asyncio.shield(joined), JOIN_TIMEOUT)
        except (asyncio.TimeoutError, RoomJoinError, asyncio.CancelledError):
            if room.joined is joined:
                log.warning("focus: could not rejoin %s", room.jid)
            return
        if room.core is None:
            return
        nicks = list(room.core.participants)
        gone = await asyncio.gather(*(self._occupant_gone(f"{room.jid}/{nick}") for nick in nicks))
        if room.core is not None and room.joined is joined:
            for nick, absent in zip(nicks, gone):
                if absent:
                    room.core.left(nick, self.now())
            self.flush(room)

    async def _occupant_gone(self, occupant: str) -> bool:
        iq = self.xmpp.make_iq_get(queryxmlns=NS_DISCO_INFO, ito=occupant)
        try:
            await iq.send(timeout=DISCO_TIMEOUT)
        except IqError as exc:
            return exc.iq["error"]["condition"] == "item-not-found"
        except IqTimeout:
            return False
        return False

    def _room_extensions(self, room: Room) -> list[Element]:
        extensions = [focus_versions(VERSION), conference_properties({"support-terminate-restart": "true"})]
        if not room.bridge_available:
            extensions.append(bridge_not_available())
        return extensions

    def _send_join(self, room_jid: str, extensions: list[Element]) -> None:
        presence = self.xmpp.make_presence(pto=f"{room_jid}/{NICK}")
        SubElement(presence.xml, q(NS_MUC, "x"))
        for ext in extensions:
            presence.xml.append(ext)
        presence.send()

    def _send_room_presence(self, room: Room) -> None:
        presence = self.xmpp.make_presence(pto=f"{room.jid}/{NICK}")
        for ext in self._room_extensions(room):
            presence.xml.append(ext)
        presence.send()

    async def _configure(self, room_jid: str, created: bool) -> None:
        """Unlock a new room and make it non-anonymous (focus.md §2.1)."""
        iq = self.xmpp.make_iq_get(queryxmlns=NS_MUC_OWNER, ito=room_jid)
        try:
            form = (await iq.send(timeout=DISCO_TIMEOUT)).xml.find(f"{{{NS_MUC_OWNER}}}query/{{{NS_DATA}}}x")
        except (IqError, IqTimeout):
            form = None
        fields = {f.get("var") for f in form.findall(f"{{{NS_DATA}}}field")} if form is not None else set()
        if not created and "muc#roomconfig_whois" not in fields:
            return
        submit = self.xmpp.make_iq_set(ito=room_jid)
        query = SubElement(submit.xml, q(NS_MUC_OWNER, "query"))
        x = SubElement(query, q(NS_DATA, "x"), type="submit")
        self._field(x, "FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig")
        if "muc#roomconfig_whois" in fields or form is None:
            self._field(x, "muc#roomconfig_whois", "anyone")
        try:
            await submit.send(timeout=DISCO_TIMEOUT)
        except (IqError, IqTimeout) as exc:
            log.warning("focus: configuring %s failed: %s", room_jid, exc)

    @staticmethod
    def _field(form: Element, var: str, value: str) -> None:
        SubElement(SubElement(form, q(NS_DATA, "field"), var=var), q(NS_DATA, "value")).text = value

    async def _meeting_id(self, room_jid: str) -> str:
        iq = self.xmpp.make_iq_get(queryxmlns=NS_DISCO_INFO, ito=room_jid)
        try:
            result = await iq.send(timeout=DISCO_TIMEOUT)
        except (IqError, IqTimeout):
            return str(uuid.uuid4())
        for field in result.xml.iter(q(NS_DATA, "field")):
            if field.get("var") == "muc#roominfo_meetingId":
                value = field.find(q(NS_DATA, "value"))
                if value is not None and value.text:
                    return value.text
        return str(uuid.uuid4())

    # --- presence ---------------------------------------------------------------------------------

    def _on_presence(self, presence: slixmpp.Presence) -> None:
        sender = presence["from"]
        room_jid, nick = sender.bare, sender.resource
        if room_jid == self.brewery:
            return self._brewery_presence(presence, nick)
        room = self.rooms.get(room_jid)
        if room is None or not nick:
            return
        x = presence.xml.find(q(NS_MUC_USER, "x"))
        codes = {s.get("code") for s in x.findall(q(NS_MUC_USER, "status"))} if x is not None else set()
        if presence["type"] == "error":
            if nick == NICK and room.joined is not None and not room.joined.done():
                room.joined.set_exception(RoomJoinError(self._error_text(presence.xml)))
            return
        if nick == NICK or "110" in codes:
            if presence["type"] == "unavailable":
                self._room_lost(room, codes, x is not None and x.find(q(NS_MUC_USER, "destroy")) is not None)
            elif room.joined is not None and not room.joined.done():
                room.joined.set_result("201" in codes)
            return
        if room.core is None:
            if presence["type"] == "unavailable":
                room.early.pop(nick, None)
            else:
                room.early[nick] = presence
            return
        self._occupant(room, nick, presence)

    def _occupant(self, room: Room, nick: str, presence: slixmpp.Presence) -> None:
        core = room.core
        assert core is not None
        now = self.now()
        if presence["type"] == "unavailable":
            room.pending.discard(nick)
            core.left(nick, now)
            self.flush(room)
            return
        item = presence.xml.find(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}item")
        role = item.get("role", "participant") if item is not None else "participant"
        affiliation = item.get("affiliation", "none") if item is not None else "none"
        info = ParticipantPresence.from_element(presence.xml)
        if nick in core.participants:
            core.presence_changed(nick, role=role, affiliation=affiliation, region=info.region,
                                  stats_id=info.stats_id)
            return
        if nick in room.pending:
            return
        room.pending.add(nick)
        real_jid = item.get("jid") if item is not None else None
        self._spawn(self._admit(room, nick, real_jid, role, affiliation, info))

    async def _admit(self, room: Room, nick: str, real_jid: str | None, role: str, affiliation: str,
                     info: ParticipantPresence) -> None:
        features = await self._features(f"{room.jid}/{nick}", info)
        if nick not in room.pending or room.core is None:
            return  # left meanwhile
        room.pending.discard(nick)
        participant = Participant(nick, f"{room.jid}/{nick}", real_jid=real_jid, role=role, affiliation=affiliation,
                                  features=features, region=info.region, stats_id=info.stats_id,
                                  authenticated=self.authority.session_for(real_jid, time.time()) is not None)
        room.core.joined(participant, self.now())
        self.flush(room)

    async def _features(self, occupant: str, info: ParticipantPresence) -> frozenset[str]:
        features = self._caps.get(info.caps_node, info.caps_ver)
        if features is not None:
            return features
        iq = self.xmpp.make_iq_get(queryxmlns=NS_DISCO_INFO, ito=occupant)
        try:
            result = await iq.send(timeout=DISCO_TIMEOUT)
        except (IqError, IqTimeout):
            return DEFAULT_FEATURES
        query = result.xml.find(q(NS_DISCO_INFO, "query"))
        if query is None:
            return DEFAULT_FEATURES
        return self._caps.learn(info.caps_node, info.caps_ver, info.caps_hash, query) or DEFAULT_FEATURES

    def _room_lost(self, room: Room, codes: set[str | None], destroyed: bool) -> None:
        """We are out of the room. Destroyed, kicked or banned: the conference ends with it.
        Otherwise (our previous session was replaced after a reconnect): join again."""
        if room.core is None or room.core.ended or self.rooms.get(room.jid) is not room:
            return
        if destroyed or codes & {"301", "307", "321", "322", "332"}:
            log.warning("focus: removed from %s", room.jid)
            room.core.end("the focus is no longer in the room")
            self.flush(room)
        elif self.connected.is_set():
            self._spawn(self._rejoin(room))

    # --- brewery and bridge health ----------------------------------------------------------------

    def _brewery_presence(self, presence: slixmpp.Presence, nick: str) -> None:
        if nick == NICK and presence["type"] == "error":
            log.error("focus: cannot join the bridge brewery %s: %s", self.brewery, self._error_text(presence.xml))
            return
        if nick == NICK and presence["type"] != "unavailable":
            if not self.in_brewery:
                self.in_brewery = True
                # Bridges that vanished while we were away sent us no goodbye: ask each one.
                self._spawn(self._probe_bridges())
            return
        if nick == NICK:
            if self.connected.is_set():  # our previous session left after we came back: join again
                self.in_brewery = False
                self._send_join(self.brewery, [])
            return
        if not nick:
            return
        jid = f"{self.brewery}/{nick}"
        now = self.now()
        if presence["type"] in ("unavailable", "error"):
            if self.bridges.left(jid) is not None:
                log.info("focus: bridge %s left the brewery", nick)
                self._bridge_down(jid, now)
            return
        known = jid in self.bridges.bridges
        self.bridges.presence(jid, bridge_stats(presence.xml))
        if not known and jid in self.bridges.bridges:
            log.info("focus: bridge %s joined the brewery", nick)
        for room in self.rooms.values():
            if room.core is not None:
                room.core.bridges_changed(now)
                self.flush(room)

    async def _probe_bridges(self) -> None:
        await asyncio.gather(*(self._check_bridge(jid) for jid in list(self.bridges.bridges)))

    def _bridge_down(self, jid: str, now: float) -> None:
        self.counters["bridge_failures"] += 1
        for room in list(self.rooms.values()):
            if room.core is not None and jid in room.core.sessions:
                moved = sum(1 for p in room.core.participants.values() if p.bridge == jid)
                self.counters["participants_moved"] += moved
                room.core.bridge_down(jid, now)
                self.flush(room)

    async def _health_loop(self) -> None:
        fs = self.settings.focus
        if not fs.bridge_health_checks:
            return
        while True:
            await asyncio.sleep(fs.bridge_health_interval)
            if self.in_brewery:
                await asyncio.gather(*(self._check_bridge(jid) for jid in list(self.bridges.bridges)))

    async def _check_bridge(self, jid: str) -> None:
        """``result`` is healthy; ``internal-server-error``/``service-unavailable`` or two timeouts
        are not. Other errors come from the MUC, not the bridge: ``item-not-found`` says it left."""
        for _attempt in range(2):
            iq = self.xmpp.make_iq_get(ito=jid)
            iq.xml.append(healthcheck())
            try:
                await iq.send(timeout=self.settings.focus.colibri_timeout)
            except IqTimeout:
                continue
            except IqError as exc:
                condition = exc.iq["error"]["condition"]
                if condition == "item-not-found" and self.bridges.left(jid) is not None:
                    log.info("focus: bridge %s is no longer in the brewery", jid)  # the MUC answered
                    self._bridge_down(jid, self.now())
                if condition not in ("internal-server-error", "service-unavailable"):
                    return
                log.warning("focus: bridge %s failed its health check: %s", jid, condition)
                break
            self.bridges.healthy(jid)
            return
        if jid in self.bridges.bridges and self.in_brewery:
            self.bridges.failed(jid, self.now())
            self._bridge_down(jid, self.now())

    # --- Jingle and mute from participants --------------------------------------------------------

    def _on_jingle_iq(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set":
            return
        sender = iq["from"]
        room = self.rooms.get(sender.bare)
        if room is None or room.core is None:
            return self._jingle_error(iq, "item-not-found", "cancel", "no such conference", unknown_session=True)
        try:
            jingle = parse_jingle(iq.xml.find(q(NS_JINGLE, "jingle")))
            room.core.jingle(sender.resource, jingle, self.now())
        except JingleError as exc:
            return self._jingle_error(iq, "bad-request", "modify", str(exc))
        except JingleReject as exc:
            return self._jingle_error(iq, exc.condition, "cancel", exc.text, unknown_session=exc.unknown_session)
        iq.reply(clear=True).send()
        self.flush(room)

    def _jingle_error(self, iq: slixmpp.Iq, condition: str, kind: str, text: str, *,
                      unknown_session: bool = False) -> None:
        self.counters["jingle_errors"] += 1
        extra = [Element(q(NS_JINGLE_ERRORS, "unknown-session"))] if unknown_session else []
        self._error(iq, condition, kind, text, extra)

    def _on_mute_iq(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set":
            return
        sender = iq["from"]
        room = self.rooms.get(sender.bare)
        if room is None or room.core is None:
            return self._error(iq, "item-not-found", "cancel", "no such conference")
        mute_elem = next((c for c in iq.xml if c.tag.endswith("}mute")), None)
        try:
            request = MuteIq.from_element(mute_elem)
            room.core.mute(sender.resource, request)
        except JitsiStanzaError as exc:
            return self._error(iq, "bad-request", "modify", str(exc))
        except MuteReject as exc:
            return self._error(iq, exc.condition, "cancel", str(exc))
        iq.reply(clear=True).send()
        self.flush(room)

    def _on_json_message(self, message: slixmpp.Message) -> None:
        """State pushed by Jitsi components; the focus acts on av_moderation's."""
        try:
            data = json.loads(message.xml.find(q(NS_JITMEET, "json-message")).text or "")
        except ValueError:
            return
        if not isinstance(data, dict) or data.get("type") != "av_moderation":
            return
        room = self.rooms.get(str(data.get("room", "")).lower())
        if room is None or room.core is None:
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

    def _error(self, iq: slixmpp.Iq, condition: str, kind: str, text: str, extra: list[Element] | None = None) -> None:
        reply = iq.reply(clear=True)
        reply["type"] = "error"
        reply["error"]["type"] = kind
        if condition == "session-invalid":
            reply["error"]["condition"] = "not-acceptable"
            reply["error"]["text"] = text
            reply["error"].xml.append(session_invalid())
        else:
            reply["error"]["condition"] = condition
            reply["error"]["text"] = text
        for elem in extra or []:
            reply["error"].xml.append(elem)
        reply.send()

    @staticmethod
    def _error_text(stanza: Element) -> str:
        error = next((c for c in stanza if c.tag.endswith("}error")), None)
        if error is None:
            return "error"
        return " ".join(c.tag.rsplit("}", 1)[-1] for c in error)

    # --- running the core's commands ---------------------------------------------------------------

    def flush(self, room: Room) -> None:
        core = room.core
        if core is None:
            return
        for command in core.commands():
            if isinstance(command, ColibriRequest):
                self._spawn(self._colibri(room, command))
            elif isinstance(command, SendJingle):
                if command.jingle.action == "session-initiate":
                    self.counters["participants_invited"] += 1
                self._spawn(self._send_iq(f"{room.jid}/{command.nick}", command.jingle.to_element()))
            elif isinstance(command, SendMute):
                self._spawn(self._send_iq(f"{room.jid}/{command.nick}", command.mute.to_element()))
            elif isinstance(command, GrantOwner):
                iq = self.xmpp.make_iq_set(ito=room.jid)
                query = SubElement(iq.xml, q(NS_MUC_ADMIN, "query"))
                SubElement(query, q(NS_MUC_ADMIN, "item"), affiliation="owner", jid=command.jid.partition("/")[0])
                self._spawn(self._send_prepared(iq))
            elif isinstance(command, SetBridgeAvailable):
                room.bridge_available = command.available
                self._send_room_presence(room)
            elif isinstance(command, End):
                log.info("focus: conference %s ends: %s", room.jid, command.reason)
                self._leave(room)
        if not core.ended:
            room.timer.at(core.next_deadline())

    def _leave(self, room: Room) -> None:
        room.timer.cancel()
        self.rooms.pop(room.jid, None)
        self.authority.conference_ended(room.jid)
        if self.connected.is_set():
            self.xmpp.make_presence(pto=f"{room.jid}/{NICK}", ptype="unavailable").send()

    async def _colibri(self, room: Room, command: ColibriRequest) -> None:
        iq = self.xmpp.make_iq_set(ito=command.bridge)
        iq.xml.append(command.request)
        answer, error = None, None
        try:
            result = await iq.send(timeout=self.settings.focus.colibri_timeout)
            answer = next(iter(result.xml), None)
        except IqError as exc:
            error = read_error(exc.iq.xml.find(f"{{{self.xmpp.default_ns}}}error"))
        except IqTimeout:
            if not self.connected.is_set():
                return  # our own connection dropped; the brewery rejoin decides about the bridge
            error = BridgeError("remote-server-timeout", text="no answer from the bridge")
        if error is not None:
            log.warning("focus: Colibri2 %s to %s failed: %s", command.key[0], command.bridge, error)
        if room.core is not None and not room.core.ended:
            room.core.colibri_result(command.key, answer, error, self.now())
            self.flush(room)

    async def _send_iq(self, to: str, payload: Element) -> None:
        iq = self.xmpp.make_iq_set(ito=to)
        iq.xml.append(payload)
        await self._send_prepared(iq)

    async def _send_prepared(self, iq: slixmpp.Iq) -> None:
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
            "xmpp_connected": self.connected.is_set(),
            **self.counters,
        }

    def debug(self) -> dict:
        return {room.jid: room.core.stats() for room in self.rooms.values() if room.core is not None}


class RoomJoinError(Exception):
    """The MUC refused the focus's join."""
