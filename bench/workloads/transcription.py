"""transcription: the offline engine — word error rate, real-time factor, speakers per core, caption latency.

The transcriber's engine (`jitsi_py.transcriber.engines`, PocketSphinx by default) is driven in-process
as the transcriber drives it: 16 kHz speech in 100 ms slices per speaker stream. The speech is
espeak-ng saying `bench/speech.py`'s sentences, one after another with `--pause` seconds between
them. Three parts:

* accuracy: every sentence once per voice (the one the tests use and a second one), the corpus's word
  error rate (errors over reference words);
* real-time factor: one speaker's talk (sentences and pauses) fed flat out (no clock): wall seconds
  over audio seconds, and CPU seconds (the decoder process and ours) over audio seconds; the second
  does not depend on what else the machine runs, and its inverse is how many such speakers one core
  carries (`speakers_per_core_by_cpu`);
* real time: `--steps` concurrent speakers (default 1,2,4,6,8), each talking all the time for
  `--seconds`, fed at the real pace with one decoder each. Per step: the latency from the end of each
  spoken sentence to its final result (p50, p90, worst), the lag (how far the feeding fell behind the
  clock), the decoders' CPU seconds per second of wall time, and the word error rate. A step keeps up
  when its p90 latency is under `--latency-limit` (the issue's target: 2 s) and it lost no sentence;
  speakers per core = the most speakers of a step that kept up, over the cores the machine has. Each
  step also records the load average: on a shared machine other work starves the decoders, and
  the real-time steps show it while the CPU figure above does not.

The anchor is the clock itself: every figure is a ratio to real time or a latency, so a shared
machine's drift shows as fewer speakers per core, not as a different unit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

from .. import harness, procstat
from ..speech import OTHER_VOICE, SENTENCES, VOICE, silence, speak, word_error_rate

RATE = 16000
SLICE = RATE * 2 // 10  # 100 ms of s16 mono, as the transcriber feeds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", default="pocketsphinx", help="default %(default)s")
    parser.add_argument("--steps", default="1,2,4,6,8", help="concurrent speakers per step (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=20.0, help="talking time per step (default %(default)s)")
    parser.add_argument("--pause", type=float, default=1.0, help="silence between sentences (default %(default)s)")
    parser.add_argument("--latency-limit", type=float, default=2.0,
                        help="p90 end-of-sentence to final latency a step must stay under (default %(default)s)")
    harness.add_common(parser, timeout=900)


def _talk(voice: str, pause: float, seconds: float, offset: int = 0):
    """A speaker's audio and, per sentence, (reference, start s, end s), sentences in turn from ``offset``."""
    pieces, spans, at = [silence(0.5)], [], 0.5
    i = offset
    while at < seconds:
        text = SENTENCES[i % len(SENTENCES)]
        samples = speak(text, voice=voice)
        spans.append((text, at, at + len(samples) / RATE))
        at += len(samples) / RATE + pause
        pieces += [samples, silence(pause)]
        i += 1
    import numpy as np  # noqa: PLC0415

    return np.concatenate(pieces + [silence(1.0)]).tobytes(), spans


def _match(spans, finals):
    """Each sentence's final results (by where they lie in the audio): [(reference, hypothesis, end, when)]."""
    matched = []
    for text, start, end in spans:
        mine = [f for f in finals if start - 0.5 <= (f[0].start + f[0].end) / 2 <= end + 0.5]
        if mine:
            matched.append((text, " ".join(f[0].text for f in mine), end, max(f[1] for f in mine)))
        else:
            matched.append((text, "", end, None))
    return matched


def _worker_pids(engine) -> list[int]:
    pool = getattr(engine, "pool", None)
    return [pid for worker in getattr(pool, "all", []) for pid in getattr(worker, "_processes", {}) or {}]


async def _accuracy(engine) -> dict:
    figures = {}
    for voice in (VOICE, OTHER_VOICE):
        pairs = []
        for text in SENTENCES:
            stream = await engine.open("en-US")
            data = (silence(0.5).tobytes() + speak(text, voice=voice).tobytes() + silence(1.0).tobytes())
            results = []
            for i in range(0, len(data), SLICE):
                results += await stream.feed(data[i:i + SLICE])
            results += await stream.close()
            pairs.append((text, " ".join(r.text for r in results if r.final)))
        figures[voice] = round(word_error_rate(pairs), 3)
    return figures


async def _flat_out(engine, pause: float) -> dict:
    data, spans = _talk(VOICE, pause, 20.0)
    stream = await engine.open("en-US")
    cpu0 = procstat.sample(_worker_pids(engine))[1] + time.process_time()
    started = time.monotonic()
    for i in range(0, len(data), SLICE):
        await stream.feed(data[i:i + SLICE])
    await stream.close()
    wall = time.monotonic() - started
    cpu = procstat.sample(_worker_pids(engine))[1] + time.process_time() - cpu0
    audio = len(data) / (RATE * 2)
    speech = sum(end - start for _, start, end in spans)
    return {"audio_s": round(audio, 1), "speech_s": round(speech, 1), "rtf": round(wall / audio, 3),
            "rtf_of_speech": round(wall / speech, 3), "cpu_rtf": round(cpu / audio, 3),
            "speakers_per_core_by_cpu": round(audio / cpu, 1) if cpu else None}


