"""Real stanzas for the fuzz tests of ``common/``: what lib-jitsi-meet, jicofo and JVB put on the
wire (the focus fixtures, the Colibri2 shapes of ``test_colibri2.py``), as bytes and as elements."""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import fromstring

from .test_colibri2 import CREATE, UPDATE

DATA = Path(__file__).parent.parent / "focus" / "data"
SOURCES_JSON = ('{"sources":{"3f2a9c1e":[[{"s":1001,"n":"3f2a9c1e-v0","m":"a b"},{"s":1002},{"s":1011,"v":"d"}],'
                '[["s",1001,1002],["f",1001,1011]],[{"s":2001,"n":"3f2a9c1e-a0"}]],'
                '"jvb":[[{"s":3196720987}],[],[{"s":411230776}],[]]}}')

SESSION_INITIATE = f"""
<jingle xmlns="urn:xmpp:jingle:1" action="session-initiate" initiator="focus@auth.meet.jitsi/focus" sid="s1">
 <content creator="initiator" name="audio" senders="both">
  <description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio" maxptime="60">
   <payload-type id="111" name="opus" clockrate="48000" channels="2"><parameter name="minptime" value="10"/>
    <rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="transport-cc"/></payload-type>
   <rtp-hdrext xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0" id="1" uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"/>
   <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="411230776" name="jvb-a0"><ssrc-info xmlns="http://jitsi.org/jitmeet" owner="jvb"/></source>
   <rtcp-mux/>
  </description>
  <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="8c1ab" pwd="3f0e9d5c1b7a4e2f98d6c0aa">
   <fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="actpass">5A:0C:11</fingerprint>
   <candidate component="1" foundation="1" generation="0" id="c1" network="0" ip="198.51.100.7" port="10000" priority="2130706431" protocol="udp" type="host"/>
   <rtcp-mux/>
  </transport>
 </content>
 <content creator="initiator" name="video" senders="both">
  <description xmlns="urn:xmpp:jingle:apps:rtp:1" media="video">
   <payload-type id="100" name="VP8" clockrate="90000"><rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="nack" subtype="pli"/></payload-type>
   <payload-type id="96" name="rtx" clockrate="90000"><parameter name="apt" value="100"/></payload-type>
   <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1001" name="a-v0" videoType="camera"><parameter name="msid" value="s t"/></source>
   <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1011" name="a-v0"/>
   <ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="FID"><source ssrc="1001"/><source ssrc="1011"/></ssrc-group>
  </description>
  <initial-last-n xmlns="jitsi:colibri2" value="25"/>
 </content>
 <content creator="initiator" name="data">
  <description xmlns="urn:xmpp:jingle:apps:rtp:1" media="application"/>
  <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="8c1ab" pwd="3f0e9d5c1b7a4e2f98d6c0aa">
   <sctpmap xmlns="urn:xmpp:jingle:transports:dtls-sctp:1" number="5000" protocol="webrtc-datachannel" streams="1024"/>
  </transport>
 </content>
 <group xmlns="urn:xmpp:jingle:apps:grouping:0" semantics="BUNDLE"><content name="audio"/><content name="video"/><content name="data"/></group>
 <bridge-session xmlns="http://jitsi.org/protocol/focus" id="b1" region="eu"/>
 <json-message xmlns="http://jitsi.org/jitmeet">{SOURCES_JSON}</json-message>
</jingle>"""

SOURCE_ADD = """
<jingle xmlns="urn:xmpp:jingle:1" action="addsource" sid="s1">
 <content name="video"><description xmlns="urn:xmpp:jingle:apps:rtp:1" media="video">
  <source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="5001" name="b-v0"/>
  <ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="SIM"><source ssrc="5001"/><source ssrc="5002"/></ssrc-group>
 </description></content>
</jingle>"""

SESSION_TERMINATE = """
<jingle xmlns="urn:xmpp:jingle:1" action="session-terminate" sid="s1"><reason><connectivity-error/>
<text>ICE FAILED</text></reason><bridge-session xmlns="http://jitsi.org/protocol/focus" id="b1" restart="true"/></jingle>"""

SESSION_INFO = """
<jingle xmlns="urn:xmpp:jingle:1" action="session-info" sid="s1"><ice-state xmlns="http://jitsi.org/protocol/focus">failed</ice-state>
<bridge-session xmlns="http://jitsi.org/protocol/focus" id="b1"/></jingle>"""

RELAY_MODIFY = """
<conference-modify xmlns="jitsi:colibri2" meeting-id="m1">
 <relay id="jvb2" create="true" mesh-id="0">
  <media type="video"><payload-type xmlns="urn:xmpp:jingle:apps:rtp:1" id="100" name="VP8" clockrate="90000"/></media>
  <transport ice-controlling="false" use-unique-port="true">
   <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="u" pwd="p">
    <fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="passive">AB:12</fingerprint>
   </transport>
  </transport>
  <endpoints>
   <endpoint id="carol" create="true" stats-id="Carol-1"><sources>
    <media-source type="video" id="carol-v0"><source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="3001" name="carol-v0"/></media-source>
   </sources></endpoint>
   <endpoint id="dave" expire="true"/>
  </endpoints>
 </relay>
</conference-modify>"""

CONFERENCE_IQ = """
<conference xmlns="http://jitsi.org/protocol/focus" room="standup@muc.meet.jitsi" machine-uid="m1">
<property name="rtcstatsEnabled" value="false"/><property name="visitors-version" value="1"/></conference>"""

LOGOUT_IQ = """<logout xmlns="http://jitsi.org/protocol/focus" session-id="abc"/>"""

MUTE_IQ = """<mute xmlns="http://jitsi.org/jitmeet/video" jid="r@muc.meet.jitsi/b" actor="r@muc.meet.jitsi/a">true</mute>"""

PRESENCE = """
<presence xmlns="jabber:client" to="r@muc.meet.jitsi/focus" from="r@muc.meet.jitsi/3f2a9c1e">
 <stats-id>Mireille-8Kd</stats-id><jitsi_participant_region>eu</jitsi_participant_region>
 <c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="https://jitsi.org/jitsi-meet" ver="cvjWXufsg4xT62Ec2mlATkFZ9lk="/>
 <SourceInfo>{"3f2a9c1e-a0":{"muted":true},"3f2a9c1e-v0":{"muted":false,"videoType":"camera"}}</SourceInfo>
 <audiomuted>true</audiomuted><videomuted>false</videomuted>
 <nick xmlns="http://jabber.org/protocol/nick">Mireille</nick>
 <x xmlns="http://jabber.org/protocol/muc#user"><item affiliation="none" role="participant"/></x>
</presence>"""

BRIDGE_PRESENCE = """
<presence xmlns="jabber:client"><stats xmlns="http://jitsi.org/protocol/colibri">
<stat name="stress_level" value="0.07"/><stat name="drain" value="false"/><stat name="region" value="eu"/>
<stat value="no name"/></stats></presence>"""

JINGLE = [SESSION_INITIATE, SOURCE_ADD, SESSION_TERMINATE, SESSION_INFO, (DATA / "session-accept.xml").read_text()]
COLIBRI2 = [CREATE, UPDATE, RELAY_MODIFY, (DATA / "conference-modified.xml").read_text()]
JITSI = [CONFERENCE_IQ, LOGOUT_IQ, MUTE_IQ, PRESENCE, BRIDGE_PRESENCE]
ALL = JINGLE + COLIBRI2 + JITSI


def elements(texts: list[str]):
    return [fromstring(text) for text in texts]
