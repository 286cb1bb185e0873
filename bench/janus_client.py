"""The bench's endpoints on Janus's VideoRoom, through its HTTP API: the same endpoints as on our
bridge (:mod:`.media_client`), signalled with SDP instead of Colibri2.

A Janus participant is two peer connections, as Janus's own clients make it: a publisher that offers
its audio and its three simulcast VP8 layers (an ``a=ssrc-group:SIM``, as browsers did before RIDs,
which Janus reads), and one multistream subscriber that Janus offers every other publisher's audio
and video on, at the simulcast layer our bridge would forward. The subscriber's endpoint never
sends; the publisher's receives nothing. Counting and latency are the media client's own.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass

import aiohttp

from jitsi_py.common.stanzas.jingle import Candidate, Fingerprint, IceTransport

from .media_client import AUDIO_LEVEL_EXT, AUDIO_PT, VIDEO_PT, MediaEndpoint

VIDEOROOM = "janus.plugin.videoroom"
POLL_EVENTS = 50
REQUEST_TIMEOUT = 20.0


class JanusError(RuntimeError):
    pass


class JanusSession:
    """One Janus session: requests by transaction, asynchronous answers from one long-poll loop
    (which also keeps the session alive)."""

    def __init__(self, http: aiohttp.ClientSession, url: str, reachable: tuple[str, ...]):
        self.http = http
        self.url = url
        self.reachable = reachable  # the addresses Janus gathers on (its interface's)
        self.id: int | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[str, asyncio.Future] = {}
        self._poller: asyncio.Task | None = None

    async def _post(self, path: str, body: dict) -> dict:
        async with self.http.post(path, json=body) as response:
            answer = await response.json(content_type=None)
        if answer.get("janus") == "error":
            raise JanusError(f"{body.get('janus')}: {answer['error'].get('reason')}")
        return answer

    async def create(self) -> None:
        answer = await self._post(self.url, {"janus": "create", "transaction": self._transaction()})
        self.id = answer["data"]["id"]
        self._poller = asyncio.ensure_future(self._poll())

    def _transaction(self) -> str:
        return f"t{next(self._ids)}"

    async def _poll(self) -> None:
        while True:
            try:
                async with self.http.get(f"{self.url}/{self.id}?maxev={POLL_EVENTS}") as response:
                    events = await response.json(content_type=None)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                await asyncio.sleep(0.2)
                continue
            for event in events if isinstance(events, list) else [events]:
                waiter = self._waiting.pop(event.get("transaction", ""), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(event)

    async def attach(self) -> int:
        answer = await self._post(f"{self.url}/{self.id}",
                                  {"janus": "attach", "plugin": VIDEOROOM, "transaction": self._transaction()})
        return answer["data"]["id"]

    async def request(self, handle: int, body: dict, jsep: dict | None = None) -> dict:
        """A plugin request; the plugin's answer, whether Janus gives it at once or as a later event."""
        transaction = self._transaction()
        message = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            message["jsep"] = jsep
        waiter = self._waiting[transaction] = asyncio.get_running_loop().create_future()
        answer = await self._post(f"{self.url}/{self.id}/{handle}", message)
        if answer.get("janus") == "success":
            self._waiting.pop(transaction, None)
            event = answer
        else:
            event = await asyncio.wait_for(waiter, REQUEST_TIMEOUT)
        data = event.get("plugindata", {}).get("data", {})
        if "error" in data:
            raise JanusError(f"{body.get('request')}: {data['error']} ({data.get('error_code')})")
        return event

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
        if self.id is not None:
            try:
                await self._post(f"{self.url}/{self.id}", {"janus": "destroy", "transaction": self._transaction()})
            except (JanusError, aiohttp.ClientError):
                pass


@dataclass
class JanusParticipant:
    publisher: MediaEndpoint  # sends; Janus's feed id below
    subscriber: MediaEndpoint  # receives every other publisher
    feed: int = 0
    publisher_handle: int = 0
    subscriber_handle: int = 0


async def create_room(session: JanusSession, handle: int, publishers: int) -> int:
    room = random.randrange(1, 1 << 40)
    await session.request(handle, {"request": "create", "room": room, "publishers": publishers,
                                   "videocodec": "vp8", "audiocodec": "opus", "bitrate": 0, "fir_freq": 0,
                                   "audiolevel_event": False, "notify_joining": False})
    return room


async def destroy_room(session: JanusSession, room: int) -> None:
    handle = await session.attach()
    try:
        await session.request(handle, {"request": "destroy", "room": room})
    except (JanusError, asyncio.TimeoutError):
        pass  # the step's figures are taken; a room left behind dies with the server


async def publish(session: JanusSession, room: int, participant: JanusParticipant) -> None:
    endpoint = participant.publisher
    participant.publisher_handle = handle = await session.attach()
    joined = await session.request(handle, {"request": "join", "ptype": "publisher", "room": room,
                                            "display": endpoint.publication.endpoint_id})
    participant.feed = joined["plugindata"]["data"]["id"]
    configured = await session.request(handle, {"request": "publish", "audio": True, "video": True},
                                       {"type": "offer", "sdp": publisher_offer(endpoint)})
    remote, setup = parse_transport(configured["jsep"]["sdp"])
    await endpoint.connect(remote, dtls_role="server" if setup == "active" else "client",
                           reachable=session.reachable)


async def subscribe(session: JanusSession, room: int, participant: JanusParticipant, feeds: list[int],
                    substream: int) -> None:
    endpoint = participant.subscriber
    participant.subscriber_handle = handle = await session.attach()
    streams = [{"feed": feed, "substream": substream} for feed in feeds]
    attached = await session.request(handle, {"request": "join", "ptype": "subscriber", "room": room,
                                              "streams": streams})
    offer = attached["jsep"]["sdp"]
    remote, _ = parse_transport(offer)
    await session.request(handle, {"request": "start"}, {"type": "answer", "sdp": subscriber_answer(endpoint, offer)})
    await endpoint.connect(remote, dtls_role="client", reachable=session.reachable)


