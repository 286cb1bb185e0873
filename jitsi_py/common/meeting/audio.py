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

A process with many participants in one meeting (the gateway: one per call) decodes each source once:
its tracks share a :class:`SharedDecoder` (``InlineAudioTrack(shared=...)``). The bridge sends every
receiver the same packets of a source, with the same sequence numbers, so the first track to feed a
packet decodes it and the others, a few packets behind, take its frames from a short ring.
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
RING = 16  # packets a shared decoder keeps decoded (a power of two): a track 320 ms behind still gets them
# A packet behind the newest decoded by up to MAX_LAG is lost to a track that lags this far (RING such in a
# row: the track decodes on its own); one further back is taken for a jump of the source's numbers.
MAX_LAG = 250

_shared: dict[tuple[str, int], SharedDecoder] = {}  # the process's, by source (name, SSRC)


class SourceCollision(Exception):
    """Two sources share a name and SSRC (in two meetings): a packet is not the shared decoder's."""


class SharedDecoder:
    """The Opus decoder of one meeting source for every track of the process that receives it, and the
    frames of its latest RING packets (int16, read-only: every track's sink gets the same arrays)."""

    def __init__(self, key: tuple[str, int]) -> None:
        self.key = key
        self.users = self.decodes = 0
        self._decoder = _opus_decoder()
        self._latest: int | None = None
        self._seqs = [-1] * RING
        self._payloads = [b""] * RING
        self._frames: list[tuple[np.ndarray, ...] | None] = [()] * RING

    @classmethod
    def join(cls, key: tuple[str, int]) -> SharedDecoder:
        shared = _shared.get(key)
        if shared is None:
            shared = _shared[key] = cls(key)
        shared.users += 1
        return shared

    def leave(self) -> None:
        self.users -= 1
        if self.users == 0:
            del _shared[self.key]

    def decode(self, seq: int, payload: bytes) -> tuple[np.ndarray, ...] | None:
        """The frames of packet ``seq``: decoded now if it is newer than any before, else from the ring;
        none for one too old to be kept (decoding it would put the decoder back in time); None for a
        packet that does not decode. Raises SourceCollision for another packet with a kept number."""
        slot = seq & (RING - 1)
        if self._seqs[slot] == seq:
            if self._payloads[slot] != payload:
                raise SourceCollision
            return self._frames[slot]
        if self._latest is not None and (self._latest - seq) & 0xFFFF <= MAX_LAG:
            return ()
        self._latest = self._seqs[slot] = seq
        self._payloads[slot] = payload
        self.decodes += 1
        try:
            frames: tuple[np.ndarray, ...] | None = tuple(map(mono_s16, self._decoder.decode(av.Packet(payload))))
        except av.FFmpegError:
            frames = None
        for pcm in frames or ():
            pcm.flags.writeable = False
        self._frames[slot] = frames
        return frames


class InlineAudioTrack(MediaStreamTrack):
    """One remote audio source. A consumer either sets ``sink``, called with each packet's audio as 48 kHz
    mono int16 (numpy), or awaits :meth:`recv` for av frames (mono s16), as from aiortc's track."""

    kind = "audio"

    def __init__(self, shared: tuple[str, int] | None = None) -> None:
        """``shared``: the source's (name, SSRC), to decode with the process's other tracks of it."""
        super().__init__()
        self.sink: Callable[[np.ndarray], None] | None = None
        self.decoded = self.failed = 0
        self._hangover = 0
        self._decoder = _opus_decoder()  # opened by its first packet: not while the shared one serves
        self._shared = SharedDecoder.join(shared) if shared is not None else None
        self._lost = 0  # packets in a row too old for the shared decoder
        self._frames: asyncio.Queue[av.AudioFrame | None] = asyncio.Queue()

    def feed(self, payload: bytes, level: int | None = None, seq: int = 0) -> None:
        """One Opus packet's payload, decoded now; ``level``: its RFC 6464 level, when it came with one;
        ``seq``: its RTP sequence number, what a shared decoder goes by."""
        if self.readyState != "live":
            return
        if level == SILENT:
            if self._hangover == 0 and self.sink is not None:
                return
            self._hangover = max(0, self._hangover - 1)
        elif level is not None:
            self._hangover = HANGOVER
        if self._shared is not None:
            try:
                pcms = self._shared.decode(seq, payload)
            except SourceCollision:  # this track's source is not the shared one's: its own decoder from now
                self._unshare()
            else:
                self._lost = self._lost + 1 if pcms == () else 0
                if self._lost == RING:  # not a moment's lag: far behind, or numbered otherwise
                    self._unshare()
                self._take_shared(pcms)
                return
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
            else:
                self._queue(frame)

    def _take_shared(self, pcms: tuple[np.ndarray, ...] | None) -> None:
        if pcms is None:
            self.failed += 1
            return
        sink = self.sink
        for pcm in pcms:
            self.decoded += 1
            if sink is not None:
                sink(pcm)
            else:
                frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
                frame.sample_rate = RATE
                self._queue(frame)

    def _queue(self, frame: av.AudioFrame) -> None:
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
            self._unshare()
        super().stop()

    def _unshare(self) -> None:
        if self._shared is not None:
            self._shared.leave()
            self._shared = None


def _opus_decoder() -> AudioCodecContext:
    decoder = av.AudioCodecContext.create("libopus", "r")
    decoder.sample_rate, decoder.layout, decoder.format = RATE, "mono", "s16"
    return decoder


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
