"""Remote audio decoded inline: a track's packets to 20 ms of 48 kHz mono, to a sink or to recv(); a
session with ``inline_audio`` routes its receivers' Opus packets there, and ends the tracks with them;
the tracks of one source in a process share its decoder (``shared_decoders``)."""

from __future__ import annotations

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpsender import RTCEncodedFrame
from aiortc.rtp import RtpPacket, compute_audio_level_dbov

from jitsi_py.common.meeting import audio, events
from jitsi_py.common.meeting.audio import HANGOVER, MAX_LAG, RING, InlineAudioTrack, audio_level, mono_s16
from jitsi_py.common.meeting.session import MediaSession, _levels_from
from jitsi_py.common.stanzas.jingle import Jingle, Source
from jitsi_py.common.stanzas.jitsi import encode_sources

from .test_sdp import ALICE, US, offer

FRAME = 960
SOURCE = (f"{ALICE}-a0", 100)  # Alice's audio in offer(): its name and SSRC


def opus_packets(count: int, hz: float = 440) -> list[bytes]:
    encoder = av.AudioCodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format, encoder.bit_rate = 48000, "mono", "s16", 32000
    t = np.arange(FRAME * count) / 48000
    tone = (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    packets = []
    for i in range(count):
        frame = av.AudioFrame.from_ndarray(tone[None, i * FRAME:(i + 1) * FRAME], format="s16", layout="mono")
        frame.sample_rate, frame.pts = 48000, i * FRAME
        packets += [bytes(p) for p in encoder.encode(frame)]
    return packets


def tone_share(samples: np.ndarray, hz: float = 440) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / 48000)
    return float(spectrum[np.abs(freqs - hz) < 20].sum() / spectrum.sum())


async def test_packets_are_decoded_at_once_to_the_sink_or_for_recv_and_a_bad_one_costs_only_itself():
    track = InlineAudioTrack()
    heard: list[np.ndarray] = []
    track.sink = heard.append
    packets = opus_packets(25)
    for payload in packets[:10]:
        track.feed(payload)
    track.feed(b"\xff\xff\xff")  # not Opus
    for payload in packets[10:]:
        track.feed(payload)
    assert len(heard) == 25 and {h.size for h in heard} == {FRAME} and {h.dtype for h in heard} == {np.dtype(np.int16)}
    assert tone_share(np.concatenate(heard[5:])) > 0.9 and track.failed <= 1
    decoded = track.decoded
    for payload in packets[:3]:
        track.feed(payload, level=127)  # marked silent: not decoded for a sink
    assert len(heard) == 25 and track.decoded == decoded
    for payload, level in zip(packets[3:9], (40, 127, 127, 127, 127, 90)):
        track.feed(payload, level)  # the two after a sound are, for its tail
    assert len(heard) == 29 and track.decoded == decoded + 4
    track.sink = None
    for payload in opus_packets(8):
        track.feed(payload, level=127)  # recv() gets every frame
    frames = [await track.recv() for _ in range(5)]  # a reader late by 8 packets gets the newest 5
    assert track._frames.empty() and [mono_s16(f).size for f in frames] == [FRAME] * 5
    decoded = track.decoded
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()
    track.feed(packets[0])  # after the end: nothing
    assert track.decoded == decoded


async def test_a_session_with_inline_audio_feeds_its_tracks_from_the_receivers_and_ends_them():
    seen = []
    session = MediaSession(offer(), US, on_event=seen.append, inline_audio=True)
    try:
        await session.answer("us@meet.jitsi/r")
        audio = {e.endpoint_id: e.track for e in seen if isinstance(e, events.TrackAdded) and e.kind == "audio"}
        assert audio and all(isinstance(t, InlineAudioTrack) for t in audio.values())
        assert all(not isinstance(e.track, InlineAudioTrack) for e in seen if e.kind == "video")
        track = audio[ALICE]
        receiver = next(r for r, t in session._inline.items() if t is track)
        for seq, payload in enumerate(opus_packets(3)):
            await receiver._handle_rtp_packet(RtpPacket(payload_type=session._opus_pt, sequence_number=seq,
                                                        timestamp=seq * FRAME, ssrc=100, payload=payload), 0)
        assert track.decoded == 3 and mono_s16(await track.recv()).size == FRAME

        await session.remove_sources(Jingle("source-remove", "sid1", json_sources=encode_sources(
            {ALICE: ([Source(100, "audio", f"{ALICE}-a0")], [])})))
        assert track.readyState == "ended"
        with pytest.raises(MediaStreamError):
            while True:
                await track.recv()
    finally:
        await session.close()
    assert all(t.readyState == "ended" for t in audio.values())


@pytest.fixture(autouse=True)
def no_shared_decoder_left():
    yield
    leftover = dict(audio._shared)
    audio._shared.clear()  # a failed test's tracks must not make the next one fail
    assert leftover == {}


def listening(shared=SOURCE) -> tuple[InlineAudioTrack, list[np.ndarray]]:
    track = InlineAudioTrack(shared)
    heard: list[np.ndarray] = []
    track.sink = heard.append
    return track, heard


def alone(packets: list[bytes]) -> list[np.ndarray]:
    """What a track with a decoder of its own makes of the packets."""
    track, heard = listening(None)
    for payload in packets:
        track.feed(payload)
    return heard


def same_audio(heard: list[np.ndarray], expected: list[np.ndarray]) -> bool:
    return len(heard) == len(expected) and all(np.array_equal(h, e) for h, e in zip(heard, expected))


