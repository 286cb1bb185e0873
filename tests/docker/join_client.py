"""Participants meeting on a docker-compose stack from the host, through its published ports only.

Run by `docker/test-compose.sh`:
`python -m tests.docker.join_client --websocket wss://localhost:PORT/xmpp-websocket --media-ports PORT[,PORT]`.
Each participant does what lib-jitsi-meet does on the wire, and no more than the check needs:
1. XMPP over WebSocket (RFC 7395) through the web container's /xmpp-websocket proxy: anonymous login
   and bind;
2. the conference request to the focus (`focus.<domain>`), which must answer `ready="true"`;
3. the MUC join; once two participants are in, the focus offers each a Jingle session with the
   bridge's transport;
4. session-accept with our transport, then ICE and DTLS with the bridge through a published UDP
   port (the bridge's advertised candidate);
5. with --colibri-ws, the bridge channel over the URL the bridge offers, through the web service;
6. one participant sends SRTP audio, which the other must receive through the bridge.
With several rooms and bridges, the conferences must land on every bridge.
Each step prints one line; the first failing step raises with what was expected and what came.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import struct
import sys
import uuid
import xml.etree.ElementTree as ET

import aiohttp
import aioice.ice
from aiortc import RTCCertificate, RTCDtlsParameters, RTCIceGatherer, RTCIceTransport
from aiortc.rtcdtlstransport import RTCDtlsFingerprint, RTCDtlsTransport
from aiortc.rtcicetransport import RTCIceCandidate, RTCIceParameters

from bench.media_client import local_ice_transport
from jitsi_py.common.stanzas.jingle import IceTransport, Jingle, Source, parse_jingle

NS_FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_CLIENT = "jabber:client"
NS_FOCUS = "http://jitsi.org/protocol/focus"
NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_JINGLE = "urn:xmpp:jingle:1"
STEP_TIMEOUT = 20.0
OPUS_PT = 111


class JoinFailed(Exception):
    pass


def step(message: str) -> None:
    print(f"join_client: {message}", flush=True)


class WebSocketStream:
    """One XMPP stream over RFC 7395 framing: every frame is one complete element."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, domain: str):
        self.ws = ws
        self.domain = domain
        self.pending: list[ET.Element] = []

    async def send(self, xml: str) -> None:
        await self.ws.send_str(xml)

    async def recv(self, timeout: float = STEP_TIMEOUT) -> ET.Element:
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise JoinFailed(f"the WebSocket closed or sent a non-text frame: {msg.type.name} {msg.data!r}")
        return ET.fromstring(msg.data)

    async def wait_for(self, what: str, match, timeout: float = STEP_TIMEOUT) -> ET.Element:
        """The first element `match` accepts; others are kept for later waits."""
        for element in self.pending:
            if match(element):
                self.pending.remove(element)
                return element
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise JoinFailed(f"waited {timeout:.0f} s in vain for {what}")
            try:
                element = await self.recv(remaining)
            except asyncio.TimeoutError:
                raise JoinFailed(f"waited {timeout:.0f} s in vain for {what}") from None
            if element.tag == f"{{{NS_FRAMING}}}close" or element.tag.endswith("}error") and "stream" in element.tag:
                raise JoinFailed(f"the server closed the stream while waiting for {what}: {ET.tostring(element)!r}")
            if match(element):
                return element
            self.pending.append(element)

    async def open(self) -> ET.Element:
        await self.send(f"<open xmlns='{NS_FRAMING}' to='{self.domain}' version='1.0'/>")
        await self.wait_for("<open/>", lambda e: e.tag == f"{{{NS_FRAMING}}}open")
        return await self.wait_for("<stream:features/>", lambda e: e.tag.endswith("}features"))


def is_iq_result(iq_id: str):
    def match(e: ET.Element) -> bool:
        return e.tag == f"{{{NS_CLIENT}}}iq" and e.get("id") == iq_id and e.get("type") in ("result", "error")
    return match


async def iq(stream: WebSocketStream, kind: str, to: str | None, payload: str, what: str) -> ET.Element:
    iq_id = uuid.uuid4().hex[:12]
    to_attr = f" to='{to}'" if to else ""
    await stream.send(f"<iq xmlns='{NS_CLIENT}' type='{kind}' id='{iq_id}'{to_attr}>{payload}</iq>")
    reply = await stream.wait_for(f"the reply to {what}", is_iq_result(iq_id))
    if reply.get("type") == "error":
        raise JoinFailed(f"{what} failed: {ET.tostring(reply).decode()}")
    return reply


