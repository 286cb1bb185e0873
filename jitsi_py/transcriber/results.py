"""What the transcriber says in the room, sans-I/O: the ``transcription-result`` JSON that clients
show as subtitles, the chat lines of ``JIGASI_TRANSCRIBER_SEND_TXT``/``_ADVERTISE_URL``, and the
transcript's lines (docs/transcription.md §3).

The JSON is Jigasi's: jitsi-meet reads ``type``, ``message_id`` (one per phrase: its interim
updates and its final share it), ``participant.{id,name,avatar_url}``, ``transcript[0].text``,
``is_interim``, ``stability`` (above 0.85 an interim text is shown as stable), ``language`` and
``timestamp`` (ms). ``event`` is what the bridge's export path keys on; sending both lets the same
message travel either path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

TRANSCRIPTION_RESULT = "transcription-result"


@dataclass(frozen=True)
class Speaker:
    endpoint_id: str
    name: str
    avatar_url: str | None = None


def transcription_result(speaker: Speaker, text: str, *, final: bool, stability: float, language: str,
                         message_id: str, timestamp_ms: int, confidence: float | None = None) -> dict[str, Any]:
    participant: dict[str, Any] = {"id": speaker.endpoint_id, "name": speaker.name}
    if speaker.avatar_url:
        participant["avatar_url"] = speaker.avatar_url
    alternative: dict[str, Any] = {"text": text}
    if confidence is not None:
        alternative["confidence"] = round(confidence, 3)
    return {
        "type": TRANSCRIPTION_RESULT,
        "event": TRANSCRIPTION_RESULT,
        "timestamp": timestamp_ms,
        "participant": participant,
        "transcript": [alternative],
        "language": language,
        "is_interim": not final,
        "message_id": message_id,
        "stability": stability,
    }


def chat_line(speaker: Speaker, text: str) -> str:
    """``JIGASI_TRANSCRIBER_SEND_TXT``: each final result as a chat message."""
    return f"{speaker.name}: {text}"


def stamp(when: datetime) -> str:
    """A file-name-safe UTC time: 2026-12-07T13-05-09Z."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")


def transcript_name(started: datetime, meeting_id: str, key: str) -> tuple[str, str]:
    """(directory, file name) of a meeting's transcript. As Jigasi's, the directory's name holds a
    random ``key``: the web service serves the transcripts with no listing, so only who has the link
    finds one, even when the meeting id is one every participant knows (the bridge export's)."""
    when = stamp(started)
    return f"{when}_{key}_{meeting_id}", f"transcript_{when}_{meeting_id}.txt"


def advertisement(base_url: str, started: datetime, meeting_id: str, key: str) -> str:
    """``JIGASI_TRANSCRIBER_ADVERTISE_URL``: the chat line that says where the transcript will be."""
    directory, name = transcript_name(started, meeting_id, key)
    return f"This meeting is transcribed. The transcript will be at {base_url.rstrip('/')}/{directory}/{name}"


def transcript_line(at: datetime, started: datetime, speaker: Speaker, text: str) -> str:
    """One final result in the transcript: wall-clock time, offset into the meeting, speaker, text."""
    offset = int((at - started).total_seconds())
    return (f"[{at.astimezone(timezone.utc).strftime('%H:%M:%S')} +{offset // 3600:d}:{offset // 60 % 60:02d}:"
            f"{offset % 60:02d}] {speaker.name} ({speaker.endpoint_id}): {text}\n")


def transcript_header(room: str, started: datetime, language: str, engine: str) -> str:
    return (f"Transcript of {room}\nStarted {started.astimezone(timezone.utc).isoformat(timespec='seconds')}"
            f" (times in UTC), language {language}, engine {engine}\n\n")


def transcript_event(at: datetime, text: str) -> str:
    return f"[{at.astimezone(timezone.utc).strftime('%H:%M:%S')}] -- {text}\n"
