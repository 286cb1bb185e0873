"""The recorder (Jibri's role): records a meeting to an MP4 file or streams it over RTMP."""

from .service import run

__all__ = ["run"]
