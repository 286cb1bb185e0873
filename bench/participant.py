"""A lightweight Jitsi participant: XMPP signalling as the web client does it, plus a media endpoint.

Conference request to the focus, MUC join, then the focus's Jingle offer: answer it with our ICE,
DTLS and sources, connect to the bridge it names, and send media. A new offer (after a bridge
failure the focus re-invites) or a transport-replace moves the media to the new transport.
"""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET

import aiohttp

from jitsi_py.common.stanzas.jingle import (
    NS_JINGLE,
    Content,
    HeaderExtension,
    Jingle,
    JingleError,
    PayloadType,
    Source,
    SsrcGroup,
    parse_jingle,
)

from .allocator import AUDIO_LEVEL_URI
from .media_client import AUDIO_LEVEL_EXT, AUDIO_PT, VIDEO_PT, MediaEndpoint, Publication
from .servers import DOMAIN, FOCUS
from .xmpp_client import Client, XmppError

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_PING = "urn:xmpp:ping"
# What the Jitsi web client announces (docs/focus.md §2.2): the focus reads these before inviting.
FEATURES = (
    "urn:xmpp:jingle:1", "urn:xmpp:jingle:apps:rtp:1", "urn:xmpp:jingle:apps:rtp:audio",
    "urn:xmpp:jingle:apps:rtp:video", "urn:xmpp:jingle:transports:ice-udp:1", "urn:xmpp:jingle:apps:dtls:0",
    "urn:ietf:rfc:5761", "urn:ietf:rfc:5888", "http://jitsi.org/source-name",
    "http://jitsi.org/receive-multiple-video-streams", NS_DISCO_INFO, NS_PING,
)


class Participant:
    def __init__(self, http: aiohttp.ClientSession, transport: str, url: str, room: str, nick: str):
        self.client = Client(http, transport, url, DOMAIN)
        self.room = room
        self.nick = nick
        self.publication = Publication.random(nick)
        self.media: MediaEndpoint | None = None
        self.sid: str | None = None
        self.offers = 0
        self.connected = asyncio.Event()
        self.timings: dict[str, float] = {}
        self.errors: list[str] = []
        self._tasks: set[asyncio.Task] = set()
        self.started = 0.0

    async def join(self) -> None:
        """Login, conference request, MUC join; the offer is handled as it comes."""
        self.started = time.perf_counter()
        await self.client.login()
        self.client.on_iq = self._iq
        self.timings["login"] = time.perf_counter() - self.started
        await self.client.conference_request(FOCUS, self.room)
        self.timings["conference_request"] = time.perf_counter() - self.started
        await self.client.join(self.room, self.nick)
        self.timings["muc_join"] = time.perf_counter() - self.started

    def _iq(self, iq: ET.Element) -> None:
        if iq.find(f"{{{NS_DISCO_INFO}}}query") is not None:
            features = "".join(f"<feature var='{f}'/>" for f in FEATURES)
            self.client.reply(iq, f"<query xmlns='{NS_DISCO_INFO}'>{features}</query>")
            return
        jingle = iq.find(f"{{{NS_JINGLE}}}jingle")
        if jingle is None:
            if iq.find(f"{{{NS_PING}}}ping") is not None:
                self.client.reply(iq)
            else:
                self.client.reply_error(iq, "service-unavailable")
            return
        try:
            parsed = parse_jingle(jingle)
        except JingleError:
            self.client.reply_error(iq, "bad-request")
            return
        self.client.reply(iq)
        if parsed.action in ("session-initiate", "transport-replace"):
            task = asyncio.ensure_future(self._answer(iq.get("from", ""), parsed))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif parsed.action == "session-terminate" and parsed.sid == self.sid:
            self.connected.clear()

    async def _answer(self, focus: str, offer: Jingle) -> None:
        transport = next((c.transport for c in offer.contents if c.transport is not None and c.transport.ufrag), None)
        if transport is None:
            self.errors.append(f"{offer.action} without an ICE transport")
            return
        self.offers += 1
        if "offer" not in self.timings:
            self.timings["offer"] = time.perf_counter() - self.started
        old, self.media = self.media, MediaEndpoint(self.publication)
        self.connected.clear()
        if old is not None:
            await old.close()
        await self.media.gather()
        ours = self.media.local_transport()
        if offer.action == "session-initiate":
            self.sid = offer.sid
            answer = Jingle("session-accept", offer.sid, initiator=offer.initiator, responder=self.client.jid,
                            contents=self._contents(offer, ours), bundle=[c.name for c in offer.contents])
        else:
            answer = Jingle("transport-accept", offer.sid, initiator=offer.initiator, responder=self.client.jid,
                            contents=[Content(c.name, c.creator, c.senders, transport=ours) for c in offer.contents])
        try:
            await self.client.iq("set", focus, ET.tostring(answer.to_element(), encoding="unicode"))
            await self.media.connect(transport)
        except (XmppError, ValueError, ConnectionError, asyncio.TimeoutError) as exc:
            self.errors.append(f"{offer.action}: {exc}")
            return
        self.connected.set()

    def _contents(self, offer: Jingle, transport) -> list[Content]:
        pub = self.publication
        contents = []
        for c in offer.contents:
            if c.media == "audio":
                contents.append(Content(c.name, c.creator, "both", "audio",
                                        [PayloadType(AUDIO_PT, "opus", 48000, 2)],
                                        [HeaderExtension(AUDIO_LEVEL_EXT, AUDIO_LEVEL_URI)], rtcp_mux=True,
                                        sources=[Source(pub.audio_ssrc, "audio", f"{self.nick}-a0")],
                                        transport=transport))
            elif c.media == "video":
                contents.append(Content(c.name, c.creator, "both", "video", [PayloadType(VIDEO_PT, "VP8", 90000)],
                                        rtcp_mux=True,
                                        sources=[Source(s, "video", f"{self.nick}-v0", video_type="camera")
                                                 for s in pub.video_ssrcs],
                                        ssrc_groups=[SsrcGroup("SIM", tuple(pub.video_ssrcs))],
                                        transport=transport))
            else:
                contents.append(Content(c.name, c.creator, c.senders, c.media, transport=transport))
        return contents

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.media is not None:
            await self.media.close()
        await self.client.close()
