"""Speech recognition engines behind one interface, chosen by name (``JITSI_PY_TRANSCRIBER_ENGINE``).

An engine opens one :class:`Stream` per speaker. A stream takes 16 kHz mono signed 16-bit PCM in
any slicing and gives back :class:`Result` s: interim hypotheses while a phrase is spoken, then one
final result when the phrase ends (the engine finds the end itself). ``close`` ends the stream and
returns the final result of a phrase still open. Streams never raise on bad audio: silence or noise
gives no result. An engine that cannot work (model missing, server unreachable) raises
:class:`EngineError` with a message fit for the log and the meeting.

For example::

    engine = load("pocketsphinx", settings)
    stream = await engine.open("en-US")
    for result in await stream.feed(pcm):    # bytes, 16 kHz mono s16le
        print(result.final, result.text)
    await stream.close()
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ...settings.transcriber import Transcriber as TranscriberSettings

SAMPLE_RATE = 16000  # what every engine takes


class EngineError(Exception):
    """The engine cannot recognise speech: the message says why, for the log and the meeting."""


@dataclass(frozen=True)
class Result:
    text: str
    final: bool
    stability: float  # 0..1: how likely an interim text stays as it is (1.0 for a final)
    start: float  # seconds of the stream's audio at the phrase's start
    end: float  # ... and at its end (for an interim result: so far)
    confidence: float | None = None


class Stream(Protocol):
    async def feed(self, pcm: bytes) -> list[Result]: ...

    async def close(self) -> list[Result]: ...


class Engine(Protocol):
    name: str

    async def warm(self) -> None:
        """Made ready to recognise before anyone speaks (a model loaded); EngineError if it cannot be."""

    async def open(self, language: str) -> Stream: ...

    async def aclose(self) -> None: ...


# name -> "module:factory"; the factory takes the transcriber's settings. Imported only when chosen.
ENGINES = {
    "pocketsphinx": "jitsi_py.transcriber.engines.sphinx:PocketsphinxEngine",
    "vosk": "jitsi_py.transcriber.engines.vosk:VoskEngine",
    "google": "jitsi_py.transcriber.engines.google:GoogleEngine",
    "whisper": "jitsi_py.transcriber.engines.whisper:WhisperEngine",
}


def require(module: str, package: str, extra: str) -> None:
    """An optional engine's library importable, or an EngineError that says how to install it."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise EngineError(f"{package} is not installed (pip install 'jitsi-py[{extra}]')") from exc


def load(name: str, settings: TranscriberSettings) -> Engine:
    try:
        where = ENGINES[name]
    except KeyError:
        raise EngineError(f"unknown speech engine {name!r}; known: {', '.join(ENGINES)}") from None
    module, _, factory = where.partition(":")
    engine: Engine = getattr(importlib.import_module(module), factory)(settings)
    return engine


__all__ = ["ENGINES", "Engine", "EngineError", "Result", "SAMPLE_RATE", "Stream", "load", "require"]