async def login(stream: WebSocketStream) -> str:
    features = await stream.open()
    mechanisms = [m.text for m in features.iter(f"{{{NS_SASL}}}mechanism")]
    if "ANONYMOUS" not in mechanisms:
        raise JoinFailed(f"the server offers no SASL ANONYMOUS (offered: {mechanisms})")
    await stream.send(f"<auth xmlns='{NS_SASL}' mechanism='ANONYMOUS'/>")
    outcome = await stream.wait_for("the SASL outcome",
                                    lambda e: e.tag in (f"{{{NS_SASL}}}success", f"{{{NS_SASL}}}failure"))
    if outcome.tag != f"{{{NS_SASL}}}success":
        raise JoinFailed(f"anonymous login refused: {ET.tostring(outcome).decode()}")
    await stream.open()
    reply = await iq(stream, "set", None, f"<bind xmlns='{NS_BIND}'/>", "resource binding")
    jid = reply.find(f"{{{NS_BIND}}}bind/{{{NS_BIND}}}jid")
    if jid is None or not jid.text:
        raise JoinFailed("the bind reply has no JID")
    return jid.text


class CountingDtls(RTCDtlsTransport):
    """aiortc's DTLS-SRTP transport, counting the RTP packets it decrypts by SSRC."""

    received: dict[int, int]

    async def _handle_rtp_data(self, data: bytes, arrival_time_ms: int) -> None:
        if len(data) >= 12:
            ssrc = struct.unpack_from("!I", data, 8)[0]
            self.received[ssrc] = self.received.get(ssrc, 0) + 1

    async def _handle_rtcp_data(self, data: bytes) -> None:
        pass


class Media:
    """The participant's media transport: ICE (controlled, as a browser is towards the bridge) and DTLS."""

    def __init__(self) -> None:
        self.gatherer = RTCIceGatherer(iceServers=[])
        self.ice = RTCIceTransport(self.gatherer)
        self.certificate = RTCCertificate.generateCertificate()
        self.dtls = CountingDtls(self.ice, [self.certificate])
        self.dtls.received = self.received = {}
        self.audio_ssrc = random.randrange(1 << 20, 1 << 31)

    async def gather(self) -> None:
        await self.gatherer.gather()

    def transport(self) -> IceTransport:
        return local_ice_transport(self.gatherer, self.certificate)

    async def connect(self, bridge: IceTransport) -> None:
        for c in bridge.candidates:
            if c.protocol == "udp":
                await self.ice.addRemoteCandidate(RTCIceCandidate(
                    component=c.component, foundation=c.foundation, ip=c.ip, port=c.port, priority=c.priority,
                    protocol=c.protocol, type=c.type))
        await self.ice.addRemoteCandidate(None)
        await asyncio.wait_for(self.ice.start(RTCIceParameters(usernameFragment=bridge.ufrag, password=bridge.pwd)),
                               STEP_TIMEOUT)
        fingerprints = [RTCDtlsFingerprint(algorithm=f.hash, value=f.value) for f in bridge.fingerprints]
        await asyncio.wait_for(self.dtls.start(RTCDtlsParameters(fingerprints=fingerprints, role="client")),
                               STEP_TIMEOUT)

    def selected_remote(self) -> tuple[str, int] | None:
        pair = self.ice._connection._nominated.get(1)
        return (pair.remote_candidate.host, pair.remote_candidate.port) if pair else None

    async def send_audio(self, count: int) -> None:
        seq = random.randrange(1 << 16)
        ts = random.randrange(1 << 32)
        for _ in range(count):
            header = struct.pack("!BBHII", 0x80, OPUS_PT, seq, ts, self.audio_ssrc)
            await self.dtls._send_rtp(header + bytes(80))
            seq = (seq + 1) & 0xFFFF
            ts = (ts + 960) & 0xFFFFFFFF
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        await self.dtls.stop()
        await self.ice.stop()


