"""Lightweight media endpoints: real ICE (aioice), DTLS and SRTP (aiortc, pylibsrtp), RTP at set rates.

An endpoint is what a browser is to the bridge, minus codecs: it publishes one audio source (opus
sized, 50 packets/s, an audio-level header extension) and one simulcast video source of three
layers, and counts what it receives. Every payload ends with the sender's perf_counter_ns, so the
receiver (the same process) reads the end-to-end latency without parsing anything else.
Loss is read from sequence gaps per received SSRC, which holds whichever layer the bridge forwards.

Received RTP is counted from its header, which SRTP leaves in the clear, straight off the socket
(:meth:`MediaEndpoint.connect`); one packet in :data:`DECRYPT_EVERY` is decrypted, which checks the
bridge's SRTP towards this endpoint and gives a latency sample. aiortc's own receive path (a STUN
parse attempt, a queue and a coroutine per datagram) costs more per packet than the bridge spends
forwarding it: with it the bench's one process, not the bridge, would set the knee of a sweep.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import time
from dataclasses import dataclass, field

import aioice.ice
import pylibsrtp
from aiortc import RTCCertificate, RTCDtlsParameters, RTCIceGatherer, RTCIceTransport
from aiortc.rtcdtlstransport import RTCDtlsFingerprint, RTCDtlsTransport
from aiortc.rtcicetransport import RTCIceCandidate, RTCIceParameters

from jitsi_py.common.stanzas.jingle import Candidate, Fingerprint, IceTransport

# The bench stays on this host: loopback, or (towards Janus, which gathers on an interface's address
# only) the address of the bench's own network namespace; aioice would gather every host address.
HOST_ADDRESSES = ["127.0.0.1"]
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: list(HOST_ADDRESSES)

LOOPBACK = ("127.0.0.1", "::1")
AUDIO_PT = 111
VIDEO_PT = 100
AUDIO_LEVEL_EXT = 1
STAMP = struct.Struct("!Q")
HEADER = struct.Struct("!BBHII")
AUDIO_PAYLOAD = 100
VIDEO_PAYLOAD = 1100
AUDIO_PPS = 50
VIDEO_FPS = 30
# packets per second of the three simulcast layers (180p, 360p, 720p), as a browser sends them
SIMULCAST_PPS = (15, 45, 150)
SIMULCAST_SIZES = ((320, 180), (640, 360), (1280, 720))


def _vp8_start(keyframe: bool, size: tuple[int, int]) -> bytes:
    """The first bytes of a frame's first packet: the RFC 7741 payload descriptor (S bit, partition
    0), then the VP8 frame tag (P bit clear on a key frame, show_frame set) and, on a key frame, the
    start code and the frame size, as an encoder writes them (Janus reads the start code)."""
    if not keyframe:
        return bytes((0x10, 0x11, 0, 0))
    width, height = size
    return bytes((0x10, 0x10, 0, 0, 0x9D, 0x01, 0x2A)) + struct.pack("<HH", width, height)


VP8_STARTS = tuple((_vp8_start(True, size), _vp8_start(False, size)) for size in SIMULCAST_SIZES)
VP8_CONTINUATION = bytes((0x00,))
KEYFRAME_EVERY = 2.0  # seconds
DECRYPT_EVERY = 8  # received RTP packets per one decrypted (the rest are counted from the header)
RTCP_PSFB, PLI, FIR = 206, 1, 4
RECEIVE_BUFFER = 4 << 20
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
LATENCY_KEEP = 20000  # latency samples kept per endpoint; beyond, a reservoir
# RFC 8285 one-byte header extension holding the audio level, voice activity bit set
AUDIO_LEVEL = bytes((0xBE, 0xDE, 0, 1, AUDIO_LEVEL_EXT << 4, 0x80 | 30, 0, 0))


@dataclass
class Publication:
    """The SSRCs an endpoint sends, as its Colibri2 <sources> will list them."""

    endpoint_id: str
    audio_ssrc: int
    video_ssrcs: tuple[int, int, int]

    @classmethod
    def random(cls, endpoint_id: str) -> "Publication":
        ssrcs = random.sample(range(1 << 20, 1 << 31), 4)
        return cls(endpoint_id, ssrcs[0], tuple(ssrcs[1:]))


@dataclass
class Reception:
    """What one endpoint received: per SSRC the first and highest sequence number and a count."""

    streams: dict[int, list[int]] = field(default_factory=dict)  # ssrc -> [first, highest, count, unwrapped]
    packets: int = 0
    audio_packets: int = 0
    latencies: list[float] = field(default_factory=list)
    seen: int = 0
    undecryptable: int = 0  # sampled packets SRTP refused: the bridge protected them wrongly

    def add(self, ssrc: int, seq: int, audio: bool) -> None:
        self.packets += 1
        if audio:
            self.audio_packets += 1
        stream = self.streams.get(ssrc)
        if stream is None:
            self.streams[ssrc] = [seq, seq, 1]
        else:
            # unwrap 16-bit sequence numbers relative to the highest seen
            delta = (seq - (stream[1] & 0xFFFF) + 0x8000) % 0x10000 - 0x8000
            if delta > 0:
                stream[1] += delta
            stream[2] += 1

    def latency(self, latency: float) -> None:
        self.seen += 1
        if len(self.latencies) < LATENCY_KEEP:
            self.latencies.append(latency)
        else:
            slot = random.randrange(self.seen)
            if slot < LATENCY_KEEP:
                self.latencies[slot] = latency

    def expected(self) -> int:
        return sum(s[1] - s[0] + 1 for s in self.streams.values())

    def reset(self) -> None:
        self.streams.clear()
        self.packets = self.audio_packets = self.seen = self.undecryptable = 0
        self.latencies.clear()


class _Dtls(RTCDtlsTransport):
    """aiortc's DTLS transport, for the handshake, its keys and RTCP; RTP is taken off the socket
    before it (:meth:`MediaEndpoint.connect`)."""

    keyframe_wanted = False

    async def _handle_rtcp_data(self, data: bytes) -> None:
        """A PLI or FIR asks for a key frame now, as a browser's encoder would give one."""
        offset = 0
        while offset + 4 <= len(data):
            first, pt, words = data[offset], data[offset + 1], int.from_bytes(data[offset + 2:offset + 4], "big")
            if pt == RTCP_PSFB and (first & 0x1F) in (PLI, FIR):
                self.keyframe_wanted = True
            offset += (words + 1) * 4


