"""The Colibri2 codec against the request and answer shapes jicofo and JVB exchange (docs/colibri2.md §3-5)."""

from xml.etree.ElementTree import fromstring, tostring

import pytest

from jitsi_py.common.stanzas.colibri2 import (
    CONFERENCE_MODIFY,
    Colibri2Error,
    ConferenceModified,
    ConferenceModify,
    Connect,
    Endpoint,
    ForceMute,
    Media,
    MediaSource,
    Sctp,
    Transport,
    error_reason,
    parse_conference_modified,
    parse_conference_modify,
    reason_element,
)
from jitsi_py.common.stanzas.jingle import Candidate, Fingerprint, IceTransport, PayloadType, Source, SsrcGroup

CREATE = """
<conference-modify xmlns="jitsi:colibri2" meeting-id="0b9d3c62-7f3e-4c39-9d55-6c2f5b1e8f11"
                   name="standup@muc.meet.jitsi" create="true">
 <endpoint id="3f2a9c1e" create="true" stats-id="Mireille-8Kd">
  <media type="audio">
   <payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="111" name="opus" clockrate="48000" channels="2">
     <parameter name="minptime" value="10"/>
     <rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="transport-cc"/>
   </payload-type>
   <rtp-hdrext xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0" id="1" uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"/>
   <extmap-allow-mixed xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0"/>
  </media>
  <transport ice-controlling="true"><sctp/></transport>
  <sources/>
  <capability name="source-names"/>
  <capability name="ssrc-rewriting"/>
 </endpoint>
 <tracing xmlns="jitsi:colibri2" anything="ignored"/>
</conference-modify>
"""

UPDATE = """
<conference-modify xmlns="jitsi:colibri2" meeting-id="m1">
 <endpoint id="3f2a9c1e" stats-id="Mireille-8Kd">
  <transport>
   <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="Zq7k" pwd="x8V0n3">
     <fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="active">AB:12</fingerprint>
     <candidate component="1" foundation="3177000233" generation="0" id="1" ip="192.0.2.44" network="1"
                port="53121" priority="2122260223" protocol="udp" type="host"/>
   </transport>
  </transport>
  <sources>
   <media-source type="video" id="3f2a9c1e-v0">
     <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1001" name="3f2a9c1e-v0" videoType="camera"/>
     <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1002" name="3f2a9c1e-v0"/>
     <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1011" name="3f2a9c1e-v0"/>
     <ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="SIM">
       <source ssrc="1001"/><source ssrc="1002"/></ssrc-group>
     <ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="FID">
       <source ssrc="1001"/><source ssrc="1011"/></ssrc-group>
   </media-source>
  </sources>
  <force-mute audio="true"/>
  <initial-last-n value="25"/>
 </endpoint>
</conference-modify>
"""


def test_parse_create_request():
    request = parse_conference_modify(fromstring(CREATE))
    assert (request.meeting_id, request.name, request.create, request.expire) == (
        "0b9d3c62-7f3e-4c39-9d55-6c2f5b1e8f11", "standup@muc.meet.jitsi", True, False)
    endpoint = request.endpoint("3f2a9c1e")
    assert endpoint.create and endpoint.stats_id == "Mireille-8Kd"
    assert endpoint.capabilities == ["source-names", "ssrc-rewriting"]
    assert endpoint.sources == []
    (audio,) = endpoint.media
    assert audio.type == "audio" and audio.extmap_allow_mixed
    assert audio.payload_types[0].name == "opus" and audio.payload_types[0].rtcp_fb[0].type == "transport-cc"
    assert audio.header_extensions[0].id == 1
    assert endpoint.transport.ice_controlling is True and endpoint.transport.sctp == Sctp()
    assert endpoint.transport.ice is None


def test_parse_update_request():
    endpoint = parse_conference_modify(fromstring(UPDATE)).endpoints[0]
    assert not endpoint.create and endpoint.media == []
    ice = endpoint.transport.ice
    assert (ice.ufrag, ice.pwd) == ("Zq7k", "x8V0n3")
    assert ice.fingerprints[0].setup == "active" and ice.candidates[0].port == 53121
    (video,) = endpoint.sources
    assert video.id == "3f2a9c1e-v0" and [s.ssrc for s in video.sources] == [1001, 1002, 1011]
    assert video.sources[0].video_type == "camera"
    assert [g.semantics for g in video.ssrc_groups] == ["SIM", "FID"]
    assert endpoint.force_mute == ForceMute(audio=True, video=None)
    assert endpoint.initial_last_n == 25


@pytest.mark.parametrize("text", [CREATE, UPDATE])
def test_request_round_trips(text):
    request = parse_conference_modify(fromstring(text))
    again = parse_conference_modify(fromstring(tostring(request.to_element())))
    request.connects = again.connects = None
    assert again == request


def test_built_request_reads_like_jicofo():
    request = ConferenceModify("m1", name="room@muc.meet.jitsi", create=True, endpoints=[
        Endpoint("e1", create=True, media=[Media("audio", [PayloadType(111, "opus", 48000, 2)])],
                 transport=Transport(ice_controlling=True, sctp=Sctp()), capabilities=["source-names"]),
    ])
    elem = request.to_element()
    assert elem.tag == CONFERENCE_MODIFY and elem.get("create") == "true"
    xml = tostring(elem).decode()
    assert 'ice-controlling="true"' in xml and "rtcstats-enabled" not in xml


