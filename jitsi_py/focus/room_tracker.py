"""The conference rooms the focus owns: asyncio glue around :class:`Conference` and ``rooms.py``.

For each room: join it as ``focus``, unlock and configure it when the join created it, learn its
meeting id, then run its conference core. Occupants' presences become the core's joins, changes
and exits (after a disco#info for the features of each newcomer); our own exit ends the
conference or, after a reconnect, is followed by a rejoin that asks each known participant
whether it is still there.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING, Iterator, Mapping
from xml.etree.ElementTree import Element, SubElement

from slixmpp.exceptions import IqError, IqTimeout

from ..common import ns
from ..common.aio import Rearm
from ..common.stanzas.jibri import RecordingStatus
from ..common.stanzas.jingle import q
from ..common.stanzas.jitsi import (
    DEFAULT_FEATURES,
    ParticipantPresence,
    bridge_not_available,
    conference_properties,
    focus_versions,
)
from .bridges import redistribution_moves
from .conference import Conference, Participant
from .jibri import Recording
from .jigasi import TranscriberInvite
from .rooms import NICK, MucPresence, read_presence, trusted_services

if TYPE_CHECKING:
    from .client import Focus

log = logging.getLogger("jitsi_py.focus")

VERSION = "1.0-jitsi-py"
JOIN_TIMEOUT = 10.0
DISCO_TIMEOUT = 5.0


class RoomJoinError(Exception):
    """The MUC refused the focus's join."""


class Room:
    """One conference room: the core, its timer, and which occupants we know."""

    def __init__(self, focus: Focus, jid: str) -> None:
        self.focus = focus
        self.jid = jid
        self.core: Conference | None = None
        self.joined: asyncio.Future[bool] | None = None  # our join: True when it created the room
        self.setup: asyncio.Future[None] | None = None
        self.timer = Rearm(asyncio.get_running_loop(), self._on_timer)
        self.pending: set[str] = set()  # nicks whose features are being discovered
        self.early: dict[str, Element] = {}  # occupants' presences seen before the core exists
        # Every occupant but us, as the MUC last showed it: who may ask the focus for a recorder or a call.
        self.occupants: dict[str, MucPresence] = {}
        self.bridge_available = True
        self.recording: Recording | None = None  # with recording on (docs/focus.md §8)
        self.recording_status: RecordingStatus | None = None  # in our presence once published
        self.transcriber_invite = TranscriberInvite()  # docs/transcription.md §1

    def moderator(self, nick: str) -> bool | None:
        """Whether the occupant has moderator rights; None for no occupant (jicofo's role check)."""
        occupant = self.occupants.get(nick)
        if occupant is None:
            return None
        return occupant.role == "moderator" or occupant.affiliation in ("owner", "admin")

    def _on_timer(self, now: float) -> None:
        if self.core is not None:
            self.core.handle_timer(now)
            if self.recording is not None:
                self.recording.handle_timer(now)
            self.focus.flush(self)

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self.core.next_deadline() if self.core is not None else None,
                                 self.recording.next_deadline() if self.recording is not None else None)
                     if d is not None]
        return min(deadlines) if deadlines else None


