"""The gateway's control connection: a slixmpp client in the Jigasi brewery (docs/sip.md §3).

Logs in as ``JIGASI_XMPP_USER`` on the auth domain and joins ``JIGASI_BREWERY_MUC`` on the internal
MUC domain with ``<stats xmlns="http://jitsi.org/protocol/colibri">`` in its presence (conferences,
participants, stress level, ``supports_sip``), re-sent when the load changes. A Rayo ``<dial>`` from a
brewery occupant (the focus, relayed by the MUC) goes to ``on_dial``, whose ``<ref>`` is the answer;
anyone else is refused. Reconnects with back-off.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable
from xml.etree.ElementTree import Element

import slixmpp
from slixmpp.xmlstream.handler import CoroutineCallback
from slixmpp.xmlstream.matcher import MatchXPath

from ..common import ns
from ..common.errors import StanzaError
from ..common.stanzas.jitsi import build_bridge_stats
from ..common.stanzas.rayo import FEATURE_JIGASI, Dial, RayoStanzaError, Ref
from ..common.xmpp_client import send_error, service_client

log = logging.getLogger(__name__)

RECONNECT_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)

# a dial request -> the call's reference; raises StanzaError to refuse it
DialHandler = Callable[[Dial], Awaitable[Ref]]


class BreweryClient:
    def __init__(self, *, jid: str, password: str, brewery: str, nickname: str, server: str, port: int,
                 stats: dict[str, object], on_dial: DialHandler) -> None:
        self.brewery, self.nickname = brewery, nickname
        self.server, self.port = server, port
        self.stats = dict(stats)
        self.on_dial = on_dial
        self.stopping = False
        self.joined = asyncio.Event()
        self._reconnects = 0
        xmpp = service_client(jid, password)
        xmpp.plugin["xep_0030"].add_feature(FEATURE_JIGASI)
        iq = ns.tag(xmpp.default_ns, "iq")
        xmpp.register_handler(CoroutineCallback("rayo-dial", MatchXPath(f"{iq}/{ns.tag(ns.RAYO, 'dial')}"),
                                                self._on_dial))
        xmpp.add_event_handler("session_start", self._on_session_start)
        xmpp.add_event_handler("disconnected", self._on_disconnected)
        xmpp.add_event_handler("failed_auth", lambda _e: log.error("sip: XMPP authentication failed as %s", jid))
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

    def publish(self, stats: dict[str, object]) -> None:
        """Only a change goes out, as Jigasi's periodic stats would show it."""
        if stats == self.stats:
            return
        self.stats = dict(stats)
        if self.joined.is_set():
            self._presence(join=False)

    def _presence(self, join: bool) -> None:
        presence = self.xmpp.make_presence(pto=f"{self.brewery}/{self.nickname}")
        if join:
            presence.xml.append(Element(ns.tag(ns.MUC, "x")))
        presence.xml.append(build_bridge_stats(self.stats))
        presence.send()

    async def _on_session_start(self, _event: Any) -> None:
        if self.stopping:
            return
        self._reconnects = 0
        self.xmpp.send_presence()
        self._presence(join=True)
        self.joined.set()
        log.info("sip: logged in as %s, joined %s as %s", self.xmpp.boundjid.full, self.brewery, self.nickname)

    def _on_disconnected(self, _event: Any) -> None:
        self.joined.clear()
        if self.stopping:
            return
        delay = RECONNECT_DELAYS[min(self._reconnects, len(RECONNECT_DELAYS) - 1)]
        self._reconnects += 1
        log.warning("sip: XMPP connection lost; reconnecting in %.0f s", delay)
        asyncio.get_running_loop().call_later(delay, lambda: None if self.stopping else self.start())

    async def _on_dial(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set":
            return
        if iq["from"].bare != self.brewery:
            return send_error(iq, StanzaError("cancel", "forbidden", "only the brewery's focus may ask"))
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
