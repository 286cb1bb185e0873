"""aiortc peers joined to the bridge as a browser is: Colibri2 answer -> SDP offer -> SDP answer -> Colibri2.

The focus's part (turn the bridge's transport into a Jingle offer, relay the session-accept) is done
here directly in SDP, the way lib-jitsi-meet turns Jingle into SDP for the browser.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from array import array

from aiortc import AudioStreamTrack, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from av import VideoFrame

from jitsi_py.bridge.colibri2 import handle
from jitsi_py.common.stanzas import colibri2 as c2
from jitsi_py.common.stanzas.jingle import (
    Candidate,
    Fingerprint,
    HeaderExtension,
    IceTransport,
    PayloadType,
    Source as WireSource,
    SsrcGroup,
)

VP8 = PayloadType(100, "VP8", 90000)
OPUS = PayloadType(111, "opus", 48000, 2)
AUDIO_LEVEL = HeaderExtension(1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level")


class PatternTrack(VideoStreamTrack):
    """Frames with moving content, so VP8 has something to encode."""

    def __init__(self, width=320, height=240):
        super().__init__()
        self.width, self.height = width, height
        self.count = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=self.width, height=self.height, format="yuv420p")
        shade = (self.count * 7) % 255
        for plane in frame.planes:
            plane.update(bytes([shade]) * plane.buffer_size)
        self.count += 1
        frame.pts, frame.time_base = pts, time_base
        return frame


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone at a fixed amplitude: loud for a speaker, 0 for a silent participant."""

    def __init__(self, amplitude: float):
        super().__init__()
        self.amplitude = amplitude
        self.second = b""
        self.offset = 0

    async def recv(self):
        frame = await super().recv()  # silence with the right timing and layout
        channels = len(frame.layout.channels)
        if not self.second:  # one second of samples, sliced frame by frame
            rate = frame.sample_rate
            samples = [int(math.sin(2 * math.pi * 440 * i / rate) * 32767 * self.amplitude) for i in range(rate)]
            self.second = array("h", [v for v in samples for _ in range(channels)]).tobytes()
        size = frame.samples * 2 * channels
        chunk = (self.second[self.offset:] + self.second)[:size]
        self.offset = (self.offset + size) % len(self.second)
        frame.planes[0].update(chunk)
        return frame


def roundtrip(bridge, request: c2.ConferenceModify) -> c2.ConferenceModified:
    """Through the wire codec both ways, as over XMPP."""
    from xml.etree.ElementTree import fromstring, tostring

    parsed = c2.parse_conference_modify(fromstring(tostring(request.to_element())))
    answer = handle(bridge, parsed, time.monotonic())
    return c2.parse_conference_modified(fromstring(tostring(answer.to_element())))


def offer_sdp(transport: IceTransport, remote_video: list[tuple[int, str]], sctp: bool = False,
              remote_audio: list[tuple[int, str]] | None = None) -> str:
    """The SDP offer a browser builds from jicofo's session-initiate (BUNDLE: video, the data
    channel, and audio when ``remote_audio`` is given)."""
    fp = transport.fingerprints[0]
    mids = ["0"] + (["1"] if sctp else []) + (["2"] if remote_audio is not None else [])
    lines = ["v=0", "o=- 1923518516 2 IN IP4 0.0.0.0", "s=-", "t=0 0",
             "a=group:BUNDLE " + " ".join(mids), "a=msid-semantic: WMS *"]
    common = [f"a=ice-ufrag:{transport.ufrag}", f"a=ice-pwd:{transport.pwd}",
              f"a=fingerprint:{fp.hash} {fp.value}", "a=setup:actpass"]
    cands = [f"a=candidate:{c.foundation} 1 udp {c.priority} {c.ip} {c.port} typ {c.type}"
             for c in transport.candidates]
    lines += ["m=video 9 UDP/TLS/RTP/SAVPF 100", "c=IN IP4 0.0.0.0", *common, "a=mid:0", "a=sendrecv",
              "a=rtcp-mux", "a=rtpmap:100 VP8/90000", "a=rtcp-fb:100 nack", "a=rtcp-fb:100 nack pli",
              "a=rtcp-fb:100 ccm fir", *cands]
    for ssrc, name in remote_video:
        lines += [f"a=ssrc:{ssrc} cname:{name}", f"a=ssrc:{ssrc} msid:{name} {name}-track"]
    if sctp:
        lines += ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0", *common, "a=mid:1",
                  "a=sctp-port:5000", *cands]
    if remote_audio is not None:
        lines += ["m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", *common, "a=mid:2", "a=sendrecv",
                  "a=rtcp-mux", "a=rtpmap:111 opus/48000/2", f"a=extmap:1 {AUDIO_LEVEL.uri}", *cands]
        for ssrc, name in remote_audio:
            lines += [f"a=ssrc:{ssrc} cname:{name}", f"a=ssrc:{ssrc} msid:{name} {name}-track"]
    return "\r\n".join(lines) + "\r\n"


