"""The bench's stand-in for the focus: logs in to the hub, sees the bridge in the brewery, and
allocates endpoints on it with Colibri2 over XMPP, the way jicofo does (docs/colibri2.md §3)."""

from __future__ import annotations

import asyncio
import uuid
import xml.etree.ElementTree as ET

import aiohttp

from jitsi_py.common.stanzas.colibri2 import (
    CAPABILITY_SOURCE_NAMES,
    CONFERENCE_MODIFIED,
    ConferenceModify,
    Endpoint,
    Media,
    MediaSource,
    Transport,
    parse_conference_modified,
)
from jitsi_py.common.stanzas.jingle import HeaderExtension, IceTransport, PayloadType, Source, SsrcGroup

from .media_client import AUDIO_LEVEL_EXT, AUDIO_PT, VIDEO_PT, Publication
from .servers import AUTH, BREWERY
from .xmpp_client import Client, XmppError

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
MEDIA = [
    Media("audio", [PayloadType(AUDIO_PT, "opus", 48000, 2)], [HeaderExtension(AUDIO_LEVEL_EXT, AUDIO_LEVEL_URI)]),
    Media("video", [PayloadType(VIDEO_PT, "VP8", 90000)]),
]


def sources_of(publication: Publication) -> list[MediaSource]:
    """One audio and one simulcast video source named as Jitsi names them: <endpoint>-a0, <endpoint>-v0."""
    eid = publication.endpoint_id
    audio = MediaSource("audio", f"{eid}-a0", [Source(publication.audio_ssrc, "audio", f"{eid}-a0")])
    video = MediaSource("video", f"{eid}-v0",
                        [Source(ssrc, "video", f"{eid}-v0", video_type="camera") for ssrc in publication.video_ssrcs],
                        [SsrcGroup("SIM", tuple(publication.video_ssrcs))])
    return [audio, video]


class Allocator:
    def __init__(self, http: aiohttp.ClientSession, hub_url: str, transport: str, user: str, password: str,
                 bridge_nicks: list[str]):
        """`bridge_nicks`: the bridges in the brewery (a host's workers); each meeting is placed on one
        (:meth:`place`), the first unless said otherwise."""
        self.client = Client(http, transport, hub_url, AUTH)
        self.user = user
        self.password = password
        self.bridges = [f"{BREWERY}/{nick}" for nick in bridge_nicks]
        self._unseen = set(self.bridges)
        self._placed: dict[str, str] = {}
        self.bridge_seen = asyncio.Event()  # every bridge is in the brewery

    async def start(self) -> None:
        await self.client.login(self.user, self.password)
        self.client.on_presence = self._presence
        await self.client.join(BREWERY, "focus")

    def _presence(self, presence: ET.Element) -> None:
        if presence.get("type") != "unavailable":
            self._unseen.discard(presence.get("from", ""))
            if not self._unseen:
                self.bridge_seen.set()

    def place(self, meeting_id: str, index: int) -> None:
        self._placed[meeting_id] = self.bridges[index % len(self.bridges)]

    async def modify(self, request: ConferenceModify) -> Endpoint | None:
        payload = ET.tostring(request.to_element(), encoding="unicode")
        bridge = self._placed.get(request.meeting_id, self.bridges[0])
        answer = await self.client.iq("set", bridge, payload, timeout=15)
        modified = parse_conference_modified(answer.find(CONFERENCE_MODIFIED))
        return modified.endpoint(request.endpoints[0].id) if request.endpoints else None

    async def create_endpoint(self, meeting_id: str, room: str, first: bool, publication: Publication) -> IceTransport:
        """Allocate one endpoint; returns the bridge's ICE transport for it."""
        endpoint = Endpoint(publication.endpoint_id, create=True, stats_id=publication.endpoint_id, media=MEDIA,
                            transport=Transport(ice_controlling=True), sources=sources_of(publication),
                            capabilities=[CAPABILITY_SOURCE_NAMES])
        request = ConferenceModify(meeting_id, name=room if first else None, create=first, endpoints=[endpoint])
        answer = await self.modify(request)
        if answer is None or answer.transport is None or answer.transport.ice is None:
            raise XmppError(f"the bridge allocated {publication.endpoint_id} without an ICE transport")
        return answer.transport.ice

    async def set_transport(self, meeting_id: str, endpoint_id: str, ice: IceTransport) -> None:
        await self.modify(ConferenceModify(meeting_id, endpoints=[Endpoint(endpoint_id, transport=Transport(ice=ice))]))

    async def expire(self, meeting_id: str, endpoint_ids: list[str]) -> None:
        for endpoint_id in endpoint_ids:
            try:
                await self.modify(ConferenceModify(meeting_id, endpoints=[Endpoint(endpoint_id, expire=True)]))
            except XmppError:
                pass  # the conference may already be gone with its last endpoint

    async def close(self) -> None:
        await self.client.close()


def new_meeting() -> tuple[str, str]:
    meeting_id = str(uuid.uuid4())
    return meeting_id, f"bench-{meeting_id[:8]}@muc.meet.jitsi"
