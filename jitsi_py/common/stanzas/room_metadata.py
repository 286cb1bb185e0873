"""What the room metadata says about transcription, a reader and no behaviour (docs/transcription.md §2).

The room metadata component (``metadata.<domain>``) pushes ``{"type": "room_metadata", "metadata":
{...}}`` to each occupant, and to the focus with the room's address. Two of its keys ask for
transcription without anyone's presence saying so:

* ``recording.isTranscribingEnabled``: jitsi-meet's recording dialog sets it when a moderator
  starts a recording with transcription ticked, and clears it when the recording stops;
* ``visitors.transcribingCount``: how many visitors (on visitor nodes) have subtitles on.

For example::

    transcribing_enabled({"recording": {"isTranscribingEnabled": True}})   # True
    transcription_requested({"visitors": {"transcribingCount": 2}})       # True
"""

from __future__ import annotations

from typing import Any


def _section(metadata: Any, key: str) -> dict[str, Any]:
    section = metadata.get(key) if isinstance(metadata, dict) else None
    return section if isinstance(section, dict) else {}


def transcribing_enabled(metadata: Any) -> bool:
    """The recording asks for transcription (the key jicofo reads for the bridge's export)."""
    return _section(metadata, "recording").get("isTranscribingEnabled") is True


def transcription_requested(metadata: Any) -> bool:
    """The recording or visitors ask for transcription (the keys Jigasi stays for)."""
    count = _section(metadata, "visitors").get("transcribingCount")
    visitors = isinstance(count, int) and not isinstance(count, bool) and count > 0
    return transcribing_enabled(metadata) or visitors


def metadata_of(payload: Any) -> dict[str, Any] | None:
    """The metadata of one of the component's messages; None for any other JSON."""
    if not isinstance(payload, dict) or payload.get("type") != "room_metadata":
        return None
    metadata = payload.get("metadata")
    return metadata if isinstance(metadata, dict) else {}
