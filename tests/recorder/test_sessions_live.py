"""Several meetings, several recorders, and what goes wrong: a non-moderator, an emptied meeting, a
recorder killed mid-recording. Everything through our focus and bridge, on the wire."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from slixmpp.exceptions import IqError

from jitsi_py.common.meeting import Meeting, XmppServer, events
from jitsi_py.common.stanzas.jibri import ERROR, FILE, OFF, ON, JibriIq

from ..common.meeting.media import ToneTrack, tone_energy
from ..web.conftest import free_port
from .live import Moderator, drain, idle, recorder, recording_stack

ROOT = Path(__file__).resolve().parents[2]


def server_of(stack) -> XmppServer:
    return XmppServer.of(stack.settings.common.domains, "127.0.0.1", stack.settings.xmpp.c2s_port)


@contextlib.asynccontextmanager
async def meeting_of_two(stack, room: str, guest_listens: bool = False, guest_watches: bool = False):
    """A moderator sending a tone (in first, so the moderator) and a guest; both leave at the end."""
    moderator = Meeting(server_of(stack), display_name=f"{room} host", audio_source=ToneTrack(), receive_video=False)
    guest = Meeting(server_of(stack), display_name=f"{room} guest", receive_video=guest_watches,
                    receive_audio=guest_listens)
    draining = [asyncio.ensure_future(drain(moderator))]
    try:
        await moderator.join(room, wait_for_media=False)
        await guest.join(room)
        if not (guest_listens or guest_watches):
            draining.append(asyncio.ensure_future(drain(guest)))
        watcher = Moderator(moderator)
        watcher.watch()
        yield watcher, guest
    finally:
        for m in (moderator, guest):
            await m.leave()
        for task in draining:
            task.cancel()


async def test_two_recordings_at_once_on_two_recorders_a_guest_refused_and_an_emptied_meeting_stops(tmp_path):
    recordings = tmp_path / "recordings"
    async with recording_stack(tmp_path, JIBRI_RECORDING_DIR=str(recordings), JIBRI_RECORDING_RESOLUTION="320x180",
                               JIBRI_RECORDING_FRAMERATE="10", JITSI_PY_RECORDER_EMPTY_TIMEOUT="2") as stack:
        rec2_port = free_port()
        async with recorder(stack.settings), recorder(stack.settings, instance_id="rec2", http_port=rec2_port), \
                meeting_of_two(stack, "beta") as (beta, _):
            async with meeting_of_two(stack, "alpha") as (alpha, alpha_guest):
                iq = alpha_guest._require_xmpp().make_iq_set(ito=f"{alpha_guest.room_jid}/focus")
                JibriIq(action="start", recording_mode=FILE).to_element(iq.xml)
                with pytest.raises(IqError) as refused:
                    await iq.send(timeout=20)
                assert refused.value.iq["error"]["condition"] == "not-allowed"

                first, second = await asyncio.gather(alpha.request(action="start", recording_mode=FILE),
                                                     beta.request(action="start", recording_mode=FILE))
                await asyncio.gather(alpha.status(lambda s: s.status == ON), beta.status(lambda s: s.status == ON))
                await asyncio.sleep(3)
            # alpha is empty now: the focus stops its recording (the recorder would after its grace)
            await beta.request(action="stop", recording_mode=FILE)
            await beta.status(lambda s: s.status == OFF)
            await idle(stack.settings, 30)
            await idle(stack.settings, 30, port=rec2_port)
    for session in (first.session_id, second.session_id):
        [mp4] = list((recordings / session).glob("*.mp4"))
        assert mp4.stat().st_size > 1000


def recorder_process(stack, tmp_path, instance: str) -> subprocess.Popen:
    """``python -m jitsi_py.recorder`` on its own, configured as the stack's in-process services are."""
    s = stack.settings
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update({
        "PYTHONPATH": str(ROOT), "CONFIG": str(tmp_path / "cfg"), "XMPP_SERVER": "127.0.0.1",
        "XMPP_PORT": str(s.xmpp.c2s_port), "PUBLIC_URL": s.common.public_url,
        "JIBRI_XMPP_PASSWORD": s.recorder.password, "JIBRI_RECORDER_PASSWORD": s.recorder.recorder_password,
        "JIBRI_INSTANCE_ID": instance, "JIBRI_HTTP_API_EXTERNAL_PORT": str(free_port()),
        "JIBRI_RECORDING_RESOLUTION": "320x180", "JIBRI_RECORDING_FRAMERATE": "10",
        "JIBRI_RECORDING_DIR": str(tmp_path / "recordings"),
    })
    return subprocess.Popen([sys.executable, "-m", "jitsi_py.recorder"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


async def test_a_recorder_killed_mid_recording_is_off_with_an_error_and_the_meeting_goes_on(tmp_path):
    async with recording_stack(tmp_path, JIBRI_REQUEST_RETRIES="0") as stack:
        proc = recorder_process(stack, tmp_path, "doomed")
        try:
            await asyncio.wait_for(asyncio.to_thread(_ready, proc), 30)
            async with meeting_of_two(stack, "standup", guest_listens=True) as (moderator, guest):
                await moderator.request(action="start", recording_mode=FILE)
                await moderator.status(lambda s: s.status == ON)
                proc.send_signal(signal.SIGKILL)
                off = await moderator.status(lambda s: s.status == OFF)
                assert off.failure_reason == ERROR
                # the meeting is unharmed: the guest still hears the moderator
                added = await asyncio.wait_for(_first(guest, events.TrackAdded, lambda e: e.kind == "audio"), 20)
                frames = [await asyncio.wait_for(added.track.recv(), 10) for _ in range(60)]
                rms, share = tone_energy(frames[-40:])
                assert rms > 1000 and share > 0.8, (rms, share)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def _ready(proc: subprocess.Popen) -> None:
    for line in proc.stdout:
        if "ready:" in line:
            return
    raise AssertionError(f"the recorder exited with {proc.wait()}")


async def _first(meeting, kind, where):
    async for event in meeting.events():
        if isinstance(event, kind) and where(event):
            return event
    raise AssertionError(f"the meeting ended before a {kind.__name__}")
