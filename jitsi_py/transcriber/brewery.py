"""The transcriber's control connection: a slixmpp client in the gateway brewery, seen by the focus
as a Jigasi that transcribes (docs/transcription.md §2).

Logs in as ``JIGASI_XMPP_USER`` on the auth domain and joins ``JIGASI_BREWERY_MUC`` on the internal
MUC domain with ``<stats>`` saying ``supports_transcription`` (and not SIP) and how many meetings it
is in, re-sent when that changes. A Rayo ``<dial to="jitsi_meet_transcribe">`` from the brewery's
focus, naming the room in its ``JvbRoomName`` header, starts a session; the answer is the ``<ref>``
the focus relays to the participant who asked. Reconnects with back-off.
"""

from __future__ import annotations

import logging
from typing import Callable
from xml.etree.ElementTree import Element

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ..common import ns
from ..common.errors import StanzaError
from ..common.stanzas.jitsi import build_bridge_stats
from ..common.stanzas.rayo import FEATURE_JIGASI, FEATURE_TRANSCRIBER, TRANSCRIBER_CALLEE, Dial, RayoStanzaError, Ref
from ..common.xmpp_client import BreweryMember, send_error

log = logging.getLogger(__name__)

# (the dial, the sender's JID) -> the answer's <ref> uri; raises StanzaError to refuse
DialHandler = Callable[[Dial, str], str]


class BreweryClient(BreweryMember):
    def __init__(self, *, jid: str, password: str, brewery: str, nickname: str, server: str, port: int,
                 on_dial: DialHandler) -> None:
        super().__init__(service="transcriber", logger=log, jid=jid, password=password, brewery=brewery,
                         nickname=nickname, server=server, port=port, features=(FEATURE_JIGASI, FEATURE_TRANSCRIBER))
        self.on_dial = on_dial
        self.meetings = 0
        iq = ns.tag(self.xmpp.default_ns, "iq")
        self.xmpp.register_handler(Callback("rayo-dial", MatchXPath(f"{iq}/{ns.tag(ns.RAYO, 'dial')}"),
                                            self._on_dial))

    def status(self) -> list[Element]:
        return [build_bridge_stats({
            "supports_transcription": "true", "supports_sip": "false", "participants": self.meetings,
        })]

    def publish(self, meetings: int) -> None:
        if meetings != self.meetings:
            self.meetings = meetings
            self.republish()

    def _on_dial(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set" or not self.from_brewery(iq):
            return
        try:
            dial = Dial.from_element(iq.xml.find(ns.tag(ns.RAYO, "dial")))
        except RayoStanzaError as exc:
            return send_error(iq, StanzaError("modify", "bad-request", str(exc)))
        try:
            uri = self.on_dial(dial, iq["from"].full)
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
