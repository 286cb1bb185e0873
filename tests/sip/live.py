"""Helpers of the live tests: waiting for a meeting's events, and hearing a tone in one of its tracks."""

from __future__ import annotations

import asyncio

import numpy as np

from jitsi_py.common.meeting import Meeting, events
from jitsi_py.common.meeting.audio import mono_s16

from .phone import tone_share


async def next_event(meeting: Meeting, kind, timeout: float = 30, where=lambda e: True):
    async def wait():
        async for event in meeting.events():
            if isinstance(event, kind) and where(event):
                return event
        raise AssertionError(f"meeting ended before a {kind.__name__}")
    return await asyncio.wait_for(wait(), timeout)


async def hears(meeting: Meeting, endpoint_id: str, hz: float, frames: int = 100):
    """The next audio track of ``endpoint_id`` carries a tone of ``hz`` (its second half is measured)."""
    added = await next_event(meeting, events.TrackAdded, where=lambda e: e.endpoint_id == endpoint_id)
    got = [await asyncio.wait_for(added.track.recv(), 10) for _ in range(frames)]
    rms, share = tone_share(np.concatenate([mono_s16(f) for f in got[frames // 2:]]).astype(np.float64), 48000, hz)
    assert rms > 1000 and share > 0.8, (rms, share)
    return added
