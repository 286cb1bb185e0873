"""The SDP the bench exchanges with Janus: its offer read back, our answers built from it."""

import asyncio

from bench.janus_client import parse_transport, publisher_offer, subscriber_answer
from bench.media_client import AUDIO_PT, VIDEO_PT, MediaEndpoint, Publication
from bench.workloads.media import janus_substream

JANUS_OFFER = "\r\n".join([
    "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=VideoRoom 7", "t=0 0", "a=group:BUNDLE 0 1",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 127.0.0.1", "a=sendonly", "a=mid:0", "a=rtcp-mux",
    "a=ice-ufrag:t3ho", "a=ice-pwd:secretsecretsecret", "a=setup:actpass",
    "a=fingerprint:sha-256 52:F6:24", "a=rtpmap:111 opus/48000/2",
    "a=candidate:1 1 udp 2015363327 10.77.0.1 42207 typ host", "a=end-of-candidates",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97", "c=IN IP4 127.0.0.1", "a=sendonly", "a=mid:1", "a=rtcp-mux",
    "a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96", ""])


def test_janus_transport_is_read_from_its_offer():
    transport, setup = parse_transport(JANUS_OFFER)
    assert (transport.ufrag, transport.pwd, setup) == ("t3ho", "secretsecretsecret", "actpass")
    [candidate] = transport.candidates
    assert (candidate.ip, candidate.port, candidate.protocol, candidate.type) == ("10.77.0.1", 42207, "udp", "host")
    assert transport.fingerprints[0].hash == "sha-256"


async def test_answers_and_offers_carry_our_transport_and_sources():
    endpoint = MediaEndpoint(Publication("alice", 11, (21, 22, 23)))
    await endpoint.gather()
    try:
        answer = subscriber_answer(endpoint, JANUS_OFFER)
        assert "a=group:BUNDLE 0 1" in answer and answer.count("a=recvonly") == 2
        assert "m=video 9 UDP/TLS/RTP/SAVPF 96" in answer and "a=rtpmap:96 VP8/90000" in answer
        assert "a=setup:active" in answer and "a=candidate:" in answer
        offer = publisher_offer(endpoint)
        assert f"m=audio 9 UDP/TLS/RTP/SAVPF {AUDIO_PT}" in offer and f"m=video 9 UDP/TLS/RTP/SAVPF {VIDEO_PT}" in offer
        assert "a=ssrc-group:SIM 21 22 23" in offer and "a=ssrc:11 cname:alice" in offer
        assert offer.count("a=fingerprint:sha-256 ") == 2 and "a=setup:actpass" in offer
    finally:
        await asyncio.wait_for(endpoint.close(), 5)


def test_janus_receivers_get_the_layer_our_bridge_forwards():
    assert janus_substream(None) == 0  # the bridge's default: 180p
    assert janus_substream(360) == 1 and janus_substream(720) == 2 and janus_substream(1080) == 2
    assert janus_substream(100) == 0
