"""What the bridge's XMPP side puts on the wire: brewery presence with its stats, Colibri2 and
health-check errors. The literals are the bytes the bridge sent before its stats went through the
shared codec (``common/stanzas/jitsi.py``) and its errors through ``common/errors.py``; the focus
reads both."""

from xml.etree.ElementTree import fromstring

import pytest
import slixmpp

from jitsi_py.bridge.videobridge import Videobridge
from jitsi_py.bridge.xmpp import BridgeXmpp
from jitsi_py.common import ns
from jitsi_py.common.stanzas import colibri2 as c2
from jitsi_py.common.stanzas.jitsi import bridge_stats

FOCUS, JVB = "focus@auth.meet.jitsi/focus", "jvb@auth.meet.jitsi/jvb"
ERRORS = 'xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"'


@pytest.fixture
def sent():
    """A BridgeXmpp that never connects, and the stanzas it sends, serialized."""
    bridge = Videobridge(candidates=[])
    client = BridgeXmpp(bridge, jid="jvb@auth.meet.jitsi", password="x", brewery="jvbbrewery@internal-muc.meet.jitsi",
                        nickname="jvb1", server="127.0.0.1", port=1)
    out: list[str] = []
    client.xmpp.send = lambda stanza, *args, **kwargs: out.append(str(stanza))
    return client, out


def iq(client: BridgeXmpp, payload: str, type_: str = "set") -> slixmpp.Iq:
    return slixmpp.Iq(client.xmpp, xml=fromstring(
        f'<iq xmlns="{ns.CLIENT}" type="{type_}" id="i1" from="{FOCUS}" to="{JVB}">{payload}</iq>'))


def test_brewery_presence_carries_the_stats_as_before_and_the_focus_codec_reads_them(sent):
    client, out = sent
    client.bridge.stats = lambda: {"stress_level": 0.07, "drain": False, "healthy": True, "conferences": 3,
                                   "region": "eu"}
    client._presence(join=True)
    client._presence(join=False)
    stats = ('<stats xmlns="http://jitsi.org/protocol/colibri"><stat name="stress_level" value="0.07" />'
             '<stat name="drain" value="false" /><stat name="healthy" value="true" />'
             '<stat name="conferences" value="3" /><stat name="region" value="eu" /></stats>')
    assert [s.split(">", 1)[1] for s in out] == [
        f'<x xmlns="http://jabber.org/protocol/muc" />{stats}</presence>', f"{stats}</presence>"]


def test_the_focus_reads_every_stat_the_bridge_sends(sent):
    client, out = sent
    client._presence(join=False)
    sent_stats = client.bridge.stats()
    read = bridge_stats(fromstring(out[0].replace("<presence ", f'<presence xmlns="{ns.CLIENT}" ', 1)))
    assert read.keys() == sent_stats.keys()
    assert read["drain"] == "false" and read["healthy"] == "true"
    assert float(read["stress_level"]) == pytest.approx(sent_stats["stress_level"], abs=1e-3)


@pytest.mark.parametrize("payload, type_, error", [
    ('<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"/>', "set",
     (f'<error type="cancel"><item-not-found {ERRORS} /><text {ERRORS}>Conference not found</text>'
      '<error xmlns="jitsi:colibri2" reason="conference_not_found" /></error>')),
    ('<conference-modify xmlns="jitsi:colibri2" meeting-id="m3" create="true" name="not a jid"/>', "set",
     (f'<error type="modify"><bad-request {ERRORS} /><text {ERRORS}>Invalid conference name (not a JID)</text>'
      '</error>')),
    ('<conference-modify xmlns="jitsi:colibri2" meeting-id="m1"/>', "get",
     (f'<error type="modify"><bad-request {ERRORS} /><text {ERRORS}>conference-modify must be an IQ set</text>'
      '</error>')),
    ('<conference-modify xmlns="jitsi:colibri2"/>', "set",
     (f'<error type="modify"><bad-request {ERRORS} /><text {ERRORS}>&lt;conference-modify&gt; lacks the '
      '&apos;meeting-id&apos; attribute</text></error>')),
])
async def test_colibri2_errors_on_the_wire(sent, payload, type_, error):
    client, out = sent
    client._on_colibri2(iq(client, payload, type_))
    assert out == [f'<iq type="error" id="i1" to="{FOCUS}">{error}</iq>']


async def test_an_unknown_endpoint_error_names_it(sent):
    client, out = sent
    client._on_colibri2(iq(client, '<conference-modify xmlns="jitsi:colibri2" meeting-id="m" create="true" '
                                   'name="r@muc.meet.jitsi"/>'))
    client._on_colibri2(iq(client, '<conference-modify xmlns="jitsi:colibri2" meeting-id="m">'
                                   '<endpoint id="zz"><transport/></endpoint></conference-modify>'))
    assert out[1] == (f'<iq type="error" id="i1" to="{FOCUS}"><error type="cancel"><item-not-found {ERRORS} />'
                      f'<text {ERRORS}>Unknown endpoint</text><error xmlns="jitsi:colibri2" reason="unknown_endpoint">'
                      '<endpoint id="zz" /></error></error></iq>')
    error = fromstring(out[1].replace("<iq ", f'<iq xmlns="{ns.CLIENT}" ', 1)).find(ns.tag(ns.CLIENT, "error"))
    assert c2.error_reason(error) == c2.REASON_UNKNOWN_ENDPOINT


def test_health_check_answers(sent):
    client, out = sent
    check = f'<healthcheck xmlns="{ns.JITSI_HEALTH}"/>'
    client._on_health(iq(client, check, "get"))
    client.bridge.healthy = False
    client._on_health(iq(client, check, "get"))
    assert out == [f'<iq type="result" id="i1" to="{FOCUS}" />',
                   (f'<iq type="error" id="i1" to="{FOCUS}"><error type="cancel"><internal-server-error {ERRORS} />'
                    f'<text {ERRORS}>the bridge&apos;s self-check failed</text></error></iq>')]
