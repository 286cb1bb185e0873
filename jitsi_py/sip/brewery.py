"""The gateway's control connection: a slixmpp client in the Jigasi brewery (docs/sip.md §3).

Logs in as ``JIGASI_XMPP_USER`` on the auth domain and joins ``JIGASI_BREWERY_MUC`` on the internal
MUC domain with ``<stats xmlns="http://jitsi.org/protocol/colibri">`` in its presence (conferences,
participants, stress level, ``supports_sip``), re-sent when the load changes. A Rayo ``<dial>`` from a
brewery occupant (the focus, relayed by the MUC) goes to ``on_dial``, whose ``<ref>`` is the answer;
anyone else is refused. Reconnects with back-off.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable
from xml.etree.ElementTree import Element

import slixmpp
from slixmpp.xmlstream.handler import CoroutineCallback
from slixmpp.xmlstream.matcher import MatchXPath

from ..common import ns
from ..common.errors import StanzaError
from ..common.stanzas.jitsi import build_bridge_stats
from ..common.stanzas.rayo import FEATURE_JIGASI, Dial, RayoStanzaError, Ref
from ..common.xmpp_client import BreweryMember, send_error

log = logging.getLogger(__name__)

# a dial request -> the call's reference; raises StanzaError to refuse it
DialHandler = Callable[[Dial], Awaitable[Ref]]


class BreweryClient(BreweryMember):
    def __init__(self, *, jid: str, password: str, brewery: str, nickname: str, server: str, port: int,
                 stats: dict[str, object], on_dial: DialHandler) -> None:
        super().__init__(service="sip", logger=log, jid=jid, password=password, brewery=brewery, nickname=nickname,
                         server=server, port=port, features=[FEATURE_JIGASI])
        self.stats = dict(stats)
        self.on_dial = on_dial
        iq = ns.tag(self.xmpp.default_ns, "iq")
        self.xmpp.register_handler(CoroutineCallback("rayo-dial", MatchXPath(f"{iq}/{ns.tag(ns.RAYO, 'dial')}"),
                                                     self._on_dial))

    def status(self) -> list[Element]:
        return [build_bridge_stats(self.stats)]

    def publish(self, stats: dict[str, object]) -> None:
        """Only a change goes out, as Jigasi's periodic stats would show it."""
        if stats == self.stats:
            return
        self.stats = dict(stats)
        self.republish()

    async def _on_dial(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set" or not self.from_brewery(iq):
            return
        try:
            dial = Dial.from_element(iq.xml.find(ns.tag(ns.RAYO, "dial")))
        except RayoStanzaError as exc:
            return send_error(iq, StanzaError("modify", "bad-request", str(exc)))
        try:
            ref = await self.on_dial(dial)
        except StanzaError as exc:
            return send_error(iq, exc)
        reply = iq.reply(clear=True)
        reply.xml.append(ref.to_element())
        reply.send()
