"""The recorder and dial-out codecs against wire-shaped stanzas, as lib-jitsi-meet and Jibri write them."""

from xml.etree.ElementTree import fromstring, tostring

import pytest

from jitsi_py.common import ns
from jitsi_py.common.stanzas.jibri import (
    JibriIq,
    JibriStanzaError,
    JibriStatus,
    RecordingStatus,
    stream_url,
    view_url,
)
from jitsi_py.common.stanzas.rayo import Dial, RayoStanzaError, Ref, transcription_status

q = ns.tag


def test_a_moderators_stream_start_as_lib_jitsi_meet_sends_it():
    elem = fromstring(
        "<jibri xmlns='http://jitsi.org/protocol/jibri' action='start' recording_mode='stream'"
        " streamid='abcd-efgh-ijkl-mnop' app_data='{\"file_recording_metadata\":{\"share\":true}}'/>")
    iq = JibriIq.from_element(elem)
    assert (iq.action, iq.recording_mode, iq.streamid) == ("start", "stream", "abcd-efgh-ijkl-mnop")
    assert iq.session_id is None and iq.should_retry is None
    again = JibriIq.from_element(fromstring(tostring(iq.to_element())))
    assert again == iq


def test_failure_answer_round_trips_booleans_and_absent_retry_reads_false_upstream():
    iq = JibriIq(status="off", failure_reason="busy", should_retry=True, session_id="s1")
    elem = iq.to_element()
    assert elem.get("should_retry") == "true" and elem.get("action") is None
    assert JibriIq.from_element(elem) == iq


@pytest.mark.parametrize("xml", [
    "<jibri xmlns='http://jitsi.org/protocol/jibri' action='record'/>",
    "<jibri xmlns='http://jitsi.org/protocol/jibri' recording_mode='tape'/>",
    "<jibri xmlns='urn:other' action='start'/>",
])
def test_unknown_values_and_namespaces_are_refused_by_name(xml):
    with pytest.raises(JibriStanzaError):
        JibriIq.from_element(fromstring(xml))


def test_brewery_status_available_only_when_idle_and_healthy():
    presence = fromstring("<presence xmlns='jabber:client'/>")
    assert JibriStatus.from_presence(presence) is None
    presence.append(JibriStatus(busy=False, healthy=True).to_element())
    assert JibriStatus.from_presence(presence).available
    busy = fromstring("<presence xmlns='jabber:client'/>")
    busy.append(JibriStatus(busy=True, healthy=True).to_element())
    assert not JibriStatus.from_presence(busy).available


def test_recording_status_in_focus_presence():
    presence = fromstring("<presence xmlns='jabber:client'/>")
    RecordingStatus("on", "sid", "file", "room@muc/abcd").to_element(presence)
    status = RecordingStatus.from_presence(presence)
    assert status == RecordingStatus("on", "sid", "file", "room@muc/abcd", None)
    assert "failure_reason" not in presence.find(q(ns.JIBRI, "jibri-recording-status")).attrib


def test_stream_urls_as_jibri_builds_them():
    assert stream_url("RTMPS://live.example/app/key") == "RTMPS://live.example/app/key"
    assert stream_url("abcd-efgh") == "rtmp://a.rtmp.youtube.com/live2/abcd-efgh"
    assert view_url("xyz") == "http://youtu.be/xyz"
    assert view_url("https://example.com/watch") == "https://example.com/watch"


def test_dial_with_room_headers_round_trips():
    elem = fromstring(
        "<dial xmlns='urn:xmpp:rayo:1' to='+4930123456' from='fromnumber'>"
        "<header name='JvbRoomName' value='room@muc.meet.jitsi'/><header name='JvbRoomPassword' value='s'/></dial>")
    dial = Dial.from_element(elem)
    assert (dial.to, dial.from_, dial.room) == ("+4930123456", "fromnumber", "room@muc.meet.jitsi")
    assert Dial.from_element(dial.to_element()) == dial
    with pytest.raises(RayoStanzaError):
        Dial.from_element(fromstring("<dial xmlns='urn:xmpp:rayo:1'/>"))
    assert Ref.from_element(Ref("xmpp:1a2b3c4d@meet.jitsi").to_element()).uri == "xmpp:1a2b3c4d@meet.jitsi"


def test_transcription_status_is_upper_case_client_namespace():
    assert tostring(transcription_status("ON")) == b'<ns0:transcription-status xmlns:ns0="jabber:client" status="ON" />'
    with pytest.raises(RayoStanzaError):
        transcription_status("on")