def test_answer_round_trips():
    ice = IceTransport("8c1ab", "pwd", [Candidate(1, "1", 0, "c1", "198.51.100.7", 10000, 2130706431, "udp", "host")],
                       [Fingerprint("sha-256", "5A:0C", "actpass")], rtcp_mux=True,
                       web_sockets=["wss://meet.example/colibri-ws/jvb1/c/e1?pwd=x"])
    answer = ConferenceModified(
        [Endpoint("e1", transport=Transport(ice=ice, sctp=Sctp(5000, "server"))), Endpoint("e2", expire=True)],
        sources=[MediaSource("audio", "jvb-a0", [Source(411230776, "audio", "jvb-a0")]),
                 MediaSource("video", "jvb-v0", [Source(3196720987, "video", "jvb-v0")])],
    )
    parsed = parse_conference_modified(fromstring(tostring(answer.to_element())))
    assert parsed == answer
    assert parsed.endpoint("e1").transport.ice.web_sockets == ["wss://meet.example/colibri-ws/jvb1/c/e1?pwd=x"]
    assert parsed.endpoint("e2").expire


def test_ssrc_groups_keep_order():
    source = MediaSource("video", "v0", [Source(1, "video"), Source(2, "video")], [SsrcGroup("SIM", (2, 1))])
    again = MediaSource.from_element(source.to_element(fromstring("<x/>")))
    assert again.ssrc_groups[0].ssrcs == (2, 1)


@pytest.mark.parametrize("text, message", [
    ("<conference-modify xmlns='jitsi:colibri2'/>", "lacks the 'meeting-id' attribute"),
    ("<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint/></conference-modify>",
     "<endpoint> lacks the 'id' attribute"),
    ("<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint id='e'><media type='text'/>"
     "</endpoint></conference-modify>", "neither audio nor video"),
    ("<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint id='e'><initial-last-n value='x'/>"
     "</endpoint></conference-modify>", "is not an integer"),
    ("<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint id='e'><sources><media-source "
     "type='audio' id='a'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='-1'/></media-source></sources>"
     "</endpoint></conference-modify>", "out of range"),
    ("<conference-modified xmlns='jitsi:colibri2'/>", "no <conference-modify"),
])
def test_bad_requests_raise_one_error(text, message):
    with pytest.raises(Colibri2Error, match=message):
        parse_conference_modify(fromstring(text))


def test_error_reason_round_trip():
    error = fromstring("<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>")
    assert error_reason(error) is None
    error.append(reason_element("unknown_endpoint", "e1"))
    assert error_reason(error) == "unknown_endpoint"
    assert error.find("{jitsi:colibri2}error/{jitsi:colibri2}endpoint").get("id") == "e1"


# A transcriber connect as jicofo's ConnectSpec builds it (the id, create/expire as for endpoints).
CONNECTS = """
<conference-modify xmlns="jitsi:colibri2" meeting-id="m1">
 <connects>
  <connect id="transcriber" url="wss://transcriber.example/m1" protocol="mediajson" type="transcriber"
           audio="true" create="true">
   <http-header name="Authorization" value="Bearer x"/>
   <ping interval="10000" timeout="3000"/>
   <exports><export name="3f2a9c1e-a0"/></exports>
  </connect>
  <connect id="old" url="ws://t/m1" protocol="mediajson" type="recorder" expire="true"/>
 </connects>
</conference-modify>"""


def test_connects_parse_and_round_trip():
    request = parse_conference_modify(fromstring(CONNECTS))
    assert request.connects == [
        Connect("wss://transcriber.example/m1", "transcriber", "mediajson", "transcriber", audio=True, create=True,
                http_headers=[("Authorization", "Bearer x")], ping=(10000, 3000), exports=["3f2a9c1e-a0"]),
        Connect("ws://t/m1", "old", type="recorder", expire=True),
    ]
    again = parse_conference_modify(fromstring(tostring(request.to_element())))
    assert again.connects == request.connects
    assert parse_conference_modify(fromstring(CREATE)).connects is None  # no <connects>: nothing said
    empty = ConferenceModify("m1", connects=[]).to_element()  # the older form's "stop exporting"
    assert parse_conference_modify(empty).connects == []


@pytest.mark.parametrize("attrs, message", [
    ('protocol="mediajson" type="transcriber"', "<connect> lacks the 'url' attribute"),
    ('url="http://t/m" protocol="mediajson" type="transcriber"', "is not a ws:// or wss:// URL"),
    ('url="ws://t/m" protocol="rtp" type="transcriber"', "<connect protocol='rtp'> is not one of mediajson"),
    ('url="ws://t/m" protocol="mediajson" type="dj"', "<connect type='dj'> is not one of"),
])
def test_bad_connects_raise_one_error(attrs, message):
    text = f'<conference-modify xmlns="jitsi:colibri2" meeting-id="m"><connects><connect {attrs}/></connects>' \
           "</conference-modify>"
    with pytest.raises(Colibri2Error, match=message):
        parse_conference_modify(fromstring(text))
