"""The encoder and the container: H.264 + AAC into an MP4 file or an FLV stream over RTMP(S).

`Output` is used only by the pipeline's worker thread; PyAV releases the GIL inside the codecs and
the socket/file writes, so encoding does not hold up the event loop. Every write failure becomes one
`RecordingFailed` with a short reason for the room's status and whether another attempt (another
recorder) could succeed.
"""

from __future__ import annotations

import errno
import fractions
import os
import re
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import av
import numpy as np

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")
STREAM_SCHEMES = ("rtmp", "rtmps")
DEFAULT_IO_TIMEOUT = 10.0


class RecordingFailed(Exception):
    """The file or stream cannot be written. `reason` is a short phrase for the room's status."""

    def __init__(self, reason: str, retryable: bool):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class EncodeSettings:
    """Upstream's JIBRI_RECORDING_* values: resolution, frame rate, x264 preset and CRF, the stream's max bitrate."""

    width: int = 1280
    height: int = 720
    framerate: int = 30
    preset: str = "veryfast"
    crf: int = 25
    audio_bitrate: int = 128000
    audio_sample_rate: int = 48000
    video_bitrate: int | None = None  # bits/s; a cap (maxrate, with a 2 s buffer) for live streams

    def __post_init__(self):
        if self.width < 16 or self.height < 16 or self.width % 2 or self.height % 2:
            raise ValueError(f"resolution must be even and at least 16x16, not {self.width}x{self.height}")
        if not 1 <= self.framerate <= 60:
            raise ValueError(f"frame rate must be 1..60, not {self.framerate}")
        if self.preset not in X264_PRESETS:
            raise ValueError(f"unknown x264 preset {self.preset!r}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"CRF must be 0..51, not {self.crf}")
        if self.video_bitrate is not None and self.video_bitrate <= 0:
            raise ValueError("video bitrate must be positive")

    @classmethod
    def from_jibri(cls, resolution: str = "1280x720", framerate: int = 30, preset: str = "veryfast", crf: int = 25,
                   max_bitrate: str | None = None) -> "EncodeSettings":
        """From the values as upstream spells them: resolution "1280x720", max bitrate "2976k" (or kb/s as a number)."""
        match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", resolution)
        if not match:
            raise ValueError(f"resolution must look like 1280x720, not {resolution!r}")
        bitrate = None
        if max_bitrate not in (None, ""):
            bits = re.fullmatch(r"\s*(\d+)\s*([kKmM]?)\s*", str(max_bitrate))
            if not bits:
                raise ValueError(f"max bitrate must look like 2976k, not {max_bitrate!r}")
            unit = {"": 1000, "k": 1000, "m": 1000_000}[bits.group(2).lower()]  # a bare number is kb/s, as Jibri's
            bitrate = int(bits.group(1)) * unit
        return cls(width=int(match.group(1)), height=int(match.group(2)), framerate=int(framerate), preset=preset,
                   crf=int(crf), video_bitrate=bitrate)


def target_kind(target: str) -> str:
    """'stream' for rtmp(s) URLs, 'file' for a path; ValueError for any other URL scheme."""
    if not target:
        raise ValueError("empty recording target")
    if "://" not in target:
        return "file"
    parts = urlsplit(target)
    if parts.scheme.lower() not in STREAM_SCHEMES:
        raise ValueError(f"unsupported target scheme {parts.scheme!r}: a file path, rtmp:// or rtmps:// URL is needed")
    if not parts.hostname:
        raise ValueError(f"stream URL without a host: {redacted(target)}")
    return "stream"


def redacted(target: str) -> str:
    """The target fit for a log or a status: a stream URL without its path (the stream key is a secret)."""
    parts = urlsplit(target)
    if parts.scheme.lower() in STREAM_SCHEMES:
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
    return target


# errno -> (what happened, whether another attempt could succeed), for a file / for a stream
_FILE_ERRORS = {
    errno.ENOSPC: ("disk full", True),
    errno.EDQUOT: ("disk quota exceeded", True),
    errno.EACCES: ("permission denied", False),
    errno.EPERM: ("permission denied", False),
    errno.EROFS: ("read-only file system", False),
    errno.ENOENT: ("directory does not exist", False),
    errno.ENOTDIR: ("a parent is not a directory", False),
    errno.EEXIST: ("a parent is not a directory", False),
    errno.EISDIR: ("target is a directory", False),
}
_STREAM_ERRORS = {
    errno.ECONNREFUSED: ("connection refused", True),
    errno.ETIMEDOUT: ("timed out", True),
    errno.EHOSTUNREACH: ("host unreachable", True),
    errno.ENETUNREACH: ("network unreachable", True),
    errno.ECONNRESET: ("connection lost", True),
    errno.EPIPE: ("connection lost", True),
    errno.EIO: ("server rejected the stream", False),
    errno.EPROTO: ("not an RTMP server", False),
}


def failure(exc: BaseException, kind: str, target: str, doing: str) -> RecordingFailed:
    code = getattr(exc, "errno", None)
    table = _FILE_ERRORS if kind == "file" else _STREAM_ERRORS
    what: str | None = None
    retryable = kind == "stream"
    if isinstance(code, int) and code in table:
        what, retryable = table[code]
    if what is None:
        what = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        what, retryable = "timed out", True
    elif isinstance(exc, socket.gaierror):
        what, retryable = "unknown host", False
    elif isinstance(exc, ssl.SSLError):
        what, retryable = "TLS failed", True
    return RecordingFailed(f"{doing} {redacted(target)}: {what}", retryable)


RTMP_HANDSHAKE = 1536
RTMP_PORTS = {"rtmp": 1935, "rtmps": 443}


def probe_rtmp(target: str, timeout: float) -> None:
    """Connects and checks that the server answers the RTMP handshake within `timeout`, or raises OSError.

    FFmpeg's RTMP open holds the GIL and has no time limit when PyAV opens an output, so an
    unreachable or silent server would freeze the whole process; this probe, in plain Python
    sockets, finds those first.
    """
    parts = urlsplit(target)
    scheme = parts.scheme.lower()
    with socket.create_connection((parts.hostname, parts.port or RTMP_PORTS[scheme]), timeout=timeout) as raw:
        sock = raw
        if scheme == "rtmps":
            # only reachability is checked here; FFmpeg's TLS (as PyAV opens it) does not verify either
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(raw, server_hostname=parts.hostname)
        sock.sendall(b"\x03" + bytes(8) + os.urandom(RTMP_HANDSHAKE - 8))
        answer = b""
        while len(answer) < 1 + RTMP_HANDSHAKE:
            chunk = sock.recv(1 + RTMP_HANDSHAKE - len(answer))
            if not chunk:
                raise ConnectionResetError(errno.ECONNRESET, "closed during the RTMP handshake")
            answer += chunk
        if answer[0] != 3:
            raise OSError(errno.EPROTO, "not an RTMP server")


class Output:
    """One container with one H.264 and one AAC stream. Frame pts: video in frames, audio in 48 kHz samples."""

    def __init__(self, target: str, settings: EncodeSettings, io_timeout: float = DEFAULT_IO_TIMEOUT):
        self.kind = target_kind(target)
        self.target = target
        self.settings = settings
        self._io_timeout = io_timeout
        self._container: av.container.OutputContainer | None = None
        self._video: av.VideoStream | None = None
        self._audio: av.AudioStream | None = None

    def open(self) -> None:
        """Opens the file or connects to the RTMP server (handshake included), or raises RecordingFailed."""
        s = self.settings
        try:
            if self.kind == "file":
                Path(self.target).parent.mkdir(parents=True, exist_ok=True)
                # fragmented at each keyframe and flushed per packet: a recorder killed mid-way leaves a
                # file that plays up to its last 2 s, not one without its index
                container = av.open(self.target, "w", format="mp4", options={
                    "movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"})
            else:
                probe_rtmp(self.target, self._io_timeout)
                container = av.open(self.target, "w", format="flv")
            video = container.add_stream("libx264", rate=s.framerate)
            video.width, video.height, video.pix_fmt = s.width, s.height, "yuv420p"
            video.codec_context.gop_size = 2 * s.framerate
            options = {"preset": s.preset, "crf": str(s.crf), "tune": "zerolatency"}
            if s.video_bitrate:
                options |= {"maxrate": str(s.video_bitrate), "bufsize": str(2 * s.video_bitrate)}
            video.codec_context.options = options
            audio = container.add_stream("aac", rate=s.audio_sample_rate)
            audio.layout = "stereo"
            audio.bit_rate = s.audio_bitrate
            container.start_encoding()  # opens the file / the RTMP session now, not at the first frame
        except (OSError, ssl.SSLError, av.FFmpegError) as exc:
            doing = "cannot reach" if self.kind == "stream" else "cannot open"
            raise failure(exc, self.kind, self.target, doing) from exc
        self._container, self._video, self._audio = container, video, audio

    def write_video(self, frame: av.VideoFrame) -> None:
        self._write(self._video, frame)

    def write_audio(self, samples: np.ndarray, position: int, rate: int) -> None:
        """Mono int16 samples starting at sample `position` of the timeline, sent as stereo."""
        frame = av.AudioFrame.from_ndarray(np.repeat(samples, 2)[None, :], format="s16", layout="stereo")
        frame.sample_rate = rate
        frame.time_base = fractions.Fraction(1, rate)
        frame.pts = position
        self._write(self._audio, frame)

    def _write(self, stream: av.VideoStream | av.AudioStream | None, frame: av.VideoFrame | av.AudioFrame) -> None:
        if stream is None or self._container is None:
            raise RuntimeError("the output is not open")
        try:
            for packet in stream.encode(frame):  # type: ignore[arg-type]  # the stream's kind matches the frame's
                self._container.mux(packet)
        except (OSError, av.FFmpegError) as exc:
            raise failure(exc, self.kind, self.target, "cannot write to") from exc

    def close(self) -> None:
        """Flushes both encoders and writes the trailer; raises RecordingFailed if that fails (closed anyway)."""
        container, self._container = self._container, None
        if container is None:
            return
        error = None
        try:
            for stream in (self._video, self._audio):
                for packet in stream.encode(None) if stream is not None else ():
                    container.mux(packet)
        except (OSError, av.FFmpegError) as exc:
            error = exc
        try:
            container.close()
        except (OSError, av.FFmpegError) as exc:
            error = error or exc  # the first error is the cause
        if error is not None:
            raise failure(error, self.kind, self.target, "cannot finish") from error

    def abort(self) -> None:
        """Closes without flushing, after a failure."""
        container, self._container = self._container, None
        if container is not None:
            try:
                container.close()
            except (OSError, av.FFmpegError):
                pass
