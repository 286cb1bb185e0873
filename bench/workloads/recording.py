"""recording: the recorder's media pipeline — CPU per recorded second, peak RSS, A/V sync.

N synthetic participants (`--participants`, default 4) send moving 640x360 video at 30 fps and a
tone each, decoded frames as the recorder gets them from aiortc, into `jitsi_py.recorder.media`
(grid layout, H.264 + AAC into MP4) for `--seconds`, once per `--resolution`. Each resolution runs
in a child process of its own so its peak RSS is its own. Participant 0 is a flash + beep pattern:
once a second its picture turns white at the instant a 3 kHz beep starts; the offset between the
flash and the beep in the recording is the A/V sync error (positive: sound late). The pipeline runs
in-process: it is a library, not a server on the wire.

Reported per resolution: CPU seconds per recorded second (the whole child: pipeline threads,
x264's threads and the feeding loop), peak RSS, the input fixture's share of it, frames dropped
(ticks the composer or encoder could not keep up with), the output's duration and frame count,
and the sync offsets (mean, worst; only flashes whose previous frame was not dropped). On a
starved machine the real-time run drops frames and so spends less, so `full_rate_cpu_s_per_s`
also drives the same composer, mixer and encoder flat out for 4 s of output without the clock:
the CPU one second of output costs when no tick is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path

from .. import harness

ROOT = Path(__file__).resolve().parents[2]
RATE = 48000
CHUNK = 960
BEEP_HZ = 3000.0
FLASH_S = 0.1  # each flash/beep lasts this long, once a second
INPUT = (640, 360)
CYCLE = 30  # pre-made input frames per participant, replayed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=20.0, help="recorded length (default %(default)s)")
    parser.add_argument("--participants", type=int, default=4, help="default %(default)s")
    parser.add_argument("--resolution", action="append", default=None,
                        help="WxH, repeatable (default: 1280x720 and 1920x1080)")
    parser.add_argument("--framerate", type=int, default=30, help="default %(default)s")
    parser.add_argument("--preset", default="veryfast", help="x264 preset (default %(default)s)")
    parser.add_argument("--crf", type=int, default=25, help="default %(default)s")
    harness.add_common(parser, timeout=900)


async def run(args: argparse.Namespace) -> int:
    if not 1 <= args.participants <= 25 or not 2 <= args.seconds <= 600:
        raise SystemExit("--participants must be 1..25 and --seconds 2..600")
    resolutions = args.resolution or ["1280x720", "1920x1080"]
    root = harness.workdir(args)

    async def body(result: dict) -> None:
        figures = result["servers"]["recorder"] = {}
        for resolution in resolutions:
            width, height = (int(v) for v in resolution.lower().split("x"))
            job = {"width": width, "height": height, "framerate": args.framerate, "preset": args.preset,
                   "crf": args.crf, "participants": args.participants, "seconds": args.seconds,
                   "path": str(root / f"recording-{resolution}.mp4")}
            print(f"recording: {resolution}, {args.participants} participants, {args.seconds:g} s", file=sys.stderr)
            figures[f"{height}p"] = await harness.in_child(__name__, job, resolution)

    params = {"seconds": args.seconds, "participants": args.participants, "resolutions": resolutions,
              "framerate": args.framerate, "preset": args.preset, "crf": args.crf}
    result = await harness.bounded(args, body, params)
    return harness.finish(args, result, None)


# --- the child: one recording, measured ---------------------------------------------------------------

def child(job_json: str) -> None:
    job = json.loads(job_json)
    print(json.dumps(asyncio.run(_record(job))))


def _inputs(count: int):
    """Per participant: CYCLE moving frames (a bar sweeping over its colour) and, for 0, one white frame."""
    import av  # noqa: PLC0415 - only the child needs the media stack
    import numpy as np  # noqa: PLC0415

    width, height = INPUT
    frames = []
    for p in range(count):
        colour = ((70 * p) % 256, (150 + 40 * p) % 256, (230 - 50 * p) % 256)
        cycle = []
        for i in range(CYCLE):
            picture = np.full((height, width, 3), colour, np.uint8)
            x = (i * width // CYCLE) % (width - 40)
            picture[:, x:x + 40] = (20, 20, 20)
            picture[(i * 7) % (height - 30):(i * 7) % (height - 30) + 30, :] //= 2
            cycle.append(av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p"))
        frames.append(cycle)
    white = av.VideoFrame.from_ndarray(np.full((height, width, 3), 255, np.uint8), format="rgb24").reformat(
        format="yuv420p")
    fixture_bytes = sum(plane.buffer_size for cycle in frames for f in cycle for plane in f.planes)
    return frames, white, fixture_bytes


def _chunk(index: int, tone: float, beep: bool):
    import av  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    t = np.arange(index * CHUNK, (index + 1) * CHUNK) / RATE
    if beep:
        in_flash = (t % 1.0) < FLASH_S
        wave = np.where(in_flash, 0.5 * np.sin(2 * np.pi * BEEP_HZ * t), 0.0)
    else:
        wave = 0.1 * np.sin(2 * np.pi * tone * t)
    mono = (wave * 32767).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(np.repeat(mono, 2)[None, :], format="s16", layout="stereo")
    frame.sample_rate = RATE
    return frame


async def _record(job: dict) -> dict:
    from jitsi_py.recorder.media import EncodeSettings, Pipeline  # noqa: PLC0415

    count, seconds, fps = job["participants"], job["seconds"], 30.0
    frames, white, fixture_bytes = _inputs(count)
    chunks = [[_chunk(i, 300.0 + 150 * p, p == 0) for i in range(RATE // CHUNK)] for p in range(count)]
    pipe = Pipeline(job["path"], EncodeSettings(width=job["width"], height=job["height"], framerate=job["framerate"],
                                                preset=job["preset"], crf=job["crf"]), layout="grid")
    for p in range(count):
        pipe.add_participant(f"p{p}", f"Participant {p}")
    await pipe.start()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    video_i = audio_i = 0
    while (now := time.monotonic() - start) < seconds:
        while video_i / fps <= now:
            flash = (video_i / fps) % 1.0 < FLASH_S
            for p in range(count):
                pipe.video(f"p{p}", white if p == 0 and flash else frames[p][video_i % CYCLE])
            video_i += 1
        while (audio_i + 1) * CHUNK / RATE <= now:  # a chunk is delivered once all of it was "captured"
            for p in range(count):
                pipe.audio(f"p{p}", chunks[p][audio_i % len(chunks[p])])
            audio_i += 1
        await asyncio.sleep(max(0.0, min(video_i / fps, (audio_i + 1) * CHUNK / RATE) - (time.monotonic() - start)))
    duration = await pipe.stop()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    failed = pipe.failed.result().reason if pipe.failed.done() else None
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    figures = {
        "cpu_s_per_recorded_s": round(cpu / duration, 3) if duration else None,
        "peak_rss_mb": round(cpu1.ru_maxrss / 1024, 1),
        "input_fixture_mb": round(fixture_bytes / 2**20, 1),
        "frames_dropped": pipe.frames_dropped,
        "duration_s": round(duration, 3),
    }
    if failed:
        figures["failed"] = failed
        return figures
    figures.update(_analyse(job["path"], job["width"], job["height"], count, job["framerate"]))
    figures["full_rate_cpu_s_per_s"] = _full_rate(job, frames)
    return figures


def _full_rate(job: dict, frames) -> float:
    """CPU seconds one second of output costs when every tick is composed and encoded: the composer and
    the encoder driven flat out, without the clock, so a starved run's dropped frames do not hide cost."""
    import numpy as np  # noqa: PLC0415

    from jitsi_py.recorder.media.composer import Composer  # noqa: PLC0415
    from jitsi_py.recorder.media.layout import Layout, arrange  # noqa: PLC0415
    from jitsi_py.recorder.media.mixer import Mixer  # noqa: PLC0415
    from jitsi_py.recorder.media.output import EncodeSettings, Output  # noqa: PLC0415

    fps, seconds = job["framerate"], 4
    count = len(frames)
    names = {f"p{p}": f"Participant {p}" for p in range(count)}
    placements = arrange(Layout.GRID, job["width"], job["height"], list(names), None, None)
    composer = Composer(job["width"], job["height"])
    mixer = Mixer()
    output = Output(str(Path(job["path"]).with_suffix(".full-rate.mp4")),
                    EncodeSettings(width=job["width"], height=job["height"], framerate=fps, preset=job["preset"],
                                   crf=job["crf"]))
    output.open()
    tone = (np.sin(np.arange(CHUNK) / 10) * 3000).astype(np.int16)
    cpu0 = time.process_time()
    for tick in range(seconds * fps):
        picture = composer.render(placements, names, {(f"p{p}", False): frames[p][tick % CYCLE] for p in range(count)})
        picture.pts = tick
        output.write_video(picture)
        now = (tick + 1) / fps
        while mixer.position + 2 * CHUNK < now * RATE:  # everyone's chunks up to now
            for p in range(count):
                mixer.push(f"p{p}", tone, (mixer.position + CHUNK) / RATE)
            position = mixer.position
            output.write_audio(mixer.pull(position + CHUNK), position, RATE)
    output.close()
    return round((time.process_time() - cpu0) / seconds, 3)


