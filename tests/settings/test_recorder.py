"""The recorder's settings: upstream's JIBRI_* names and defaults, bad values refused in one line."""

from pathlib import Path

import pytest

from jitsi_py.settings import Settings, SettingsError


def recorder(**values):
    return Settings.from_values(values).recorder


def test_upstream_defaults():
    r = recorder(CONFIG="/cfg", HOSTNAME="box1")
    assert (r.user, r.recorder_user, r.instance_id) == ("jibri", "recorder", "box1")
    assert r.recording_dir == Path("/cfg/jibri/recordings")
    assert (r.resolution, r.framerate, r.crf) == ((1280, 720), 30, 25)
    assert (r.preset_recording, r.preset_streaming) == ("ultrafast", "veryfast")
    assert r.streaming_max_bitrate == 2_976_000
    assert (r.pending_timeout, r.usage_timeout_minutes, r.single_use, r.http_port) == (90, 0, False, 2222)
    assert r.strip_domain == "muc" and r.finalize_script is None and not r.enabled


def test_values_as_docker_jitsi_meet_spells_them():
    r = recorder(JIBRI_RECORDING_RESOLUTION="1920x1080", JIBRI_RECORDING_STREAMING_MAX_BITRATE="6M",
                 XMPP_MUC_DOMAIN="conference.example.com", JIBRI_PENDING_TIMEOUT="2 minutes",
                 JIBRI_FINALIZE_RECORDING_SCRIPT_PATH="/config/finalize.sh", ENABLE_RECORDING="true")
    assert r.resolution == (1920, 1080) and r.streaming_max_bitrate == 6_000_000
    assert r.strip_domain == "conference" and r.pending_timeout == 120
    assert r.finalize_script == Path("/config/finalize.sh") and r.enabled


@pytest.mark.parametrize("name, value", [
    ("JIBRI_RECORDING_RESOLUTION", "1280*720"), ("JIBRI_RECORDING_RESOLUTION", "1281x720"),
    ("JIBRI_RECORDING_STREAMING_MAX_BITRATE", "fast"), ("JIBRI_RECORDING_VIDEO_ENCODE_PRESET_RECORDING", "placebo2"),
    ("JIBRI_RECORDING_CONSTANT_RATE_FACTOR", "52"), ("JITSI_PY_RECORDER_LAYOUT", "mosaic"),
])
def test_bad_values_name_their_variable(name, value):
    with pytest.raises(SettingsError) as error:
        recorder(**{name: value})
    assert str(error.value).startswith(f"{name}={value!r}: expected")
