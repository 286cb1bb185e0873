"""The transcriber (the Jigasi transcriber's role): live captions and transcripts of meetings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..common.startup import Ready, unobserved

if TYPE_CHECKING:
    from ..settings import Settings


async def run(settings: Settings, ready: Ready = unobserved) -> None:
    # Imported here: the engine's decoder processes import this package, and need none of the service.
    from .service import run as run_service  # noqa: PLC0415

    await run_service(settings, ready)


__all__ = ["run"]
