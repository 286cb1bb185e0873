"""Known sentences spoken by espeak-ng, and the word error rate of what a recogniser made of them:
the speech the transcription bench and tests feed, and how they score it."""

from __future__ import annotations

import io
import re
import subprocess
import wave

import av
import numpy as np

# The voice the offline engine (PocketSphinx's US English model, trained on people) follows best of
# espeak-ng's US variants tried (word error rate 0.29 on SENTENCES; en-us+f5 0.39, en-us+f2 0.51).
VOICE = "en-us+klatt2"
OTHER_VOICE = "en-us+f5"  # a second speaker
SPEED = 160  # words per minute

SENTENCES = (
    "please send the report to the team before friday",
    "the quick brown fox jumps over the lazy dog",
    "we will meet again next week to discuss the budget",
    "can you hear me now",
    "good morning everyone let us start the meeting",
)


def speak(text: str, voice: str = VOICE, speed: int = SPEED, rate: int = 16000) -> np.ndarray:
    """Mono signed 16-bit samples at ``rate``."""
    wav = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text],
                         capture_output=True, check=True, timeout=30).stdout
    with av.open(io.BytesIO(wav)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        parts = [out.to_ndarray().reshape(-1) for frame in container.decode(audio=0)
                 for out in resampler.resample(frame)]
        parts += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(parts).astype(np.int16)


def silence(seconds: float, rate: int = 16000) -> np.ndarray:
    return np.zeros(int(seconds * rate), np.int16)


def write_wav(path, samples: np.ndarray, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype(np.int16).tobytes())


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def word_errors(reference: str, hypothesis: str) -> int:
    """Substitutions, insertions and deletions: the word-level edit distance."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        diagonal, row[0] = row[0], i
        for j in range(1, len(hyp) + 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ref[i - 1] != hyp[j - 1]))
    return row[len(hyp)]


def word_error_rate(pairs: list[tuple[str, str]]) -> float:
    """Over a corpus of (reference, hypothesis): errors over reference words."""
    total = sum(len(words(reference)) for reference, _ in pairs)
    return sum(word_errors(reference, hypothesis) for reference, hypothesis in pairs) / max(1, total)