def local_ice_transport(gatherer, certificate) -> IceTransport:
    """Our gathered ICE candidates and DTLS fingerprint as a Jingle/Colibri2 transport; setup=active
    because, as a browser towards the bridge, we are the DTLS client."""
    params = gatherer.getLocalParameters()
    candidates = [
        Candidate(component=1, foundation=c.foundation, generation=0, id=f"c{n}", ip=c.ip, port=c.port,
                  priority=c.priority, protocol=c.protocol, type=c.type)
        for n, c in enumerate(gatherer.getLocalCandidates())
    ]
    fingerprints = [Fingerprint(f.algorithm, f.value, setup="active") for f in certificate.getFingerprints()]
    return IceTransport(ufrag=params.usernameFragment, pwd=params.password, candidates=candidates,
                        fingerprints=fingerprints, rtcp_mux=True)


class MediaEndpoint:
    """One participant's media: gather, then `connect` with the bridge's transport, then send."""

    def __init__(self, publication: Publication, ice_controlling: bool = False):
        """`ice_controlling` for an endpoint that offers (a Janus publisher), or to pair two endpoints
        without a server (the engine's own test)."""
        self.publication = publication
        self.gatherer = RTCIceGatherer()
        self.gatherer._connection.ice_controlling = ice_controlling
        self.ice = RTCIceTransport(self.gatherer)
        self.certificate = RTCCertificate.generateCertificate()
        self.dtls = _Dtls(self.ice, [self.certificate])
        self.dtls.reception = self.reception = Reception()
        self.sent = 0
        self.sent_audio = 0
        self._seq = {ssrc: random.randrange(1 << 16) for ssrc in (publication.audio_ssrc, *publication.video_ssrcs)}
        self._ts = {ssrc: random.randrange(1 << 32) for ssrc in self._seq}
        self._video_credit = [0.0, 0.0, 0.0]
        self._next_keyframe = 0.0
        self._keyframe_owed = [True, True, True]
        self.talking = True
        self.channel = None
        self._channel_reader: asyncio.Task | None = None

    async def gather(self) -> None:
        await self.gatherer.gather()

    def local_transport(self) -> IceTransport:
        return local_ice_transport(self.gatherer, self.certificate)

    async def connect(self, remote: IceTransport, timeout: float = 20.0, dtls_role: str = "client",
                      reachable: tuple[str, ...] = LOOPBACK) -> None:
        """ICE in the role the endpoint was made with (controlled towards the bridge, which
        controls), then DTLS as `dtls_role`: the client towards the bridge, as browsers are; what
        the SDP answer's setup says towards Janus. Only candidates on `reachable` addresses (this
        host's) are tried."""
        if not remote.ufrag or not remote.pwd or not remote.fingerprints:
            raise ValueError("the bridge's transport lacks ufrag, pwd or fingerprint")
        loopback = [c for c in remote.candidates if c.protocol == "udp" and c.ip in reachable]
        if not loopback:
            raise ValueError(f"the server offers no UDP candidate on {', '.join(reachable)} "
                             "(the bench stays on this host)")
        for c in loopback:
            await self.ice.addRemoteCandidate(RTCIceCandidate(
                component=c.component, foundation=c.foundation, ip=c.ip, port=c.port, priority=c.priority,
                protocol=c.protocol, type=c.type))
        await self.ice.addRemoteCandidate(None)
        self._grow_receive_buffers()
        await asyncio.wait_for(self.ice.start(RTCIceParameters(usernameFragment=remote.ufrag, password=remote.pwd)),
                               timeout)
        fingerprints = [RTCDtlsFingerprint(algorithm=f.hash, value=f.value) for f in remote.fingerprints]
        self._receive_rtp_directly()
        await asyncio.wait_for(self.dtls.start(RTCDtlsParameters(fingerprints=fingerprints, role=dtls_role)), timeout)

    def _receive_rtp_directly(self) -> None:
        """Count RTP as it comes off the socket (see the module's docstring); STUN, DTLS and RTCP
        go on to aioice and aiortc. Before DTLS has given keys, RTP is dropped, as aiortc does."""
        reception = self.reception
        dtls = self.dtls
        decrypt_in = [DECRYPT_EVERY]
        unpack, shortest = HEADER.unpack_from, HEADER.size + STAMP.size

        for protocol in self.gatherer._connection._protocols:
            aioice_path = protocol.datagram_received

            def received(data: bytes, addr, aioice_path=aioice_path) -> None:
                if not (127 < data[0] < 192 and len(data) >= shortest) or 191 < data[1] < 224:
                    aioice_path(data, addr)  # STUN, DTLS, RTCP (RFC 5761's payload types)
                    return
                if dtls._rx_srtp is None:
                    return
                _, pt, seq, _, ssrc = unpack(data)
                reception.add(ssrc, seq, (pt & 0x7F) == AUDIO_PT)
                decrypt_in[0] -= 1
                if decrypt_in[0]:
                    return
                decrypt_in[0] = DECRYPT_EVERY
                try:
                    plain = dtls._rx_srtp.unprotect(data)
                except pylibsrtp.Error:
                    reception.undecryptable += 1
                    return
                reception.latency((time.perf_counter_ns() - STAMP.unpack_from(plain, len(plain) - STAMP.size)[0]) / 1e9)

            protocol.datagram_received = received

    def _grow_receive_buffers(self) -> None:
        """A browser's socket buffers ride out a scheduling hiccup; the kernel's default 208 KB holds
        under 200 video packets, so on a busy machine the bench would measure its own drops."""
        for protocol in self.gatherer._connection._protocols:
            sock = protocol.transport.get_extra_info("socket")
            if sock is None:
                continue
            try:
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
            except OSError:  # not root: as far as net.core.rmem_max allows
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)

    async def open_channel(self, http, url: str, max_height: int) -> None:
        """The bridge channel over colibri-ws, to ask for video up to `max_height` from everyone.

        The bridge serves colibri-ws without TLS (the web service terminates it), hence ws://.
        """
        self.channel = await http.ws_connect(url.replace("wss://", "ws://", 1))
        await self.channel.send_str(json.dumps({"colibriClass": "ReceiverVideoConstraints", "lastN": -1,
                                                "defaultConstraints": {"maxHeight": max_height}}))
        self._channel_reader = asyncio.ensure_future(self._drain_channel())

    async def _drain_channel(self) -> None:
        async for _ in self.channel:
            pass

    def _packet(self, ssrc: int, pt: int, size: int, marker: bool, ts_step: int, extension: bytes = b"",
                descriptor: bytes = b"") -> bytes:
        seq = self._seq[ssrc] = (self._seq[ssrc] + 1) & 0xFFFF
        ts = self._ts[ssrc]
        if marker:
            self._ts[ssrc] = (ts + ts_step) & 0xFFFFFFFF
        header = HEADER.pack(0x90 if extension else 0x80, (0x80 if marker else 0) | pt, seq, ts, ssrc)
        body = descriptor + bytes(size - len(descriptor) - STAMP.size)
        return header + extension + body + STAMP.pack(time.perf_counter_ns())

    async def tick(self, dt: float, now: float) -> None:
        """Send what `dt` seconds of audio and video amount to."""
        send = self.dtls._send_rtp
        pub = self.publication
        if self.talking:
            for _ in range(max(1, round(dt * AUDIO_PPS))):
                # RFC 8285 one-byte header extension: the audio level (voice activity bit set)
                await send(self._packet(pub.audio_ssrc, AUDIO_PT, AUDIO_PAYLOAD, True, 960, AUDIO_LEVEL))
                self.sent += 1
                self.sent_audio += 1
        if now >= self._next_keyframe or self.dtls.keyframe_wanted:
            # every layer owes a key frame, sent with its next frame: a low layer may have no packet
            # in this tick, and a receiver switching to it waits for its key frame
            self.dtls.keyframe_wanted = False
            self._next_keyframe = now + KEYFRAME_EVERY
            self._keyframe_owed = [True, True, True]
        owed = self._keyframe_owed
        for layer, pps in enumerate(SIMULCAST_PPS):
            self._video_credit[layer] += pps * dt
            packets = int(self._video_credit[layer])
            self._video_credit[layer] -= packets
            if packets:
                keyframe, owed[layer] = owed[layer], False
            for n in range(packets):
                descriptor = VP8_STARTS[layer][0 if keyframe else 1] if n == 0 else VP8_CONTINUATION
                await send(self._packet(pub.video_ssrcs[layer], VIDEO_PT, VIDEO_PAYLOAD, n == packets - 1,
                                        90000 // VIDEO_FPS, descriptor=descriptor))
                self.sent += 1

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close()
            self._channel_reader.cancel()
        for closing in (self.dtls.stop(), self.ice.stop()):
            try:
                await asyncio.wait_for(closing, 3)
            except Exception:  # noqa: BLE001 - closing a half-open transport may fail in many ways
                pass
