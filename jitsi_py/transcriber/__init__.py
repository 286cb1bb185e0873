"""The transcriber (the Jigasi transcriber's role): live captions and transcripts of meetings."""

from .service import run

__all__ = ["run"]