def session_accept(offer: Jingle, ours: IceTransport, audio_ssrc: int, me: str, nick: str) -> Jingle:
    """Accept every offered content on one bundled transport, publishing one audio source."""
    accept = Jingle(action="session-accept", sid=offer.sid, initiator=offer.initiator, responder=me,
                    bundle=offer.bundle, contents=[])
    for content in offer.contents:
        content.transport = ours if content.transport is not None else None
        content.sources = [Source(ssrc=audio_ssrc, media="audio", name=f"{nick}-a0")] \
            if content.media == "audio" else []
        content.ssrc_groups = []
        accept.contents.append(content)
    return accept


class Participant:
    """One participant, from login to media; it stays until `leave`."""

    def __init__(self, http: aiohttp.ClientSession, args: argparse.Namespace, room: str):
        self.http = http
        self.args = args
        self.room = f"{room}@{args.muc_domain}"
        self.nick = uuid.uuid4().hex[:8]
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.media: Media | None = None
        self.port: int | None = None

    async def join_room(self) -> None:
        args = self.args
        self.ws = await asyncio.wait_for(self.http.ws_connect(args.websocket, protocols=("xmpp",), ssl=False),
                                         STEP_TIMEOUT)
        stream = self.stream = WebSocketStream(self.ws, args.domain)
        self.jid = await login(stream)
        step(f"{self.nick}: logged in over {args.websocket} as {self.jid}")

        reply = await iq(stream, "set", f"focus.{args.domain}",
                         f"<conference xmlns='{NS_FOCUS}' room='{self.room}' machine-uid='{uuid.uuid4().hex}'/>",
                         "the conference request")
        conference = reply.find(f"{{{NS_FOCUS}}}conference")
        if conference is None or conference.get("ready") != "true":
            raise JoinFailed(f"the focus did not answer ready='true': {ET.tostring(reply).decode()}")
        step(f"{self.nick}: the focus answered the conference request for {self.room}: ready=true")

        await stream.send(f"<presence xmlns='{NS_CLIENT}' to='{self.room}/{self.nick}'>"
                          f"<x xmlns='{NS_MUC}'/></presence>")
        await stream.wait_for("our own MUC presence", lambda e: e.tag == f"{{{NS_CLIENT}}}presence"
                              and e.get("from") == f"{self.room}/{self.nick}" and e.get("type") != "error")
        step(f"{self.nick}: joined {self.room}")

    async def start_media(self) -> None:
        """The focus's offer (sent once the room has two participants), our answer, ICE and DTLS."""
        args, stream = self.args, self.stream
        offer_iq = await stream.wait_for("the focus's Jingle session-initiate", lambda e: (
            e.tag == f"{{{NS_CLIENT}}}iq" and e.get("type") == "set"
            and e.find(f"{{{NS_JINGLE}}}jingle[@action='session-initiate']") is not None))
        await stream.send(f"<iq xmlns='{NS_CLIENT}' type='result' id='{offer_iq.get('id')}' "
                          f"to='{offer_iq.get('from')}'/>")
        offer = parse_jingle(offer_iq.find(f"{{{NS_JINGLE}}}jingle"))
        bridge = next((c.transport for c in offer.contents if c.transport is not None and c.transport.ufrag), None)
        if bridge is None:
            raise JoinFailed("the session-initiate carries no ICE transport")
        endpoints = ", ".join(f"{c.ip}:{c.port}" for c in bridge.candidates if c.protocol == "udp")
        step(f"{self.nick}: session-initiate from {offer_iq.get('from')}: bridge candidates {endpoints or 'none'}")
        published = [c.port for c in bridge.candidates if c.ip == args.media_host and c.port in args.media_ports]
        if not published:
            raise JoinFailed(f"the bridge advertises none of {args.media_host}:{args.media_ports} (JVB_ADVERTISE_IPS)")

        self.media = media = Media()
        await media.gather()
        accept = session_accept(offer, media.transport(), media.audio_ssrc, self.jid, self.nick)
        await iq(stream, "set", offer_iq.get("from"), ET.tostring(accept.to_element()).decode(), "session-accept")

        await media.connect(bridge)
        remote = media.selected_remote()
        if remote is None or remote[0] != args.media_host or remote[1] not in published:
            raise JoinFailed(f"ICE selected {remote}, not a published port {args.media_host}:{published}")
        self.port = remote[1]
        self.web_sockets = bridge.web_sockets
        step(f"{self.nick}: ICE and DTLS established with the bridge through {remote[0]}:{remote[1]}/udp")

    async def open_bridge_channel(self) -> None:
        """The bridge channel over colibri-ws, through the web service's /colibri-ws/ proxy."""
        if not self.web_sockets:
            raise JoinFailed("the bridge offers no colibri-ws URL (ENABLE_COLIBRI_WEBSOCKET)")
        url = self.web_sockets[0]
        async with self.http.ws_connect(url, ssl=False) as ws:
            msg = await asyncio.wait_for(ws.receive(), STEP_TIMEOUT)
            if msg.type != aiohttp.WSMsgType.TEXT or json.loads(msg.data).get("colibriClass") != "ServerHello":
                raise JoinFailed(f"colibri-ws at {url.split('?')[0]} sent {msg.type.name} {msg.data!r}, "
                                 "not ServerHello")
        step(f"{self.nick}: bridge channel over {url.split('?')[0]}: ServerHello")

    async def leave(self) -> None:
        if self.media is not None:
            await self.media.close()
        if self.ws is not None and not self.ws.closed:
            await self.stream.send(f"<presence xmlns='{NS_CLIENT}' to='{self.room}/{self.nick}' type='unavailable'/>")
            await self.stream.send(f"<close xmlns='{NS_FRAMING}'/>")
            await self.ws.close()


