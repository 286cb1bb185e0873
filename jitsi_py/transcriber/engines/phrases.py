"""One speaker's phrases, found by PocketSphinx's endpointer (WebRTC's voice activity detector).

Sans-I/O: audio in, :class:`Step` s out, for the engines that decode only speech (pocketsphinx,
whisper). A phrase's audio starts a little before the detected start (the endpointer clips soft first
consonants) and ends when the endpointer has heard ``VAD_WINDOW`` of non-speech.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import SAMPLE_RATE

# The endpointer decides over this window whether speech started or ended: it bounds how long after
# the last word the final result can come.
VAD_WINDOW = 0.3
VAD_RATIO = 0.9
VAD_MODE = 1  # of 0..3: WebRTC VAD aggressiveness; more clips soft consonants (measured: more errors)
BYTES_PER_SECOND = SAMPLE_RATE * 2
PRE_ROLL = 0.3  # seconds before the detected start: the endpointer clips soft first consonants
HISTORY = int((VAD_WINDOW + PRE_ROLL + 0.5) * BYTES_PER_SECOND)


@dataclass(frozen=True)
class Step:
    speech: bytes  # the phrase's next audio (from its pre-roll when it starts)
    start: float | None  # when this step begins a phrase: the phrase's start, seconds into the stream
    end: bool  # the phrase ends with this step


class Phrases:
    def __init__(self) -> None:
        from pocketsphinx import Endpointer  # noqa: PLC0415

        self.endpointer = Endpointer(window=VAD_WINDOW, ratio=VAD_RATIO, vad_mode=VAD_MODE, sample_rate=SAMPLE_RATE)
        self.frame_bytes: int = self.endpointer.frame_bytes
        self.pending = bytearray()
        self.history = bytearray()  # the latest audio, for the start the endpointer saw late
        self.position = 0.0  # seconds of audio taken so far
        self.open = False  # a phrase is under way

    def feed(self, pcm: bytes) -> list[Step]:
        self.pending += pcm
        usable = len(self.pending) - len(self.pending) % self.frame_bytes
        if not usable:
            return []
        chunk = bytes(self.pending[:usable])
        del self.pending[:usable]
        return self._frames(chunk, last=False)

    def close(self) -> list[Step]:
        """The end of the stream: the steps of what is left, ending a phrase under way."""
        chunk = bytes(self.pending)
        self.pending.clear()
        return self._frames(chunk, last=True)

    def _frames(self, chunk: bytes, last: bool) -> list[Step]:
        """The endpointer only decides; the steps carry the audio itself, one step per chunk and phrase."""
        steps: list[Step] = []
        speech = bytearray()
        start: float | None = None
        step = self.frame_bytes
        for offset in range(0, len(chunk), step):
            frame = chunk[offset:offset + step]
            self.history += frame
            self.position += len(frame) / BYTES_PER_SECOND
            if len(frame) == step:
                self.endpointer.process(frame)
            if not self.open:
                if not self.endpointer.in_speech:
                    continue
                self.open = True
                start = max(0.0, self.endpointer.speech_start - PRE_ROLL)
                back = int((self.position - start) * SAMPLE_RATE) * 2
                speech += self.history[-back:] if back else b""
            else:
                speech += frame
            if not self.endpointer.in_speech:
                steps.append(Step(bytes(speech), start, True))
                self.open, start = False, None
                speech.clear()
        del self.history[:max(0, len(self.history) - HISTORY)]
        if speech or (last and self.open):
            steps.append(Step(bytes(speech), start, last))
            self.open = self.open and not last
        return steps
