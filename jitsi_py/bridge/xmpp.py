"""The bridge's XMPP side (docs/colibri2.md §1-2, §6): a slixmpp client in the brewery MUC.

Logs in as ``jvb@XMPP_AUTH_DOMAIN``, joins ``JVB_BREWERY_MUC`` with its nickname and re-sends its
presence with ``<stats xmlns=colibri>`` every 5 s; answers ``conference-modify`` (Colibri2, in
arrival order), ``healthcheck`` and XEP-0092 version IQs. Reconnects with back-off.
"""

from __future__ import annotations

import asyncio
import logging
import platform
from typing import Any
from xml.etree.ElementTree import Element, SubElement

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ..common import ns
from ..common.errors import StanzaError
from ..common.stanzas.colibri2 import (
    CONFERENCE_MODIFY,
    Colibri2Error,
    parse_conference_modify,
)
from ..common.stanzas.jitsi import build_bridge_stats
from ..common.xmpp_client import send_error, service_client
from .colibri2 import handle
from .videobridge import VERSION, Videobridge

log = logging.getLogger(__name__)

STATS_INTERVAL = 5.0
RECONNECT_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)


class BridgeXmpp:
    def __init__(self, bridge: Videobridge, *, jid: str, password: str, brewery: str, nickname: str,
                 server: str, port: int, stats_interval: float = STATS_INTERVAL,
                 login_level: int = logging.INFO) -> None:
        self.bridge = bridge
        self.login_level = login_level
        self.brewery = brewery
        self.nickname = nickname
        self.server, self.port = server, port
        self.stats_interval = stats_interval
        self.stopping = False
        self.joined = asyncio.Event()
        self._reconnects = 0
        self._stats_task: asyncio.Task | None = None
        xmpp = service_client(jid, password)
        for feature in (ns.JITSI_HEALTH, ns.JINGLE_DTLS, ns.JINGLE_ICE_UDP, ns.VERSION):
            xmpp.plugin["xep_0030"].add_feature(feature)
        iq = ns.tag(xmpp.default_ns, "iq")
        for name, xpath, handler in (
            ("colibri2", f"{iq}/{CONFERENCE_MODIFY}", self._on_colibri2),
            ("health", f"{iq}/{ns.tag(ns.JITSI_HEALTH, 'healthcheck')}", self._on_health),
            ("version", f"{iq}/{ns.tag(ns.VERSION, 'query')}", self._on_version),
        ):
            xmpp.register_handler(Callback(f"jvb-{name}", MatchXPath(xpath), handler))
        xmpp.add_event_handler("session_start", self._on_session_start)
        xmpp.add_event_handler("disconnected", self._on_disconnected)
        xmpp.add_event_handler("failed_auth", lambda _e: log.error("bridge: XMPP authentication failed as %s", jid))
        self.xmpp = xmpp
        bridge.on_relays_changed = self._relays_changed

    def _relays_changed(self) -> None:
        """A relay failed or recovered: our focus reads it from the stats, so they go now."""
        if self.joined.is_set() and not self.stopping:
            self._presence(join=False)

    def start(self) -> None:
        self.xmpp.connect(self.server, self.port)

    async def stop(self) -> None:
        self.stopping = True
        if self._stats_task is not None:
            self._stats_task.cancel()
        if self.xmpp.transport is not None:
            try:
                await asyncio.wait_for(self.xmpp.disconnect(wait=0.2), 0.5)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - best effort on shutdown
                self.xmpp.abort()

    # --- brewery presence ------------------------------------------------------------------------

    def _presence(self, join: bool) -> None:
        presence = self.xmpp.make_presence(pto=f"{self.brewery}/{self.nickname}")
        if join:
            presence.xml.append(Element(ns.tag(ns.MUC, "x")))
        presence.xml.append(build_bridge_stats(self.bridge.stats()))
        presence.send()

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.stats_interval)
            self._presence(join=False)

    async def _on_session_start(self, _event: Any) -> None:
        if self.stopping:  # a login that completes while we leave: leave, do not join
            return
        self._reconnects = 0
        self.xmpp.send_presence()
        self._presence(join=True)
        self.joined.set()
        log.log(self.login_level, "bridge: logged in as %s, joined %s as %s", self.xmpp.boundjid.full, self.brewery,
                self.nickname)
        if self._stats_task is not None:
            self._stats_task.cancel()
        self._stats_task = asyncio.create_task(self._stats_loop())

    def _on_disconnected(self, _event: Any) -> None:
        self.joined.clear()
        if self._stats_task is not None:
            self._stats_task.cancel()
            self._stats_task = None
        if self.stopping:
            return
        delay = RECONNECT_DELAYS[min(self._reconnects, len(RECONNECT_DELAYS) - 1)]
        self._reconnects += 1
        log.warning("bridge: XMPP connection lost; reconnecting in %.0f s", delay)
        asyncio.get_running_loop().call_later(delay, lambda: None if self.stopping else self.start())

    # --- IQs -------------------------------------------------------------------------------------

    def _on_colibri2(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set":
            return send_error(iq, StanzaError("modify", "bad-request", "conference-modify must be an IQ set"))
        try:
            request = parse_conference_modify(iq.xml.find(CONFERENCE_MODIFY))
            answer = handle(self.bridge, request, asyncio.get_running_loop().time())
        except Colibri2Error as exc:
            return send_error(iq, StanzaError("modify", "bad-request", str(exc)))
        except StanzaError as failure:  # colibri2.Colibri2Failure
            return send_error(iq, failure)
        reply = iq.reply(clear=True)
        reply.xml.append(answer.to_element())
        reply.send()

    def _on_health(self, iq: slixmpp.Iq) -> None:
        if self.bridge.healthy:
            iq.reply(clear=True).send()
        else:
            send_error(iq, StanzaError("cancel", "internal-server-error", "the bridge's self-check failed"))

    def _on_version(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "get":
            return
        reply = iq.reply(clear=True)
        query = SubElement(reply.xml, ns.tag(ns.VERSION, "query"))
        SubElement(query, ns.tag(ns.VERSION, "name")).text = "JVB"
        SubElement(query, ns.tag(ns.VERSION, "version")).text = VERSION
        SubElement(query, ns.tag(ns.VERSION, "os")).text = platform.system()
        reply.send()

