"""The Jingle and Jitsi-extension codecs against wire-shaped fixtures."""

from pathlib import Path
from xml.etree.ElementTree import fromstring, tostring

import pytest

from jitsi_py.common.stanzas.jingle import (
    NS_FOCUS,
    Candidate,
    IceTransport,
    JingleError,
    Source,
    SsrcGroup,
    parse_jingle,
    q,
)
from jitsi_py.common.stanzas.jitsi import (
    ConferenceIq,
    JitsiStanzaError,
    MuteIq,
    ParticipantPresence,
    bridge_stats,
    build_bridge_stats,
    decode_sources,
    encode_sources,
)

DATA = Path(__file__).parent.parent / "focus" / "data"


def test_session_accept_fixture_parses():
    jingle = parse_jingle(fromstring((DATA / "session-accept.xml").read_text()))
    assert jingle.action == "session-accept" and jingle.sid == "4kq0v9oq1h5s0"
    assert jingle.bundle == ["audio", "video", "data"]
    audio, video, data = jingle.contents
    assert audio.payload_types[0].name == "opus" and audio.payload_types[0].parameters["useinbandfec"] == "1"
    assert audio.maxptime == 60 and audio.extmap_allow_mixed and audio.rtcp_mux
    assert audio.sources == [Source(2001, "audio", "3f2a9c1e-a0", "a8f1 d4e5")]
    assert audio.transport.fingerprints[0].setup == "active" and audio.transport.fingerprints[0].required
    assert [g.semantics for g in video.ssrc_groups] == ["SIM", "FID", "FID", "FID"]
    assert video.ssrc_groups[0] == SsrcGroup("SIM", (1001, 1002, 1003), "video")
    assert video.initial_last_n == 25
    assert data.media == "application" and data.transport.sctp_port == 5000


def test_jingle_round_trips():
    original = parse_jingle(fromstring((DATA / "session-accept.xml").read_text()))
    again = parse_jingle(fromstring(tostring(original.to_element())))
    assert again == original


def test_legacy_action_names_map_to_new_ones():
    elem = fromstring('<jingle xmlns="urn:xmpp:jingle:1" action="addsource" sid="s"/>')
    assert parse_jingle(elem).action == "source-add"


@pytest.mark.parametrize("xml, message", [
    ('<jingle xmlns="urn:xmpp:jingle:1" action="session-accept"/>', "lacks the 'sid'"),
    ('<jingle xmlns="urn:xmpp:jingle:1" action="dance" sid="s"/>', "unknown Jingle action"),
    ('<jingle xmlns="urn:xmpp:jingle:2" action="session-accept" sid="s"/>', "no <jingle"),
    ('<jingle xmlns="urn:xmpp:jingle:1" action="source-add" sid="s"><content name="video">'
     '<description xmlns="urn:xmpp:jingle:apps:rtp:1" media="video">'
     '<source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="x"/></description></content></jingle>',
     "is not an integer"),
    ('<jingle xmlns="urn:xmpp:jingle:1" action="transport-info" sid="s"><content name="audio">'
     '<transport xmlns="urn:xmpp:jingle:transports:ice-udp:1"><candidate foundation="1" ip="1.2.3.4" '
     'port="70000" priority="1" protocol="udp" type="host"/></transport></content></jingle>',
     "out of range"),
])
def test_malformed_jingle_raises_one_error_type(xml, message):
    with pytest.raises(JingleError, match=message):
        parse_jingle(fromstring(xml))


def test_transport_carries_sctpmap_only_for_data():
    transport = IceTransport("u", "p", [Candidate(1, "1", 0, "c0", "127.0.0.1", 10000, 1, "udp", "host")],
                             rtcp_mux=True, sctp_port=5000, web_sockets=["wss://x/colibri-ws/a"])
    plain = tostring(transport.to_element())
    data = tostring(transport.to_element(sctp=True))
    assert b"sctpmap" not in plain and b"sctpmap" in data and b"web-socket" in plain
    assert IceTransport.from_element(fromstring(data)) == transport