class RoomTracker(Mapping[str, Room]):
    """The rooms by JID (lower case)."""

    def __init__(self, focus: Focus) -> None:
        self.focus = focus
        self._rooms: dict[str, Room] = {}

    def __getitem__(self, jid: str) -> Room:
        return self._rooms[jid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rooms)

    def __len__(self) -> int:
        return len(self._rooms)

    # --- set-up -----------------------------------------------------------------------------------

    async def ensure(self, room_jid: str) -> Room:
        """The room, joined and with its conference; concurrent requests share one set-up."""
        room = self._rooms.get(room_jid)
        if room is None:
            room = self._rooms[room_jid] = Room(self.focus, room_jid)
            room.setup = asyncio.ensure_future(self._set_up(room))
        if room.core is None and room.setup is not None:
            try:
                await asyncio.shield(room.setup)
            except BaseException:
                if self._rooms.get(room_jid) is room and room.core is None:
                    del self._rooms[room_jid]
                raise
        return room

    async def _set_up(self, room: Room) -> None:
        focus = self.focus
        room.joined = asyncio.get_running_loop().create_future()
        focus.join(room.jid, self._extensions(room))
        created = await asyncio.wait_for(asyncio.shield(room.joined), JOIN_TIMEOUT)
        await self._configure(room.jid, created)
        meeting_id = await self._meeting_id(room.jid)
        fs = focus.settings.focus
        # with authentication, as jicofo's AuthenticationRoleManager: authenticated users are the
        # owners, no one else is elected
        auto_owner = fs.auto_owner and not fs.auth.enabled
        room.core = Conference(
            room.jid, meeting_id, focus_jid=focus.xmpp.boundjid.full, bridges=focus.bridges, offer=focus.offer,
            now=focus.now(), initial_timeout=fs.initial_timeout,
            single_participant_timeout=fs.single_participant_timeout, max_ssrcs=fs.max_ssrcs_per_user,
            max_groups=fs.max_ssrc_groups_per_user, octo=fs.octo, relay_failure_avoid=fs.relay_failure_avoid,
            strip_simulcast=fs.strip_simulcast,
            ssrc_rewriting=fs.ssrc_rewriting, auto_owner=auto_owner, restart_limits=focus.restart_limits,
            transcription_url=fs.services.transcription_url_template, initiate_wait=fs.initiate_wait)
        recorders = focus.recorders
        if recorders is not None:
            services = fs.services
            room.recording = Recording(room.jid, recorders, retries=services.jibri_retries,
                                       pending_timeout=services.jibri_pending_timeout,
                                       moderator_checks=services.moderator_checks)
        focus.counters["conferences_created"] += 1
        log.info("focus: conference %s (meeting %s)", room.jid, meeting_id)
        early, room.early = room.early, {}
        for nick, stanza in early.items():
            self._occupant(room, read_presence(nick, stanza), stanza)
        focus.flush(room)

    async def _configure(self, room_jid: str, created: bool) -> None:
        """Unlock a new room and make it non-anonymous (docs/focus.md §2.1)."""
        xmpp = self.focus.xmpp
        iq = xmpp.make_iq_get(queryxmlns=ns.MUC_OWNER, ito=room_jid)
        try:
            answer = await iq.send(timeout=DISCO_TIMEOUT)
            form = answer.xml.find(f"{q(ns.MUC_OWNER, 'query')}/{q(ns.DATA_FORMS, 'x')}")
        except (IqError, IqTimeout):
            form = None
        fields = {f.get("var") for f in form.findall(q(ns.DATA_FORMS, "field"))} if form is not None else set()
        if not created and "muc#roomconfig_whois" not in fields:
            return
        submit = xmpp.make_iq_set(ito=room_jid)
        query = SubElement(submit.xml, q(ns.MUC_OWNER, "query"))
        x = SubElement(query, q(ns.DATA_FORMS, "x"), type="submit")
        _field(x, "FORM_TYPE", ns.MUC_ROOMCONFIG)
        if "muc#roomconfig_whois" in fields or form is None:
            _field(x, "muc#roomconfig_whois", "anyone")
        try:
            await submit.send(timeout=DISCO_TIMEOUT)
        except (IqError, IqTimeout) as exc:
            log.warning("focus: configuring %s failed: %s", room_jid, exc)

    async def _meeting_id(self, room_jid: str) -> str:
        iq = self.focus.xmpp.make_iq_get(queryxmlns=ns.DISCO_INFO, ito=room_jid)
        try:
            result = await iq.send(timeout=DISCO_TIMEOUT)
        except (IqError, IqTimeout):
            return str(uuid.uuid4())
        for field in result.xml.iter(q(ns.DATA_FORMS, "field")):
            if field.get("var") == "muc#roominfo_meetingId":
                value = field.find(q(ns.DATA_FORMS, "value"))
                if value is not None and value.text:
                    return value.text
        return str(uuid.uuid4())

    def _extensions(self, room: Room) -> list[Element]:
        extensions = [focus_versions(VERSION), conference_properties({"support-terminate-restart": "true"})]
        if not room.bridge_available:
            extensions.append(bridge_not_available())
        if room.recording_status is not None:
            extensions.append(room.recording_status.to_element())
        return extensions

    def publish(self, room: Room) -> None:
        """Our presence in the room, again: whether a bridge is available, the recording status."""
        presence = self.focus.xmpp.make_presence(pto=f"{room.jid}/{NICK}")
        for ext in self._extensions(room):
            presence.xml.append(ext)
        presence.send()

    # --- the connection ---------------------------------------------------------------------------

    def connected(self) -> None:
        """Back after a reconnect: every room is joined again."""
        for room in list(self._rooms.values()):
            self.focus.spawn(self._rejoin(room))

    def disconnected(self) -> None:
        for room in self._rooms.values():
            if room.joined is not None and not room.joined.done():
                room.joined.cancel()
            room.joined = None

    def stop(self) -> None:
        for room in self._rooms.values():
            room.timer.cancel()
            if room.setup is not None:
                room.setup.cancel()

    async def _rejoin(self, room: Room) -> None:
        """Join again, then ask each known participant whether it is still there (the MUC
        answers ``item-not-found`` for one who left while we were away)."""
        focus = self.focus
        room.joined = joined = asyncio.get_running_loop().create_future()
        room.occupants.clear()  # the MUC lists everyone again as we join
        focus.join(room.jid, self._extensions(room))
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
                    room.core.left(nick, focus.now())
            focus.flush(room)

    async def _occupant_gone(self, occupant: str) -> bool:
        iq = self.focus.xmpp.make_iq_get(queryxmlns=ns.DISCO_INFO, ito=occupant)
        try:
            await iq.send(timeout=DISCO_TIMEOUT)
        except IqError as exc:
            return exc.iq["error"]["condition"] == "item-not-found"
        except IqTimeout:
            return False
        return False

    # --- presence ---------------------------------------------------------------------------------

    def presence(self, room: Room, nick: str, stanza: Element) -> None:
        """A presence from ``<room>/<nick>``."""
        presence = read_presence(nick, stanza)
        if presence.type == "error":
            if presence.ours and room.joined is not None and not room.joined.done():
                room.joined.set_exception(RoomJoinError(presence.error))
            return
        if presence.ours:
            if presence.gone:
                self._lost(room, presence)
            elif room.joined is not None and not room.joined.done():
                room.joined.set_result(presence.created)
            return
        if presence.gone:
            room.occupants.pop(nick, None)
        else:
            room.occupants[nick] = presence
        if room.core is None:
            if presence.gone:
                room.early.pop(nick, None)
            else:
                room.early[nick] = stanza
            return
        self._occupant(room, presence, stanza)

    def _occupant(self, room: Room, presence: MucPresence, stanza: Element) -> None:
        core = room.core
        assert core is not None
        nick = presence.nick
        if presence.gone:
            room.pending.discard(nick)
            core.left(nick, self.focus.now())
            self.focus.flush(room)
            return
        info = ParticipantPresence.from_element(stanza)
        if nick in core.participants:
            core.presence_changed(nick, role=presence.role, affiliation=presence.affiliation, region=info.region,
                                  stats_id=info.stats_id, services=self._services(presence, info))
            return
        if nick in room.pending:
            return
        room.pending.add(nick)
        self.focus.spawn(self._admit(room, presence, info))

    async def _admit(self, room: Room, presence: MucPresence, info: ParticipantPresence) -> None:
        focus = self.focus
        nick = presence.nick
        features = await self._features(f"{room.jid}/{nick}", info)
        if nick not in room.pending or room.core is None:
            return  # left meanwhile
        room.pending.discard(nick)
        authenticated = focus.authority.session_for(presence.real_jid, time.time()) is not None
        participant = Participant(nick, f"{room.jid}/{nick}", real_jid=presence.real_jid, role=presence.role,
                                  affiliation=presence.affiliation, features=features, region=info.region,
                                  stats_id=info.stats_id, authenticated=authenticated,
                                  services=self._services(presence, info))
        room.core.joined(participant, focus.now())
        if participant.is_transcriber:
            room.transcriber_invite.done()
        focus.flush(room)

    def _services(self, presence: MucPresence, info: ParticipantPresence) -> frozenset[str]:
        return trusted_services(info.features, presence.real_jid, self.focus.settings.focus.services.trusted_domains)

    async def _features(self, occupant: str, info: ParticipantPresence) -> frozenset[str]:
        caps = self.focus.caps
        features = caps.get(info.caps_node, info.caps_ver)
        if features is not None:
            return features
        iq = self.focus.xmpp.make_iq_get(queryxmlns=ns.DISCO_INFO, ito=occupant)
        try:
            result = await iq.send(timeout=DISCO_TIMEOUT)
        except (IqError, IqTimeout):
            return DEFAULT_FEATURES
        query = result.xml.find(q(ns.DISCO_INFO, "query"))
        if query is None:
            return DEFAULT_FEATURES
        return caps.learn(info.caps_node, info.caps_ver, info.caps_hash, query) or DEFAULT_FEATURES

    def _lost(self, room: Room, presence: MucPresence) -> None:
        """We are out of the room: the conference ends with a final exit, else we join again."""
        if room.core is None or room.core.ended or self._rooms.get(room.jid) is not room:
            return
        if presence.final:
            log.warning("focus: removed from %s", room.jid)
            room.core.end("the focus is no longer in the room")
            self.focus.flush(room)
        elif self.focus.connected.is_set():
            self.focus.spawn(self._rejoin(room))

    # --- what the conferences learn from elsewhere ---------------------------------------------------

    def authenticated(self, room_jid: str, requester: str) -> None:
        """A member already in the room who authenticates (a guest logging in) becomes an owner."""
        room = self._rooms.get(room_jid)
        if room is not None and room.core is not None:
            room.core.authenticated(requester)
            self.focus.flush(room)

    def bridges_changed(self, now: float) -> None:
        for room in list(self._rooms.values()):
            if room.core is not None:
                room.core.bridges_changed(now)
                self.focus.flush(room)

    def bridge_down(self, jid: str, now: float) -> None:
        """Every participant on the bridge moves."""
        for room in list(self._rooms.values()):
            if room.core is not None and jid in room.core.sessions:
                moved = sum(1 for p in room.core.participants.values() if p.bridge == jid)
                self.focus.counters["participants_moved"] += moved
                room.core.bridge_down(jid, now)
                self.focus.flush(room)

    def relays_reported(self, jid: str, failed: frozenset[tuple[str, str]], now: float) -> None:
        """The bridge's presence listed its failed relays (meeting id, relay id): each conference
        on it hears of its own, and may move the participants of one side (docs/focus.md §5.5)."""
        for room in list(self._rooms.values()):
            core = room.core
            if core is not None and jid in core.sessions:
                moved = core.relays_reported(jid, {relay for meeting, relay in failed if meeting == core.meeting_id},
                                             now)
                if moved:
                    log.warning("focus: a relay of %s failed at both ends: %d participants moved off a bridge",
                                room.jid, moved)
                    self.focus.counters["relay_failures"] += 1
                    self.focus.counters["participants_moved"] += moved
                self.focus.flush(room)

    def redistribute(self, now: float) -> None:
        """jicofo's LoadRedistributor: endpoints off each overloaded bridge, from the conferences
        with the most on it (JICOFO_ENABLE_LOAD_REDISTRIBUTION)."""
        table = self.focus.bridges
        for jid in table.to_relieve(now):
            live = {room.jid: (room, room.core) for room in self._rooms.values()
                    if room.core is not None and not room.core.ended}
            on_bridge = {room_jid: core.endpoints_on(jid) for room_jid, (_, core) in live.items()}
            moves = redistribution_moves({k: v for k, v in on_bridge.items() if v}, table.redistribution.endpoints)
            moved = 0
            for room_jid, count in moves.items():
                room, core = live[room_jid]
                moved += core.move_endpoints(jid, count, now)
                self.focus.flush(room)
            self.focus.counters["participants_moved"] += moved
            log.info("focus: load redistribution moved %d endpoints from %d conferences off %s",
                     moved, len(moves), jid)

    def leave(self, room: Room) -> None:
        """The conference ended: out of the room, and forgotten."""
        room.timer.cancel()
        self._rooms.pop(room.jid, None)
        self.focus.authority.conference_ended(room.jid)
        if self.focus.connected.is_set():
            self.focus.xmpp.make_presence(pto=f"{room.jid}/{NICK}", ptype="unavailable").send()


def _field(form: Element, var: str, value: str) -> None:
    SubElement(SubElement(form, q(ns.DATA_FORMS, "field"), var=var), q(ns.DATA_FORMS, "value")).text = value
