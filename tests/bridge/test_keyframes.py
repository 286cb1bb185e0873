"""Key frame detection for every codec the client may prefer (its default order is AV1, VP9, VP8,
H264): the forwarder only starts a receiver on a key frame, so a codec without a detector would
never forward video at all."""

import pytest

from jitsi_py.bridge.rtp import KEYFRAME_DETECTORS, av1_is_keyframe


@pytest.mark.parametrize("codec", ["AV1", "VP9", "VP8", "H264"])
def test_every_offered_codec_has_a_detector(codec):
    assert codec in KEYFRAME_DETECTORS


def test_av1_new_coded_video_sequence_is_a_key_frame():
    header = b"\x80" * 12
    assert av1_is_keyframe(header + bytes([0b0001_1000]) + b"obu", 12)  # W=1, N=1
    assert not av1_is_keyframe(header + bytes([0b0001_0000]) + b"obu", 12)  # W=1, N=0
    assert not av1_is_keyframe(header, 12)  # no payload
