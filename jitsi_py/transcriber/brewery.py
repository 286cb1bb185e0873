"""The transcriber's control connection: a slixmpp client in the gateway brewery, seen by the focus
as a Jigasi that transcribes (docs/transcription.md §2).

Logs in as ``JIGASI_XMPP_USER`` on the auth domain and joins ``JIGASI_BREWERY_MUC`` on the internal
MUC domain with ``<stats>`` saying ``supports_transcription`` (and not SIP) and how many meetings it
is in, re-sent when that changes. A Rayo ``<dial to="jitsi_meet_transcribe">`` from the brewery's
focus, naming the room in its ``JvbRoomName`` header, starts a session; the answer is the ``<ref>``
the focus relays to the participant who asked. Reconnects with back-off.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable
from xml.etree.ElementTree import Element

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ..common import ns
from ..common.errors import StanzaError
from ..common.stanzas.jitsi import build_bridge_stats
from ..common.stanzas.rayo import FEATURE_JIGASI, FEATURE_TRANSCRIBER, TRANSCRIBER_CALLEE, Dial, RayoStanzaError, Ref
from ..common.xmpp_client import send_error, service_client

log = logging.getLogger(__name__)

RECONNECT_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)

# (the dial, the sender's JID) -> the answer's <ref> uri; raises StanzaError to refuse
DialHandler = Callable[[Dial, str], str]


class BreweryClient:
    def __init__(self, *, jid: str, password: str, brewery: str, nickname: str, server: str, port: int,
                 on_dial: DialHandler) -> None:
        self.brewery, self.nickname = brewery, nickname
        self.server, self.port = server, port
        self.on_dial = on_dial
        self.meetings = 0
        self.stopping = False
        self.joined = asyncio.Event()
        self._reconnects = 0
        xmpp = service_client(jid, password)
        for feature in (FEATURE_JIGASI, FEATURE_TRANSCRIBER):
            xmpp.plugin["xep_0030"].add_feature(feature)
        iq = ns.tag(xmpp.default_ns, "iq")
        xmpp.register_handler(Callback("rayo-dial", MatchXPath(f"{iq}/{ns.tag(ns.RAYO, 'dial')}"), self._on_dial))
        xmpp.add_event_handler("session_start", self._on_session_start)
        xmpp.add_event_handler("disconnected", self._on_disconnected)
        xmpp.add_event_handler("failed_auth",
                               lambda _e: log.error("transcriber: XMPP authentication failed as %s", jid))
        self.xmpp = xmpp

    def start(self) -> None:
        self.xmpp.connect(self.server, self.port)

    async def stop(self) -> None:
        self.stopping = True
        if self.xmpp.transport is not None:
            try:
                await asyncio.wait_for(self.xmpp.disconnect(wait=0.2), 0.5)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - best effort on shutdown
                self.xmpp.abort()

    def publish(self, meetings: int) -> None:
        if meetings != self.meetings:
            self.meetings = meetings
            if self.joined.is_set():
                self._presence(join=False)

    def _presence(self, join: bool) -> None:
        presence = self.xmpp.make_presence(pto=f"{self.brewery}/{self.nickname}")
        if join:
            presence.xml.append(Element(ns.tag(ns.MUC, "x")))
        presence.xml.append(build_bridge_stats({
            "supports_transcription": "true", "supports_sip": "false", "participants": self.meetings,
        }))
        presence.send()

    async def _on_session_start(self, _event: Any) -> None:
        if self.stopping:
            return
        self._reconnects = 0
        self.xmpp.send_presence()
        self._presence(join=True)
        self.joined.set()
        log.info("transcriber: logged in as %s, joined %s as %s", self.xmpp.boundjid.full, self.brewery,
                 self.nickname)

    def _on_disconnected(self, _event: Any) -> None:
        self.joined.clear()
        if self.stopping:
            return
        delay = RECONNECT_DELAYS[min(self._reconnects, len(RECONNECT_DELAYS) - 1)]
        self._reconnects += 1
        log.warning("transcriber: XMPP connection lost; reconnecting in %.0f s", delay)
        asyncio.get_running_loop().call_later(delay, lambda: None if self.stopping else self.start())

    def _on_dial(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set":
            return
        sender = iq["from"]
        if sender.bare != self.brewery:
            return send_error(iq, StanzaError("cancel", "forbidden", "only the brewery's focus may ask"))
        try:
            dial = Dial.from_element(iq.xml.find(ns.tag(ns.RAYO, "dial")))
        except RayoStanzaError as exc:
            return send_error(iq, StanzaError("modify", "bad-request", str(exc)))
        try:
            uri = self.on_dial(dial, sender.full)
        except StanzaError as exc:
            return send_error(iq, exc)
        reply = iq.reply(clear=True)
        reply.xml.append(Ref(uri).to_element())
        reply.send()


def check_dial(dial: Dial) -> str:
    """The room a dial asks us to transcribe; raises the refusal of anything else."""
    if dial.to != TRANSCRIBER_CALLEE:
        raise StanzaError("cancel", "feature-not-implemented", "this gateway only transcribes")
    room = dial.room
    if not room or "@" not in room:
        raise StanzaError("modify", "bad-request", "the dial names no room (JvbRoomName)")
    return room.lower()
