"""The media engine against itself: two endpoints, real ICE, DTLS and SRTP over loopback, no bridge."""

import asyncio

from bench.media_client import DECRYPT_EVERY, SIMULCAST_PPS, MediaEndpoint, Publication, Reception


def test_reception_unwraps_sequence_numbers_and_counts_gaps():
    r = Reception()
    for seq in (65534, 65535, 1, 2):  # 0 lost across the wrap
        r.add(7, seq, False)
    r.add(9, 10, True)
    r.latency(0.002)
    assert r.packets == 5 and r.audio_packets == 1 and r.latencies == [0.002]
    assert r.expected() == 5 + 1
    r.reset()
    assert r.packets == 0 and r.expected() == 0


async def test_two_endpoints_exchange_srtp_and_measure_it():
    a = MediaEndpoint(Publication.random("a"), ice_controlling=True)
    b = MediaEndpoint(Publication.random("b"))
    try:
        await asyncio.gather(a.gather(), b.gather())
        assert all(c.ip == "127.0.0.1" for c in a.local_transport().candidates)
        await asyncio.wait_for(asyncio.gather(a.connect(b.local_transport()), b.connect(a.local_transport())), 30)
        for step in range(10):
            await a.tick(0.02, step * 0.02)
        await asyncio.sleep(0.3)
        got = b.reception
        assert got.audio_packets == a.sent_audio == 10
        assert got.packets == a.sent
        assert got.expected() == got.packets  # no gaps on loopback at this rate
        assert set(got.streams) == {a.publication.audio_ssrc, *a.publication.video_ssrcs[:len(SIMULCAST_PPS)]}
        assert len(got.latencies) == got.packets // DECRYPT_EVERY and got.undecryptable == 0
        assert all(0 < latency < 5 for latency in got.latencies)
    finally:
        await asyncio.gather(a.close(), b.close())
