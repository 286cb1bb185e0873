"""The meeting client against our focus and bridge, end to end over loopback."""

from __future__ import annotations

import asyncio

from jitsi_py.common.meeting import Meeting, events

from ...support.stack import running_stack
from .conftest import meetings, server_of
from .media import ToneTrack, tone_energy


async def next_event(meeting: Meeting, kind, timeout: float = 15, where=lambda e: True):
    async def wait():
        async for event in meeting.events():
            if isinstance(event, kind) and where(event):
                return event
        raise AssertionError(f"meeting ended before a {kind.__name__}")
    return await asyncio.wait_for(wait(), timeout)


async def test_a_meeting_hears_another_meetings_audio_source(tmp_path):
    async with running_stack(tmp_path, bridge=True) as stack:
        server = server_of(stack)
        speaker = Meeting(server, display_name="Speaker", audio_source=ToneTrack(), receive_video=False)
        listener = Meeting(server, display_name="Listener", receive_video=False)
        async with meetings(speaker, listener):
            await asyncio.gather(speaker.join("tone"), listener.join("tone"))
            joined = await next_event(listener, events.ParticipantJoined)
            assert (joined.endpoint_id, joined.display_name) == (speaker.endpoint_id, "Speaker")
            added = await next_event(listener, events.TrackAdded)
            assert (added.endpoint_id, added.source_name, added.kind) == (
                speaker.endpoint_id, f"{speaker.endpoint_id}-a0", "audio")
            frames = [await asyncio.wait_for(added.track.recv(), 10) for _ in range(100)]
            assert frames[-1].sample_rate == 48000
            rms, share = tone_energy(frames[-50:])
            assert rms > 1000 and share > 0.8, (rms, share)


async def test_a_meeting_decodes_a_browsers_audio_and_video(tmp_path):
    from playwright.async_api import async_playwright

    from ...support.stack import join_browser
    from ...web.test_browser import CHROMIUM, CHROMIUM_ARGS

    async with running_stack(tmp_path, bridge=True) as stack, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        recorder = Meeting(server_of(stack), display_name="Recorder")
        try:
            async with meetings(recorder):
                await join_browser(browser, stack.base, "Alice", "/browser")
                await recorder.join("browser")
                joined = await next_event(recorder, events.ParticipantJoined)
                assert joined.display_name == "Alice"
                tracks = {}
                while len(tracks) < 2:
                    added = await next_event(recorder, events.TrackAdded)
                    assert added.endpoint_id == joined.endpoint_id
                    tracks[added.kind] = added
                assert tracks["video"].source_name == f"{joined.endpoint_id}-v0"
                assert tracks["video"].video_type == "camera"
                frame = await asyncio.wait_for(tracks["video"].track.recv(), 20)
                assert frame.width > 0 and frame.height > 0
                audio = await asyncio.wait_for(tracks["audio"].track.recv(), 10)
                assert audio.sample_rate == 48000 and audio.samples > 0
        finally:
            await browser.close()
