"""A Whisper model from a local directory (``JITSI_PY_TRANSCRIBER_WHISPER_MODEL``), run by faster-whisper.

The directory is a model converted to CTranslate2's format, as faster-whisper loads it: ``model.bin``,
``config.json``, the vocabulary and the Hugging Face ``tokenizer.json`` (without that file
faster-whisper would fetch a tokenizer from the Hub; this engine never downloads anything).

Whisper decodes whole utterances, not a running stream, so the phrases are found here as for
pocketsphinx (:mod:`.phrases`, the endpointer in the service) and each phrase is decoded when it
ends: that is its final result. While a phrase goes on, the audio so far is decoded again for an
interim result, at most every ``INTERIM_EVERY`` seconds of speech and only when a worker is idle:
each such pass costs a whole encoder pass over Whisper's 30 s window, so interim results are what
the spare CPU gives, and finals never wait behind them for long. A phrase longer than
``MAX_PHRASE`` is cut there (its final given) and goes on as a new phrase, as Whisper's window is 30 s.

The model runs in worker processes (spawned; the decode holds a core and a crash of the runtime
must not take the service with it), ``JITSI_PY_TRANSCRIBER_WHISPER_WORKERS`` of them, each holding
the model and using its share of the cores.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from . import SAMPLE_RATE, EngineError, Result, require
from .phrases import BYTES_PER_SECOND, Phrases, Step

if TYPE_CHECKING:
    from ...settings.transcriber import Transcriber as TranscriberSettings

log = logging.getLogger(__name__)

INTERIM_EVERY = 1.0  # seconds of new speech before the phrase so far is decoded again
MAX_PHRASE = 25.0  # seconds: under Whisper's 30 s window
# Tokens a phrase may produce, per second of its audio and in all: far above speech (about 4 tokens a
# second), low enough that a model looping on one token stops soon. CTranslate2 4.8 stopped at about
# half of what it was given (on the tests' tiny model), which still leaves twice the margin.
TOKENS_PER_SECOND = 24
TOKENS_AT_LEAST = 16
MAX_TOKENS = 440  # with the prompt's 4 at most, under the 448 positions of Whisper's decoder
FINAL_BEAM = 5  # faster-whisper's default; an interim is greedy (beam 1): it is redone anyway
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")

T = TypeVar("T")

# --- in the worker process ---------------------------------------------------------------------------
_model: Any = None


def _ready(options: dict[str, Any]) -> bool:
    global _model
    if _model is None:
        from faster_whisper import WhisperModel  # noqa: PLC0415

        _model = WhisperModel(options["path"], device="cpu", compute_type=options["compute_type"],
                              cpu_threads=options["threads"], local_files_only=True)
    return True


def _transcribe(options: dict[str, Any], pcm: bytes, language: str, final: bool) -> tuple[str, float | None]:
    """The text of one phrase's audio (16 kHz mono s16le), and for a final its confidence."""
    import numpy as np  # noqa: PLC0415

    _ready(options)
    audio = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
    seconds = len(audio) / SAMPLE_RATE
    segments, _ = _model.transcribe(
        audio,
        # an unknown language is detected (a multilingual model) or English (an English-only one)
        language=language if language in _model.supported_languages else None,
        beam_size=FINAL_BEAM if final else 1,
        temperature=0.0,  # one pass: no retries at higher temperatures, a phrase must come back soon
        vad_filter=False,  # the endpointer already cut the phrase
        condition_on_previous_text=False,
        without_timestamps=True,
        max_new_tokens=min(MAX_TOKENS, TOKENS_AT_LEAST + int(TOKENS_PER_SECOND * seconds)),
    )
    segments = list(segments)
    text = " ".join(s.text.strip() for s in segments if s.text.strip())
    if not final or not segments:
        return text, None
    return text, sum(math.exp(s.avg_logprob) for s in segments) / len(segments)


