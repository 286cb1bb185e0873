"""Three Chromium participants through the bridge: each decodes the other two's video; simulcast
layers switch when a receiver asks for another size over the bridge channel (SCTP data channel,
then colibri-ws).

The test plays the focus: it allocates endpoints over Colibri2 and writes the SDP a lib-jitsi-meet
client would derive from jicofo's Jingle (BUNDLE, rtcp-mux, VP8 + RTX, transport-cc, a data
channel; simulcast as SSRC groups munged into the local answer, as lib-jitsi-meet does for
Chromium; remote sources added by renegotiation, as on source-add).
"""

from __future__ import annotations

import asyncio
import random

import pytest
from playwright.async_api import async_playwright

from jitsi_py.common.stanzas import colibri2 as c2
from jitsi_py.common.stanzas.jingle import (
    Candidate,
    Fingerprint,
    HeaderExtension,
    IceTransport,
    PayloadType,
    RtcpFb,
    Source as WireSource,
    SsrcGroup,
)

from .peers import roundtrip

pytestmark = [pytest.mark.system, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        "--disable-gpu", "--force-fieldtrials=WebRTC-Video-MinVideoBitrate/Enabled,br:30kbps/"]
TCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
VIDEO = [PayloadType(100, "VP8", 90000, rtcp_fb=[RtcpFb("ccm", "fir"), RtcpFb("nack"), RtcpFb("nack", "pli"),
                                                  RtcpFb("transport-cc")]),
         PayloadType(96, "rtx", 90000, parameters={"apt": "100"})]

PAGE_JS = """
window.room = {
  messages: [],
  async start() {
    this.stream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 360}, audio: false});
    this.pc = new RTCPeerConnection({bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require'});
  },
  openSctp() {
    this.channel = this.pc.createDataChannel('JVB data channel', {protocol: 'http://jitsi.org/protocols/colibri'});
    this.channel.onmessage = e => this.messages.push(JSON.parse(e.data));
  },
  openWebSocket(url) {
    this.channel = new WebSocket(url);
    this.channel.onmessage = e => this.messages.push(JSON.parse(e.data));
  },
  ready() { return !!this.channel && (this.channel.readyState === 'open' || this.channel.readyState === 1); },
  send(message) { this.channel.send(JSON.stringify(message)); },
  async inbound() {
    const out = {};
    for (const t of this.pc.getTransceivers()) {
      if (t.mid === '0' || !t.receiver.track) continue;
      const stats = await t.receiver.getStats();
      stats.forEach(s => { if (s.type === 'inbound-rtp') out[t.mid] = {frames: s.framesDecoded || 0,
                                                                        height: s.frameHeight || 0}; });
    }
    return out;
  },
  async outbound() {
    const out = [];
    (await this.pc.getStats()).forEach(s => {
      if (s.type === 'outbound-rtp') out.push([s.ssrc, s.frameHeight, s.qualityLimitationReason, s.bytesSent]);
      if (s.type === 'candidate-pair' && s.nominated) out.push(['bwe', s.availableOutgoingBitrate]);
    });
    return out;
  },
};
"""


def offer(transport: IceTransport, remotes: list[tuple[str, int]], version: int, sctp: bool = True) -> str:
    """The bridge's offer as lib-jitsi-meet writes it from jicofo's Jingle."""
    fp = transport.fingerprints[0]
    mids = ["0"] + (["1"] if sctp else []) + [str(2 + i) for i in range(len(remotes))]
    ice = [f"a=ice-ufrag:{transport.ufrag}", f"a=ice-pwd:{transport.pwd}", f"a=fingerprint:{fp.hash} {fp.value}",
           "a=setup:actpass"] + [f"a=candidate:{c.foundation} 1 udp {c.priority} {c.ip} {c.port} typ {c.type}"
                                 for c in transport.candidates]

    def video(mid: str, direction: str, ssrc_lines: list[str]) -> list[str]:
        return ["m=video 9 UDP/TLS/RTP/SAVPF 100 96", "c=IN IP4 0.0.0.0", *ice, f"a=mid:{mid}", f"a={direction}",
                "a=rtcp-mux", "a=rtpmap:100 VP8/90000", "a=rtcp-fb:100 ccm fir", "a=rtcp-fb:100 nack",
                "a=rtcp-fb:100 nack pli", "a=rtcp-fb:100 transport-cc", "a=rtpmap:96 rtx/90000",
                "a=fmtp:96 apt=100", f"a=extmap:5 {TCC}", *ssrc_lines]

    lines = ["v=0", f"o=- 4611731400430051336 {version} IN IP4 0.0.0.0", "s=-", "t=0 0",
             "a=group:BUNDLE " + " ".join(mids), "a=msid-semantic: WMS *"]
    lines += video("0", "sendrecv", [])
    if sctp:
        lines += ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0", *ice, "a=mid:1",
                  "a=sctp-port:5000"]
    for i, (name, ssrc) in enumerate(remotes):
        lines += video(str(2 + i), "sendonly", [f"a=msid:{name} {name}-track", f"a=ssrc:{ssrc} cname:{name}",
                                                 f"a=ssrc:{ssrc} msid:{name} {name}-track"])
    return "\r\n".join(lines) + "\r\n"


