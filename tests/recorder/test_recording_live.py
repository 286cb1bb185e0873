"""A moderator records a meeting through our focus and bridge; the recorder writes what a player plays."""

from __future__ import annotations

import asyncio
import json
import subprocess

import av

from jitsi_py.common.meeting import Meeting, XmppServer
from jitsi_py.common.stanzas.jibri import FILE, OFF, ON

from ..common.meeting.media import ToneTrack, tone_energy
from .live import Moderator, drain, idle, recorder, recording_stack


def server_of(stack) -> XmppServer:
    return XmppServer.of(stack.settings.common.domains, "127.0.0.1", stack.settings.xmpp.c2s_port)


def probe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
                          str(path)], capture_output=True, text=True, check=True, timeout=30)
    return json.loads(out.stdout)


def audio_frames(path, skip: float = 1.0):
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [f for f in container.decode(stream) if f.time is not None and f.time >= skip]


async def test_a_moderator_records_a_file_with_its_metadata_and_the_finalize_script(tmp_path):
    recordings = tmp_path / "recordings"
    marker = tmp_path / "finalized"
    script = tmp_path / "finalize.sh"
    script.write_text(f'#!/bin/sh\necho "$#:$1" > {marker}\n')
    script.chmod(0o755)
    async with recording_stack(tmp_path, JIBRI_RECORDING_DIR=str(recordings),
                               JIBRI_FINALIZE_RECORDING_SCRIPT_PATH=str(script),
                               JIBRI_RECORDING_RESOLUTION="640x360", JIBRI_RECORDING_FRAMERATE="15") as stack, \
            recorder(stack.settings):
        meeting = Meeting(server_of(stack), display_name="Moderator", audio_source=ToneTrack(), receive_video=False)
        # The focus starts media once two are in the room, as jicofo does.
        guest = Meeting(server_of(stack), display_name="Guest", receive_video=False, receive_audio=False)
        draining = [asyncio.ensure_future(drain(m)) for m in (meeting, guest)]
        try:
            await asyncio.gather(meeting.join("standup"), guest.join("standup"))
            moderator = Moderator(meeting)
            moderator.watch()
            answer = await moderator.request(action="start", recording_mode=FILE,
                                             app_data='{"file_recording_metadata":{"share":true}}')
            session_id = answer.session_id
            assert session_id
            on = await moderator.status(lambda s: s.status == ON)
            assert (on.session_id, on.recording_mode) == (session_id, FILE)
            await asyncio.sleep(6)
            await moderator.request(action="stop", recording_mode=FILE)
            off = await moderator.status(lambda s: s.status == OFF)
            assert off.failure_reason is None
            await idle(stack.settings)
        finally:
            for m in (meeting, guest):
                await m.leave()
            for task in draining:
                task.cancel()

    [directory] = list(recordings.iterdir())
    assert directory.name == session_id.replace(".", "_")
    [mp4] = list(directory.glob("standup_*.mp4"))
    assert marker.read_text().strip() == f"1:{directory}"
    meta = json.loads((directory / "metadata.json").read_text())
    assert meta["share"] is True and meta["meeting_url"].endswith("/standup")
    assert sorted(p["name"] for p in meta["participants"]) == ["Guest", "Moderator"]
    info = probe(mp4)
    codecs = {s["codec_type"]: s for s in info["streams"]}
    assert codecs["video"]["codec_name"] == "h264" and codecs["audio"]["codec_name"] == "aac"
    assert (codecs["video"]["width"], codecs["video"]["height"]) == (640, 360)
    assert 4.0 <= float(info["format"]["duration"]) <= 12.0, info["format"]["duration"]
    rms, share = tone_energy(audio_frames(mp4)[:100])
    assert rms > 0.05 and share > 0.5, (rms, share)  # AAC decodes to float samples; the tone is at 0.24 of full scale


async def test_a_finalize_script_that_hangs_is_killed_and_the_recorder_is_idle_again(tmp_path):
    import aiohttp

    recordings = tmp_path / "recordings"
    script = tmp_path / "hang.sh"
    script.write_text("#!/bin/sh\nsleep 600\n")
    script.chmod(0o755)
    async with recording_stack(tmp_path, JIBRI_RECORDING_DIR=str(recordings),
                               JIBRI_FINALIZE_RECORDING_SCRIPT_PATH=str(script),
                               JITSI_PY_RECORDER_FINALIZE_TIMEOUT="2", JIBRI_RECORDING_RESOLUTION="320x180",
                               JIBRI_RECORDING_FRAMERATE="10") as stack, recorder(stack.settings):
        meeting = Meeting(server_of(stack), display_name="Moderator", audio_source=ToneTrack(), receive_video=False)
        guest = Meeting(server_of(stack), display_name="Guest", receive_video=False, receive_audio=False)
        draining = [asyncio.ensure_future(drain(m)) for m in (meeting, guest)]
        try:
            await asyncio.gather(meeting.join("standup"), guest.join("standup"))
            moderator = Moderator(meeting)
            moderator.watch()
            await moderator.request(action="start", recording_mode=FILE)
            await moderator.status(lambda s: s.status == ON)
            await asyncio.sleep(2)
            await moderator.request(action="stop", recording_mode=FILE)
            stopped = asyncio.get_running_loop().time()
            await idle(stack.settings, 20)
            assert asyncio.get_running_loop().time() - stopped < 15
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{stack.settings.recorder.http_port}/metrics") as response:
                    assert "jitsi_py_recorder_finalize_killed_total 1.0" in await response.text()
        finally:
            for m in (meeting, guest):
                await m.leave()
            for task in draining:
                task.cancel()
    [mp4] = list(recordings.glob("*/*.mp4"))
    assert mp4.stat().st_size > 0 and (mp4.parent / "metadata.json").is_file()
