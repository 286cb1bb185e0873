"""The recorder's control connection: a slixmpp client in the Jibri brewery (docs/recording.md §3).

Logs in as ``JIBRI_XMPP_USER`` on the auth domain, joins ``JIBRI_BREWERY_MUC`` on the internal MUC
domain with nick ``JIBRI_INSTANCE_ID`` and carries ``<jibri-status>`` in that presence, re-sent only
when it changes (and on every rejoin). ``<jibri>`` IQs from the brewery's occupants (the focus
addresses the recorder by its occupant JID, so the MUC relays them from its own occupant JID) go to
``on_request``; anyone else is refused. Reconnects with back-off.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable
from xml.etree.ElementTree import Element

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ..common import ns
from ..common.errors import StanzaError
from ..common.stanzas.jibri import JibriIq, JibriStanzaError, JibriStatus
from ..common.xmpp_client import send_error, service_client

log = logging.getLogger(__name__)

RECONNECT_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
NOTIFY_TIMEOUT = 15.0

# (request, the sender's JID) -> the answer to put in the result
RequestHandler = Callable[[JibriIq, str], JibriIq]


class BreweryClient:
    def __init__(self, *, jid: str, password: str, brewery: str, nickname: str, server: str, port: int,
                 status: JibriStatus, on_request: RequestHandler) -> None:
        self.brewery, self.nickname = brewery, nickname
        self.server, self.port = server, port
        self.status = status
        self.on_request = on_request
        self.stopping = False
        self.joined = asyncio.Event()
        self._reconnects = 0
        xmpp = service_client(jid, password)
        xmpp.plugin["xep_0030"].add_feature(ns.JIBRI)
        iq = ns.tag(xmpp.default_ns, "iq")
        xmpp.register_handler(Callback("jibri-request", MatchXPath(f"{iq}/{ns.tag(ns.JIBRI, 'jibri')}"),
                                       self._on_jibri))
        xmpp.add_event_handler("session_start", self._on_session_start)
        xmpp.add_event_handler("disconnected", self._on_disconnected)
        xmpp.add_event_handler("failed_auth", lambda _e: log.error("recorder: XMPP authentication failed as %s", jid))
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

    def publish(self, status: JibriStatus) -> None:
        """Jibri sends its status only when it changes."""
        if status == self.status:
            return
        self.status = status
        if self.joined.is_set():
            self._presence(join=False)

    def notify(self, to: str, request: JibriIq) -> None:
        """A status IQ set to the focus; its answer is awaited only to log a refusal."""
        iq = self.xmpp.make_iq_set(ito=to)
        request.to_element(iq.xml)
        asyncio.ensure_future(self._notified(iq, request))

    async def _notified(self, iq: slixmpp.Iq, request: JibriIq) -> None:
        try:
            await iq.send(timeout=NOTIFY_TIMEOUT)
        except IqError as exc:
            log.warning("recorder: the focus refused status %s of session %s: %s", request.status,
                        request.session_id, exc.iq["error"]["condition"])
        except IqTimeout:
            log.warning("recorder: no answer from %s to status %s of session %s", iq["to"], request.status,
                        request.session_id)

    # --- brewery presence --------------------------------------------------------------------------
    def _presence(self, join: bool) -> None:
        presence = self.xmpp.make_presence(pto=f"{self.brewery}/{self.nickname}")
        if join:
            presence.xml.append(Element(ns.tag(ns.MUC, "x")))
        presence.xml.append(self.status.to_element())
        presence.send()

    async def _on_session_start(self, _event: Any) -> None:
        if self.stopping:
            return
        self._reconnects = 0
        self.xmpp.send_presence()
        self._presence(join=True)
        self.joined.set()
        log.info("recorder: logged in as %s, joined %s as %s", self.xmpp.boundjid.full, self.brewery, self.nickname)

    def _on_disconnected(self, _event: Any) -> None:
        self.joined.clear()
        if self.stopping:
            return
        delay = RECONNECT_DELAYS[min(self._reconnects, len(RECONNECT_DELAYS) - 1)]
        self._reconnects += 1
        log.warning("recorder: XMPP connection lost; reconnecting in %.0f s", delay)
        asyncio.get_running_loop().call_later(delay, lambda: None if self.stopping else self.start())

    # --- requests ----------------------------------------------------------------------------------
    def _on_jibri(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set":
            return
        sender = iq["from"]
        if sender.bare != self.brewery:
            return send_error(iq, StanzaError("cancel", "forbidden", "only the brewery's focus may ask"))
        try:
            request = JibriIq.from_element(iq.xml.find(ns.tag(ns.JIBRI, "jibri")))
        except JibriStanzaError as exc:
            return send_error(iq, StanzaError("modify", "bad-request", str(exc)))
        if request.action is None:
            return send_error(iq, StanzaError("modify", "bad-request", "jibri without an action"))
        answer = self.on_request(request, sender.full)
        reply = iq.reply(clear=True)
        answer.to_element(reply.xml)
        reply.send()
