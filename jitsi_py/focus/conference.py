"""One conference as the focus sees it: participants, their sources, bridge sessions. Sans-I/O.

Inputs are method calls (MUC joins and leaves, Jingle from participants, Colibri2 answers, bridge
changes, ``handle_timer(now)``); outputs are commands drained from :meth:`Conference.commands`
that the glue executes: :class:`ColibriRequest` (answer fed back with :meth:`colibri_result`),
:class:`SendJingle`, :class:`SendMute`, :class:`GrantOwner`, :class:`SetBridgeAvailable`,
:class:`End`. Refusals raise the :class:`StanzaError` the glue answers with. The participant
session lifecycle is the table :data:`TRANSITIONS`; Jingle from a participant is handled by
action through the table :data:`JINGLE_ACTIONS`.
"""

from __future__ import annotations

import secrets
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Callable, NamedTuple
from xml.etree.ElementTree import Element

from ..common import ns
from ..common.errors import StanzaError
from ..common.stanzas.colibri2 import Connect, RelayEndpoint
from ..common.stanzas.jibri import FEATURE as FEATURE_JIBRI
from ..common.stanzas.jingle import Jingle, Source, q
from ..common.stanzas.jitsi import FEATURE_SSRC_REWRITING, MuteIq
from ..common.stanzas.rayo import FEATURE_JIGASI, FEATURE_TRANSCRIBER
from . import colibri2
from .bridges import BridgeTable
from .colibri2 import BridgeError, EndpointAllocation, relay_endpoint
from .jingle import (
    Offer,
    SourceError,
    Sources,
    initial_last_n,
    read_sources,
    read_transport,
    remove_sources,
    session_initiate,
    session_terminate,
    source_update,
    strip_simulcast,
    transport_info,
    validate_sources,
)
from .relays import RelayMesh, Request

# (state, event) -> next state of one participant's media session.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("waiting", "invite"): "allocating",
    ("allocating", "allocated"): "offered",
    ("offered", "accept"): "active",
    # The allocation failed, the participant is moved to another bridge, was left alone, or ended
    # its session: back to waiting for an invitation.
    ("allocating", "reset"): "waiting",
    ("offered", "reset"): "waiting",
    ("active", "reset"): "waiting",
}


@dataclass(frozen=True)
class RestartLimits:
    """jicofo's conference.restart-request-rate-limits (reference.conf's defaults), applied to each
    participant's full session restarts and in-place ICE restarts as two separate budgets."""

    min_interval: float = 5.0
    max_requests: int = 5
    interval: float = 60.0

    def accept(self, times: list[float], now: float) -> bool:
        """Records the request in ``times`` (pruned in place) when it is within the limits."""
        times[:] = [t for t in times if now - t < self.interval]
        if (times and now - times[-1] < self.min_interval) or len(times) >= self.max_requests:
            return False
        times.append(now)
        return True


def unknown_session(text: str) -> StanzaError:
    """The refusal of Jingle for a session the focus does not know (XEP-0166's ``unknown-session``)."""
    return StanzaError("cancel", "item-not-found", text, [Element(q(ns.JINGLE_ERRORS, "unknown-session"))])


@dataclass
class ColibriRequest:
    bridge: str
    request: Element
    key: tuple[str, str, str | None]  # handed back to Conference.colibri_result


@dataclass
class SendJingle:
    nick: str
    jingle: Jingle


@dataclass
class SendMute:
    nick: str
    mute: MuteIq


@dataclass
class GrantOwner:
    jid: str


@dataclass
class SetBridgeAvailable:
    available: bool


@dataclass
class End:
    reason: str


Command = ColibriRequest | SendJingle | SendMute | GrantOwner | SetBridgeAvailable | End


@dataclass
class Participant:
    nick: str
    occupant_jid: str
    real_jid: str | None = None
    role: str = "participant"
    affiliation: str = "none"
    features: frozenset[str] = frozenset()
    region: str | None = None
    stats_id: str | None = None
    authenticated: bool = False
    # Recorder, gateway or transcriber features from a trusted domain (rooms.trusted_services).
    services: frozenset[str] = frozenset()
    state: str = "waiting"
    bridge: str | None = None
    session_id: str | None = None  # the bridge session (bridge-session id)
    sid: str | None = None  # the Jingle session
    old_sids: set[str] = field(default_factory=set)
    sources: Sources = field(default_factory=lambda: ([], []))
    queued: list[tuple[str, str, Sources]] = field(default_factory=list)  # (action, owner, sources)
    offered_at: float = 0.0  # when its session-initiate went out
    initiate_due: float | None = None  # allocated, its session-initiate held until then (_hold_initiate)
    muted: dict[str, bool] = field(default_factory=lambda: {"audio": False, "video": False})
    forced: tuple[bool, bool] = (False, False)  # (audio, video) force-mute the bridge applies
    # When the participant asked for a full restart and for an in-place ICE restart.
    restarts: list[float] = field(default_factory=list)
    ice_restarts: list[float] = field(default_factory=list)

    def advance(self, event: str) -> None:
        nxt = TRANSITIONS.get((self.state, event))
        if nxt is None:
            raise ValueError(f"participant {self.nick}: no transition from {self.state!r} on {event!r}")
        self.state = nxt

    @property
    def moderator(self) -> bool:
        return self.role == "moderator" or self.affiliation in ("owner", "admin")

    @property
    def is_jibri(self) -> bool:
        return FEATURE_JIBRI in self.services

    @property
    def is_jigasi(self) -> bool:
        return FEATURE_JIGASI in self.services

    @property
    def is_transcriber(self) -> bool:
        return FEATURE_TRANSCRIBER in self.services

    @property
    def keeps_alive(self) -> bool:
        """A recorder or transcriber alone is no conference (docs/focus.md §10); a phone caller is."""
        return not (self.is_jibri or self.is_transcriber)

    @property
    def invited(self) -> bool:
        return self.state in ("allocating", "offered", "active")


