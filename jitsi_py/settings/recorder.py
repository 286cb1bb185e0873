"""The recorder (Jibri's role): its logins, brewery, what it records and how, its HTTP port."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .common import XmppClient
from .fields import (
    EnvSpec,
    boolean,
    bounded,
    choice,
    csv,
    directory,
    duration,
    env,
    integer,
    nested,
    path,
    port_number,
    read,
    secret,
)


def resolution(raw: str) -> tuple[int, int]:
    """``1280x720`` (Jibri's ffmpeg ``-video_size``); even sides, as H.264's 4:2:0 needs."""
    match = re.fullmatch(r"\s*(\d{2,5})\s*x\s*(\d{2,5})\s*", raw.lower())
    if not match:
        raise ValueError("expected WIDTHxHEIGHT such as 1280x720")
    width, height = int(match.group(1)), int(match.group(2))
    if width % 2 or height % 2 or not (16 <= width <= 7680 and 16 <= height <= 4320):
        raise ValueError("expected even sides from 16x16 to 7680x4320")
    return width, height


PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def preset(raw: str) -> str:
    value = raw.lower()
    if value not in PRESETS:
        raise ValueError("expected an x264 preset: " + ", ".join(PRESETS))
    return value


def bitrate(raw: str) -> int:
    """Bits per second from ffmpeg's spelling: ``2976k``, ``3M`` or ``2976000``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", raw)
    if not match:
        raise ValueError("expected a bitrate such as 2976k, 3M or 2976000")
    value = int(float(match.group(1)) * {"": 1, "k": 1000, "m": 1_000_000}[match.group(2).lower()])
    if not 100_000 <= value <= 100_000_000:
        raise ValueError("expected a bitrate from 100k to 100M")
    return value


def _strip_domain(values: Mapping[str, str]) -> str:
    """Upstream's default: the MUC domain's first label (``muc`` of ``muc.meet.jitsi``)."""
    return (values.get("XMPP_MUC_DOMAIN") or "muc.meet.jitsi").strip().split(".", 1)[0]


def _recordings_dir(values: Mapping[str, str]) -> str:
    """The all-in-one's layout as upstream's host volume: ``$CONFIG/jibri/recordings``."""
    config: Path = read(EnvSpec("CONFIG", "~/.jitsi-meet-cfg", directory), values)
    return str(config / "jibri" / "recordings")


@dataclass(frozen=True)
class Recorder:
    enabled: bool = env("ENABLE_RECORDING", "false", boolean)
    xmpp: XmppClient = nested(XmppClient)
    # The brewery login on the auth domain, and the meeting login on the hidden domain.
    user: str = env("JIBRI_XMPP_USER", "jibri")
    password: str | None = env("JIBRI_XMPP_PASSWORD", None, secret)
    recorder_user: str = env("JIBRI_RECORDER_USER", "recorder")
    recorder_password: str | None = env("JIBRI_RECORDER_PASSWORD", None, secret)
    instance_id: str = env("JIBRI_INSTANCE_ID", lambda v: v.get("HOSTNAME") or socket.gethostname())
    recording_dir: Path = env("JIBRI_RECORDING_DIR", _recordings_dir, directory)
    finalize_script: Path | None = env("JIBRI_FINALIZE_RECORDING_SCRIPT_PATH", None, path)
    # jicofo's jibri.pending-timeout, which the recorder honours too: not in the meeting by then, it gives up.
    pending_timeout: float = env("JIBRI_PENDING_TIMEOUT", "90", duration)
    # xmpp-environments' strip-from-room-domain: the room JID's domain less this prefix and the XMPP
    # domain is the tenant in the meeting URL.
    strip_domain: str = env("JIBRI_STRIP_DOMAIN_JID", _strip_domain)
    usage_timeout_minutes: int = env("JIBRI_USAGE_TIMEOUT", "0", integer)  # 0: no limit, as upstream
    single_use: bool = env("JIBRI_SINGLE_USE_MODE", "0", boolean)
    resolution: tuple[int, int] = env("JIBRI_RECORDING_RESOLUTION", "1280x720", resolution)
    framerate: int = env("JIBRI_RECORDING_FRAMERATE", "30", bounded(1, 60))
    preset_recording: str = env("JIBRI_RECORDING_VIDEO_ENCODE_PRESET_RECORDING", "ultrafast", preset)
    preset_streaming: str = env("JIBRI_RECORDING_VIDEO_ENCODE_PRESET_STREAMING", "veryfast", preset)
    crf: int = env("JIBRI_RECORDING_CONSTANT_RATE_FACTOR", "25", bounded(0, 51))
    streaming_max_bitrate: int = env("JIBRI_RECORDING_STREAMING_MAX_BITRATE", "2976k", bitrate)  # bit/s
    http_port: int = env("JIBRI_HTTP_API_EXTERNAL_PORT", "2222", port_number)
    # --- our own ---------------------------------------------------------------------------------
    http_interfaces: tuple[str, ...] = env("JITSI_PY_RECORDER_HTTP_INTERFACES", "*", csv)
    # The composition: the dominant speaker large over a filmstrip (Jibri's look), or equal tiles.
    layout: str = env("JITSI_PY_RECORDER_LAYOUT", "stage", choice("stage", "grid"))
    audio_bitrate: int = env("JITSI_PY_RECORDER_AUDIO_BITRATE", "128", bounded(32, 512))  # kbit/s, Jibri's AAC
    # Jibri's call-empty check: nobody but hidden members left for this long ends the recording.
    empty_timeout: float = env("JITSI_PY_RECORDER_EMPTY_TIMEOUT", "30", duration)
    # How long the encoder may take to flush and close its output once told to stop.
    stop_timeout: float = env("JITSI_PY_RECORDER_STOP_TIMEOUT", "30", duration)
    # A finalize script still running after this is killed (and logged); the recorder is idle again.
    finalize_timeout: float = env("JITSI_PY_RECORDER_FINALIZE_TIMEOUT", "10 minutes", duration)
