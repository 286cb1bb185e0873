"""The recorder's core: answers to the focus, the status it publishes, when a session ends."""

import pytest

from jitsi_py.common.stanzas.jibri import BUSY, ERROR, FILE, OFF, ON, PENDING, STREAM, JibriIq, JibriStatus
from jitsi_py.recorder.session import BeginCapture, EndCapture, Notify, Publish, Recorder, Refusal

FOCUS = "jibribrewery@internal-muc.meet.jitsi/focus"
ROOM = "standup@muc.meet.jitsi"


def start_iq(**overrides):
    values = dict(action="start", recording_mode=FILE, room=ROOM, session_id="s1",
                  app_data='{"file_recording_metadata":{"share":true}}')
    values.update(overrides)
    return JibriIq(**values)


def recorder(**kw):
    kw.setdefault("pending_timeout", 90)
    kw.setdefault("empty_timeout", 30)
    return Recorder(**kw)


def started(rec=None, now=0.0, **overrides):
    rec = rec or recorder()
    reply, effects = rec.start(start_iq(**overrides), FOCUS, now)
    assert reply.status == PENDING
    return rec, effects


def test_a_start_is_answered_pending_publishes_busy_and_begins_capture():
    rec, effects = started()
    publish, capture = effects
    assert publish == Publish(JibriStatus(busy=True, healthy=True))
    assert isinstance(capture, BeginCapture)
    job = capture.job
    assert (job.session_id, job.mode, job.room, job.focus) == ("s1", FILE, ROOM, FOCUS)
    assert job.app_data == {"file_recording_metadata": {"share": True}}
    assert rec.health()["status"]["busyStatus"] == "BUSY"


def test_a_second_start_while_busy_is_off_busy_and_retryable():
    rec, _ = started()
    reply, effects = rec.start(start_iq(session_id="s2"), FOCUS, 1.0)
    assert (reply.status, reply.failure_reason, reply.should_retry, effects) == (OFF, BUSY, True, [])


@pytest.mark.parametrize("overrides, words", [
    ({"sipaddress": "sip:a@b"}, "SIP"),
    ({"recording_mode": None}, "recording_mode"),
    ({"room": None}, "room"),
    ({"room": "standup@muc.meet.jitsi/focus"}, "room"),
    ({"app_data": "{not json"}, "JSON"),
    ({"app_data": "[1]"}, "object"),
    ({"recording_mode": STREAM}, "streamid"),
    ({"recording_mode": STREAM, "streamid": "http://example.com/live"}, "rtmp"),
    ({"recording_mode": STREAM, "streamid": "srt://example.com:9000"}, "rtmp"),
])
def test_a_request_no_recorder_could_serve_is_off_error_without_retry(overrides, words):
    rec = recorder()
    reply, effects = rec.start(start_iq(**overrides), FOCUS, 0.0)
    assert (reply.status, reply.failure_reason, reply.should_retry) == (OFF, ERROR, False)
    [refusal] = effects
    assert isinstance(refusal, Refusal) and words in refusal.reason
    assert rec.status() == JibriStatus(busy=False, healthy=True), "a refused request leaves it idle"


@pytest.mark.parametrize("streamid, url", [
    ("abcd-efgh-ijkl-mnop", "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop"),
    ("RTMP://127.0.0.1:1935/live/x", "RTMP://127.0.0.1:1935/live/x"),
    ("rtmps://live.example.com/app/key", "rtmps://live.example.com/app/key"),
])
def test_stream_mode_targets_the_url_or_youtubes_ingest(streamid, url):
    _, (_, capture) = started(recording_mode=STREAM, streamid=streamid)
    assert capture.job.stream_url == url


def test_capturing_sends_on_once_to_the_focus():
    rec, _ = started()
    assert rec.capturing("s1", 2.0) == [Notify(FOCUS, JibriIq(status=ON, session_id="s1"))]
    assert rec.capturing("s1", 3.0) == []
    assert rec.capturing("other", 3.0) == []


