"""One transcribed meeting: the transcriber joins it hidden, follows each speaker's audio with a
stream of its own, and says what it heard in the room and in the transcript (docs/transcription.md).

Each remote audio source is resampled to the engine's 16 kHz mono and fed in 100 ms slices. Results
go to the room as ``<json-message>`` (the subtitles), finals also to the transcript file and, with
``SEND_TXT``, to the chat. The meeting ends for the transcriber when the room is left to hidden
members, or nothing asks for transcription any more (no one's presence, not the room metadata), for
``empty_timeout``; when it is removed; or when the service stops.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import secrets
import time
import uuid
import wave
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiortc.mediastreams import MediaStreamError

from ..common.meeting import JoinError, Login, Meeting, XmppServer, events
from ..common.stanzas.rayo import (
    FEATURE_JIGASI,
    FEATURE_TRANSCRIBER,
    TRANSCRIPTION_OFF,
    TRANSCRIPTION_ON,
    transcription_status as status_element,
)
from ..common.stanzas.room_metadata import transcription_requested
from .engines import SAMPLE_RATE, Engine, EngineError, Result, Stream
from .results import (
    Speaker,
    advertisement,
    chat_line,
    transcript_event,
    transcript_header,
    transcript_line,
    transcript_name,
    transcription_result,
)

log = logging.getLogger(__name__)

FEED_BYTES = SAMPLE_RATE * 2 // 10  # 100 ms: fewer hand-overs to the decoder process
# The bridge stops forwarding a speaker's silence after a few packets (docs/bridge-media.md §4.5),
# but the engines find the end of a phrase in the silence after it: when no audio came for
# FEED_BYTES' duration, that much silence is fed instead, up to SILENCE_FILL seconds after the last.
SILENCE_FILL = 2.0
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)  # an engine that failed is tried again after these
CHECK_EVERY = 1.0  # seconds between looks at whether the meeting still wants a transcriber


@dataclass(frozen=True)
class Where:
    """What a session needs from the settings."""

    server: XmppServer
    login: Login
    language: str
    join_timeout: float
    empty_timeout: float
    transcripts: Path | None  # None: JIGASI_TRANSCRIBER_ENABLE_SAVING off
    base_url: str | None  # set: JIGASI_TRANSCRIBER_ADVERTISE_URL
    send_txt: bool
    record_audio: bool


class Transcript:
    """The meeting's text file (and, with RECORD_AUDIO, one WAV per speaker beside it); each line
    is written and flushed as it comes, so a crash loses nothing said before it."""

    def __init__(self, directory: Path, name: str, header: str, record_audio: bool) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path = directory / name
        self.file = self.path.open("a", encoding="utf-8")
        self.file.write(header)
        self.file.flush()
        self.record_audio = record_audio
        self.audio: dict[str, wave.Wave_write] = {}

    def write(self, line: str) -> None:
        self.file.write(line)
        self.file.flush()

    def record(self, source_name: str, pcm: bytes) -> None:
        out = self.audio.get(source_name)
        if out is None:
            out = self.audio[source_name] = wave.open(str(self.directory / f"{source_name}.wav"), "wb")
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm)

    def close(self) -> None:
        self.file.close()
        for out in self.audio.values():
            out.close()


class Transcription(abc.ABC):
    """What a meeting's transcription is, whichever way the audio comes (the meeting joined, or the
    bridge's export): each speaker's audio into an engine stream of its own, each result out as a
    transcription-result (one message id per phrase), each final into the transcript; an engine
    that fails said once and tried again with back-off. Subclasses say how results are sent."""

    def __init__(self, room: str, where: Where, engine: Engine, meeting_id: str | None = None) -> None:
        self.room = room
        self.where = where
        self.engine = engine
        self.meeting_id = meeting_id or str(uuid.uuid4())
        self.started = datetime.now(timezone.utc)
        self.key = secrets.token_hex(16)  # in the transcript's directory name: its link is the secret
        self.transcript: Transcript | None = None
        self.names: dict[str, str] = {}
        self.finals = 0
        self._speakers: dict[str, asyncio.Task] = {}
        self._engine_failures = 0
        self._retry_at = 0.0
        self._engine_error_said = False

    @abc.abstractmethod
    async def send_result(self, payload: dict[str, Any]) -> None:
        """One transcription-result to wherever the results go (the room, or the bridge's export)."""

    @abc.abstractmethod
    async def send_text(self, text: str) -> None:
        """One chat line (SEND_TXT, the transcript's link, an engine failure)."""

    def open_transcript(self) -> None:
        w = self.where
        if w.transcripts is not None:
            directory, name = transcript_name(self.started, self.meeting_id, self.key)
            self.transcript = Transcript(w.transcripts / directory, name,
                                         transcript_header(self.room, self.started, w.language, self.engine.name),
                                         w.record_audio)

    async def end(self) -> None:
        for task in self._speakers.values():
            task.cancel()
        await asyncio.gather(*self._speakers.values(), return_exceptions=True)
        if self.transcript is not None:
            self.transcript.write(transcript_event(datetime.now(timezone.utc), "transcription ended"))
            self.transcript.close()
            self.transcript = None

    def follow(self, endpoint_id: str, source_name: str, frames: Callable[[], Awaitable[Any]]) -> None:
        """Transcribe one source; ``frames()`` gives its next av.AudioFrame, None once it ended."""
        previous = self._speakers.pop(source_name, None)
        if previous is not None:
            previous.cancel()
        self._speakers[source_name] = asyncio.ensure_future(self._follow(endpoint_id, source_name, frames))

    # --- one speaker -------------------------------------------------------------------------------
    async def _follow(self, endpoint_id: str, source_name: str, frames: Callable[[], Awaitable[Any]]) -> None:
        import av  # noqa: PLC0415 - aiortc has loaded it already

        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        pending = bytearray()
        message_id: list[str | None] = [None]
        stream = await self._open_stream()
        gap = FEED_BYTES / 2 / SAMPLE_RATE
        filled = SILENCE_FILL  # nothing to end before the first sound
        try:
            while True:
                quiet = False
                if filled < SILENCE_FILL:
                    try:
                        async with asyncio.timeout(gap):
                            frame = await frames()
                    except TimeoutError:
                        quiet = True
                else:
                    frame = await frames()
                if quiet:
                    pending += bytes(FEED_BYTES)
                    filled += gap
                elif frame is None:
                    break
                else:
                    filled = 0.0
                    for out in resampler.resample(frame):
                        pending += out.to_ndarray().tobytes()
                if len(pending) < FEED_BYTES:
                    continue
                pcm = bytes(pending)
                pending.clear()
                if self.transcript is not None and self.transcript.record_audio:
                    self.transcript.record(source_name, pcm)
                if stream is None:
                    stream = await self._open_stream()
                    if stream is None:
                        continue
                try:
                    results = await stream.feed(pcm)
                except EngineError as exc:
                    await self._engine_failed(exc)
                    stream = None
                    continue
                await self._say(endpoint_id, results, message_id)
            if stream is not None:
                with contextlib.suppress(EngineError):
                    await self._say(endpoint_id, await stream.close(), message_id)
        finally:
            self._speakers.pop(source_name, None)

    async def _open_stream(self) -> Stream | None:
        """A stream, or None while the engine is failing: tried again after a growing delay, and the
        speech meanwhile is not transcribed (waiting would put every caption after it late)."""
        if time.monotonic() < self._retry_at:
            return None
        try:
            stream = await self.engine.open(self.where.language)
        except EngineError as exc:
            await self._engine_failed(exc)
            return None
        if self._engine_failures:
            log.info("transcriber: the %s engine works again", self.engine.name)
            await self.send_text("Transcription works again.")
        self._engine_failures = 0
        self._engine_error_said = False
        return stream

    async def _engine_failed(self, exc: EngineError) -> None:
        self._engine_failures += 1
        self._retry_at = time.monotonic() + RETRY_DELAYS[min(self._engine_failures, len(RETRY_DELAYS)) - 1]
        log.error("transcriber: %s: the %s engine failed: %s", self.room, self.engine.name, exc)
        if not self._engine_error_said:
            self._engine_error_said = True  # said once per failure spell, not per speaker or retry
            await self.send_text(f"Transcription is failing: {exc}. Retrying.")

    async def _say(self, endpoint_id: str, results: list[Result], message_id: list[str | None]) -> None:
        for result in results:
            phrase = message_id[0] or str(uuid.uuid4())
            message_id[0] = phrase
            speaker = Speaker(endpoint_id, self.names.get(endpoint_id, endpoint_id))
            now = datetime.now(timezone.utc)
            await self.send_result(transcription_result(
                speaker, result.text, final=result.final, stability=result.stability, language=self.where.language,
                message_id=phrase, timestamp_ms=int(now.timestamp() * 1000), confidence=result.confidence))
            if not result.final:
                continue
            message_id[0] = None
            self.finals += 1
            if self.transcript is not None:
                self.transcript.write(transcript_line(now, self.started, speaker, result.text))
            if self.where.send_txt:
                await self.send_text(chat_line(speaker, result.text))


class Session(Transcription):
    """The Jigasi way: the transcriber joins the meeting and says its results there."""

    def __init__(self, room: str, where: Where, engine: Engine, on_end: Callable[[], None] = lambda: None) -> None:
        super().__init__(room, where, engine)
        self.on_end = on_end
        self.meeting: Meeting | None = None
        self._stop = asyncio.Event()

    async def send_result(self, payload: dict[str, Any]) -> None:
        if self.meeting is not None:
            await self.meeting.send_group_message(json_payload=payload)

    async def send_text(self, text: str) -> None:
        if self.meeting is not None:
            await self.meeting.send_group_message(body=text)

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Until the meeting is over for us; never raises (a failure is logged and ends the session)."""
        try:
            await self._run()
        except Exception:  # noqa: BLE001 - one meeting's failure is not the service's
            log.exception("transcriber: %s failed", self.room)
        finally:
            await self.end()
            if self.meeting is not None:
                with contextlib.suppress(Exception):
                    await self.meeting.set_presence_extras([status_element(TRANSCRIPTION_OFF)])
                    await self.meeting.leave()
            self.on_end()

    async def _run(self) -> None:
        w = self.where
        meeting = Meeting(w.server, w.login, display_name="Transcriber", features=(FEATURE_JIGASI, FEATURE_TRANSCRIBER),
                          presence_extras=[status_element(TRANSCRIPTION_ON)], receive_video=False, receive_audio=True)
        self.meeting = meeting
        try:
            # A meeting of one gets no media session until someone else comes: do not wait for it.
            await meeting.join(self.room, timeout=w.join_timeout, wait_for_media=False)
        except JoinError as exc:
            log.warning("transcriber: cannot join %s: %s", self.room, exc.reason)
            self.meeting = None
            return
        log.info("transcriber: in %s as %s (meeting %s)", self.room, meeting.endpoint_id, self.meeting_id)
        self.open_transcript()
        if w.base_url is not None:
            await meeting.send_group_message(body=advertisement(w.base_url, self.started, self.meeting_id, self.key))
        for participant in meeting.participants.values():
            self._joined(participant.endpoint_id, participant.display_name, participant.hidden)
        stopping = asyncio.ensure_future(self._stop.wait())
        stream = meeting.events().__aiter__()
        following: asyncio.Future | None = None
        unwanted_since: float | None = None
        try:
            while True:
                # A change of someone's request comes with no event: looked at every second.
                now = time.monotonic()
                reason = self._unwanted()
                if reason is None:
                    unwanted_since = None
                elif unwanted_since is None:
                    unwanted_since = now
                elif now >= unwanted_since + w.empty_timeout:
                    log.info("transcriber: leaving %s: %s", self.room, reason)
                    return
                if following is None:
                    following = asyncio.ensure_future(stream.__anext__())
                done, _ = await asyncio.wait({following, stopping}, timeout=CHECK_EVERY,
                                             return_when=asyncio.FIRST_COMPLETED)
                if stopping in done:
                    log.info("transcriber: leaving %s: stopped", self.room)
                    return
                if following not in done:
                    continue
                try:
                    event = following.result()
                except StopAsyncIteration:
                    return
                following = None
                if isinstance(event, events.Ended):
                    log.info("transcriber: %s over: %s", self.room, event.reason)
                    return
                self._on_event(event)
        finally:
            stopping.cancel()
            if following is not None:
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await following

    def _unwanted(self) -> str | None:
        """Why the transcriber should not stay, as Jigasi: nobody but hidden members is left, or
        nothing asks for transcription any more: neither anyone's presence (the property subtitles
        set) nor the room metadata (a recording's or visitors' request); None to stay."""
        meeting = self.meeting
        if meeting is None:
            return "nobody left"
        people = [p for p in meeting.participants.values() if not p.hidden]
        if not people:
            return "nobody left"
        if not (any(p.requesting_transcription for p in people) or transcription_requested(meeting.room_metadata)):
            return "nobody asks for transcription"
        return None

    def _joined(self, endpoint_id: str, name: str, hidden: bool) -> None:
        known = endpoint_id in self.names
        self.names[endpoint_id] = name or endpoint_id
        if not known and not hidden and self.transcript is not None:
            self.transcript.write(transcript_event(datetime.now(timezone.utc), f"{self.names[endpoint_id]} joined"))

    def _on_event(self, event: Any) -> None:
        match event:
            case events.ParticipantJoined(endpoint_id, name, _jid, _features, hidden) | events.ParticipantChanged(
                    endpoint_id, name, _jid, _features, hidden):
                self._joined(endpoint_id, name, hidden)
            case events.ParticipantLeft(endpoint_id):
                if self.transcript is not None and endpoint_id in self.names:
                    self.transcript.write(transcript_event(datetime.now(timezone.utc),
                                                           f"{self.names[endpoint_id]} left"))
            case events.TrackAdded(endpoint_id, source_name, "audio", _video_type, track):
                participant = self.meeting.participants.get(endpoint_id) if self.meeting else None
                if participant is not None and participant.hidden:
                    return
                self.follow(endpoint_id, source_name, _receiver(track))


def _receiver(track: Any) -> Callable[[], Awaitable[Any]]:
    async def receive() -> Any:
        try:
            return await track.recv()
        except MediaStreamError:
            return None
    return receive