def test_json_sources_round_trip_in_the_compact_format():
    sources = [Source(1001, "video", "a-v0", "s t"), Source(1002, "video", "a-v0", "s t"),
               Source(2001, "audio", "a-a0", "s u"), Source(3001, "video", "a-v1", video_type="desktop")]
    groups = [SsrcGroup("FID", (1001, 1002), "video")]
    text = encode_sources({"a": (sources, groups)})
    assert text.startswith('{"sources":{"a":[[{"s":1001,"n":"a-v0","m":"s t"}')
    assert '{"s":3001,"n":"a-v1","v":"d"}' in text and '[["f",1001,1002]]' in text
    decoded = decode_sources(text)
    assert decoded["a"][1] == groups
    assert {s.ssrc: s.video_type for s in decoded["a"][0]}[3001] == "desktop"
    assert all(s.owner == "a" for s in decoded["a"][0])


@pytest.mark.parametrize("text", ["nope", '{"x":1}', '{"sources":{"a":[[]]}}', '{"sources":{"a":[[{"s":"1"}],[],[]]}}',
                                  '{"sources":{"a":[[],[["z",1,2]],[]]}}'])
def test_bad_json_sources_raise(text):
    with pytest.raises(JitsiStanzaError):
        decode_sources(text)


def test_conference_request_and_answer():
    request = ConferenceIq.from_element(fromstring(
        '<conference xmlns="http://jitsi.org/protocol/focus" room="standup@muc.meet.jitsi" machine-uid="m1">'
        '<property name="rtcstatsEnabled" value="false"/><property name="visitors-version" value="1"/>'
        '</conference>'))
    assert request.room == "standup@muc.meet.jitsi" and request.machine_uid == "m1"
    assert request.properties == {"rtcstatsEnabled": "false", "visitors-version": "1"}
    answer = ConferenceIq(request.room, ready=True, focus_jid="focus@auth.meet.jitsi",
                          properties={"authentication": "false"})
    elem = answer.to_element()
    assert elem.get("ready") == "true" and elem.get("focusjid") == "focus@auth.meet.jitsi"
    with pytest.raises(JitsiStanzaError, match="No 'room' specified"):
        ConferenceIq.from_element(fromstring('<conference xmlns="http://jitsi.org/protocol/focus"/>'))


def test_bridge_stats_and_participant_presence():
    presence = fromstring('<presence xmlns="jabber:client"/>')
    presence.append(build_bridge_stats({"stress_level": 0.25, "drain": False, "region": "eu"}))
    assert bridge_stats(presence) == {"stress_level": "0.25", "drain": "false", "region": "eu"}
    assert bridge_stats(fromstring("<presence/>")) is None
    info = ParticipantPresence.from_element(fromstring(
        '<presence xmlns="jabber:client"><jitsi_participant_region>us</jitsi_participant_region>'
        '<stats-id>Mireille-8Kd</stats-id><c xmlns="http://jabber.org/protocol/caps" node="n" ver="v"/>'
        '<SourceInfo>{"a-a0":{"muted":true}}</SourceInfo><audiomuted>true</audiomuted></presence>'))
    assert (info.region, info.stats_id, info.caps_ver, info.audio_muted) == ("us", "Mireille-8Kd", "v", True)
    assert info.source_info == {"a-a0": {"muted": True}}


def test_mute_iq():
    mute = MuteIq.from_element(fromstring(
        '<mute xmlns="http://jitsi.org/jitmeet/audio" jid="r@muc.meet.jitsi/b">true</mute>'))
    assert (mute.media, mute.jid, mute.mute) == ("audio", "r@muc.meet.jitsi/b", True)
    mute.actor = "r@muc.meet.jitsi/a"
    assert MuteIq.from_element(mute.to_element()) == mute
    with pytest.raises(JitsiStanzaError):
        MuteIq.from_element(fromstring('<mute xmlns="http://jitsi.org/jitmeet/audio">true</mute>'))


def test_bridge_session_element():
    jingle = parse_jingle(fromstring(
        f'<jingle xmlns="urn:xmpp:jingle:1" action="session-terminate" sid="s"><reason><connectivity-error/>'
        f'<text>ICE FAILED</text></reason><bridge-session xmlns="{NS_FOCUS}" id="b1" restart="true"/></jingle>'))
    assert jingle.reason == "connectivity-error" and jingle.reason_text == "ICE FAILED"
    assert jingle.bridge_session.id == "b1" and jingle.bridge_session.restart
    assert jingle.to_element().find(q(NS_FOCUS, "bridge-session")).get("restart") == "true"