def test_a_failure_sends_off_error_with_the_retry_hint_then_idle_only_once_torn_down():
    rec, _ = started()
    rec.capturing("s1", 1.0)
    notify, end = rec.failed("s1", "disk full", False, 5.0)
    assert notify == Notify(FOCUS, JibriIq(status=OFF, failure_reason=ERROR, should_retry=False, session_id="s1"))
    assert end == EndCapture("s1", "disk full")
    assert rec.failed("s1", "again", True, 6.0) == [], "one closing status per session"
    assert rec.status().busy, "busy until the capture is torn down"
    assert rec.ended("s1", 7.0) == [Publish(JibriStatus(busy=False, healthy=True))]
    assert rec.deadline is None


def test_not_in_the_meeting_by_the_pending_timeout_fails_retryable():
    rec, _ = started(now=10.0)
    assert rec.deadline == 100.0
    assert rec.tick(99.9) == []
    notify, end = rec.tick(100.0)
    assert (notify.iq.status, notify.iq.failure_reason, notify.iq.should_retry) == (OFF, ERROR, True)
    assert "JIBRI_PENDING_TIMEOUT" in end.reason


def test_an_empty_meeting_ends_the_session_after_the_grace_unless_someone_comes_back():
    rec, _ = started()
    rec.capturing("s1", 1.0)
    rec.members("s1", 2, 1.0)
    assert rec.deadline is None
    rec.members("s1", 0, 10.0)
    assert rec.deadline == 40.0
    rec.members("s1", 1, 20.0)
    assert rec.deadline is None and rec.tick(45.0) == []
    rec.members("s1", 0, 50.0)
    notify, end = rec.tick(80.0)
    assert notify == Notify(FOCUS, JibriIq(status=OFF, session_id="s1")), "finished, not an error"
    assert end.reason == "the meeting is empty"


def test_the_usage_timeout_ends_a_long_recording():
    rec, _ = started(recorder(usage_timeout=600))
    rec.capturing("s1", 1.0)
    rec.members("s1", 3, 1.0)
    assert rec.deadline == 600
    [notify, end] = rec.tick(600)
    assert notify.iq.status == OFF and notify.iq.failure_reason is None and "JIBRI_USAGE_TIMEOUT" in end.reason


def test_the_focus_stop_is_answered_off_and_ends_the_capture_without_a_status_iq():
    rec, _ = started()
    rec.capturing("s1", 1.0)
    reply, effects = rec.stop(JibriIq(action="stop", session_id="s1"), 5.0)
    assert reply.status == OFF and effects == [EndCapture("s1", "stopped by the focus")]
    reply, effects = rec.stop(JibriIq(action="stop"), 6.0)
    assert reply.status == OFF and effects == [], "already ending"
    assert rec.meeting_ended("s1", "left", 7.0) == []


def test_a_stop_for_another_session_leaves_ours_running():
    rec, _ = started()
    reply, effects = rec.stop(JibriIq(action="stop", session_id="s9"), 5.0)
    assert reply.status == OFF and effects == [] and rec.session is not None


def test_the_meeting_ending_under_us_is_a_finished_session():
    rec, _ = started()
    rec.capturing("s1", 1.0)
    notify, end = rec.meeting_ended("s1", "room destroyed", 3.0)
    assert notify.iq == JibriIq(status=OFF, session_id="s1") and end.reason == "room destroyed"


def test_single_use_mode_expires_after_one_session_and_stays_busy_to_the_brewery():
    rec, _ = started(recorder(single_use=True))
    rec.failed("s1", "x", True, 1.0)
    assert rec.ended("s1", 2.0) == []
    assert rec.health()["status"]["busyStatus"] == "EXPIRED"
    assert rec.status().busy
    reply, _ = rec.start(start_iq(session_id="s2"), FOCUS, 3.0)
    assert (reply.status, reply.failure_reason) == (OFF, BUSY)


def test_health_reports_unhealthy():
    rec = recorder(healthy=False)
    assert rec.health() == {"status": {"busyStatus": "IDLE", "health": {"healthStatus": "UNHEALTHY", "details": {}}}}
    assert not rec.status().available
