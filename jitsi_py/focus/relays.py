"""Octo, the focus's side: Colibri2 relays join the bridges of one conference in a full mesh. Sans-I/O.

:class:`Conference` tells the mesh when a bridge session gains or loses endpoints, when an
endpoint's sources change, and hands it the answers to relay creation; the mesh returns the
Colibri2 requests to send as ``(bridge JID, request, key)``. As jicofo's ColibriV2SessionManager
with its single-mesh topology: a bridge that joins the conference links to every bridge already in
it and initiates those relays (ICE-controlling, DTLS server, its own port); each relay is created
on both bridges, then each side gets the other's transport; the endpoints behind each bridge are
mirrored, with their sources, as relayed endpoints on every other bridge; a bridge that leaves has
its relays expired on the others.

Not jicofo's: our bridges list the relays that failed in their stats, and the mesh keeps who
reports whom (``reported``). A link both ends report failed is broken; the conference then moves
one side's participants (docs/focus.md §5.5).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from ..common.stanzas.colibri2 import Media, RelayEndpoint
from .colibri2 import (
    BridgeError,
    create_relay,
    expire_relay,
    read_relay_transport,
    relay_endpoints,
    set_relay_transport,
)

if TYPE_CHECKING:
    from .conference import BridgeSession

log = logging.getLogger(__name__)

MESH_ID = "0"  # the one mesh of jicofo's default topology

# (bridge JID, Colibri2 request, (kind, bridge JID, bridge-session id): what the answer is for)
Request = tuple[str, Element, tuple[str, str, str]]


def _relay_id(session: BridgeSession) -> str:
    """Only bridges with a relay id are linked (BridgeTable.select), so every session here has one."""
    assert session.relay_id is not None
    return session.relay_id


class RelayMesh:
    def __init__(self, meeting_id: str, media: Sequence[Media]) -> None:
        self.meeting_id = meeting_id
        self.media = list(media)
        # bridge JID -> {bridge JID it has a relay to: whether it initiated that relay}
        self.peers: dict[str, dict[str, bool]] = {}
        # bridge JID -> the linked bridges it says its relay to has failed
        self.failed: dict[str, set[str]] = {}

    def linked(self, jid: str) -> list[str]:
        return list(self.peers.get(jid, ()))

    def join(self, session: BridgeSession, sessions: Iterable[BridgeSession],
             behind: Callable[[BridgeSession], list[RelayEndpoint]]) -> list[Request]:
        """Link ``session`` (a ``BridgeSession`` with its conference created) to every other created
        session it has no relay to yet; ``behind(session)`` are the relayed endpoints to announce."""
        out: list[Request] = []
        mine = self.peers.setdefault(session.bridge, {})
        for other in sessions:
            if other is session or not other.created or other.bridge in mine:
                continue
            mine[other.bridge] = True
            self.peers.setdefault(other.bridge, {})[session.bridge] = False
            out.append((session.bridge, create_relay(self.meeting_id, _relay_id(other), initiator=True,
                                                     media=self.media, endpoints=behind(other), mesh_id=MESH_ID),
                        ("relay", other.bridge, session.id)))
            out.append((other.bridge, create_relay(self.meeting_id, _relay_id(session), initiator=False,
                                                   media=self.media, endpoints=behind(session), mesh_id=MESH_ID),
                        ("relay", session.bridge, other.id)))
        return out

    def allocated(self, answered: BridgeSession, other: BridgeSession | None, answer: Element | None
                  ) -> list[Request]:
        """``answered``'s bridge created its side of the relay to ``other``'s: hand its transport
        to ``other`` (None: that bridge left meanwhile)."""
        if other is None:
            return []
        initiator = self.peers.get(answered.bridge, {}).get(other.bridge)
        if initiator is None:
            return []
        try:
            transport = read_relay_transport(answer, _relay_id(other))
        except BridgeError as exc:
            log.warning("focus: relay %s -> %s of %s unusable: %s", answered.bridge, other.bridge, self.meeting_id, exc)
            return []
        return [(other.bridge, set_relay_transport(self.meeting_id, _relay_id(answered), transport,
                                                   initiator=not initiator), ("update", "", other.id))]

    def endpoints(self, session: BridgeSession, endpoints: list[RelayEndpoint], sessions: dict[str, BridgeSession]
                  ) -> list[Request]:
        """Endpoints behind ``session`` were created, changed or expired: tell every linked bridge."""
        return [(jid, relay_endpoints(self.meeting_id, _relay_id(session), endpoints), ("update", "", sessions[jid].id))
                for jid in self.peers.get(session.bridge, {}) if jid in sessions]

    def reported(self, jid: str, failed: set[str]) -> list[str]:
        """``jid``'s bridge says its relays to the bridges ``failed`` have failed (and no other):
        the bridges whose link with it is now failed at both ends, newly."""
        linked = self.peers.get(jid, {})
        before = self.failed.get(jid, set())
        now_failed = self.failed[jid] = {other for other in failed if other in linked}
        return sorted(other for other in now_failed - before if jid in self.failed.get(other, ()))

    def initiated(self, jid: str, other: str) -> bool:
        return self.peers.get(jid, {}).get(other, False)

    def leave(self, session: BridgeSession, sessions: dict[str, BridgeSession]) -> list[Request]:
        """``session``'s bridge left the conference: its relays are expired on the others."""
        out: list[Request] = []
        self.failed.pop(session.bridge, None)
        for reports in self.failed.values():
            reports.discard(session.bridge)
        for jid in self.peers.pop(session.bridge, {}):
            self.peers.get(jid, {}).pop(session.bridge, None)
            if jid in sessions:
                out.append((jid, expire_relay(self.meeting_id, _relay_id(session)), ("expire", "", sessions[jid].id)))
        return out
