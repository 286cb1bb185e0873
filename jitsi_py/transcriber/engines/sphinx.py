"""The offline engine: CMU PocketSphinx with the US English model its wheel ships (no download).

Each speaker's stream has its own endpointer (PocketSphinx's voice activity detector), which finds
where phrases start and end; only speech reaches a decoder, so silence costs almost nothing. A
decoder holds the language model (about 100 MB, a second to load), so decoders are pooled: a
phrase takes one when it starts and gives it back when it ends. Speakers seldom talk at once, so a
few decoders serve a meeting. Decoding runs in worker threads (PocketSphinx's search is C code).

Only US English: a request for another language is answered in English, and the results say so.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from . import SAMPLE_RATE, EngineError, Result

if TYPE_CHECKING:
    from pocketsphinx import Decoder

    from ...settings.transcriber import Transcriber as TranscriberSettings

log = logging.getLogger(__name__)

LANGUAGE = "en-US"
INTERIM_EVERY = 0.5  # seconds of speech between interim hypotheses
# The endpointer decides over this window whether speech started or ended: it bounds how long after
# the last word the final result can come.
VAD_WINDOW = 0.3
VAD_RATIO = 0.9
VAD_MODE = 1  # of 0..3: WebRTC VAD aggressiveness; more clips soft consonants (measured: more errors)
BYTES_PER_SECOND = SAMPLE_RATE * 2
PRE_ROLL = 0.3  # seconds before the detected start: the endpointer clips soft first consonants
HISTORY = int((VAD_WINDOW + PRE_ROLL + 0.5) * BYTES_PER_SECOND)


class DecoderPool:
    """Decoders loaded on demand and reused; at most ``limit`` exist (then a phrase waits)."""

    def __init__(self, limit: int, options: dict[str, object]) -> None:
        self.limit = limit
        self.options = options
        self.idle: list[Decoder] = []
        self.created = 0
        self._free = asyncio.Semaphore(limit)

    def _create(self) -> Decoder:
        from pocketsphinx import Decoder  # noqa: PLC0415 - loaded with the first phrase

        try:
            return Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", **self.options)
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"pocketsphinx cannot load its model: {exc}") from exc

    async def take(self) -> Decoder:
        await self._free.acquire()
        if self.idle:
            return self.idle.pop()
        try:
            decoder = await asyncio.to_thread(self._create)
        except BaseException:
            self._free.release()
            raise
        self.created += 1
        return decoder

    def give_back(self, decoder: Decoder) -> None:
        self.idle.append(decoder)
        self._free.release()


class SphinxStream:
    """One speaker: endpointer in front, a pooled decoder while a phrase is open."""

    def __init__(self, pool: DecoderPool) -> None:
        from pocketsphinx import Endpointer  # noqa: PLC0415

        self.pool = pool
        self.endpointer = Endpointer(window=VAD_WINDOW, ratio=VAD_RATIO, vad_mode=VAD_MODE, sample_rate=SAMPLE_RATE)
        self.frame_bytes: int = self.endpointer.frame_bytes
        self.pending = bytearray()
        self.history = bytearray()  # the latest audio, for the start the endpointer saw late
        self.decoder: Decoder | None = None
        self.position = 0.0  # seconds of audio taken so far
        self.phrase_start = 0.0
        self.spoken = 0  # bytes of the open phrase decoded so far
        self.next_interim = 0
        self.last_interim = ""

    async def feed(self, pcm: bytes) -> list[Result]:
        self.pending += pcm
        usable = len(self.pending) - len(self.pending) % self.frame_bytes
        if not usable:
            return []
        chunk = bytes(self.pending[:usable])
        del self.pending[:usable]
        return await self._frames(chunk, last=False)

    async def close(self) -> list[Result]:
        chunk = bytes(self.pending)
        self.pending.clear()
        return await self._frames(chunk, last=True)

    async def _frames(self, chunk: bytes, last: bool) -> list[Result]:
        """The endpointer runs here (cheap) and only decides; the decoder takes the audio itself, from
        a little before the phrase's detected start, in a thread, in one go per chunk."""
        results: list[Result] = []
        speech = bytearray()
        step = self.frame_bytes
        for offset in range(0, len(chunk), step):
            frame = chunk[offset:offset + step]
            self.history += frame
            self.position += len(frame) / BYTES_PER_SECOND
            if len(frame) == step:
                self.endpointer.process(frame)
            if self.decoder is None:
                if not self.endpointer.in_speech:
                    continue
                self.decoder = await self.pool.take()
                self.decoder.start_utt()
                self.phrase_start = max(0.0, self.endpointer.speech_start - PRE_ROLL)
                self.spoken = 0
                self.next_interim = int(INTERIM_EVERY * BYTES_PER_SECOND)
                self.last_interim = ""
                back = int((self.position - self.phrase_start) * SAMPLE_RATE) * 2
                speech += self.history[-back:] if back else b""
            else:
                speech += frame
            if not self.endpointer.in_speech:
                results += await asyncio.to_thread(self._decode, bytes(speech), True)
                speech.clear()
        del self.history[:max(0, len(self.history) - HISTORY)]
        if speech:
            results += await asyncio.to_thread(self._decode, bytes(speech), last)
        elif last and self.decoder is not None:
            results += await asyncio.to_thread(self._end)
        return results

    def _decode(self, speech: bytes, ends: bool) -> list[Result]:
        decoder = self.decoder
        assert decoder is not None
        decoder.process_raw(speech, False, False)
        self.spoken += len(speech)
        if ends:
            return self._end()
        if self.spoken < self.next_interim:
            return []
        self.next_interim = self.spoken + int(INTERIM_EVERY * BYTES_PER_SECOND)
        hyp = decoder.hyp()
        text = _clean(hyp.hypstr) if hyp is not None else ""
        if not text or text == self.last_interim:
            return []
        self.last_interim = text
        return [Result(text, False, 0.5, self.phrase_start, self.phrase_start + self.spoken / BYTES_PER_SECOND)]

    def _end(self) -> list[Result]:
        decoder = self.decoder
        assert decoder is not None
        self.decoder = None
        try:
            decoder.end_utt()
            hyp = decoder.hyp()
            text = _clean(hyp.hypstr) if hyp is not None else ""
            confidence = decoder.get_logmath().exp(hyp.prob) if hyp is not None else None
        finally:
            self.pool.give_back(decoder)
        if not text:
            return []
        return [Result(text, True, 1.0, self.phrase_start, self.phrase_start + self.spoken / BYTES_PER_SECOND,
                       confidence)]


def _clean(hypstr: str) -> str:
    """Fillers and noise words (``<sil>``, ``[noise]``, ``(2)`` variants) are not words anyone said."""
    words = [w.split("(", 1)[0] for w in hypstr.split() if not w.startswith(("<", "["))]
    return " ".join(w for w in words if w)


class PocketsphinxEngine:
    name = "pocketsphinx"

    def __init__(self, settings: TranscriberSettings) -> None:
        try:
            import pocketsphinx  # noqa: F401, PLC0415 - only to fail early and clearly
        except ImportError as exc:
            raise EngineError("pocketsphinx is not installed (pip install pocketsphinx)") from exc
        self.pool = DecoderPool(settings.sphinx_decoders, {})

    async def open(self, language: str) -> SphinxStream:
        if not language.lower().startswith("en"):
            log.info("transcriber: pocketsphinx has only US English; %s is transcribed as English", language)
        return SphinxStream(self.pool)

    async def aclose(self) -> None:
        self.pool.idle.clear()
