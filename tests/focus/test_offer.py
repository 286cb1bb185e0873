"""Codecs and header extensions of the offer follow the settings (focus.md §3.1)."""

from jitsi_py.focus.jingle import AV1_DEPENDENCY_DESCRIPTOR, SDES_MID, TRANSPORT_CC, Offer
from jitsi_py.settings import Settings


def test_defaults_are_jicofos():
    offer = Offer.from_settings(Settings.from_values({}).focus)
    video = offer.video()
    assert [(p.id, p.name) for p in video.payload_types if p.name != "rtx"] == [
        (41, "AV1"), (100, "VP8"), (101, "VP9"), (107, "H264")]
    assert {p.parameters["apt"]: p.id for p in video.payload_types if p.name == "rtx"} == {
        "41": 42, "100": 96, "101": 97, "107": 99}
    assert {(f.type, f.subtype) for f in video.payload_types[0].rtcp_fb} == {
        ("ccm", "fir"), ("nack", None), ("nack", "pli"), ("transport-cc", None)}
    assert {e.id: e.uri for e in video.header_extensions}[11] == AV1_DEPENDENCY_DESCRIPTOR
    audio = offer.audio()
    assert [(p.id, p.name) for p in audio.payload_types] == [(111, "opus"), (126, "telephone-event")]
    assert audio.payload_types[0].parameters == {"minptime": "10", "useinbandfec": "1"}
    assert SDES_MID not in {e.uri for e in audio.header_extensions}


def test_switches():
    offer = Offer.from_settings(Settings.from_values({
        "ENABLE_CODEC_AV1": "0", "ENABLE_CODEC_VP9": "false", "ENABLE_CODEC_OPUS_RED": "1", "ENABLE_TCC": "0",
        "JICOFO_ENABLE_MID": "1"}).focus)
    video = offer.video()
    assert {p.name for p in video.payload_types} == {"VP8", "H264", "rtx"}
    assert ("goog-remb", None) in {(f.type, f.subtype) for f in video.payload_types[0].rtcp_fb}
    assert TRANSPORT_CC not in {e.uri for e in video.header_extensions}
    assert SDES_MID in {e.uri for e in offer.audio().header_extensions}
    assert offer.audio().payload_types[0].name == "red"
