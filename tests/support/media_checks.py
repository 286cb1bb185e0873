"""Synthetic participants and checks of what a recording holds, for the recorder's tests.

Inputs: `solid_frame` (a camera showing one colour), `tone_frame` (a sine tone, 20 ms as aiortc
decodes Opus), `feed` (drives a pipeline-like sink in real time: video at 30 fps, audio every 20 ms,
for a few seconds). Checks: `probe` (ffprobe's streams and duration), `live_streams` (the codecs
ffprobe finds in a live RTMP stream), `frame_at` (a decoded RGB picture), `mean_colour`/`near` (what
a tile shows), `is_uniform` (is anything drawn there, e.g. a name), `tones` (the strong frequencies
in the audio). Usage::

    await feed(pipe, {"a": Participant(colour=(255, 0, 0), tone=440)}, seconds=3)
    info = probe(path)                      # {"video": "h264", "audio": "aac", "duration": 3.0, ...}
    picture = frame_at(path, 1.5)           # numpy (h, w, 3) uint8
    assert near(mean_colour(picture, (x, y, w, h)), (255, 0, 0))
    assert 440 in tones(path, [440, 880])
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

RATE = 48000
CHUNK = 960  # 20 ms, one Opus frame


@dataclass
class Participant:
    colour: tuple[int, int, int] | None = (255, 0, 0)  # None: no video (the placeholder shows)
    tone: float | None = None  # Hz; None: silent
    size: tuple[int, int] = (320, 180)
    screen_share: bool = False


def solid_frame(colour: tuple[int, int, int], size: tuple[int, int] = (320, 180)) -> av.VideoFrame:
    width, height = size
    return av.VideoFrame.from_ndarray(np.full((height, width, 3), colour, np.uint8), format="rgb24").reformat(
        format="yuv420p")  # what aiortc's decoders hand out


def tone_frame(frequency: float, start: int, count: int = CHUNK, amplitude: float = 0.25) -> av.AudioFrame:
    """`count` samples of a sine from sample `start` on, stereo s16 at 48 kHz (Opus as aiortc decodes it)."""
    t = np.arange(start, start + count) / RATE
    mono = (np.sin(2 * np.pi * frequency * t) * amplitude * 32767).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(np.repeat(mono, 2)[None, :], format="s16", layout="stereo")
    frame.sample_rate = RATE
    return frame


async def feed(sink, participants: dict[str, Participant], seconds: float, fps: float = 30.0) -> None:
    """Calls sink.video()/sink.audio() in real time, as the meeting's tracks would, for `seconds`."""
    frames = {eid: solid_frame(p.colour, p.size) for eid, p in participants.items() if p.colour is not None}
    start = time.monotonic()
    next_video, next_audio = 0.0, CHUNK / RATE  # a chunk comes once all of it was captured, as from the network
    sample = 0
    while (now := time.monotonic() - start) < seconds:
        if now >= next_video:
            for eid, frame in frames.items():
                sink.video(eid, frame, participants[eid].screen_share)
            next_video += 1 / fps
        while now >= next_audio:
            for eid, p in participants.items():
                if p.tone is not None:
                    sink.audio(eid, tone_frame(p.tone, sample))
            sample += CHUNK
            next_audio += CHUNK / RATE
        await asyncio.sleep(max(0.0, min(next_video, next_audio) - (time.monotonic() - start)))


def probe(path: str | Path) -> dict:
    """Codec names, the container's duration and the streams' durations as ffprobe reads them."""
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                          str(path)], capture_output=True, text=True, timeout=60, check=True)
    data = json.loads(out.stdout)
    info: dict = {"duration": float(data["format"]["duration"]), "format": data["format"]["format_name"]}
    for stream in data["streams"]:
        kind = stream["codec_type"]
        info[kind] = stream["codec_name"]
        if kind == "video":
            info["width"], info["height"] = stream["width"], stream["height"]
        if kind == "audio":
            info["sample_rate"] = int(stream["sample_rate"])
    return info


async def live_streams(url: str, timeout: float = 30.0) -> dict[str, str]:
    """The codec of each kind of stream ffprobe finds playing ``url`` (a live RTMP stream), without
    blocking the loop: the services under test run in it."""
    process = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-print_format", "json", "-show_streams", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"ffprobe read nothing from {url} in {timeout} s") from None
    assert process.returncode == 0, err.decode(errors="replace")
    return {s["codec_type"]: s["codec_name"] for s in json.loads(out)["streams"]}


def frame_at(path: str | Path, seconds: float) -> np.ndarray:
    """The first decoded picture at or after `seconds`, as RGB."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= seconds:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"no video frame at {seconds} s in {path}")


def mean_colour(picture: np.ndarray, rect: tuple[int, int, int, int]) -> tuple[float, float, float]:
    """The mean RGB of the middle half of `rect` (x, y, w, h): away from edges, labels and scaling seams."""
    x, y, w, h = rect
    region = picture[y + h // 4:y + 3 * h // 4, x + w // 4:x + 3 * w // 4]
    return tuple(float(c) for c in region.reshape(-1, 3).mean(axis=0))


def near(colour, expected, tolerance: float = 40.0) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected))


def is_uniform(picture: np.ndarray, rect: tuple[int, int, int, int], spread: float = 8.0) -> bool:
    """Whether `rect` is one flat colour (nothing drawn on it)."""
    x, y, w, h = rect
    return float(picture[y:y + h, x:x + w].astype(np.float32).std()) < spread


def audio_samples(path: str | Path) -> tuple[np.ndarray, int]:
    """The decoded audio of the first audio stream, mono float, and its rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().astype(np.float32).mean(axis=0) if frame.format.is_planar
                  else frame.to_ndarray().astype(np.float32).reshape(-1, frame.layout.nb_channels).mean(axis=1)
                  for frame in container.decode(stream)]
        return np.concatenate(chunks), stream.rate


def tones(path: str | Path, candidates: list[float], start: float = 0.5, relative: float = 0.1) -> set[float]:
    """Which `candidates` (Hz) stand out in the spectrum after `start` s: within 10 % of the strongest."""
    samples, rate = audio_samples(path)
    samples = samples[int(start * rate):]
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    peak = spectrum.max()
    found = set()
    for f in candidates:
        band = spectrum[(freqs > f - 5) & (freqs < f + 5)]
        if band.size and band.max() >= relative * peak:
            found.add(f)
    return found