async def meeting(http: aiohttp.ClientSession, args: argparse.Namespace, room: str,
                  participants: list[Participant]) -> int:
    """Two participants meet in `room`; the audio one sends must reach the other through the bridge.
    Returns the bridge port their media went through."""
    alice, bob = Participant(http, args, room), Participant(http, args, room)
    participants += [alice, bob]
    await alice.join_room()
    await bob.join_room()
    await asyncio.gather(alice.start_media(), bob.start_media())
    if alice.port != bob.port:
        raise JoinFailed(f"one conference on two bridges: ports {alice.port} and {bob.port}")
    if args.colibri_ws:
        await alice.open_bridge_channel()
    sent = 50
    await alice.media.send_audio(sent)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while bob.media.received.get(alice.media.audio_ssrc, 0) < sent * 0.8 and loop.time() < deadline:
        await asyncio.sleep(0.1)
    got = bob.media.received.get(alice.media.audio_ssrc, 0)
    if got < sent * 0.8:
        raise JoinFailed(f"{bob.nick} received {got} of the {sent} audio packets {alice.nick} sent "
                         f"(SSRCs seen: {bob.media.received})")
    step(f"{room}: {bob.nick} received {got} of {sent} SRTP audio packets {alice.nick} sent through the bridge")
    return alice.port


async def join(args: argparse.Namespace) -> None:
    """One meeting per room, one room after the other, everyone staying until the last is in: the
    focus then places each new conference while the earlier ones still load their bridges."""
    # Only the loopback address: the path under test is the published port, not the bridge network.
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [args.media_host]
    async with aiohttp.ClientSession() as http:
        participants: list[Participant] = []
        try:
            used = set()
            for n in range(args.rooms):
                used.add(await meeting(http, args, f"{args.room}{n}", participants))
            if args.every_port and sorted(used) != sorted(args.media_ports):
                raise JoinFailed(f"conferences went to bridge ports {sorted(used)}, "
                                 f"not to every bridge {args.media_ports}")
            if len(args.media_ports) > 1:
                step(f"{args.rooms} conferences spread over the bridges at ports {sorted(used)}")
        finally:
            for participant in participants:
                await participant.leave()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--websocket", required=True, help="wss://host:port/xmpp-websocket")
    parser.add_argument("--media-host", default="127.0.0.1")
    parser.add_argument("--media-ports", type=lambda v: [int(p) for p in v.split(",")], required=True,
                        help="the bridges' published UDP ports (JVB_PORT[,JVB2_PORT])")
    parser.add_argument("--rooms", type=int, default=1, help="conferences to open, two participants each")
    parser.add_argument("--every-port", action="store_true", help="require conferences on every bridge")
    parser.add_argument("--colibri-ws", action="store_true", help="also open the bridge channel over colibri-ws")
    parser.add_argument("--domain", default="meet.jitsi")
    parser.add_argument("--muc-domain", default="muc.meet.jitsi")
    parser.add_argument("--room", default="dockertest")
    args = parser.parse_args(argv)
    try:
        asyncio.run(asyncio.wait_for(join(args), 90))
    except (JoinFailed, asyncio.TimeoutError, aiohttp.ClientError, ET.ParseError, ValueError, OSError) as exc:
        print(f"join_client: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    step("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