@dataclass
class BridgeSession:
    """The conference on one bridge (a Colibri2 conference); ``id`` is the bridge-session id."""

    id: str
    bridge: str
    created: bool = False
    creating: str | None = None  # nick whose allocation carries create="true"
    waiting: deque[str] = field(default_factory=deque)  # nicks to allocate once created
    pending: set[str] = field(default_factory=set)  # nicks whose endpoint create is on its way (conference made)
    endpoints: set[str] = field(default_factory=set)
    feedback: list[Source] = field(default_factory=list)
    relay_id: str | None = None  # the bridge's, as it was when the session began (jicofo keeps it too)
    connects: dict[str, Connect] = field(default_factory=dict)  # by id: what the bridge was told to run

    def placed(self) -> set[str]:
        """Everyone on this bridge: allocated, being allocated, or waiting for the conference."""
        nicks = self.endpoints | self.pending | set(self.waiting)
        if self.creating is not None:
            nicks.add(self.creating)
        return nicks


class Conference:
    def __init__(self, room: str, meeting_id: str, *, focus_jid: str, bridges: BridgeTable, offer: Offer,
                 now: float, min_participants: int = 2, initial_timeout: float = 15.0,
                 single_participant_timeout: float = 20.0, max_ssrcs: int = 20, max_groups: int = 20,
                 strip_simulcast: bool = True, ssrc_rewriting: bool = False, auto_owner: bool = True,
                 octo: bool = False, relay_failure_avoid: float = 600.0,
                 restart_limits: RestartLimits = RestartLimits(), transcription_url: str | None = None,
                 initiate_wait: float = 0.5) -> None:
        self.room = room
        self.meeting_id = meeting_id
        self.focus_jid = focus_jid
        self.bridges = bridges
        self.offer = offer
        self.min_participants = min_participants
        self.single_participant_timeout = single_participant_timeout
        self.max_ssrcs = max_ssrcs
        self.max_groups = max_groups
        self.strip_simulcast = strip_simulcast
        self.ssrc_rewriting = ssrc_rewriting
        self.auto_owner = auto_owner
        self.restart_limits = restart_limits
        self.initiate_wait = initiate_wait
        self.participants: dict[str, Participant] = {}
        self.sessions: dict[str, BridgeSession] = {}  # by bridge JID
        # With Octo the conference may span bridges, joined by relays; without, it still may, unlinked.
        self.mesh = RelayMesh(meeting_id, [
            offer.audio(tcc=offer.tcc, red=offer.opus_red),
            offer.video(tcc=offer.tcc, remb=not offer.tcc and offer.remb)]) if octo else None
        self.relay_failure_avoid = relay_failure_avoid
        self.avoid: dict[str, float] = {}  # bridge JID -> until when this conference keeps off it
        self.allocations: dict[str, EndpointAllocation] = {}  # by nick
        self.ended = False
        self.bridge_available = True
        self._commands: deque[Command] = deque()
        self.moderation: dict[str, set[str] | None] = {"audio": None, "video": None}  # media -> whitelist
        self._initial_deadline: float | None = now + initial_timeout
        self._alone_deadline: float | None = None
        # Transcription by the bridge's export (docs/transcription.md §6): the URL template, and
        # whether the room asks for it now; one bridge of the conference exports, as with jicofo.
        self.transcription_url = transcription_url
        self.transcribing = False
        self.connect_host: str | None = None  # bridge JID

    # --- outputs ----------------------------------------------------------------------------------

    def commands(self) -> list[Command]:
        out = list(self._commands)
        self._commands.clear()
        return out

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self._initial_deadline, self._alone_deadline) if d is not None]
        deadlines += [p.initiate_due for p in self.participants.values() if p.initiate_due is not None]
        return min(deadlines) if deadlines else None

    # --- MUC --------------------------------------------------------------------------------------

    def joined(self, participant: Participant, now: float) -> None:
        if self.ended:
            return
        if participant.keeps_alive:
            self._initial_deadline = None
        self.participants[participant.nick] = participant
        self._elect_owner(participant)
        participant.forced = self._force_mute(participant)
        self._maybe_invite(now)
        self._check_alone(now)

    def presence_changed(self, nick: str, *, role: str | None = None, affiliation: str | None = None,
                         region: str | None = None, stats_id: str | None = None,
                         services: frozenset[str] | None = None) -> None:
        participant = self.participants.get(nick)
        if participant is None:
            return
        if services is not None:
            participant.services = services
        participant.role = role or participant.role
        participant.affiliation = affiliation or participant.affiliation
        participant.region = region or participant.region
        participant.stats_id = stats_id or participant.stats_id
        self._push_force_mute(participant)

    def authenticated(self, real_jid: str) -> None:
        """This member's JID authenticated while in the room (jicofo's AuthenticationRoleManager):
        it becomes an owner."""
        for participant in self.participants.values():
            if participant.real_jid == real_jid:
                participant.authenticated = True
                self._elect_owner(participant)

    def left(self, nick: str, now: float) -> None:
        participant = self.participants.pop(nick, None)
        if participant is None:
            return
        self._release(participant)
        if participant.sources[0]:
            self._broadcast("source-remove", participant.nick, participant.sources)
        if participant.affiliation == "owner" or participant.role == "moderator":
            for other in self.participants.values():
                if self._elect_owner(other):
                    break
        if not self._alive():
            self._end("the room is empty")
            return
        self._check_alone(now)

    # --- bridges ----------------------------------------------------------------------------------

    def bridges_changed(self, now: float) -> None:
        """A bridge appeared (or changed): invite whoever is waiting for one."""
        self._maybe_invite(now)

    def bridge_down(self, jid: str, now: float) -> None:
        """The bridge left or failed: every participant on it is moved (docs/focus.md §5.5)."""
        session = self.sessions.pop(jid, None)
        if session is None:
            return
        self._relay_requests(self.mesh.leave(session, self.sessions) if self.mesh else [])
        # Best effort: a bridge wrongly taken for dead must not keep the conference, or a later
        # create there would clash with it; a dead one just leaves this unanswered.
        self._commands.append(ColibriRequest(jid, colibri2.expire_conference(self.meeting_id),
                                             ("expire", "", session.id)))
        for nick in sorted(session.placed()):
            participant = self.participants.get(nick)
            if participant is not None and participant.bridge == jid:
                self._move(participant, now)
        if jid == self.connect_host:
            self._update_connects()

    def relays_reported(self, jid: str, failed: set[str], now: float) -> int:
        """``jid``'s bridge says which of its relays in this conference (by the other bridge's relay
        id) have failed. A link failed at both ends, both bridges alive to say so, cannot carry media
        between them: the side with fewer participants (on a tie, the side that joined later) is
        moved as on a bridge failure, and the conference keeps off that bridge for a while. Returns
        how many participants move."""
        session = self.sessions.get(jid)
        if session is None or self.mesh is None:
            return 0
        by_relay_id = {s.relay_id: s.bridge for s in self.sessions.values() if s is not session and s.relay_id}
        moved = 0
        for other in self.mesh.reported(jid, {by_relay_id[r] for r in failed if r in by_relay_id}):
            if jid not in self.sessions or other not in self.sessions:
                continue  # one side moved already for another broken link
            initiated = self.mesh.initiated(jid, other)  # the initiator is the side that joined later
            leaving = jid if (self._placed(jid), not initiated) < (self._placed(other), initiated) else other
            self.avoid[leaving] = now + self.relay_failure_avoid
            moved += sum(1 for p in self.participants.values() if p.bridge == leaving)
            self.bridge_down(leaving, now)
        return moved

    def _placed(self, bridge: str) -> int:
        return len(self.sessions[bridge].placed())

    def colibri_result(self, key: tuple[str, str, str | None], answer: Element | None, error: BridgeError | None,
                       now: float) -> None:
        kind, nick, session_id = key
        session = next((s for s in self.sessions.values() if s.id == session_id), None)
        if kind == "create":
            self._allocated(nick, session, answer, error, now)
        elif kind == "relay" and error is None and session is not None and self.mesh is not None:
            self._relay_requests(self.mesh.allocated(session, self.sessions.get(nick), answer))
        elif kind == "ice-restart" and error is None:
            self._ice_restarted(nick, session_id, answer, now)
        elif error is not None and session is not None:
            if error.conference_lost or error.condition == "remote-server-timeout":
                if error.condition == "remote-server-timeout":
                    self.bridges.failed(session.bridge, now)
                self.bridge_down(session.bridge, now)
            elif error.reason == "unknown_endpoint" or kind == "ice-restart":
                participant = self.participants.get(nick)
                if participant is not None and participant.session_id == session_id:
                    self._move(participant, now)

    # --- Jingle from participants -------------------------------------------------------------------

    def jingle(self, nick: str, jingle: Jingle, now: float) -> None:
        """Handles the action by :data:`JINGLE_ACTIONS`; raises :class:`StanzaError` for the error
        answer, and nothing else is affected then."""
        participant = self.participants.get(nick)
        if participant is None:
            raise unknown_session("not a participant of this conference")
        if jingle.sid != participant.sid:
            if jingle.sid in participant.old_sids:
                if jingle.action == "session-terminate":
                    return
                raise StanzaError("cancel", "gone", "session ended")
            raise unknown_session("unknown session")
        rule = JINGLE_ACTIONS.get(jingle.action)
        if rule is None:
            raise StanzaError("cancel", "feature-not-implemented", f"{jingle.action} is not supported")
        if participant.state not in rule.states:
            raise StanzaError("cancel", "unexpected-request", f"{jingle.action} in state {participant.state}")
        rule.handler(self, participant, jingle, now)

    def _on_session_accept(self, participant: Participant, jingle: Jingle, now: float) -> None:
        added = self._validated(participant, read_sources(jingle, participant.nick))
        participant.sources = added
        participant.advance("accept")
        self._colibri(participant, "update", colibri2.update_endpoint(
            self.meeting_id, participant.nick, transport=read_transport(jingle), sources=added,
            initial_last_n=initial_last_n(jingle), stats_id=participant.stats_id))
        if added[0]:
            self._relay_sources(participant)
            self._broadcast("source-add", participant.nick, added)
        queued, participant.queued = participant.queued, []
        for action, owner, sources in queued:
            self._send_sources(participant, action, owner, sources)
        # All that this accept releases go at once: an offer sent now is not one to wait for.
        for other in [o for o in self.participants.values()
                      if o.initiate_due is not None and not self._hold_initiate(o, now)]:
            self._send_initiate(other, now)

    def _on_transport_info(self, participant: Participant, jingle: Jingle, now: float) -> None:
        transport = read_transport(jingle)
        if transport is None:
            raise StanzaError("cancel", "bad-request", "transport-info without a transport")
        self._colibri(participant, "update", colibri2.update_endpoint(
            self.meeting_id, participant.nick, transport=transport))

    def _on_transport_reject(self, participant: Participant, jingle: Jingle, now: float) -> None:
        return None

    def _on_source_add(self, participant: Participant, jingle: Jingle, now: float) -> None:
        added = read_sources(jingle, participant.nick)
        participant.sources = self._validated(participant, added)
        self._push_sources(participant)
        self._broadcast("source-add", participant.nick, added)

    def _on_source_remove(self, participant: Participant, jingle: Jingle, now: float) -> None:
        removed = read_sources(jingle, participant.nick)
        known = {s.ssrc for s in participant.sources[0]}
        removed = ([s for s in removed[0] if s.ssrc in known], removed[1])
        participant.sources = remove_sources(participant.sources, removed)
        self._push_sources(participant)
        if removed[0]:
            self._broadcast("source-remove", participant.nick, removed)

    def _on_session_info(self, participant: Participant, jingle: Jingle, now: float) -> None:
        """An in-place ICE restart request (docs/focus.md §3.5) or, as jicofo still honours it, an
        ``<ice-state>failed</ice-state>`` notice (re-invited at once); other session-info is informational."""
        bridge_session = jingle.bridge_session
        if bridge_session is not None and bridge_session.ice_restart:
            if bridge_session.id != participant.session_id:
                raise StanzaError("cancel", "item-not-found", "not the current bridge session")
            if not self.restart_limits.accept(participant.ice_restarts, now):
                raise StanzaError("cancel", "resource-constraint", "ICE restarts are rate limited")
            self._colibri(participant, "ice-restart", colibri2.update_endpoint(
                self.meeting_id, participant.nick, ice_restart=True, stats_id=participant.stats_id))
        elif (jingle.ice_state or "").lower() == "failed" and (
                bridge_session is None or bridge_session.id == participant.session_id):
            if participant.bridge:
                self.bridges.restart_requested(participant.bridge, now)
            self._take_off_bridge(participant, "ICE failed")
            self._invite_if_due(participant, now)

    def _on_session_terminate(self, participant: Participant, jingle: Jingle, now: float) -> None:
        """The session ends; with a restart request within the limits a new one is offered (the
        rate-limited one still ends, as in jicofo, and gets ``resource-constraint``)."""
        restart = jingle.bridge_session is not None and jingle.bridge_session.restart
        reinvite = restart and self.restart_limits.accept(participant.restarts, now)
        if reinvite and participant.bridge:
            self.bridges.restart_requested(participant.bridge, now)
        self._take_off_bridge(participant, None)
        if reinvite:
            self._invite(participant, now)
        elif restart:
            raise StanzaError("cancel", "resource-constraint", "session restarts are rate limited")

    # --- mute (docs/focus.md §6) -------------------------------------------------------------------------

    def mute(self, actor_nick: str, request: MuteIq) -> None:
        actor = self.participants.get(actor_nick)
        target_nick = request.jid.rsplit("/", 1)[-1]
        target = self.participants.get(target_nick)
        if actor is None or target is None:
            raise StanzaError("cancel", "item-not-found", "unknown participant")
        if actor is not target and (not request.mute or not actor.moderator):
            raise StanzaError("cancel", "not-allowed", "only a moderator may mute others, and nobody may unmute others")
        media = "video" if request.media == "desktop" else request.media
        if not request.mute and self._moderated(target, media):
            raise StanzaError("cancel", "not-allowed", f"{media} moderation is on and {target.nick} may not unmute")
        target.muted[media] = request.mute
        self._push_force_mute(target)
        if actor is not target:
            self._commands.append(SendMute(target.nick, MuteIq(request.media, request.jid, request.mute,
                                                               actor.occupant_jid)))

    def av_moderation(self, media: str, *, enabled: bool | None = None,
                      whitelist: list[str] | None = None) -> None:
        """State from the av_moderation component (docs/client-xmpp.md §8.6): the bridge drops the
        media of non-moderators who are not on the whitelist while moderation is on."""
        if media not in ("audio", "video"):
            return
        if enabled is not None:
            self.moderation[media] = set() if enabled else None
        if whitelist is not None and self.moderation.get(media) is not None:
            self.moderation[media] = {jid.rsplit("/", 1)[-1] for jid in whitelist}
        for participant in self.participants.values():
            self._push_force_mute(participant)

    def _moderated(self, participant: Participant, media: str) -> bool:
        allowed = self.moderation.get(media)
        return allowed is not None and not participant.moderator and participant.nick not in allowed

    def _force_mute(self, participant: Participant) -> tuple[bool, bool]:
        if participant.is_jibri:  # a recorder sends nothing, and could not unmute
            return (False, False)
        return tuple(participant.muted[m] or self._moderated(participant, m)  # type: ignore[return-value]
                     for m in ("audio", "video"))

    def _push_force_mute(self, participant: Participant) -> None:
        wanted = self._force_mute(participant)
        if wanted == participant.forced:
            return
        participant.forced = wanted
        if participant.invited and participant.bridge in self.sessions:
            self._colibri(participant, "update", colibri2.force_mute(self.meeting_id, participant.nick, *wanted))

    # --- timers -----------------------------------------------------------------------------------

    def handle_timer(self, now: float) -> None:
        for participant in self.participants.values():
            if participant.initiate_due is not None and now >= participant.initiate_due:
                self._send_initiate(participant, now)
        if self._initial_deadline is not None and now >= self._initial_deadline:
            self._initial_deadline = None
            if not self._alive():
                self._end("nobody joined")
        if self._alone_deadline is not None and now >= self._alone_deadline:
            self._alone_deadline = None
            for participant in self.participants.values():
                if participant.invited:
                    if participant.sid and participant.initiate_due is None:
                        self._commands.append(SendJingle(participant.nick, session_terminate(
                            participant.sid, "success", "single participant")))
                    self._release(participant)
                    participant.advance("reset")

    # --- internals --------------------------------------------------------------------------------

    def _alive(self) -> bool:
        return any(p.keeps_alive for p in self.participants.values())

    def _elect_owner(self, participant: Participant) -> bool:
        if participant.real_jid is None:
            return False
        if participant.authenticated and participant.affiliation != "owner":
            self._commands.append(GrantOwner(participant.real_jid))
            participant.affiliation = "owner"
            return True
        if participant.is_jibri or participant.is_jigasi:  # jicofo never elects a service
            return False
        if not self.auto_owner or any(p.affiliation == "owner" for p in self.participants.values()):
            return False
        self._commands.append(GrantOwner(participant.real_jid))
        participant.affiliation = "owner"
        return True

    def _maybe_invite(self, now: float) -> None:
        if len(self.participants) < self.min_participants:
            return
        for participant in list(self.participants.values()):
            if participant.state == "waiting":
                self._invite(participant, now)

    def _check_alone(self, now: float) -> None:
        alone = len(self.participants) == 1 and any(p.invited for p in self.participants.values())
        self._alone_deadline = now + self.single_participant_timeout if alone else None

    def _invite(self, participant: Participant, now: float) -> None:
        counts: dict[str, int] = {}
        for other in self.participants.values():
            if other.bridge:
                counts[other.bridge] = counts.get(other.bridge, 0) + 1
        self.avoid = {jid: until for jid, until in self.avoid.items() if until > now}
        bridge = self.bridges.select(now, current=list(self.sessions), counts=counts, region=participant.region,
                                     multi_bridge=self.mesh is not None, avoid=self.avoid)
        if bridge is None:
            self._set_bridge_available(False)
            return
        self._set_bridge_available(True)
        participant.advance("invite")
        self.bridges.endpoint_added(bridge.jid, now)
        session = self.sessions.get(bridge.jid)
        if session is None:
            session = self.sessions[bridge.jid] = BridgeSession(str(uuid.uuid4()), bridge.jid,
                                                                relay_id=bridge.relay_id)
        participant.bridge = bridge.jid
        participant.session_id = session.id
        if not session.created and session.creating is not None:
            session.waiting.append(participant.nick)
            return
        self._create_endpoint(session, participant)

    def _create_endpoint(self, session: BridgeSession, participant: Participant) -> None:
        create_conference = not session.created
        if create_conference:
            session.creating = participant.nick
        else:
            session.pending.add(participant.nick)
        request = colibri2.create_endpoint(
            self.meeting_id, participant.nick, media=self.offer.media(participant.features),
            sctp=True, create_conference=create_conference, room=self.room, stats_id=participant.stats_id,
            ssrc_rewriting=self._rewrites(participant),
            force_mute=participant.forced)
        self._commands.append(ColibriRequest(session.bridge, request, ("create", participant.nick, session.id)))

    def _allocated(self, nick: str, session: BridgeSession | None, answer: Element | None,
                   error: BridgeError | None, now: float) -> None:
        participant = self.participants.get(nick)
        if session is None:
            return  # the bridge went away meanwhile; its participants were moved already
        session.pending.discard(nick)
        allocation = None
        if error is None:
            try:
                allocation = colibri2.read_allocation(answer, nick)
            except BridgeError as exc:
                error = exc
        if error is not None and (error.bridge_unusable or error.conference_lost):
            self.bridges.failed(session.bridge, now)
            self.bridge_down(session.bridge, now)
            return
        waiting: list[str] = []
        created_now = False
        if session.creating == nick:
            session.creating = None
            session.created = created_now = error is None
            waiting, session.waiting = list(session.waiting), deque()
        if error is not None:
            if participant is not None and participant.session_id == session.id:
                participant.advance("reset")
                participant.bridge = participant.session_id = None
            if not session.created and waiting:
                # The next in line creates the conference instead; the rest wait for it again.
                session.waiting.extend(waiting[1:])
                waiting = waiting[:1]
            for other in waiting:
                if other in self.participants:
                    self._create_endpoint(session, self.participants[other])
            return
        assert allocation is not None  # read without an error
        if allocation.feedback_sources:
            session.feedback = allocation.feedback_sources
        if created_now:
            self._update_connects()  # the bridge may run connects now
        for other in waiting:
            if other in self.participants and self.participants[other].session_id == session.id:
                self._create_endpoint(session, self.participants[other])
        if participant is None or participant.session_id != session.id:
            self._expire(session, nick)  # gone while its endpoint was being made
            return
        session.endpoints.add(nick)
        if self.mesh is not None:
            self._relay_requests(self.mesh.endpoints(session, [self._relayed(participant, create=True)], self.sessions))
            self._relay_requests(self.mesh.join(session, self.sessions.values(), self._behind))
        self.allocations[nick] = allocation
        participant.advance("allocated")
        participant.sid = secrets.token_hex(8)
        participant.queued = []
        if self._hold_initiate(participant, now):
            participant.initiate_due = now + self.initiate_wait
        else:
            self._send_initiate(participant, now)

    def _hold_initiate(self, participant: Participant, now: float) -> bool:
        """Whether a participant just offered its session is about to accept, so that waiting for
        its sources lets ``participant``'s offer carry them. Sources that come by source-add after
        the other side's media started cost the newcomer its first key frame: the browser drops
        packets of a stream it does not know yet and asks again only about half a second later
        (docs/focus.md §3.1)."""
        return any(other is not participant and other.state == "offered" and other.initiate_due is None
                   and now - other.offered_at < self.initiate_wait for other in self.participants.values())

    def _send_initiate(self, participant: Participant, now: float) -> None:
        session = self.sessions.get(participant.bridge or "")
        allocation = self.allocations.get(participant.nick)
        participant.initiate_due = None
        if session is None or allocation is None or participant.sid is None:
            return
        # The offer carries everyone's sources as they are now: what was queued for it is in there.
        participant.queued = []
        participant.offered_at = now
        bridge = self.bridges.bridges.get(session.bridge)
        self._commands.append(SendJingle(participant.nick, session_initiate(
            self.offer, sid=participant.sid, initiator=self.focus_jid, transport=allocation.transport,
            features=participant.features, sctp_port=allocation.sctp_port,
            remote=self._remote_sources(participant), bridge_session=session.id,
            region=bridge.region if bridge else None)))

    def _ice_restarted(self, nick: str, session_id: str | None, answer: Element | None, now: float) -> None:
        participant = self.participants.get(nick)
        if participant is None or participant.session_id != session_id or participant.sid is None:
            return
        try:
            transport = colibri2.read_restarted_transport(answer, nick)
        except BridgeError:
            transport = None
        if transport is None:
            self._move(participant, now)  # the bridge could not restart ICE in place: re-invite
            return
        self._commands.append(SendJingle(nick, transport_info(participant.sid, transport)))

    def _move(self, participant: Participant, now: float) -> None:
        if participant.sid:
            if participant.initiate_due is None:  # a held offer never reached the participant
                self._commands.append(SendJingle(participant.nick, session_terminate(
                    participant.sid, "success", "moving to another bridge", participant.session_id)))
            participant.old_sids.add(participant.sid)
            participant.sid = None
            participant.initiate_due = None
        if participant.sources[0]:
            self._broadcast("source-remove", participant.nick, participant.sources)
            participant.sources = ([], [])
        self.allocations.pop(participant.nick, None)
        old = self.sessions.get(participant.bridge or "")
        if self.mesh is not None and old is not None and participant.nick in old.endpoints:
            # Its copies on the other bridges go now: it may come back on one of them.
            old.endpoints.discard(participant.nick)
            self._relay_requests(self.mesh.endpoints(old, [relay_endpoint(participant.nick, expire=True)],
                                                     self.sessions))
        participant.bridge = participant.session_id = None
        participant.advance("reset")
        if len(self.participants) >= self.min_participants:
            self._invite(participant, now)

    # --- load redistribution (jicofo's LoadRedistributor moves endpoints off an overloaded bridge) ---

    def move_endpoints(self, bridge: str, count: int, now: float) -> int:
        """Moves up to ``count`` of this conference's participants off ``bridge``: all leave it
        before any is invited again, so that a conference wholly moved is placed afresh."""
        session = self.sessions.get(bridge)
        if session is None or count <= 0:
            return 0
        moving = [self.participants[nick] for nick in sorted(session.endpoints) if nick in self.participants]
        moving = moving[:count]
        for participant in moving:
            self._take_off_bridge(participant, "moving to another bridge")
        for participant in moving:
            self._invite_if_due(participant, now)
        return len(moving)

    def endpoints_on(self, bridge: str) -> int:
        session = self.sessions.get(bridge)
        return len(session.endpoints) if session is not None else 0

    def _take_off_bridge(self, participant: Participant, why: str | None) -> None:
        """Ends the participant's session and frees its endpoint; ``why`` is told to the participant
        in a session-terminate (None: the participant ended the session itself)."""
        if why is not None and participant.sid:
            self._commands.append(SendJingle(participant.nick, session_terminate(
                participant.sid, "success", why, participant.session_id)))
        self._release(participant)
        participant.advance("reset")
        if participant.sources[0]:
            self._broadcast("source-remove", participant.nick, participant.sources)
            participant.sources = ([], [])

    def _invite_if_due(self, participant: Participant, now: float) -> None:
        if participant.state == "waiting" and len(self.participants) >= self.min_participants:
            self._invite(participant, now)

    def _release(self, participant: Participant) -> None:
        """Expire the participant's endpoint; the bridge conference too when it was the last."""
        session = self.sessions.get(participant.bridge or "")
        self.allocations.pop(participant.nick, None)
        if participant.sid:
            participant.old_sids.add(participant.sid)
            participant.sid = None
        participant.initiate_due = None
        if session is not None and session.id == participant.session_id:
            session.endpoints.discard(participant.nick)
            if participant.nick in session.waiting:
                session.waiting.remove(participant.nick)
            elif session.creating == participant.nick or participant.nick in session.pending:
                session.pending.discard(participant.nick)  # its answer, when it comes, finds nobody: _expire
            else:
                self._expire(session, participant.nick)
        participant.bridge = participant.session_id = None

    def _expire(self, session: BridgeSession, nick: str) -> None:
        """Free ``nick``'s endpoint, which has left ``session``; the whole bridge conference when
        nobody else is there, allocated or on the way (an endpoint still being made counts: its
        conference must outlive this)."""
        if not session.placed():
            self._commands.append(ColibriRequest(session.bridge, colibri2.expire_conference(self.meeting_id),
                                                 ("expire", nick, session.id)))
            del self.sessions[session.bridge]
            self._relay_requests(self.mesh.leave(session, self.sessions) if self.mesh else [])
            if session.bridge == self.connect_host:
                self._update_connects()
        else:
            self._commands.append(ColibriRequest(
                session.bridge, colibri2.expire_endpoints(self.meeting_id, [nick]), ("expire", nick, session.id)))
            self._relay_requests(self.mesh.endpoints(session, [relay_endpoint(nick, expire=True)], self.sessions)
                                 if self.mesh else [])

    def _validated(self, participant: Participant, added: Sources) -> Sources:
        others = [s.ssrc for p in self.participants.values() if p is not participant for s in p.sources[0]]
        try:
            return validate_sources(participant.nick, participant.sources, added, others,
                                    max_ssrcs=self.max_ssrcs, max_groups=self.max_groups)
        except SourceError as exc:
            raise StanzaError("cancel", "bad-request", str(exc)) from None

    def _push_sources(self, participant: Participant) -> None:
        self._colibri(participant, "update", colibri2.update_endpoint(
            self.meeting_id, participant.nick, sources=participant.sources))
        self._relay_sources(participant)

    # --- relays (Octo, relays.py) ----------------------------------------------------------------------

    def _relayed(self, participant: Participant, *, create: bool = False) -> RelayEndpoint:
        return relay_endpoint(participant.nick, stats_id=participant.stats_id, create=create,
                              sources=participant.sources if participant.sources[0] or not create else None)

    def _behind(self, session: BridgeSession) -> list[RelayEndpoint]:
        return [self._relayed(self.participants[nick], create=True) for nick in sorted(session.endpoints)
                if nick in self.participants]

    def _relay_sources(self, participant: Participant) -> None:
        session = self.sessions.get(participant.bridge or "")
        if self.mesh is not None and session is not None and participant.nick in session.endpoints:
            self._relay_requests(self.mesh.endpoints(session, [self._relayed(participant)], self.sessions))

    def _relay_requests(self, requests: list[Request]) -> None:
        self._commands.extend(ColibriRequest(bridge, request, key) for bridge, request, key in requests)

    def _colibri(self, participant: Participant, kind: str, request: Element) -> None:
        if participant.bridge is not None and participant.bridge in self.sessions:
            self._commands.append(ColibriRequest(participant.bridge, request,
                                                 (kind, participant.nick, participant.session_id)))

    def _rewrites(self, participant: Participant) -> bool:
        return self.ssrc_rewriting and FEATURE_SSRC_REWRITING in participant.features

    def _visible(self, sources: Sources) -> Sources:
        return strip_simulcast(sources) if self.strip_simulcast else sources

    def _remote_sources(self, participant: Participant) -> dict[str, Sources]:
        session = self.sessions.get(participant.bridge or "")
        remote: dict[str, Sources] = {}
        if session is not None and session.feedback:
            remote["jvb"] = (list(session.feedback), [])
        if self._rewrites(participant):
            return remote
        for other in self.participants.values():
            if other is not participant and other.state == "active" and other.sources[0]:
                remote[other.nick] = self._visible(other.sources)
        return remote

    def _broadcast(self, action: str, owner: str, sources: Sources) -> None:
        visible = self._visible(sources) if action == "source-add" else sources
        for other in self.participants.values():
            if other.nick == owner or self._rewrites(other):
                continue
            if other.state == "active":
                self._send_sources(other, action, owner, visible)
            elif other.state == "offered":
                other.queued.append((action, owner, visible))

    def _send_sources(self, participant: Participant, action: str, owner: str, sources: Sources) -> None:
        if participant.sid is None:
            return
        self._commands.append(SendJingle(participant.nick, source_update(
            action, sid=participant.sid, features=participant.features, remote={owner: sources})))

    def _set_bridge_available(self, available: bool) -> None:
        if available != self.bridge_available:
            self.bridge_available = available
            self._commands.append(SetBridgeAvailable(available))

    def end(self, reason: str) -> None:
        """Stop from outside (the room is gone): expire everything on the bridges."""
        if not self.ended:
            self._end(reason)

    def _end(self, reason: str) -> None:
        for session in self.sessions.values():
            self._commands.append(ColibriRequest(session.bridge, colibri2.expire_conference(self.meeting_id),
                                                 ("expire", "", session.id)))
        self.sessions.clear()
        self.ended = True
        self._commands.append(End(reason))

    # --- transcription by the bridge's export (docs/transcription.md §6) ------------------------------

    def set_transcribing(self, enabled: bool) -> None:
        """The room asks for transcription (or no more): with a transcription URL, one bridge of the
        conference exports its audio there."""
        if self.transcription_url is None or enabled == self.transcribing:
            return
        self.transcribing = enabled
        self._update_connects()

    def _update_connects(self) -> None:
        """Tell each bridge the connects it should run now: the transcriber's on the host (the one
        chosen before while it lasts, else the first created session), none elsewhere."""
        created = [s for s in self.sessions.values() if s.created]
        if not self.transcribing or self.ended:
            self.connect_host = None
        elif self.connect_host not in {s.bridge for s in created}:
            self.connect_host = created[0].bridge if created else None
        for session in created:
            desired: dict[str, Connect] = {}
            if session.bridge == self.connect_host and self.transcription_url is not None:
                bridge = self.bridges.bridges.get(session.bridge)
                connect = colibri2.transcriber_connect(self.transcription_url, self.meeting_id,
                                                       bridge.region if bridge else None)
                desired[connect.id or ""] = connect
            changes = [replace(c, expire=True) for i, c in session.connects.items() if i not in desired]
            changes += [replace(c, create=True) for i, c in desired.items() if i not in session.connects]
            changes += [c for i, c in desired.items() if i in session.connects and session.connects[i] != c]
            session.connects = desired
            if changes:
                self._commands.append(ColibriRequest(session.bridge, colibri2.connects(self.meeting_id, changes),
                                                     ("connects", "", session.id)))

    # --- statistics ---------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "meeting_id": self.meeting_id,
            "participants": len(self.participants),
            "bridges": sorted(self.sessions),
            "sessions": {p.nick: p.state for p in self.participants.values()},
            **({"relays": {jid: sorted(peers) for jid, peers in self.mesh.peers.items()}} if self.mesh else {}),
        }