class Peer:
    """One participant: its RTCPeerConnection and the Colibri2 endpoint it has on the bridge."""

    def __init__(self, bridge, meeting_id: str, endpoint_id: str, *, publish: bool, sctp: bool = False,
                 rewrite: bool = False, fingerprint: str | None = None, loudness: float | None = None):
        self.bridge = bridge
        self.meeting_id = meeting_id
        self.id = endpoint_id
        self.publish = publish
        self.sctp = sctp
        self.rewrite = rewrite
        self.pc = RTCPeerConnection()
        loop = asyncio.get_running_loop()
        self.track_future = loop.create_future()  # the remote video track
        self.audio_future = loop.create_future()
        self.pc.on("track", self._on_track)
        self.video_ssrc: int | None = None
        self.transport: IceTransport | None = None
        self.fingerprint = fingerprint  # signal this instead of the real one (hostile tests)
        self.loudness = loudness  # None: no audio; else the amplitude (0..1) of the tone it sends
        self.audio_ssrc: int | None = None

    def allocate(self, create_conference: bool) -> None:
        answer = roundtrip(self.bridge, c2.ConferenceModify(
            self.meeting_id, name="room@muc.meet.jitsi" if create_conference else None, create=create_conference,
            endpoints=[c2.Endpoint(self.id, create=True, stats_id=self.id,
                                   media=[c2.Media("video", [VP8]), c2.Media("audio", [OPUS], [AUDIO_LEVEL])],
                                   transport=c2.Transport(ice_controlling=True, sctp=c2.Sctp() if self.sctp else None),
                                   capabilities=["source-names"] + (["ssrc-rewriting"] if self.rewrite else []))]))
        self.transport = answer.endpoint(self.id).transport.ice
        assert answer.sources is not None

    async def connect(self, remote_video: list[tuple[int, str]],
                      remote_audio: list[tuple[int, str]] | None = None) -> None:
        with_audio = self.loudness is not None
        await self.pc.setRemoteDescription(RTCSessionDescription(
            offer_sdp(self.transport, remote_video, self.sctp, (remote_audio or []) if with_audio else None), "offer"))
        if self.publish:
            self.pc.addTrack(PatternTrack())
        if with_audio:
            self.pc.addTrack(ToneTrack(self.loudness))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        sdp = self.pc.localDescription.sdp
        ufrag = re.search(r"a=ice-ufrag:(\S+)", sdp).group(1)
        pwd = re.search(r"a=ice-pwd:(\S+)", sdp).group(1)
        hash_name, value = re.search(r"a=fingerprint:(\S+) (\S+)", sdp).groups()
        setup = re.search(r"a=setup:(\S+)", sdp).group(1)
        candidates = []
        for i, (foundation, prio, ip, port) in enumerate(re.findall(
                r"a=candidate:(\S+) 1 udp (\d+) (\d+\.\d+\.\d+\.\d+) (\d+) typ host", sdp)):
            candidates.append(Candidate(1, foundation, 0, str(i), ip, int(port), int(prio), "udp", "host"))
        sources = None
        sections = {part.split(" ", 1)[0]: part for part in sdp.split("\r\nm=")[1:]}
        if self.publish:
            video = sections["video"]
            ssrcs = [int(s) for s in dict.fromkeys(re.findall(r"a=ssrc:(\d+) ", video))]
            groups = re.findall(r"a=ssrc-group:FID (\d+) (\d+)", video)
            self.video_ssrc = ssrcs[0]
            sources = [c2.MediaSource("video", f"{self.id}-v0",
                                      [WireSource(s, "video", f"{self.id}-v0") for s in ssrcs],
                                      [SsrcGroup("FID", (int(a), int(b))) for a, b in groups])]
        if with_audio:
            self.audio_ssrc = int(re.search(r"a=ssrc:(\d+) ", sections["audio"]).group(1))
            sources = (sources or []) + [c2.MediaSource("audio", f"{self.id}-a0", [
                WireSource(self.audio_ssrc, "audio", f"{self.id}-a0")])]
        roundtrip(self.bridge, c2.ConferenceModify(self.meeting_id, endpoints=[c2.Endpoint(
            self.id, transport=c2.Transport(ice=IceTransport(
                ufrag, pwd, candidates, [Fingerprint(hash_name, self.fingerprint or value.upper(), setup)])),
            sources=sources)]))

    def _on_track(self, track) -> None:
        future = self.track_future if track.kind == "video" else self.audio_future
        if not future.done():
            future.set_result(track)

    async def close(self):
        await self.pc.close()