def _analyse(path: str, width: int, height: int, count: int, fps: int) -> dict:
    """Frame count, and the flash-to-beep offsets of participant 0 (its grid tile) in the recording."""
    import av  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from jitsi_py.recorder.media.layout import Layout, arrange  # noqa: PLC0415

    tile = arrange(Layout.GRID, width, height, [f"p{p}" for p in range(count)], None, None)[0]
    luma, times = [], []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            luma_plane = frame.planes[0]
            y = np.frombuffer(memoryview(luma_plane), np.uint8).reshape(luma_plane.height, luma_plane.line_size)
            region = y[tile.y + tile.height // 4:tile.y + 3 * tile.height // 4,
                       tile.x + tile.width // 4:tile.x + 3 * tile.width // 4]
            luma.append(float(region.mean()))
            times.append(frame.time)
    # a flash counts only where the frame before it is the tick before: a dropped frame would make it late
    period = 1 / fps
    flashes = [times[i] for i in range(1, len(luma))
               if luma[i] > 200 >= luma[i - 1] and times[i] - times[i - 1] < 1.5 * period]
    with av.open(path) as container:
        pieces, first = [], None
        for frame in container.decode(audio=0):
            first = frame.time if first is None else first
            pieces.append(frame.to_ndarray().astype(np.float32).mean(axis=0))
        rate = container.streams.audio[0].rate
    if first is None:
        raise ValueError(f"{path}: no audio")
    samples = np.concatenate(pieces)
    spectrum = np.fft.rfft(samples)
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    spectrum[(freqs < BEEP_HZ - 200) | (freqs > BEEP_HZ + 200)] = 0
    envelope = np.abs(np.fft.irfft(spectrum, len(samples)))
    window = int(rate * 0.002)
    envelope = np.convolve(envelope, np.ones(window) / window, mode="same")
    loud = envelope > 0.5 * envelope.max()
    starts = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    beeps, last = [], -1.0
    for index in starts:
        at = first + index / rate
        if at - last > 0.5:
            beeps.append(at)
            last = at
    offsets = []
    for flash in flashes:
        nearest = min(beeps, key=lambda b: abs(b - flash), default=None)
        if nearest is not None and abs(nearest - flash) < 0.4:
            offsets.append(nearest - flash)
    return {
        "frames": len(times),
        "flashes": len(flashes),
        "beeps": len(beeps),
        "sync_ms": {"mean": round(1000 * float(np.mean(offsets)), 1) if offsets else None,
                    "worst": round(1000 * max(offsets, key=abs), 1) if offsets else None,
                    "pairs": len(offsets)},
    }
