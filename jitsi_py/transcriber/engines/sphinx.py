"""The offline engine: CMU PocketSphinx with the US English model its wheel ships (no download).

Each speaker's stream has its own endpointer (PocketSphinx's voice activity detector, cheap), which
finds where phrases start and end; only speech reaches a decoder, so silence costs almost nothing.
A decoder holds the language model (about 100 MB, a second to load) and its search holds the GIL,
so each decoder lives in a worker process of its own, and decoders are pooled: a phrase takes one
when it starts and gives it back when it ends. Speakers seldom talk at once, so a few decoders
serve a meeting; more people speaking at once than decoders wait for one.

Only US English: a request for another language is answered in English.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import weakref
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from . import SAMPLE_RATE, EngineError, Result
from .phrases import BYTES_PER_SECOND, Phrases, Step

if TYPE_CHECKING:
    from ...settings.transcriber import Transcriber as TranscriberSettings

log = logging.getLogger(__name__)

INTERIM_EVERY = 0.5  # seconds of speech between interim hypotheses

# --- in the worker process ---------------------------------------------------------------------------
_decoder: Any = None


def _load(options: dict[str, Any]) -> None:
    global _decoder
    from pocketsphinx import Decoder  # noqa: PLC0415

    _decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", **options)


def _work(speech: bytes, start: bool, end: bool, hypothesis: bool) -> tuple[str, float | None] | None:
    """One step of a phrase: begin it, decode more of it, end it; the hypothesis when asked or ended."""
    decoder = _decoder
    if start:
        decoder.start_utt()
    if speech:
        decoder.process_raw(speech, False, False)
    if end:
        decoder.end_utt()
    if not (end or hypothesis):
        return None
    hyp = decoder.hyp()
    if hyp is None:
        return "", None
    return _clean(hyp.hypstr), (decoder.get_logmath().exp(hyp.prob) if end else None)


def _ready() -> bool:
    return _decoder is not None


def _clean(hypstr: str) -> str:
    """Fillers and noise words (``<sil>``, ``[noise]``, ``(2)`` variants) are not words anyone said."""
    words = [w.split("(", 1)[0] for w in hypstr.split() if not w.startswith(("<", "["))]
    return " ".join(w for w in words if w)


# --- in the service ------------------------------------------------------------------------------------
class DecoderPool:
    """Decoder processes, loaded ahead as speakers come (a process takes seconds to start and load
    its model: a speaker's first phrase must not wait for that) and reused; at most ``limit`` exist,
    and at most ``limit`` phrases are decoded at once (then a phrase waits for a decoder)."""

    def __init__(self, limit: int, options: dict[str, Any]) -> None:
        self.limit = limit
        self.options = options
        self.idle: list[ProcessPoolExecutor] = []  # loaded, free
        self.all: list[ProcessPoolExecutor] = []  # loading, free or decoding
        self._free = asyncio.Semaphore(limit)
        self._changed = asyncio.Event()
        self._loading: set[asyncio.Task] = set()

    @property
    def created(self) -> int:
        return len(self.all)

    async def take(self) -> ProcessPoolExecutor:
        await self._free.acquire()
        while not self.idle:
            if len(self.all) < self.limit:
                return self._start()  # loads with its first step
            self._changed.clear()
            await self._changed.wait()  # one loading, or one given back
        return self.idle.pop()

    def _start(self) -> ProcessPoolExecutor:
        # spawn: the service's threads and sockets must not be forked into the worker
        worker = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_load,
                                     initargs=(self.options,))
        self.all.append(worker)
        return worker

    def want(self, count: int) -> None:
        """Start loading decoders in the background until ``count`` exist (at most ``limit``)."""
        while len(self.all) < min(count, self.limit):
            task = asyncio.ensure_future(self._load(self._start()))
            self._loading.add(task)
            task.add_done_callback(self._loading.discard)

    async def _load(self, worker: ProcessPoolExecutor) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(worker, _ready)
        except BrokenProcessPool:
            log.error("transcriber: a pocketsphinx decoder process died while loading its model")
            self.all.remove(worker)
            worker.shutdown(wait=False, cancel_futures=True)
        else:
            self.idle.append(worker)
        self._changed.set()

    async def warm(self) -> None:
        """The first decoder loaded before the first stream starts, so that a model that cannot
        load is an error at once."""
        if self.all:
            return
        worker = self._start()
        try:
            await asyncio.get_running_loop().run_in_executor(worker, _ready)
        except BrokenProcessPool as exc:
            self.all.remove(worker)
            worker.shutdown(wait=False, cancel_futures=True)
            raise EngineError("pocketsphinx cannot load its model (the decoder process died)") from exc
        self.idle.append(worker)
        self._changed.set()

    def give_back(self, worker: ProcessPoolExecutor) -> None:
        self.idle.append(worker)
        self._free.release()
        self._changed.set()

    def give_back_broken(self, worker: ProcessPoolExecutor) -> None:
        self.all.remove(worker)
        worker.shutdown(wait=False, cancel_futures=True)
        self._free.release()
        self._changed.set()

    def close(self) -> None:
        for task in self._loading:
            task.cancel()
        for worker in self.all:
            worker.shutdown(wait=False, cancel_futures=True)
        self.all.clear()
        self.idle.clear()


class SphinxStream:
    """One speaker: the endpointer here, a pooled decoder process while a phrase is open."""

    def __init__(self, pool: DecoderPool) -> None:
        self.pool = pool
        self.phrases = Phrases()
        self.worker: ProcessPoolExecutor | None = None
        self.starting = False  # the phrase's first step is still to be sent
        self.phrase_start = 0.0
        self.spoken = 0  # bytes of the open phrase decoded so far
        self.next_interim = 0
        self.last_interim = ""

    async def feed(self, pcm: bytes) -> list[Result]:
        return await self._steps(self.phrases.feed(pcm))

    async def close(self) -> list[Result]:
        return await self._steps(self.phrases.close())

    async def _steps(self, steps: list[Step]) -> list[Result]:
        results: list[Result] = []
        for step in steps:
            if step.start is not None:
                self.worker = await self.pool.take()
                self.starting = True
                self.phrase_start = step.start
                self.spoken = 0
                self.next_interim = int(INTERIM_EVERY * BYTES_PER_SECOND)
                self.last_interim = ""
            results += await self._step(step.speech, step.end)
        return results

    async def _step(self, speech: bytes, end: bool) -> list[Result]:
        worker = self.worker
        assert worker is not None
        self.spoken += len(speech)
        interim = not end and self.spoken >= self.next_interim
        if interim:
            self.next_interim = self.spoken + int(INTERIM_EVERY * BYTES_PER_SECOND)
        start, self.starting = self.starting, False
        if end:
            self.worker = None
        try:
            answer = await asyncio.get_running_loop().run_in_executor(worker, _work, speech, start, end, interim)
        except (BrokenProcessPool, RuntimeError, ValueError) as exc:
            self.worker = None
            self.pool.give_back_broken(worker)
            raise EngineError(f"pocketsphinx failed: {str(exc) or type(exc).__name__}") from exc
        if end:
            self.pool.give_back(worker)
        if answer is None:
            return []
        text, confidence = answer
        until = self.phrase_start + self.spoken / BYTES_PER_SECOND
        if end:
            return [Result(text, True, 1.0, self.phrase_start, until, confidence)] if text else []
        if not text or text == self.last_interim:
            return []
        self.last_interim = text
        return [Result(text, False, 0.5, self.phrase_start, until)]


class PocketsphinxEngine:
    name = "pocketsphinx"

    def __init__(self, settings: TranscriberSettings) -> None:
        try:
            import pocketsphinx  # noqa: F401, PLC0415 - only to fail early and clearly
        except ImportError as exc:
            raise EngineError("pocketsphinx is not installed (pip install pocketsphinx)") from exc
        self.pool = DecoderPool(settings.sphinx_decoders, {})
        self.streams: weakref.WeakSet[SphinxStream] = weakref.WeakSet()

    async def warm(self) -> None:
        await self.pool.warm()

    async def open(self, language: str) -> SphinxStream:
        if not language.lower().startswith("en"):
            log.info("transcriber: pocketsphinx has only US English; %s is transcribed as English", language)
        await self.pool.warm()
        stream = SphinxStream(self.pool)
        self.streams.add(stream)
        self.pool.want(len(self.streams))  # a decoder per speaker, loaded before they speak
        return stream

    async def aclose(self) -> None:
        self.pool.close()
