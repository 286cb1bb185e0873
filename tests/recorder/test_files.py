"""Jibri's layout of a file recording: directory, name, meeting URL, metadata."""

from datetime import datetime, timezone
from pathlib import Path

from jitsi_py.recorder.files import MAX_NAME, meeting_url, metadata, recording_name, session_directory

WHEN = datetime(2026, 12, 7, 6, 5, 4, tzinfo=timezone.utc)


def test_the_session_directory_cannot_escape_the_recordings_directory():
    assert session_directory(Path("/r"), "a1-b_2") == Path("/r/a1-b_2")
    assert session_directory(Path("/r"), "../../etc/x y") == Path("/r/______etc_x_y")


def test_the_file_is_named_after_the_room_and_the_start_time():
    assert recording_name("standup", WHEN) == "standup_2026-12-07-06-05-04.mp4"
    assert recording_name("a/b", WHEN).startswith("a_b_")
    assert len(recording_name("x" * 300, WHEN)) == MAX_NAME


def test_the_meeting_url_carries_the_tenant():
    assert meeting_url("https://meet.example", "standup@muc.meet.jitsi", "meet.jitsi", "muc") == \
        "https://meet.example/standup"
    assert meeting_url("https://meet.example/", "standup@muc.acme.meet.jitsi", "meet.jitsi", "muc") == \
        "https://meet.example/acme/standup"


def test_metadata_puts_file_recording_metadata_at_the_top_level_under_ours():
    out = metadata("https://m/standup", [{"name": "Ann"}], WHEN, WHEN,
                   {"file_recording_metadata": {"share": True, "meeting_url": "spoof"}, "other": 1})
    assert out["share"] is True and out["meeting_url"] == "https://m/standup"
    assert out["participants"] == [{"name": "Ann"}] and "other" not in out
    assert out["start_time"] == "2026-12-07T06:05:04+00:00"