class Participant:
    def __init__(self, bridge, page, endpoint_id: str, channel: str):
        self.bridge, self.page, self.id = bridge, page, endpoint_id
        self.sctp = channel == "sctp"
        self.transport: IceTransport | None = None
        self.ssrcs: list[int] | None = None  # primary, two more simulcast layers, then their RTX
        self.version = 1

    def allocate(self, create: bool) -> None:
        answer = roundtrip(self.bridge, c2.ConferenceModify("meeting-browsers", name="room@muc.meet.jitsi" if create
                                                            else None, create=create, endpoints=[c2.Endpoint(
            self.id, create=True, media=[c2.Media("video", VIDEO, [HeaderExtension(5, TCC)])],
            transport=c2.Transport(ice_controlling=True, sctp=c2.Sctp() if self.sctp else None),
            capabilities=["source-names"])]))
        self.transport = answer.endpoint(self.id).transport.ice

    def _munge(self, sdp: str) -> str:
        """Add the SIM group lib-jitsi-meet adds for Chromium, keeping the same SSRCs every time."""
        lines = sdp.split("\r\n")
        own = [line for line in lines if line.startswith("a=ssrc:")]
        primary = int(own[0].split()[0].split(":")[1])
        rtx = int(next(line for line in lines if line.startswith("a=ssrc-group:FID")).split()[2])
        if self.ssrcs is None:
            self.ssrcs = [primary, random.getrandbits(31), random.getrandbits(31), rtx,
                          random.getrandbits(31), random.getrandbits(31)]
        attrs = sorted({line.split(" ", 1)[1] for line in own if line.startswith(f"a=ssrc:{primary} ")})
        extra = []
        for ssrc in self.ssrcs[1:3] + self.ssrcs[4:]:
            extra += [f"a=ssrc:{ssrc} {a}" for a in attrs]
        s = self.ssrcs
        extra += [f"a=ssrc-group:SIM {s[0]} {s[1]} {s[2]}", f"a=ssrc-group:FID {s[1]} {s[4]}",
                  f"a=ssrc-group:FID {s[2]} {s[5]}"]
        end = next((i for i, line in enumerate(lines) if line.startswith("m=") and i > lines.index("a=mid:0")),
                   len(lines) - 1)
        return "\r\n".join(lines[:end] + extra + lines[end:])

    async def negotiate(self, remotes: list[tuple[str, int]]) -> str:
        self.version += 1
        # Chromium answers; the answer is munged here and set locally in the page.
        raw = await self.page.evaluate("""async ([o]) => {
            await room.pc.setRemoteDescription({type: 'offer', sdp: o});
            const video = room.pc.getTransceivers().find(t => t.mid === '0');
            if (!video.sender.track) {
              video.direction = 'sendrecv';
              await video.sender.replaceTrack(room.stream.getVideoTracks()[0]);
              video.sender.setStreams(room.stream);
            }
            return (await room.pc.createAnswer()).sdp; }""", [offer(self.transport, remotes, self.version, self.sctp)])
        sdp = self._munge(raw)
        await self.page.evaluate("async ([s]) => room.pc.setLocalDescription({type: 'answer', sdp: s})", [sdp])
        return sdp

    def signal(self, sdp: str, first: bool) -> None:
        """The session-accept (first time) or source update, relayed to the bridge as jicofo does."""
        def attr(name):
            return next(line.split(":", 1)[1] for line in sdp.split("\r\n") if line.startswith(f"a={name}:"))
        hash_name, value = attr("fingerprint").split()
        candidates = []
        for i, line in enumerate(c for c in sdp.split("\r\n") if c.startswith("a=candidate:")):
            parts = line.split()
            if parts[2].lower() == "udp" and parts[7] == "host" and parts[4].count(".") == 3:
                candidates.append(Candidate(1, parts[0].split(":")[1], 0, str(i), parts[4], int(parts[5]),
                                            int(parts[3]), "udp", "host"))
        s = self.ssrcs
        name = f"{self.id}-v0"
        source = c2.MediaSource("video", name, [WireSource(x, "video", name) for x in s],
                                [SsrcGroup("SIM", (s[0], s[1], s[2])), SsrcGroup("FID", (s[0], s[3])),
                                 SsrcGroup("FID", (s[1], s[4])), SsrcGroup("FID", (s[2], s[5]))])
        transport = c2.Transport(ice=IceTransport(attr("ice-ufrag"), attr("ice-pwd"), candidates,
                                                  [Fingerprint(hash_name, value.upper(), attr("setup"))]))
        roundtrip(self.bridge, c2.ConferenceModify("meeting-browsers", endpoints=[c2.Endpoint(
            self.id, transport=transport if first else None, sources=[source])]))

    async def inbound(self) -> dict:
        return await self.page.evaluate("room.inbound()")

    async def messages(self, kind: str) -> list[dict]:
        return [m for m in await self.page.evaluate("room.messages") if m["colibriClass"] == kind]


