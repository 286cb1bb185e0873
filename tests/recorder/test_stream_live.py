"""Live streaming through our focus into a real RTMP server (nginx-rtmp, recording what it receives),
and a stream that cannot reach its server ending as an error in the room."""

from __future__ import annotations

import asyncio

from jitsi_py.common.stanzas.jibri import ERROR, OFF, ON, STREAM

from ..support.media_checks import probe, tones
from ..support.prosody import free_port
from ..support.rtmp import NginxRtmp
from .live import idle, recorder, recording_stack
from .test_sessions_live import meeting_of_two

TONE = 440.0


async def test_a_moderator_streams_into_an_rtmp_server(tmp_path):
    with NginxRtmp(tmp_path) as server:
        async with recording_stack(tmp_path, JIBRI_RECORDING_RESOLUTION="320x180",
                                   JIBRI_RECORDING_FRAMERATE="15") as stack, recorder(stack.settings), \
                meeting_of_two(stack, "standup") as (moderator, _):
            await moderator.request(action="start", recording_mode=STREAM, streamid=server.url("key123"))
            on = await moderator.status(lambda s: s.status == ON)
            assert on.recording_mode == STREAM
            await asyncio.sleep(6)
            await moderator.request(action="stop", recording_mode=STREAM)
            await moderator.status(lambda s: s.status == OFF)
            await idle(stack.settings)
        flv = server.recording("key123")
    info = probe(flv)
    assert (info["video"], info["audio"], info["width"], info["height"]) == ("h264", "aac", 320, 180)
    assert 4.0 <= info["duration"] <= 12.0, info
    assert TONE in tones(flv, [TONE, 880.0, 1000.0])


async def test_an_unreachable_rtmp_server_is_an_error_in_the_room_and_the_recorder_is_free_again(tmp_path):
    async with recording_stack(tmp_path, JIBRI_REQUEST_RETRIES="0") as stack, recorder(stack.settings), \
            meeting_of_two(stack, "standup") as (moderator, _):
        await moderator.request(action="start", recording_mode=STREAM,
                                streamid=f"rtmp://127.0.0.1:{free_port()}/live/nobody-listens")
        off = await moderator.status(lambda s: s.status == OFF)
        assert off.failure_reason == ERROR
        await idle(stack.settings)
