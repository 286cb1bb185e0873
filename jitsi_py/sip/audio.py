"""Transcoding between a call's SIP codec and the meeting's 48 kHz audio, one 20 ms frame at a time.

The meeting side is always 960 samples of mono signed 16-bit PCM at 48 kHz (numpy). G.711 (PCMU,
PCMA) goes through lookup tables; G.722 and Opus through PyAV's codecs; the rate change through
PyAV's resampler (libswresample), which keeps its filter state across frames. Loss concealment:
Opus's own (the decoder's FEC/PLC is not reachable through PyAV, so the last frame faded), and the
last frame repeated with a fade for the others; after three lost frames, silence.
"""

from __future__ import annotations

from typing import cast

import av
import numpy as np
from av.audio.codeccontext import AudioCodecContext

from .sdp import G722, OPUS, PCMA, PCMU, Codec

RATE = 48000
FRAME = 960  # 20 ms at 48 kHz
CONCEAL_GAINS = (0.8, 0.5, 0.25)


def _ulaw_tables() -> tuple[np.ndarray, np.ndarray]:
    codes = np.arange(256, dtype=np.int32) ^ 0xFF
    sign, exponent, mantissa = codes & 0x80, (codes >> 4) & 0x07, codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    decode = np.where(sign != 0, -magnitude, magnitude).astype(np.int16)
    return decode, _encoder_for(decode)


def _alaw_tables() -> tuple[np.ndarray, np.ndarray]:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign, exponent, mantissa = codes & 0x80, (codes >> 4) & 0x07, codes & 0x0F
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    decode = np.where(sign != 0, magnitude, -magnitude).astype(np.int16)
    return decode, _encoder_for(decode)


def _encoder_for(decode: np.ndarray) -> np.ndarray:
    """A 65536-entry table from every 16-bit sample to the code that decodes nearest to it."""
    order = np.argsort(decode, kind="stable")
    levels = decode[order].astype(np.int32)
    samples = np.arange(-32768, 32768, dtype=np.int32)
    right = np.clip(np.searchsorted(levels, samples), 1, len(levels) - 1)
    nearer_left = (samples - levels[right - 1]) <= (levels[right] - samples)
    return order[np.where(nearer_left, right - 1, right)].astype(np.uint8)


TABLES = {PCMU.name: _ulaw_tables(), PCMA.name: _alaw_tables()}


class _Resampler:
    """Mono s16 from one rate to another, in fixed-size pieces (the filter's delay filled with silence)."""

    def __init__(self, source: int, target: int) -> None:
        self.source = source
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=target)
        self._pending = np.zeros(0, np.int16)

    def __call__(self, pcm: np.ndarray, size: int) -> np.ndarray:
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.source
        pieces = [self._pending, *(f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame))]
        out: np.ndarray = np.concatenate(pieces)
        if out.size < size:
            out = np.concatenate([np.zeros(size - out.size, np.int16), out])
        self._pending = out[size:size + 4 * size]  # bounded: a stalled consumer cannot grow it
        return out[:size]


class _PyAvCodec:
    def __init__(self, name: str, rate: int, bit_rate: int | None = None) -> None:
        self.rate = rate
        self.encoder = cast(AudioCodecContext, av.CodecContext.create(name, "w"))
        self.encoder.sample_rate = rate
        self.encoder.layout = "mono"
        self.encoder.format = "s16"
        if bit_rate:
            self.encoder.bit_rate = bit_rate
        self.encoder.open()
        self.decoder = cast(AudioCodecContext, av.CodecContext.create(name, "r"))
        self.decoder.sample_rate = rate
        self.decoder.layout = "mono"
        self._pts = 0

    def encode(self, pcm: np.ndarray) -> bytes:
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self._pts
        self._pts += pcm.size
        return b"".join(bytes(p) for p in self.encoder.encode(frame))

    def decode(self, payload: bytes) -> np.ndarray:
        pieces = []
        for frame in self.decoder.decode(av.Packet(payload)):
            samples = frame.to_ndarray()
            if samples.dtype != np.int16:
                samples = np.clip(samples * 32767, -32768, 32767).astype(np.int16)
            pieces.append(samples.reshape(len(frame.layout.channels), -1)[0] if frame.format.is_planar
                          else samples.reshape(-1)[:: len(frame.layout.channels)])
        return np.concatenate(pieces) if pieces else np.zeros(0, np.int16)


class Transcoder:
    """One call's codec: ``decode`` a payload to 48 kHz, ``conceal`` a lost one, ``encode`` 48 kHz."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.timestamp_step = codec.clock // 50  # RTP clock ticks per 20 ms
        self._last = np.zeros(FRAME, np.int16)
        self._lost_run = 0
        self._tables = TABLES.get(codec.name)
        self._av: _PyAvCodec | None = None
        if codec == OPUS:
            self._av = _PyAvCodec("libopus", RATE, 32000)
            self._up = self._down = None
        else:
            rate = 16000 if codec == G722 else 8000
            if codec == G722:
                self._av = _PyAvCodec("g722", rate)
            self._up, self._down = _Resampler(rate, RATE), _Resampler(RATE, rate)

    def encode(self, pcm: np.ndarray) -> bytes:
        narrow = pcm if self._down is None else self._down(pcm, pcm.size * self._down_rate() // RATE)
        if self._tables is not None:
            return self._tables[1][narrow.astype(np.int32) + 32768].tobytes()
        assert self._av is not None
        return self._av.encode(narrow)

    def _down_rate(self) -> int:
        return 16000 if self.codec == G722 else 8000

    def decode(self, payload: bytes) -> np.ndarray:
        if self._tables is not None:
            narrow = self._tables[0][np.frombuffer(payload, np.uint8)]
        else:
            assert self._av is not None
            narrow = self._av.decode(payload)
        pcm = narrow if self._up is None else self._up(narrow, FRAME)
        if pcm.size != FRAME:
            pcm = np.resize(pcm, FRAME) if pcm.size else np.zeros(FRAME, np.int16)
        self._last, self._lost_run = pcm, 0
        return pcm

    def conceal(self) -> np.ndarray:
        if self._lost_run >= len(CONCEAL_GAINS):
            return np.zeros(FRAME, np.int16)
        gain = CONCEAL_GAINS[self._lost_run]
        self._lost_run += 1
        return (self._last * gain).astype(np.int16)
