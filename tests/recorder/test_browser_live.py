"""A browser participant (Chromium, our web client, a camera that films solid red) in a recorded meeting:
the recording's pictures show that camera, and the recorder is hidden from the participants."""

from __future__ import annotations

import asyncio
import subprocess

import numpy as np
import pytest

from jitsi_py.common.meeting import events
from jitsi_py.common.stanzas.jibri import FEATURE, FILE, OFF, ON

from ..support.media_checks import frame_at, probe
from ..support.stack import join_browser
from ..web.test_browser import CHROMIUM, CHROMIUM_ARGS
from .live import idle, recorder, recording_stack
from .test_sessions_live import meeting_of_two

pytestmark = [pytest.mark.browser, pytest.mark.system]
RED = np.array([255, 0, 0])


def red_camera(tmp_path):
    path = tmp_path / "red.y4m"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=640x360:r=15", "-t", "2",
                    "-pix_fmt", "yuv420p", str(path)], check=True, timeout=60)
    return path


def red_share(picture: np.ndarray) -> float:
    return float((np.abs(picture.astype(np.int32) - RED).max(axis=2) < 60).mean())


async def test_a_browsers_camera_is_in_the_recording_and_the_recorder_is_hidden(tmp_path):
    from playwright.async_api import async_playwright

    recordings = tmp_path / "recordings"
    camera = red_camera(tmp_path)
    async with recording_stack(tmp_path, JIBRI_RECORDING_DIR=str(recordings), JIBRI_RECORDING_RESOLUTION="640x360",
                               JIBRI_RECORDING_FRAMERATE="15", JITSI_PY_RECORDER_LAYOUT="grid") as stack, \
            recorder(stack.settings), async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={camera}"])
        try:
            async with meeting_of_two(stack, "standup", guest_listens=True) as (moderator, guest):
                await join_browser(browser, stack.base, "Alice", "/standup")
                await asyncio.sleep(3)  # Alice's camera reaches the bridge
                answer = await moderator.request(action="start", recording_mode=FILE)
                await moderator.status(lambda s: s.status == ON)

                async def recorder_seen():
                    async for event in guest.events():
                        if isinstance(event, events.ParticipantJoined) and FEATURE in event.features:
                            return event
                seen = await asyncio.wait_for(recorder_seen(), 30)
                assert seen.hidden and seen.display_name == "Recorder"

                await asyncio.sleep(8)
                await moderator.request(action="stop", recording_mode=FILE)
                await moderator.status(lambda s: s.status == OFF)
                await idle(stack.settings)
        finally:
            await browser.close()
    [mp4] = list((recordings / answer.session_id).glob("*.mp4"))
    info = probe(mp4)
    assert (info["video"], info["audio"], info["width"], info["height"]) == ("h264", "aac", 640, 360)
    shares = [red_share(frame_at(mp4, t)) for t in (4.0, 6.0)]
    # three tiles (the moderator, the guest, Alice): Alice's, about a sixth of the picture, is red
    assert all(share > 0.08 for share in shares), shares