async def _real_time(engine, speakers: int, seconds: float, pause: float) -> dict:
    talks = [_talk(VOICE if n % 2 == 0 else OTHER_VOICE, pause, seconds, offset=n) for n in range(speakers)]
    streams = [await engine.open("en-US") for _ in range(speakers)]
    # the speakers were in the meeting before they spoke: their decoders are loaded (the first
    # phrase of a speaker who joins and talks at once waits for that, once)
    pool = getattr(engine, "pool", None)
    for _ in range(600):
        if pool is None or len(pool.idle) >= min(speakers, pool.limit):
            break
        await asyncio.sleep(0.1)
    lags: list[float] = []
    cpu_before = procstat.sample(_worker_pids(engine))[1]
    started = time.monotonic()

    async def speaker(stream, data: bytes):
        finals = []
        for index, i in enumerate(range(0, len(data), SLICE)):
            due = started + (index + 1) * 0.1  # a slice is handed over once all of it was "spoken"
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            lags.append(max(0.0, time.monotonic() - due))
            for result in await stream.feed(data[i:i + SLICE]):
                if result.final:
                    finals.append((result, time.monotonic() - started))
        for result in await stream.close():
            finals.append((result, time.monotonic() - started))
        return finals

    outcomes = await asyncio.gather(*(speaker(stream, data) for stream, (data, _) in zip(streams, talks)))
    wall = time.monotonic() - started
    cpu = procstat.sample(_worker_pids(engine))[1] - cpu_before
    latencies, pairs, lost = [], [], 0
    for (_, spans), finals in zip(talks, outcomes):
        for text, hypothesis, end, when in _match(spans, finals):
            pairs.append((text, hypothesis))
            if when is None:
                lost += 1
            else:
                latencies.append(when - end)
    latencies.sort()
    p90 = latencies[int(0.9 * (len(latencies) - 1))] if latencies else None
    return {
        "speakers": speakers,
        "sentences": len(pairs),
        "lost": lost,
        "latency_s": {"p50": round(statistics.median(latencies), 3) if latencies else None,
                      "p90": round(p90, 3) if p90 is not None else None,
                      "worst": round(latencies[-1], 3) if latencies else None},
        "lag_s_worst": round(max(lags), 3) if lags else 0.0,
        "decoder_cpu_s_per_s": round(cpu / wall, 3),
        "wer": round(word_error_rate(pairs), 3),
        "load_average": round(os.getloadavg()[0], 1),  # others' load on a shared machine starves the steps
    }


async def run(args: argparse.Namespace) -> int:
    steps = [int(s) for s in args.steps.split(",") if s.strip()]
    if not steps or not all(1 <= s <= 32 for s in steps) or not 5 <= args.seconds <= 300:
        raise SystemExit("--steps must be 1..32 each and --seconds 5..300")

    async def body(result: dict) -> None:
        from jitsi_py.settings import load  # noqa: PLC0415
        from jitsi_py.transcriber.engines import load as load_engine  # noqa: PLC0415

        figures = result["servers"]["transcriber"] = {"engine": args.engine}
        settings = load(environ={"JITSI_PY_TRANSCRIBER_DECODERS": str(max(steps))}).transcriber
        engine = load_engine(args.engine, settings)
        try:
            print("transcription: accuracy", file=sys.stderr)
            figures["wer"] = await _accuracy(engine)
            print("transcription: real-time factor, flat out", file=sys.stderr)
            figures["flat_out"] = await _flat_out(engine, args.pause)
            figures["steps"] = []
            for speakers in steps:
                print(f"transcription: {speakers} speaker(s) in real time, {args.seconds:g} s", file=sys.stderr)
                step = await _real_time(engine, speakers, args.seconds, args.pause)
                step["kept_up"] = (not step["lost"] and step["latency_s"]["p90"] is not None
                                   and step["latency_s"]["p90"] < args.latency_limit)
                figures["steps"].append(step)
            carried = max((s["speakers"] for s in figures["steps"] if s["kept_up"]), default=0)
            cores = os.cpu_count() or 1
            figures["speakers_kept_up"] = carried
            figures["speakers_per_core"] = round(carried / cores, 2)
            figures["speakers_per_core_by_cpu"] = figures["flat_out"]["speakers_per_core_by_cpu"]
            figures["cores"] = cores
            first = figures["steps"][0]
            figures["caption_latency_p50_s"] = first["latency_s"]["p50"]
            figures["caption_latency_p90_s"] = first["latency_s"]["p90"]
        finally:
            await engine.aclose()

    params = {"engine": args.engine, "steps": steps, "seconds": args.seconds, "pause": args.pause,
              "latency_limit": args.latency_limit}
    result = await harness.bounded(args, body, params)
    return harness.finish(args, result, None)
