"""The recorder on the wire against our XMPP server: brewery status, answers, refusals, HTTP."""

import aiohttp
import pytest
from slixmpp.exceptions import IqError

from jitsi_py.common.stanzas.jibri import BUSY, ERROR, FILE, OFF, STREAM, JibriIq

from .live import brewery_probe, recorder, recording_stack

ROOM = "standup@muc.meet.jitsi"


async def test_the_recorder_sits_idle_in_the_brewery_and_refuses_what_it_cannot_record(tmp_path):
    async with recording_stack(tmp_path, bridge=False) as stack, recorder(stack.settings), \
            brewery_probe(stack.settings) as probe:
        status = await probe.status_of("rec1", lambda s: s is not None)
        assert status.available

        reply = await probe.request("rec1", JibriIq(action="start", recording_mode=FILE, room=ROOM,
                                                    session_id="s1", sipaddress="sip:someone@example.com"))
        assert (reply.status, reply.failure_reason, reply.should_retry) == (OFF, ERROR, False)
        assert reply.sipaddress == "sip:someone@example.com", "echoed, as Jibri does"
        reply = await probe.request("rec1", JibriIq(action="start", recording_mode=STREAM, room=ROOM,
                                                    session_id="s1", streamid="http://example.com/live"))
        assert (reply.status, reply.failure_reason, reply.should_retry) == (OFF, ERROR, False)
        reply = await probe.request("rec1", JibriIq(action="stop", session_id="s1"))
        assert reply.status == OFF, "a stop with nothing running is still answered off"

        port = stack.settings.recorder.http_port
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/jibri/api/v1.0/health") as response:
                assert response.status == 200
                assert await response.json() == {"status": {"busyStatus": "IDLE", "health": {
                    "healthStatus": "HEALTHY", "details": {}}}}
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
        assert "jitsi_py_recorder_busy 0.0" in text and "jitsi_py_event_loop_lag_seconds" in text


async def test_only_the_brewery_may_ask(tmp_path):
    async with recording_stack(tmp_path, bridge=False) as stack, recorder(stack.settings), \
            brewery_probe(stack.settings) as probe:
        await probe.status_of("rec1", lambda s: s is not None)
        d = stack.settings.common.domains
        with pytest.raises(IqError) as refused:
            await probe.request("rec1", JibriIq(action="start", recording_mode=FILE, room=ROOM, session_id="s1"),
                                to=f"jibri@{d.auth}/rec1")
        assert refused.value.iq["error"]["condition"] == "forbidden"


async def test_busy_while_joining_then_off_error_retry_at_the_pending_timeout(tmp_path):
    """A meeting that cannot be joined keeps the recorder pending until JIBRI_PENDING_TIMEOUT, then it
    reports off+error+retry to the requester and is idle again."""
    async with recording_stack(tmp_path, bridge=False, JIBRI_PENDING_TIMEOUT="3") as stack, \
            recorder(stack.settings), brewery_probe(stack.settings) as probe:
        await probe.status_of("rec1", lambda s: s is not None and s.available)
        reply = await probe.request("rec1", JibriIq(action="start", recording_mode=FILE, room="nobody@muc.meet.jitsi",
                                                    session_id="s1"))
        assert reply.status == "pending"
        await probe.status_of("rec1", lambda s: s is not None and s.busy)
        reply = await probe.request("rec1", JibriIq(action="start", recording_mode=FILE, room=ROOM, session_id="s2"))
        assert (reply.status, reply.failure_reason, reply.should_retry) == (OFF, BUSY, True)
        sender, status = await probe.next_status()
        assert sender.endswith("/rec1")
        assert (status.status, status.failure_reason, status.should_retry) == (OFF, ERROR, True)
        await probe.status_of("rec1", lambda s: s is not None and s.available)
