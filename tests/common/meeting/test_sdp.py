"""The Jingle <-> SDP mapping of the meeting client: one m-line per remote source."""

from __future__ import annotations

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from jitsi_py.common.meeting.sdp import MediaLines, RemoteSource, jingle_sources, named_sources, session_accept
from jitsi_py.common.stanzas.jingle import (
    Candidate,
    Content,
    Fingerprint,
    HeaderExtension,
    IceTransport,
    Jingle,
    PayloadType,
    RtcpFb,
    Source,
    SsrcGroup,
)
from jitsi_py.common.stanzas.jitsi import encode_sources

ALICE, BOB, US = "a1a1a1a1", "b2b2b2b2", "c3c3c3c3"


def transport() -> IceTransport:
    return IceTransport("ufrag1", "pwd0123456789abcdefghij",
                        [Candidate(1, "1", 0, "c1", "127.0.0.1", 10000, 2130706431, "udp", "host")],
                        [Fingerprint("sha-256", ":".join(["AB"] * 32), "actpass")], rtcp_mux=True, sctp_port=5000)


def offer(by_owner=None, json=True) -> Jingle:
    audio = Content("audio", media="audio", payload_types=[
        PayloadType(111, "opus", 48000, 2, {"minptime": "10", "useinbandfec": "1"}),
        PayloadType(126, "telephone-event", 8000)],
        header_extensions=[HeaderExtension(1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level")], transport=transport())
    video = Content("video", media="video", payload_types=[
        PayloadType(41, "AV1", 90000), PayloadType(100, "VP8", 90000, rtcp_fb=[RtcpFb("nack"), RtcpFb("nack", "pli")]),
        PayloadType(107, "H264", 90000, parameters={"profile-level-id": "42e01f", "packetization-mode": "1"})],
        header_extensions=[HeaderExtension(3, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time")],
        transport=transport())
    data = Content("data", media="application", transport=transport())
    jingle = Jingle("session-initiate", "sid1", initiator="focus@auth.meet.jitsi/focus",
                    contents=[audio, video, data], bundle=["audio", "video", "data"])
    by_owner = remote() if by_owner is None else by_owner
    if json:
        jingle.json_sources = encode_sources(by_owner)
    else:
        for owner, (sources, groups) in by_owner.items():
            for source in sources:
                content = audio if source.media == "audio" else video
                content.sources.append(Source(source.ssrc, source.media, source.name, source.msid,
                                              source.video_type, owner))
            for group in groups:
                video.ssrc_groups.append(group)
    return jingle


def remote():
    """Alice sends simulcast with RTX (as a browser does), Bob a stripped camera; the bridge its own."""
    return {
        "jvb": ([Source(11, "audio", "jvb-a0"), Source(12, "video", "jvb-v0")], []),
        ALICE: ([Source(s, "video", f"{ALICE}-v0", "alice-cam") for s in (101, 102, 103, 111, 112, 113)]
                + [Source(100, "audio", f"{ALICE}-a0", "alice-mic")],
                [SsrcGroup("SIM", (101, 102, 103)), SsrcGroup("FID", (101, 111)), SsrcGroup("FID", (102, 112)),
                 SsrcGroup("FID", (103, 113))]),
        BOB: ([Source(200, "audio", f"{BOB}-a0"), Source(201, "video", f"{BOB}-v1", video_type="desktop")], []),
        US: ([Source(300, "audio", f"{US}-a0")], []),
    }


def m_sections(sdp: str) -> list[str]:
    return sdp.split("\r\nm=")[1:]


def test_each_remote_source_gets_its_own_m_line_with_its_primary_and_rtx_ssrc():
    sources = named_sources(jingle_sources(offer()))
    alice_video = next(s for s in sources if s.name == f"{ALICE}-v0")
    assert alice_video.ssrcs == (101, 111) and alice_video.msid == "alice-cam"
    assert next(s for s in sources if s.name == f"{BOB}-v1").video_type == "desktop"

    lines = MediaLines(offer(), sending=frozenset({"audio"}))
    added = lines.add(sources, US)
    assert [(line.mid, line.source.name) for line in added] == [
        ("s3", f"{ALICE}-v0"), ("s4", f"{ALICE}-a0"), ("s5", f"{BOB}-v1"), ("s6", f"{BOB}-a0")]
    sdp = lines.sdp()
    sections = m_sections(sdp)
    assert [s.split(" ", 1)[0] for s in sections] == ["audio", "video", "application", "video", "audio", "video",
                                                      "audio"]
    assert "a=group:BUNDLE audio video data s3 s4 s5 s6" in sdp
    assert "a=recvonly" in sections[0] and "a=inactive" in sections[1]  # we send audio, no video
    alice = sections[3]
    assert "a=sendonly" in alice and "a=ssrc-group:FID 101 111" in alice
    assert {line.split()[0] for line in alice.split("\r\n") if line.startswith("a=ssrc:")} == {
        "a=ssrc:101", "a=ssrc:111"}
    assert "a=ssrc:102" not in sdp and "a=ssrc:11 " not in sdp and "a=ssrc:300" not in sdp  # layers, jvb, us
    assert "a=mid:s3" in alice and "a=rtpmap:100 VP8/90000" in alice and "a=rtcp-fb:100 nack pli" in alice
    assert "abs-send-time" not in sdp  # aiortc would send a REMB per m-line, each claiming the whole link


def test_xml_sources_map_like_json_ones():
    def by_name(jingle):
        return sorted(named_sources(jingle_sources(jingle)), key=lambda s: s.name)

    assert by_name(offer(json=False)) == by_name(offer())


def test_removed_sources_keep_their_m_line_inactive_and_added_ones_come_after():
    lines = MediaLines(offer(), receiving=frozenset({"audio", "video"}))
    lines.add(named_sources(jingle_sources(offer())), US)
    version = lines.version
    removed = lines.remove({201}, set())
    assert [line.source.name for line in removed] == [f"{BOB}-v1"] and lines.version == version + 1
    assert lines.add([RemoteSource(BOB, f"{BOB}-v1", "video", (202,))], US)[0].mid == "s7"
    assert lines.add([RemoteSource(BOB, f"{BOB}-v1", "video", (202,))], US) == []  # already received
    sections = {s.split("a=mid:", 1)[1].split("\r\n", 1)[0]: s for s in m_sections(lines.sdp())}
    assert "a=inactive" in sections["s5"] and "a=ssrc:" not in sections["s5"]
    assert "a=ssrc:202 " in sections["s7"] and "a=sendonly" in sections["s7"]


def test_what_we_do_not_receive_gets_no_m_line():
    lines = MediaLines(offer(), receiving=frozenset({"audio"}))
    assert {line.media for line in lines.add(named_sources(jingle_sources(offer())), US)} == {"audio"}


async def test_aiortc_gives_each_source_its_own_track_and_the_accept_carries_only_the_contents():
    lines = MediaLines(offer(), sending=frozenset({"audio"}))
    lines.add(named_sources(jingle_sources(offer())), US)
    pc = RTCPeerConnection()
    try:
        pc.addTrack(AudioStreamTrack())
        await pc.setRemoteDescription(RTCSessionDescription(lines.sdp(), "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        tracks = {t.mid: t.receiver.track for t in pc.getTransceivers() if t.receiver.track is not None}
        assert set(tracks) == {"s3", "s4", "s5", "s6"} and len({id(t) for t in tracks.values()}) == 4
        accept = session_accept(offer(), pc.localDescription.sdp, US, "us@meet.jitsi/r")
        assert [c.name for c in accept.contents] == ["audio", "video", "data"] and accept.bundle == [
            "audio", "video", "data"]
        audio = accept.content("audio")
        assert [s.name for s in audio.sources] == [f"{US}-a0"] and audio.sources[0].msid
        assert [p.name for p in audio.payload_types][0] == "opus"
        assert accept.content("video").sources == []
        assert {p.name for p in accept.content("video").payload_types} <= {"VP8", "H264"}
        transport = audio.transport
        assert transport.fingerprints[0].setup == "active" and transport.candidates
        assert accept.content("data").transport.sctp_port == 5000

        lines.remove(set(), {f"{BOB}-v1"})
        lines.add([RemoteSource(BOB, f"{BOB}-v2", "video", (203,))], US)
        await pc.setRemoteDescription(RTCSessionDescription(lines.sdp(), "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        directions = {t.mid: t.currentDirection for t in pc.getTransceivers()}
        assert directions["s5"] == "inactive" and directions["s7"] == "recvonly"
    finally:
        await pc.close()


async def test_a_jicofo_shaped_offer_and_source_add_go_through_aiortc():
    """The recorded shapes of tests/common/samples.py: the video content without a transport of its own,
    a data content with an application description, the bridge's sources, a SIM group in a source-add."""
    from xml.etree.ElementTree import fromstring

    from jitsi_py.common.stanzas.jingle import parse_jingle

    from ..samples import SESSION_INITIATE, SOURCE_ADD

    initiate = parse_jingle(fromstring(SESSION_INITIATE))
    initiate.contents[0].transport.candidates.append(
        Candidate(1, "2", 0, "c2", "198.51.100.7", 4443, 1694498815, "tcp", "host", tcptype="passive"))
    lines = MediaLines(initiate)
    lines.add(named_sources(jingle_sources(initiate)), US)
    lines.add(named_sources(jingle_sources(parse_jingle(fromstring(SOURCE_ADD)))), US)
    assert [(line.mid, line.source.name, line.source.ssrcs) for line in lines.lines if line.source] == [
        ("s3", "3f2a9c1e-v0", (1001, 1011)), ("s4", "3f2a9c1e-a0", (2001,)), ("s5", "b-v0", (5001,))]
    sdp = lines.sdp()
    assert " tcp " not in sdp
    pc = RTCPeerConnection()
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        assert {t.mid for t in pc.getTransceivers() if t.receiver.track is not None} == {"s3", "s4", "s5"}
        accept = session_accept(initiate, pc.localDescription.sdp, US, "us@meet.jitsi/r")
        assert [c.name for c in accept.contents] == ["audio", "video", "data"]
    finally:
        await pc.close()
