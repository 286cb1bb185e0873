"""Where a file recording goes and what is written beside it, as Jibri lays them out (pure)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

FILE_RECORDING_METADATA = "file_recording_metadata"  # app_data key whose members go to metadata.json
MAX_NAME = 125  # Jibri's limit on the file name, extension included
EXTENSION = ".mp4"


def session_directory(recordings: Path, session_id: str) -> Path:
    """``<dir>/<session id>``, every character outside ``[A-Za-z0-9_-]`` replaced by ``_`` so that a
    session id can neither climb out of the directory nor hide."""
    return recordings / re.sub(r"[^A-Za-z0-9_-]", "_", session_id)


def recording_name(room_localpart: str, started: datetime) -> str:
    """``<room>_<yyyy-MM-dd-HH-mm-ss>.mp4``, the room part shortened to fit Jibri's limit."""
    stamp = started.strftime("%Y-%m-%d-%H-%M-%S")
    room = re.sub(r"[^\w.-]", "_", room_localpart) or "meeting"
    room = room[: MAX_NAME - len(stamp) - len(EXTENSION) - 1]
    return f"{room}_{stamp}{EXTENSION}"


def meeting_url(base_url: str, room_jid: str, xmpp_domain: str, strip_domain: str) -> str:
    """The meeting's web address: ``<base>/[<tenant>/]<room>``, the tenant being the room JID's domain
    less the ``strip_domain`` prefix and the XMPP domain (``room@muc.tenant.meet.jitsi``)."""
    local, _, domain = room_jid.partition("@")
    if strip_domain and domain.startswith(strip_domain + "."):
        domain = domain[len(strip_domain) + 1:]
    tenant = domain[: -len(xmpp_domain)].rstrip(".") if domain.endswith(xmpp_domain) else ""
    return "/".join(part for part in (base_url.rstrip("/"), tenant, local) if part)


def metadata(meeting: str, participants: Iterable[dict[str, Any]], started: datetime, stopped: datetime,
             app_data: dict[str, Any]) -> dict[str, Any]:
    """``metadata.json``: the meeting URL, who took part, when; then each member of app_data's
    ``file_recording_metadata`` at the top level, as Jibri writes it (they never replace ours)."""
    out: dict[str, Any] = {}
    extra = app_data.get(FILE_RECORDING_METADATA)
    if isinstance(extra, dict):
        out.update(extra)
    out.update({"meeting_url": meeting, "participants": list(participants),
                "start_time": started.isoformat(), "stop_time": stopped.isoformat()})
    return out
