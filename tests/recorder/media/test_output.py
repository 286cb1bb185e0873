import errno
import socket
import threading
import time

import pytest

from jitsi_py.recorder.media.output import EncodeSettings, Output, RecordingFailed, failure, redacted, target_kind


def test_settings_from_upstreams_spelling():
    s = EncodeSettings.from_jibri(resolution="1920x1080", framerate="25", preset="ultrafast", crf="23",
                                  max_bitrate="2976k")
    assert (s.width, s.height, s.framerate, s.preset, s.crf, s.video_bitrate) == (1920, 1080, 25, "ultrafast", 23,
                                                                                   2_976_000)
    assert EncodeSettings.from_jibri(max_bitrate="2976").video_bitrate == 2_976_000  # a bare number is kb/s
    assert EncodeSettings.from_jibri(max_bitrate="").video_bitrate is None


@pytest.mark.parametrize("kwargs", [
    {"width": 1279}, {"height": 8}, {"framerate": 0}, {"framerate": 120}, {"preset": "warp"}, {"crf": 52},
    {"video_bitrate": 0},
])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        EncodeSettings(**kwargs)


@pytest.mark.parametrize("value", ["1280", "1280x", "big"])
def test_bad_resolution_strings_are_refused(value):
    with pytest.raises(ValueError, match="resolution"):
        EncodeSettings.from_jibri(resolution=value)


@pytest.mark.parametrize(("target", "kind"), [
    ("/rec/room_2026-12-07-06-00-00.mp4", "file"), ("relative/x.mp4", "file"),
    ("rtmp://a.rtmp.youtube.com/live2/key", "stream"), ("RTMPS://host:443/app/key", "stream"),
])
def test_targets(target, kind):
    assert target_kind(target) == kind


@pytest.mark.parametrize("target", ["http://host/x", "srt://host:9000", "file:///x.mp4", "rtmp:///nohost", ""])
def test_unsupported_targets_are_a_value_error(target):
    with pytest.raises(ValueError):
        target_kind(target)


def test_stream_keys_stay_out_of_reasons():
    assert redacted("rtmp://a.rtmp.youtube.com/live2/secret-key") == "rtmp://a.rtmp.youtube.com"
    assert redacted("rtmps://h:4443/app/secret") == "rtmps://h:4443"
    reason = failure(ConnectionRefusedError(errno.ECONNREFUSED, "x"), "stream", "rtmp://h/app/secret", "cannot reach")
    assert "secret" not in reason.reason and "connection refused" in reason.reason and reason.retryable


def test_failures_say_what_happened():
    assert failure(OSError(errno.ENOSPC, "x"), "file", "/r/a.mp4", "cannot write to").reason == \
        "cannot write to /r/a.mp4: disk full"
    assert not failure(OSError(errno.EACCES, "x"), "file", "/r/a.mp4", "cannot open").retryable
    timed_out = failure(TimeoutError(), "stream", "rtmp://h/a/k", "cannot reach")
    assert timed_out.reason == "cannot reach rtmp://h: timed out" and timed_out.retryable


def test_a_closed_port_fails_at_once():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        started = time.monotonic()
        with pytest.raises(RecordingFailed, match="connection refused") as caught:
            Output(f"rtmp://127.0.0.1:{port}/live/k", EncodeSettings(width=64, height=64)).open()
    assert caught.value.retryable and time.monotonic() - started < 2


def test_a_server_that_never_answers_the_handshake_times_out():
    with socket.create_server(("127.0.0.1", 0)) as server:
        accepted = []
        threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
        started = time.monotonic()
        with pytest.raises(RecordingFailed, match="timed out"):
            Output(f"rtmp://127.0.0.1:{server.getsockname()[1]}/live/k", EncodeSettings(width=64, height=64),
                   io_timeout=1.0).open()
        assert time.monotonic() - started < 3
        for conn, _ in accepted:
            conn.close()


def test_a_file_where_a_directory_should_be_cannot_be_opened(tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(RecordingFailed, match="cannot open") as caught:
        Output(str(tmp_path / "taken" / "room.mp4"), EncodeSettings(width=64, height=64)).open()
    assert not caught.value.retryable