class JingleRule(NamedTuple):
    states: frozenset[str]  # the participant's session states the action is allowed in
    handler: Callable[[Conference, Participant, Jingle, float], None]


OFFERED_OR_ACTIVE = frozenset({"offered", "active"})
ACTIVE = frozenset({"active"})
# Jingle from a participant, by action (docs/focus.md §3). Out of its states an action is
# ``unexpected-request``; actions jicofo takes but never implements are ``None``, answered
# ``feature-not-implemented``. The codec refuses any other action as ``bad-request``.
JINGLE_ACTIONS: dict[str, JingleRule | None] = {
    "session-accept": JingleRule(frozenset({"offered"}), Conference._on_session_accept),
    "session-info": JingleRule(OFFERED_OR_ACTIVE, Conference._on_session_info),
    "session-terminate": JingleRule(OFFERED_OR_ACTIVE, Conference._on_session_terminate),
    "transport-info": JingleRule(OFFERED_OR_ACTIVE, Conference._on_transport_info),
    "transport-accept": JingleRule(OFFERED_OR_ACTIVE, Conference._on_transport_info),
    "transport-reject": JingleRule(OFFERED_OR_ACTIVE, Conference._on_transport_reject),
    "source-add": JingleRule(ACTIVE, Conference._on_source_add),
    "source-remove": JingleRule(ACTIVE, Conference._on_source_remove),
    "session-initiate": None,
    "transport-replace": None,
    "content-add": None,
    "content-modify": None,
    "content-remove": None,
}
