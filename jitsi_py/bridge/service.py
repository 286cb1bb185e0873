"""Wiring of the bridge service: start its listeners and clients from settings, stop on cancel."""

from __future__ import annotations

from ..common.runner import ServiceNotBuilt
from ..settings import Settings


async def run(settings: Settings) -> None:
    raise ServiceNotBuilt("the bridge service is not built yet")
