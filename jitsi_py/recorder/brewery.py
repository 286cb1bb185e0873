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
from typing import Callable
from xml.etree.ElementTree import Element

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ..common import ns
from ..common.errors import StanzaError
from ..common.stanzas.jibri import JibriIq, JibriStanzaError, JibriStatus
from ..common.xmpp_client import BreweryMember, send_error

log = logging.getLogger(__name__)

NOTIFY_TIMEOUT = 15.0

# (request, the sender's JID) -> the answer to put in the result
RequestHandler = Callable[[JibriIq, str], JibriIq]


class BreweryClient(BreweryMember):
    def __init__(self, *, jid: str, password: str, brewery: str, nickname: str, server: str, port: int,
                 status: JibriStatus, on_request: RequestHandler) -> None:
        super().__init__(service="recorder", logger=log, jid=jid, password=password, brewery=brewery,
                         nickname=nickname, server=server, port=port, features=(ns.JIBRI,))
        self.current = status
        self.on_request = on_request
        iq = ns.tag(self.xmpp.default_ns, "iq")
        self.xmpp.register_handler(Callback("jibri-request", MatchXPath(f"{iq}/{ns.tag(ns.JIBRI, 'jibri')}"),
                                            self._on_jibri))

    def status(self) -> list[Element]:
        return [self.current.to_element()]

    def publish(self, status: JibriStatus) -> None:
        """Jibri sends its status only when it changes."""
        if status == self.current:
            return
        self.current = status
        self.republish()

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

    # --- requests ----------------------------------------------------------------------------------
    def _on_jibri(self, iq: slixmpp.Iq) -> None:
        if iq["type"] != "set":
            return
        if not self.from_brewery(iq):
            return
        try:
            request = JibriIq.from_element(iq.xml.find(ns.tag(ns.JIBRI, "jibri")))
        except JibriStanzaError as exc:
            return send_error(iq, StanzaError("modify", "bad-request", str(exc)))
        if request.action is None:
            return send_error(iq, StanzaError("modify", "bad-request", "jibri without an action"))
        answer = self.on_request(request, iq["from"].full)
        reply = iq.reply(clear=True)
        answer.to_element(reply.xml)
        reply.send()
