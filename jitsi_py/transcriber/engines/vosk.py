"""A Vosk server by URL (``JIGASI_TRANSCRIBER_VOSK_URL``), as Jigasi's Vosk option uses one.

The URL is a ``ws://``/``wss://`` address, or a JSON object from language to address
(``{"en": "ws://vosk-en:2700", "de": "ws://vosk-de:2700"}``, the primary language subtag as key).
Each speaker's stream is one WebSocket, speaking vosk-server's protocol: a text frame
``{"config": {"sample_rate": 16000}}``, then binary frames of 16-bit mono PCM, each answered by one
JSON text frame, ``{"partial": "..."}`` while a phrase goes on or ``{"text": "...", "result": [...]}``
when the server's endpointer ended it; ``{"eof": 1}`` asks for the last result. The server finds the
phrases; an unreachable or misbehaving server is an :class:`EngineError` (the session says so in the
meeting and tries again later).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import aiohttp

from . import SAMPLE_RATE, EngineError, Result

if TYPE_CHECKING:
    from ...settings.transcriber import Transcriber as TranscriberSettings

BYTES_PER_SECOND = SAMPLE_RATE * 2
CONNECT_TIMEOUT = 10.0
ANSWER_TIMEOUT = 10.0


def servers(raw: str) -> dict[str, str]:
    """Language (primary subtag, ``""`` for any) -> WebSocket URL, from the variable's value."""
    value = raw.strip()
    table: Any = json.loads(value) if value.startswith("{") else {"": value}
    if not isinstance(table, dict) or not table:
        raise ValueError("expected a ws:// URL or a JSON object of language to ws:// URL")
    out = {}
    for language, url in table.items():
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise ValueError(f"expected a ws:// or wss:// URL for {language or 'every language'!r}, got {url!r}")
        out[str(language).lower().split("-")[0]] = url
    return out


class VoskStream:
    def __init__(self, url: str, session: aiohttp.ClientSession, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.url = url
        self.session = session
        self.socket = socket
        self.position = 0.0
        self.phrase_start: float | None = None
        self.last_partial = ""
        self.closed = False

    async def feed(self, pcm: bytes) -> list[Result]:
        if not pcm:
            return []
        start = self.position
        self.position += len(pcm) / BYTES_PER_SECOND
        try:
            await self.socket.send_bytes(pcm)
            return self._read(await self.socket.receive(timeout=ANSWER_TIMEOUT), start)
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            await self._close()
            reason = str(exc) or type(exc).__name__
            raise EngineError(f"the Vosk server at {self.url} stopped answering: {reason}") from exc

    async def close(self) -> list[Result]:
        if self.closed:
            return []
        try:
            await self.socket.send_str(json.dumps({"eof": 1}))
            return self._read(await self.socket.receive(timeout=ANSWER_TIMEOUT), self.position)
        except (aiohttp.ClientError, TimeoutError, ConnectionError):
            return []  # the stream is over anyway: what the server still had is lost
        finally:
            await self._close()

    async def _close(self) -> None:
        self.closed = True
        await self.socket.close()
        await self.session.close()

    def _read(self, message: aiohttp.WSMessage, chunk_start: float) -> list[Result]:
        if message.type != aiohttp.WSMsgType.TEXT:
            raise EngineError(f"the Vosk server at {self.url} answered {message.type.name} instead of a result")
        try:
            answer = json.loads(message.data)
        except ValueError as exc:
            raise EngineError(f"the Vosk server at {self.url} answered something that is not JSON") from exc
        if not isinstance(answer, dict):
            raise EngineError(f"the Vosk server at {self.url} answered {type(answer).__name__}, not an object")
        if "partial" in answer:
            text = str(answer["partial"]).strip()
            if not text or text == self.last_partial:
                return []
            if self.phrase_start is None:
                self.phrase_start = chunk_start
            self.last_partial = text
            return [Result(text, False, 0.5, self.phrase_start, self.position)]
        text = str(answer.get("text", "")).strip()
        words = [w for w in answer.get("result") or () if isinstance(w, dict)]
        start = float(words[0].get("start", 0.0)) if words else (self.phrase_start or chunk_start)
        end = float(words[-1].get("end", self.position)) if words else self.position
        confidences = [float(w["conf"]) for w in words if isinstance(w.get("conf"), (int, float))]
        self.phrase_start, self.last_partial = None, ""
        if not text:
            return []
        return [Result(text, True, 1.0, start, end, sum(confidences) / len(confidences) if confidences else None)]


class VoskEngine:
    name = "vosk"

    def __init__(self, settings: TranscriberSettings) -> None:
        if not settings.vosk_url:
            raise EngineError("the vosk engine needs JIGASI_TRANSCRIBER_VOSK_URL")
        try:
            self.servers = servers(settings.vosk_url)
        except ValueError as exc:
            raise EngineError(f"JIGASI_TRANSCRIBER_VOSK_URL: {exc}") from exc

    async def warm(self) -> None:
        return None  # a server is reached per speaker; one that is down is said in the meeting

    def url_for(self, language: str) -> str:
        primary = language.lower().split("-")[0]
        url = self.servers.get(primary) or self.servers.get("")
        if url is None:
            raise EngineError(f"no Vosk server for {language} in JIGASI_TRANSCRIBER_VOSK_URL")
        return url

    async def open(self, language: str) -> VoskStream:
        url = self.url_for(language)
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT))
        try:
            socket = await session.ws_connect(url, heartbeat=30)
            await socket.send_str(json.dumps({"config": {"sample_rate": SAMPLE_RATE}}))
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await session.close()
            raise EngineError(f"cannot reach the Vosk server at {url}: {str(exc) or type(exc).__name__}") from exc
        return VoskStream(url, session, socket)

    async def aclose(self) -> None:
        return None
