"""The slixmpp connection of a service account (focus, bridge, recorder, transcriber) to the
deployment's XMPP server, and the brewery membership the recorder and the transcriber share."""

from __future__ import annotations

import abc
import asyncio
import functools
import logging
import ssl
from typing import Any, Iterable
from xml.etree.ElementTree import Element

import slixmpp

from . import ns
from .errors import StanzaError, error_element


@functools.cache
def _internal_tls() -> ssl.SSLContext:
    """The one TLS context of the process's service connections. It checks nothing, so it loads no
    CAs: slixmpp's own default loads the system's twice, about 45 ms of CPU per connection, which
    the SIP gateway paid per call (each call is a connection)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def service_client(jid: str, password: str) -> slixmpp.ClientXMPP:
    """A c2s client set up as docker's jicofo and jvb are: the XMPP server is internal, so its
    certificate is not checked; STARTTLS is used whenever offered, and an internal server that
    offers none still gets the login (PLAIN or SCRAM)."""
    xmpp = slixmpp.ClientXMPP(jid, password, ssl_context=_internal_tls())
    xmpp.enable_direct_tls = False
    xmpp.enable_plaintext = True
    xmpp.plugin["feature_mechanisms"].unencrypted_scram = True
    xmpp.plugin["feature_mechanisms"].unencrypted_plain = True
    xmpp.whitespace_keepalive_interval = 30
    for plugin in ("xep_0030", "xep_0199"):
        xmpp.register_plugin(plugin)
    # slixmpp keeps every disco#info result it receives, forever: the focus asks each participant and
    # each room, so that grew ~13 KB per participant (bench soak). What is worth keeping, caps.py keeps.
    xmpp.plugin["xep_0030"].use_cache = False
    return xmpp


def send_error(iq: slixmpp.Iq, error: StanzaError) -> None:
    """slixmpp's reply to ``iq`` (its addressing) carrying our ``<error>``, without XEP-0086's ``code``:
    neither jicofo's answers nor JVB's carry one."""
    reply = iq.reply(clear=True)
    reply["type"] = "error"
    reply.xml.append(error_element(error, legacy_code=False))
    reply.send()


class BreweryMember(abc.ABC):
    """A service account that sits in a brewery MUC for the focus to find (the recorder, the SIP gateway, the
    transcriber): logs in, joins with the presence payload ``status()`` builds, sends it again when
    told (:meth:`republish`) and on every rejoin, and reconnects with back-off when the stream drops.
    Requests the focus sends it are its subclass's; :meth:`from_brewery` refuses anyone else's."""

    RECONNECT_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)

    def __init__(self, *, service: str, logger: logging.Logger, jid: str, password: str, brewery: str,
                 nickname: str, server: str, port: int, features: Iterable[str] = ()) -> None:
        self.service, self.log = service, logger  # the service's own logger and prefix
        self.brewery, self.nickname = brewery, nickname
        self.server, self.port = server, port
        self.stopping = False
        self.joined = asyncio.Event()
        self._reconnects = 0
        xmpp = service_client(jid, password)
        for feature in features:
            xmpp.plugin["xep_0030"].add_feature(feature)
        xmpp.add_event_handler("session_start", self._on_session_start)
        xmpp.add_event_handler("disconnected", self._on_disconnected)
        xmpp.add_event_handler("failed_auth",
                               lambda _e: logger.error("%s: XMPP authentication failed as %s", service, jid))
        self.xmpp = xmpp

    @abc.abstractmethod
    def status(self) -> list[Element]:
        """The service's payload of its brewery presence."""

    def start(self) -> None:
        self.xmpp.connect(self.server, self.port)

    async def stop(self) -> None:
        self.stopping = True
        if self.xmpp.transport is not None:
            try:
                await asyncio.wait_for(self.xmpp.disconnect(wait=0.2), 0.5)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - best effort on shutdown
                self.xmpp.abort()

    def republish(self) -> None:
        if self.joined.is_set():
            self._presence(join=False)

    def from_brewery(self, iq: slixmpp.Iq) -> bool:
        """Whether a request comes from the brewery (its focus); answers ``forbidden`` if not."""
        if iq["from"].bare == self.brewery:
            return True
        send_error(iq, StanzaError("cancel", "forbidden", "only the brewery's focus may ask"))
        return False

    def _presence(self, join: bool) -> None:
        presence = self.xmpp.make_presence(pto=f"{self.brewery}/{self.nickname}")
        if join:
            presence.xml.append(Element(ns.tag(ns.MUC, "x")))
        presence.xml.extend(self.status())
        presence.send()

    async def _on_session_start(self, _event: Any) -> None:
        if self.stopping:
            return
        self._reconnects = 0
        self.xmpp.send_presence()
        self._presence(join=True)
        self.joined.set()
        self.log.info("%s: logged in as %s, joined %s as %s", self.service, self.xmpp.boundjid.full, self.brewery,
                 self.nickname)

    def _on_disconnected(self, _event: Any) -> None:
        self.joined.clear()
        if self.stopping:
            return
        delay = self.RECONNECT_DELAYS[min(self._reconnects, len(self.RECONNECT_DELAYS) - 1)]
        self._reconnects += 1
        self.log.warning("%s: XMPP connection lost; reconnecting in %.0f s", self.service, delay)
        asyncio.get_running_loop().call_later(delay, lambda: None if self.stopping else self.start())
