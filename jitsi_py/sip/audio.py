"""Transcoding between a call's SIP codec and the meeting's 48 kHz audio, one 20 ms frame at a time.

What the phone hears is mixed at 48 kHz (960 samples of mono signed 16-bit PCM, numpy) and brought
down to the codec's rate by a polyphase FIR (:class:`_Resampler`) that keeps its filter state across
frames. What the phone says stays at its codec's rate (8, 16 or 48 kHz) until the meeting's Opus
encoder takes it (:class:`MeetingEncoder`). G.711 (PCMU, PCMA) goes through lookup tables; G.722
and Opus through PyAV's codecs. Loss concealment, for
every codec: the last frame repeated with a fade, silence after three lost frames (Opus's own PLC and
FEC are not reachable through PyAV's decoder).
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
    """Mono s16 from 48 kHz down to 8 or 16 kHz (integer ratios): a windowed-sinc FIR split into its
    phases, so only the samples kept are computed, its history carried from frame to frame. Half the
    CPU of libswresample through PyAV frames, and no objects per frame. (The other way needs none: the
    phone's audio goes to the meeting's Opus encoder at its own rate, :class:`MeetingEncoder`.)"""

    def __init__(self, source: int, target: int, taps: int = 16) -> None:
        ratio = self.ratio = source // target
        length = ratio * taps
        k = np.arange(length) - (length - 1) / 2
        h = np.sinc(k / ratio) * np.hamming(length)
        self.h = (h / h.sum())[::-1].astype(np.float32).copy()  # reversed: a dot product per output sample
        self.keep = length - 1
        self.ext = ext = np.zeros(self.keep + FRAME, np.float32)  # the filter's history, then the frame
        # the input windows ending on every ratio-th sample of the frame, one strided view made once:
        # each frame is then one matrix-vector product
        self.windows = np.lib.stride_tricks.as_strided(ext[ratio:], (FRAME // ratio, length),
                                                       (ratio * ext.itemsize, ext.itemsize), writeable=False)

    def __call__(self, pcm: np.ndarray) -> np.ndarray:
        ext, keep = self.ext, self.keep
        ext[keep:] = pcm
        y = self.windows @ self.h
        ext[:keep] = ext[-keep:]
        return np.clip(y, -32768, 32767, out=y).astype(np.int16)


class _PyAvCodec:
    def __init__(self, name: str, rate: int, bit_rate: int | None = None, decodes: bool = True,
                 options: dict[str, str] | None = None) -> None:
        self.rate = rate
        self.encoder = cast(AudioCodecContext, av.CodecContext.create(name, "w"))
        self.encoder.sample_rate = rate
        self.encoder.layout = "mono"
        self.encoder.format = "s16"
        if bit_rate:
            self.encoder.bit_rate = bit_rate
        if options:
            self.encoder.options = options
        self.encoder.open()
        if decodes:
            self.decoder = cast(AudioCodecContext, av.CodecContext.create(name, "r"))
            self.decoder.sample_rate = rate
            self.decoder.layout = "mono"
        self._pts = 0
        self._frame: av.AudioFrame | None = None  # one frame refilled each time: from_ndarray costs 30 µs

    def encode(self, pcm: np.ndarray) -> bytes:
        frame = self._frame
        if frame is None or frame.samples != pcm.size:
            frame = self._frame = av.AudioFrame(format="s16", layout="mono", samples=pcm.size)
            frame.sample_rate = self.rate
        frame.planes[0].update(cast(bytes, pcm.astype(np.int16, copy=False)))  # any buffer will do
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


OPUS_COMPLEXITY = 5  # libopus's 0-10: at 5 a third of the CPU of its default 10, for a phone's voice


class MeetingEncoder:
    """The phone's voice as the meeting gets it: 20 ms of mono at the phone codec's own rate (8, 16 or
    48 kHz; Opus takes each, and its RTP clock stays 48 kHz) to one Opus packet. Encoded here, in the
    media clock's tick, the meeting client sends it as it is; given frames, aiortc would encode each on
    a thread of its executor (a hand-off and a wake-up per packet), in stereo at 96 kb/s, at 48 kHz."""

    def __init__(self, rate: int = RATE, bit_rate: int = 32000) -> None:
        self.rate = rate
        self.silence = np.zeros(rate // 50, np.int16)
        self._av = _PyAvCodec("libopus", rate, bit_rate, decodes=False,
                              options={"compression_level": str(OPUS_COMPLEXITY)})

    def encode(self, pcm: np.ndarray) -> bytes:
        return self._av.encode(pcm)


class Transcoder:
    """One call's codec: ``decode`` a payload to 20 ms at the codec's own ``rate`` (8, 16 or 48 kHz),
    ``conceal`` a lost one, ``encode`` 20 ms of 48 kHz."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.timestamp_step = codec.clock // 50  # RTP clock ticks per 20 ms
        self.rate = RATE if codec == OPUS else 16000 if codec == G722 else 8000
        self.samples = self.rate // 50
        self._last = np.zeros(self.samples, np.int16)
        self.silence = np.zeros(self.samples, np.int16)
        self._lost_run = 0
        self._tables = TABLES.get(codec.name)
        self._av: _PyAvCodec | None = None
        self._down: _Resampler | None = None
        if codec == OPUS:
            self._av = _PyAvCodec("libopus", RATE, 32000)
        else:
            if codec == G722:
                self._av = _PyAvCodec("g722", self.rate)
            self._down = _Resampler(RATE, self.rate)

    def encode(self, pcm: np.ndarray) -> bytes:
        narrow = pcm if self._down is None else self._down(pcm)
        if self._tables is not None:
            return self._tables[1][narrow.astype(np.int32) + 32768].tobytes()
        assert self._av is not None
        return self._av.encode(narrow)

    def decode(self, payload: bytes) -> np.ndarray:
        if self._tables is not None:
            narrow = self._tables[0][np.frombuffer(payload, np.uint8)]
        else:
            assert self._av is not None
            narrow = self._av.decode(payload)
        if narrow.size != self.samples:
            narrow = np.resize(narrow, self.samples) if narrow.size else self.silence
        self._last, self._lost_run = narrow, 0
        return narrow

    def conceal(self) -> np.ndarray:
        if self._lost_run >= len(CONCEAL_GAINS):
            return self.silence
        gain = CONCEAL_GAINS[self._lost_run]
        self._lost_run += 1
        return (self._last * gain).astype(np.int16)
