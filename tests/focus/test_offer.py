"""Codecs and header extensions of the offer follow the settings and the participant's features
(docs/focus.md §3.1), in jicofo's order."""

from jitsi_py.common.stanzas.jitsi import (
    DEFAULT_FEATURES,
    FEATURE_AUDIO,
    FEATURE_OPUS_RED,
    FEATURE_REMB,
    FEATURE_RTX,
    FEATURE_TCC,
    FEATURE_VIDEO,
)
from jitsi_py.focus.jingle import AV1_DEPENDENCY_DESCRIPTOR, SDES_MID, TRANSPORT_CC, Offer
from jitsi_py.settings import Settings

BROWSER = {FEATURE_AUDIO, FEATURE_VIDEO, FEATURE_RTX, FEATURE_TCC, FEATURE_REMB, FEATURE_OPUS_RED}


def offer(**env):
    return Offer.from_settings(Settings.from_values(env).focus)


def test_defaults_are_jicofos():
    audio, video = offer().media(BROWSER)
    assert [(p.id, p.name) for p in video.payload_types] == [
        (41, "AV1"), (100, "VP8"), (107, "H264"), (101, "VP9"), (42, "rtx"), (96, "rtx"), (99, "rtx"), (97, "rtx")]
    assert {p.parameters["apt"]: p.id for p in video.payload_types if p.name == "rtx"} == {
        "41": 42, "100": 96, "101": 97, "107": 99}
    assert [(f.type, f.subtype) for f in video.payload_types[0].rtcp_fb] == [
        ("ccm", "fir"), ("nack", None), ("nack", "pli"), ("transport-cc", None)]
    assert {e.id: e.uri for e in video.header_extensions}[11] == AV1_DEPENDENCY_DESCRIPTOR
    assert [(p.id, p.name) for p in audio.payload_types] == [(111, "opus"), (126, "telephone-event")]
    assert audio.payload_types[0].parameters == {"minptime": "10", "useinbandfec": "1"}
    assert SDES_MID not in {e.uri for e in audio.header_extensions}


def test_what_a_participant_does_not_support_is_not_offered():
    audio, video = offer().media(DEFAULT_FEATURES)
    assert "rtx" not in {p.name for p in video.payload_types}
    assert TRANSPORT_CC not in {e.uri for e in video.header_extensions + audio.header_extensions}
    assert offer().media({FEATURE_VIDEO})[0].type == "video"


def test_switches():
    audio, video = offer(ENABLE_CODEC_AV1="0", ENABLE_CODEC_VP9="false", ENABLE_CODEC_OPUS_RED="1", ENABLE_TCC="0",
                         JICOFO_ENABLE_MID="1").media(BROWSER)
    assert {p.name for p in video.payload_types} == {"VP8", "H264", "rtx"}
    assert ("goog-remb", None) in {(f.type, f.subtype) for f in video.payload_types[0].rtcp_fb}
    assert TRANSPORT_CC not in {e.uri for e in video.header_extensions}
    assert SDES_MID in {e.uri for e in audio.header_extensions}
    assert audio.payload_types[0].name == "red"