# --- in the service ------------------------------------------------------------------------------------
class WorkerPool:
    """The model's worker processes; at most ``limit`` decodes run at once, the rest wait their turn."""

    def __init__(self, limit: int, options: dict[str, Any]) -> None:
        self.limit = limit
        self.options = options
        self.busy = 0
        self._free = asyncio.Semaphore(limit)
        self._executor: ProcessPoolExecutor | None = None
        self._warm: asyncio.Future[None] | None = None

    @property
    def idle(self) -> bool:
        return self.busy < self.limit

    def _workers(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn: the service's threads and sockets must not be forked into the workers
            self._executor = ProcessPoolExecutor(self.limit, mp_context=multiprocessing.get_context("spawn"))
        return self._executor

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._free:
            self.busy += 1
            workers = self._workers()
            try:
                return await asyncio.get_running_loop().run_in_executor(workers, fn, self.options, *args)
            except BrokenProcessPool as exc:
                if workers is self._executor:  # not yet replaced after another run saw it break
                    self.close()  # the next run starts new processes
                raise EngineError("a Whisper worker process died") from exc
            except Exception as exc:  # raised in the worker by the model's runtime, of any type
                raise EngineError(str(exc) or type(exc).__name__) from exc
            finally:
                self.busy -= 1

    async def warm(self) -> None:
        """The model loaded (in as many workers as start now) before anyone speaks; a model that
        cannot load is an error at once. Tried again after a failure."""
        if self._warm is None or (self._warm.done() and (self._warm.cancelled() or self._warm.exception())):
            self._warm = asyncio.ensure_future(self._load())
        await asyncio.shield(self._warm)

    async def _load(self) -> None:
        try:
            await asyncio.gather(*(self.run(_ready) for _ in range(self.limit)))
        except EngineError as exc:
            raise EngineError(f"cannot load the Whisper model at {self.options['path']}: {exc}") from exc

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


class WhisperStream:
    """One speaker: the endpointer's phrases, each decoded whole when it ends."""

    def __init__(self, pool: WorkerPool, language: str) -> None:
        self.pool = pool
        self.language = language
        self.phrases = Phrases()
        self.audio = bytearray()  # the open phrase's audio so far
        self.phrase_start = 0.0
        self.decoded = 0  # bytes of it the last interim decode had
        self.last_interim = ""
        self.interim: asyncio.Future[tuple[str, float | None]] | None = None

    async def feed(self, pcm: bytes) -> list[Result]:
        return await self._steps(self.phrases.feed(pcm))

    async def close(self) -> list[Result]:
        results = await self._steps(self.phrases.close())
        self._drop_interim()
        return results

    async def _steps(self, steps: list[Step]) -> list[Result]:
        try:
            return await self._decode(steps)
        except BaseException:
            self._drop_interim()  # a failed or cancelled stream is not fed again
            raise

    async def _decode(self, steps: list[Step]) -> list[Result]:
        results = self._interim_result()
        for step in steps:
            if step.start is not None:
                self._begin(step.start)
            self.audio += step.speech
            if step.end:
                results += await self._final()
            elif len(self.audio) >= MAX_PHRASE * BYTES_PER_SECOND:
                cut = self.phrase_start + len(self.audio) / BYTES_PER_SECOND
                results += await self._final()
                self._begin(cut)
        if (self.phrases.open and self.interim is None and self.pool.idle
                and len(self.audio) - self.decoded >= INTERIM_EVERY * BYTES_PER_SECOND):
            self.decoded = len(self.audio)
            self.interim = asyncio.ensure_future(self.pool.run(_transcribe, bytes(self.audio), self.language, False))
        return results

    def _begin(self, start: float) -> None:
        self._drop_interim()
        self.audio.clear()
        self.phrase_start = start
        self.decoded = 0
        self.last_interim = ""

    def _interim_result(self) -> list[Result]:
        if self.interim is None or not self.interim.done():
            return []
        task, self.interim = self.interim, None
        text, _ = task.result()  # an EngineError is the stream's
        if not text or text == self.last_interim:
            return []
        self.last_interim = text
        return [Result(text, False, 0.5, self.phrase_start, self.phrase_start + self.decoded / BYTES_PER_SECOND)]

    def _drop_interim(self) -> None:
        """An interim decode of a phrase that is over: left to finish (its worker is busy anyway), unread."""
        if self.interim is not None:
            self.interim.add_done_callback(lambda task: task.cancelled() or task.exception())
            self.interim = None

    async def _final(self) -> list[Result]:
        self._drop_interim()
        audio, self.audio = bytes(self.audio), bytearray()
        text, confidence = await self.pool.run(_transcribe, audio, self.language, True)
        if not text:
            return []
        return [Result(text, True, 1.0, self.phrase_start, self.phrase_start + len(audio) / BYTES_PER_SECOND,
                       confidence)]


class WhisperEngine:
    name = "whisper"

    def __init__(self, settings: TranscriberSettings) -> None:
        require("faster_whisper", "faster-whisper", "whisper")
        where = settings.whisper_model
        if where is None:
            raise EngineError("the whisper engine needs JITSI_PY_TRANSCRIBER_WHISPER_MODEL, the directory of a "
                              "Whisper model converted for faster-whisper")
        check_model(where)
        workers = settings.whisper_workers
        self.pool = WorkerPool(workers, {"path": str(where), "compute_type": settings.whisper_compute_type,
                                         "threads": max(1, (os.cpu_count() or 1) // workers)})

    async def warm(self) -> None:
        await self.pool.warm()

    async def open(self, language: str) -> WhisperStream:
        await self.pool.warm()
        return WhisperStream(self.pool, language.lower().split("-")[0])

    async def aclose(self) -> None:
        self.pool.close()


def check_model(where: Path) -> None:
    """What can be said before loading: the directory and the files faster-whisper reads from it."""
    if not where.is_dir():
        raise EngineError(f"JITSI_PY_TRANSCRIBER_WHISPER_MODEL={str(where)!r} is not a directory")
    missing = [name for name in MODEL_FILES if not (where / name).is_file()]
    if missing:
        raise EngineError(f"JITSI_PY_TRANSCRIBER_WHISPER_MODEL={str(where)!r} has no {', '.join(missing)}: "
                          "expected a Whisper model converted for faster-whisper (ct2-transformers-converter "
                          "--copy_files tokenizer.json)")
