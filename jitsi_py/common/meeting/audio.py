"""Remote audio decoded as its packets come, in the event loop: :class:`InlineAudioTrack`.

aiortc decodes each remote track on a thread of its own and hands every frame back to the loop: per
packet a queue hand-off, a thread wake-up, a future and a fight for the GIL. A participant that hears
many speakers (the SIP gateway: every call hears its meeting) asks the meeting client for these tracks
instead (``Meeting(inline_audio=True)``): the receiver's packets go straight to one Opus decoder per
track, without aiortc's jitter buffer (packets are decoded in the order they come). A consumer with a
``sink`` gets nothing for a packet its sender marked silent (RFC 6464 level 127, what a sender
measures of digital silence) unless one of the HANGOVER packets before was not: it is not decoded,
so a meeting's quiet participants cost no decoding. The hangover keeps the end of a sound, which
Opus's look-ahead carries into the next packet (and aiortc, measuring each frame before its
resampler's delay, puts a frame's level on the packet before it).
"""

from __future__ import annotations

import asyncio
import math
from typing import Callable

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.audio.codeccontext import AudioCodecContext

RATE = 48000
MAX_QUEUED = 5  # frames recv() keeps for a slow reader: the newest win
MIN_LEVEL = -127
SILENT = 127  # RFC 6464's level of silence, as the header extension carries it (-dBov)
HANGOVER = 2  # packets marked silent still decoded after one that was not


class InlineAudioTrack(MediaStreamTrack):
    """One remote audio source. A consumer either sets ``sink``, called with each packet's audio as 48 kHz
    mono int16 (numpy), or awaits :meth:`recv` for av frames (mono s16), as from aiortc's track."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.sink: Callable[[np.ndarray], None] | None = None
        self.decoded = self.failed = 0
        self._hangover = 0
        self._decoder: AudioCodecContext = av.AudioCodecContext.create("libopus", "r")
        self._decoder.sample_rate = RATE
        self._decoder.layout = "mono"
        self._decoder.format = "s16"
        self._frames: asyncio.Queue[av.AudioFrame | None] = asyncio.Queue()

    def feed(self, payload: bytes, level: int | None = None) -> None:
        """One Opus packet's payload, decoded now; ``level``: its RFC 6464 level, when it came with one."""
        if self.readyState != "live":
            return
        if level == SILENT:
            if self._hangover == 0 and self.sink is not None:
                return
            self._hangover = max(0, self._hangover - 1)
        elif level is not None:
            self._hangover = HANGOVER
        try:
            frames = self._decoder.decode(av.Packet(payload))
        except av.FFmpegError:
            self.failed += 1  # a packet that does not decode costs only itself
            return
        sink = self.sink
        for frame in frames:
            self.decoded += 1
            if sink is not None:
                sink(mono_s16(frame))
                continue
            while self._frames.qsize() >= MAX_QUEUED:
                self._frames.get_nowait()
            self._frames.put_nowait(frame)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._frames.get()
        if frame is None:
            raise MediaStreamError
        return frame

    def stop(self) -> None:
        if self.readyState == "live":
            self._frames.put_nowait(None)  # a reader waiting in recv() sees the end
        super().stop()


def audio_level(pcm: np.ndarray) -> int:
    """RFC 6465's level of int16 samples in dBov, -127 (silence) to 0, as aiortc gives it."""
    power = float(np.dot(pcm, pcm.astype(np.float64))) / (pcm.size * 32767.0 * 32767.0) if pcm.size else 0.0
    return max(MIN_LEVEL, min(0, round(10 * math.log10(power)))) if power > 0 else MIN_LEVEL


def mono_s16(frame: av.AudioFrame) -> np.ndarray:
    """The first channel of a decoded frame as int16. Mono s16, what the Opus decoder gives, is copied
    straight from its plane (the decoder may reuse a frame's buffer: never a view)."""
    if frame.format.name == "s16" and len(frame.layout.channels) == 1:
        return np.frombuffer(memoryview(frame.planes[0]), np.int16, frame.samples).copy()
    samples = frame.to_ndarray()
    channels = len(frame.layout.channels)
    first = samples[0] if frame.format.is_planar else samples.reshape(-1)[::channels]
    if first.dtype != np.int16:
        first = np.clip(first * 32767, -32768, 32767).astype(np.int16)
    return first