# --- SDP ------------------------------------------------------------------------------------------

def _transport_lines(endpoint: MediaEndpoint, setup: str) -> list[str]:
    local = endpoint.local_transport()
    lines = [f"a=ice-ufrag:{local.ufrag}", f"a=ice-pwd:{local.pwd}"]
    lines += [f"a=fingerprint:{f.hash} {f.value}" for f in local.fingerprints if f.hash == "sha-256"]
    lines.append(f"a=setup:{setup}")
    return lines


def _candidate_lines(endpoint: MediaEndpoint) -> list[str]:
    return [f"a=candidate:{c.foundation} {c.component} {c.protocol} {c.priority} {c.ip} {c.port} typ {c.type}"
            for c in endpoint.local_transport().candidates] + ["a=end-of-candidates"]


def publisher_offer(endpoint: MediaEndpoint) -> str:
    pub = endpoint.publication
    name = pub.endpoint_id
    common = _transport_lines(endpoint, "actpass")
    lines = ["v=0", f"o=- {random.randrange(1 << 40)} 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
             "a=group:BUNDLE 0 1", f"a=msid-semantic: WMS {name}",
             f"m=audio 9 UDP/TLS/RTP/SAVPF {AUDIO_PT}", "c=IN IP4 127.0.0.1", *common, "a=mid:0",
             f"a=extmap:{AUDIO_LEVEL_EXT} urn:ietf:params:rtp-hdrext:ssrc-audio-level", "a=sendonly", "a=rtcp-mux",
             f"a=rtpmap:{AUDIO_PT} opus/48000/2", f"a=fmtp:{AUDIO_PT} minptime=10;useinbandfec=1",
             f"a=ssrc:{pub.audio_ssrc} cname:{name}", f"a=ssrc:{pub.audio_ssrc} msid:{name} {name}-a0",
             *_candidate_lines(endpoint),
             f"m=video 9 UDP/TLS/RTP/SAVPF {VIDEO_PT}", "c=IN IP4 127.0.0.1", *common, "a=mid:1", "a=sendonly",
             "a=rtcp-mux", f"a=rtpmap:{VIDEO_PT} VP8/90000", f"a=rtcp-fb:{VIDEO_PT} nack pli",
             "a=ssrc-group:SIM " + " ".join(str(s) for s in pub.video_ssrcs)]
    for ssrc in pub.video_ssrcs:
        lines += [f"a=ssrc:{ssrc} cname:{name}", f"a=ssrc:{ssrc} msid:{name} {name}-v0"]
    return "\r\n".join(lines) + "\r\n"


def subscriber_answer(endpoint: MediaEndpoint, offer: str) -> str:
    """Receive-only, one m-line per offered one, the first payload type each offers (Janus offers
    the codec its publisher negotiated)."""
    sections = _media_sections(offer)
    mids = [_attribute(section, "mid") for section in sections]
    common = _transport_lines(endpoint, "active")
    lines = ["v=0", f"o=- {random.randrange(1 << 40)} 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
             "a=group:BUNDLE " + " ".join(m for m in mids if m is not None)]
    for index, section in enumerate(sections):
        media, _, _, *pts = section[0][2:].split()
        if media == "application" or not pts:
            lines += [f"m={media} 0 {section[0].split()[2]} {' '.join(pts) or '0'}", f"a=mid:{mids[index]}"]
            continue
        pt = pts[0]
        rtpmap = next((line for line in section if line.startswith(f"a=rtpmap:{pt} ")), None)
        lines += [f"m={media} 9 UDP/TLS/RTP/SAVPF {pt}", "c=IN IP4 127.0.0.1", *common, f"a=mid:{mids[index]}",
                  "a=recvonly", "a=rtcp-mux"]
        if rtpmap:
            lines.append(rtpmap)
        if index == 0:
            lines += _candidate_lines(endpoint)
    return "\r\n".join(lines) + "\r\n"


def _media_sections(sdp: str) -> list[list[str]]:
    sections: list[list[str]] = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
    return sections


def _attribute(lines: list[str], name: str) -> str | None:
    prefix = f"a={name}:"
    return next((line[len(prefix):].strip() for line in lines if line.startswith(prefix)), None)


def parse_transport(sdp: str) -> tuple[IceTransport, str | None]:
    """Janus's bundled transport (the first section's ICE credentials, fingerprint and candidates)
    and its DTLS setup role."""
    lines = sdp.splitlines()
    ufrag, pwd = _attribute(lines, "ice-ufrag"), _attribute(lines, "ice-pwd")
    fingerprint, setup = _attribute(lines, "fingerprint"), _attribute(lines, "setup")
    if not ufrag or not pwd or not fingerprint:
        raise JanusError("Janus's SDP lacks ICE credentials or a fingerprint")
    algorithm, value = fingerprint.split(" ", 1)
    candidates = []
    for n, line in enumerate(x for x in lines if x.startswith("a=candidate:")):
        foundation, component, protocol, priority, ip, port, _typ, kind, *_ = line[len("a=candidate:"):].split()
        candidates.append(Candidate(component=int(component), foundation=foundation, generation=0, id=f"j{n}",
                                    ip=ip, port=int(port), priority=int(priority), protocol=protocol.lower(),
                                    type=kind))
    transport = IceTransport(ufrag=ufrag, pwd=pwd, candidates=candidates,
                             fingerprints=[Fingerprint(algorithm, value, setup=setup)], rtcp_mux=True)
    return transport, setup