async def test_the_tracks_of_one_source_decode_each_packet_once_and_a_lagging_one_takes_the_kept_frames():
    packets = opus_packets(24)
    first, heard_first = listening()
    second, heard_second = listening()
    shared = audio._shared[SOURCE]
    assert shared.users == 2
    seqs = [(65530 + i) & 0xFFFF for i in range(len(packets))]  # across the wrap of the numbers
    for i, (seq, payload) in enumerate(zip(seqs, packets)):
        first.feed(payload, 40, seq)
        if i >= RING - 1:  # the second call hears each packet RING - 1 packets later
            second.feed(packets[i - RING + 1], 40, seqs[i - RING + 1])
    assert shared.decodes == len(packets) and first.decoded == len(packets)
    assert same_audio(heard_first, alone(packets))
    assert len(heard_second) == len(packets) - RING + 1 and all(a is b for a, b in zip(heard_second, heard_first))
    with pytest.raises(ValueError):
        heard_second[0][0] = 1  # one array for every call's sink: none may write into it
    for i, payload in enumerate(packets[:4]):
        second.feed(payload, 127, seqs[-1] + 1 + i)  # marked silent: but for the hangover, skipped per track
    assert shared.decodes == len(packets) + HANGOVER
    second.sink = None
    second.feed(packets[0], 40, seqs[-1] + 5)  # without a sink, for recv()
    assert mono_s16(await second.recv()).size == FRAME
    first.stop()
    second.stop()


async def test_a_packet_too_old_to_be_kept_is_lost_to_its_track_and_leaves_the_shared_decoder_alone():
    packets = opus_packets(40)
    ahead, heard_ahead = listening()
    behind, heard_behind = listening()
    shared = audio._shared[SOURCE]
    for seq, payload in enumerate(packets[:30]):
        ahead.feed(payload, seq=seq)
    for seq, payload in enumerate(packets[:30 - RING]):
        behind.feed(payload, seq=seq)  # no longer kept: nothing, and nothing decoded
    assert heard_behind == [] and shared.decodes == 30
    for seq, payload in enumerate(packets[30:], 30):
        ahead.feed(payload, seq=seq)
        behind.feed(payload, seq=seq)
    assert same_audio(heard_ahead, alone(packets)) and heard_behind == heard_ahead[30:]
    far = packets[0]
    ahead.feed(far, seq=(39 - MAX_LAG - 1) & 0xFFFF)  # further back than any track lags: the numbers jumped
    assert shared.decodes == 41 and len(heard_ahead) == 41
    ahead.stop()
    behind.stop()


async def test_a_track_whose_packets_are_all_too_old_decodes_them_alone():
    packets = opus_packets(2 * RING + 10)
    first, _ = listening()
    offset, heard = listening()  # numbered 100 behind the first's, as by a bridge's offset
    shared = audio._shared[SOURCE]
    for seq, payload in enumerate(packets):
        first.feed(payload, seq=seq + 100)
        offset.feed(payload, seq=seq)
    assert offset._shared is None and shared.users == 1 and shared.decodes == len(packets)
    assert same_audio(heard, alone(packets[RING:])), "lost until RING in a row, then decoded alone"
    first.stop()
    offset.stop()


async def test_another_packet_with_a_kept_number_is_another_source_and_its_track_decodes_it_alone():
    packets, other = opus_packets(6), opus_packets(6, hz=1000)
    track, _ = listening()
    stranger, heard = listening()  # another meeting's source with Alice's name and SSRC
    shared = audio._shared[SOURCE]
    for seq, payload in enumerate(packets):
        track.feed(payload, seq=seq)
    for seq, payload in enumerate(other):
        stranger.feed(payload, seq=seq)
    assert shared.decodes == 6 and shared.users == 1 and stranger._shared is None
    assert same_audio(heard, alone(other))
    stranger.stop()
    assert shared.users == 1
    track.stop()


async def test_the_shared_decoder_goes_when_the_last_track_of_its_source_stops():
    first, second = InlineAudioTrack(SOURCE), InlineAudioTrack(SOURCE)
    first.stop()
    first.stop()
    assert audio._shared[SOURCE].users == 1
    second.stop()
    assert SOURCE not in audio._shared
    InlineAudioTrack().stop()  # a track of its own never joins
    assert audio._shared == {}


async def test_sessions_with_shared_decoders_decode_the_source_once_for_their_receivers():
    sessions = [MediaSession(offer(), US, on_event=seen.append, inline_audio=True, shared_decoders=True)
                for seen in ([], [])]
    packets = opus_packets(3)
    try:
        for session in sessions:
            await session.answer("us@meet.jitsi/r")
            receiver = next(r for r, t in session._inline.items() if t._shared is audio._shared[SOURCE])
            for seq, payload in enumerate(packets):
                await receiver._handle_rtp_packet(RtpPacket(payload_type=session._opus_pt, sequence_number=seq,
                                                            timestamp=seq * FRAME, ssrc=100, payload=payload), 0)
            assert receiver in session._inline and session._inline[receiver].decoded == 3
        assert audio._shared[SOURCE].decodes == 3 and audio._shared[SOURCE].users == 2
    finally:
        for session in sessions:
            await session.close()
    assert SOURCE not in audio._shared


def test_the_level_of_samples_is_aiortcs_for_the_same_frame():
    t = np.arange(FRAME) / 48000
    for amplitude in (0, 3, 300, 8000, 32767):
        pcm = (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        assert audio_level(pcm) == compute_audio_level_dbov(frame), amplitude
    assert audio_level(np.zeros(FRAME, np.int16)) == -127 and audio_level(np.zeros(0, np.int16)) == -127


async def test_a_source_of_encoded_packets_gives_aiortc_the_level_of_each():
    class Sender:
        async def _next_encoded_frame(self, codec):
            return RTCEncodedFrame([b"x"], 0, None)

    class Source:
        audio_level = -42

    sender = Sender()
    _levels_from(sender, Source())
    assert (await sender._next_encoded_frame(None)).audio_level == -42