async def wait_for(predicate, timeout: float, what: str, people=(), bridge=None):
    for _ in range(int(timeout / 0.25)):
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.25)
    seen = {p.id: await p.inbound() for p in people}
    seen["outbound"] = {p.id: await p.page.evaluate("room.outbound()") for p in people}
    state = ""
    if bridge is not None:
        for conference in bridge.conferences.values():
            for receiver in conference.forwarder.receivers.values():
                endpoint = conference.endpoints[receiver.id]
                state += f" tcc={endpoint.transport_cc_id}/{endpoint.transport_cc._count}/{endpoint.transport_cc._last}"
                state += f" bwe={receiver.bwe.feedback_packets}/{receiver.bwe.estimate:.0f}"
                state += f" {receiver.id}: " + ", ".join(
                    f"{n} t{p.target} c{p.current} ssrc{p.out_ssrc}" for n, p in receiver.projections.items())
    raise AssertionError(f"timed out waiting for {what}; inbound {seen}; "
                         f"bridge {bridge.counters if bridge else ''}; forwarder{state}")


@pytest.mark.parametrize("channel", ["sctp", "colibri-ws"])
async def test_three_browsers_decode_each_other_and_switch_layers(bridge, page_server, channel):
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            people = []
            for i, name in enumerate(("ann", "ben", "cat")):
                page = await (await browser.new_context()).new_page()
                await page.goto(page_server)
                await page.evaluate(PAGE_JS)
                await page.evaluate("room.start()")
                person = Participant(bridge, page, name, channel)
                person.allocate(create=i == 0)
                if channel == "sctp":
                    await page.evaluate("room.openSctp()")
                else:
                    await page.evaluate("url => room.openWebSocket(url)", person.transport.web_sockets[0])
                person.signal(await person.negotiate([]), first=True)
                people.append(person)
            # source-add: everyone learns the others' primary SSRCs and renegotiates
            for person in people:
                remotes = [(f"{p.id}-v0", p.ssrcs[0]) for p in people if p is not person]
                person.signal(await person.negotiate(remotes), first=False)
            for person in people:
                await wait_for(lambda p=person: p.page.evaluate("room.ready()"), 20, "the bridge channel")
                await person.page.evaluate("room.send({colibriClass: 'ReceiverVideoConstraints', lastN: -1, "
                                           "defaultConstraints: {maxHeight: 180}})")

            async def all_decoding():
                for person in people:
                    stats = await person.inbound()
                    if len(stats) != 2 or any(s["frames"] < 10 for s in stats.values()):
                        return False
                return True
            await wait_for(all_decoding, 40, "every participant to decode the other two", people, bridge)
            # Chromium's transport-cc feedback is about the bridge's own sequence numbers: each
            # receiver's send-side estimate is running on it.
            receivers = [e.receiver for c in bridge.conferences.values() for e in c.endpoints.values()]

            async def estimates_running():
                return all(r.bwe.known for r in receivers)
            await wait_for(estimates_running, 10, "send-side estimates", people, bridge)

            ann = people[0]
            low = max(s["height"] for s in (await ann.inbound()).values())
            assert 0 < low <= 180
            await ann.page.evaluate("room.send({colibriClass: 'ReceiverVideoConstraints', "
                                    "onStageSources: ['ben-v0'], constraints: {'ben-v0': {maxHeight: 720}}})")

            async def ben_is_high():
                stats = await ann.inbound()
                return any(s["height"] > low for s in stats.values())
            await wait_for(ben_is_high, 45, "a higher simulcast layer of ben at ann", people, bridge)
            forwarded = await ann.messages("ForwardedSources")
            assert sorted(forwarded[-1]["forwardedSources"]) == ["ben-v0", "cat-v0"]
            constraints = await people[1].messages("SenderSourceConstraints")
            assert constraints[-1]["maxHeight"] == 720
            await ann.page.evaluate("room.send({colibriClass: 'ReceiverVideoConstraints', "
                                    "onStageSources: [], constraints: {}, defaultConstraints: {maxHeight: 180}})")

            async def back_low():
                stats = await ann.inbound()
                return all(0 < s["height"] <= 180 for s in stats.values())
            await wait_for(back_low, 30, "the low layer again", people, bridge)
            assert bridge.counters.srtp_rejected == 0
        finally:
            await browser.close()
