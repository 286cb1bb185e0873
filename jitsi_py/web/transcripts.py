"""``/transcripts/``: the transcripts directory, read-only, as docker-jitsi-meet's web container serves
the volume the transcriber writes (docs/transcription.md §3). Sans-I/O: which file a request names,
and the type it is served as.

The names are the secret: a meeting's directory holds a random id and nothing lists a directory, so
only who was given the link finds a transcript. Hence a request is taken apart on its raw path, before
any decoding could turn ``%2F`` into a separator or ``%2e%2e`` into a parent.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from urllib.parse import unquote

PREFIX = "/transcripts/"

# What the transcriber writes (the transcript, Jigasi's JSON form, RECORD_AUDIO's WAV files); anything
# else in the directory is offered as bytes, so that no file placed there is run by a browser.
CONTENT_TYPES = {
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".wav": "audio/wav",
}
BYTES = "application/octet-stream"


def requested(raw_path: str) -> tuple[str, ...] | None:
    """The decoded names under ``/transcripts/`` a raw request path asks for; None when it asks for
    anything but a file by plain names: a directory (an empty name), ``.``/``..`` or another hidden
    name, an encoded ``/`` or ``\\``, a NUL, bytes that are not UTF-8."""
    path = raw_path.partition("?")[0]
    if not path.startswith(PREFIX):
        return None
    names = []
    for raw in path[len(PREFIX):].split("/"):
        try:
            name = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            return None
        if not name or name.startswith(".") or any(c in name for c in "/\\\0"):
            return None
        names.append(name)
    return tuple(names)


def locate(root: Path, names: tuple[str, ...]) -> Path | None:
    """The regular file ``names`` lead to inside ``root``; None when there is none, or when a symbolic
    link leads out of it, or the name is one the file system refuses (too long, a loop)."""
    try:
        top = root.resolve()
        found = top.joinpath(*names).resolve()
        if found.is_relative_to(top) and found.is_file():
            return found
    except (OSError, RuntimeError):
        pass
    return None


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(PurePosixPath(name).suffix.lower(), BYTES)
