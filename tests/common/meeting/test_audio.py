"""Remote audio decoded inline: a track's packets to 20 ms of 48 kHz mono, to a sink or to recv(); a
session with ``inline_audio`` routes its receivers' Opus packets there, and ends the tracks with them."""

from __future__ import annotations

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpsender import RTCEncodedFrame
from aiortc.rtp import RtpPacket, compute_audio_level_dbov

from jitsi_py.common.meeting import events
from jitsi_py.common.meeting.audio import InlineAudioTrack, audio_level, mono_s16
from jitsi_py.common.meeting.session import MediaSession, _levels_from
from jitsi_py.common.stanzas.jingle import Jingle, Source
from jitsi_py.common.stanzas.jitsi import encode_sources

from .test_sdp import ALICE, US, offer

FRAME = 960


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
