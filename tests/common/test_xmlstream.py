"""The XML stream parser and serializer: whole, byte by byte, and the one-exception rule."""

from __future__ import annotations

import random
from xml.etree.ElementTree import Element, SubElement

import pytest

from jitsi_py.common import ns
from jitsi_py.common.xmlstream import (
    STREAM_CLOSE,
    StreamError,
    StreamOpen,
    XmlStreamParser,
    parse_document,
    serialize,
    split_for_fanout,
    to_attribute,
)

HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' to='meet.jitsi' xml:lang='en' version='1.0'>")
STANZAS = (b"<iq type='get' id='1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
           b"<message to='a@meet.jitsi'><body>x &amp; y</body><nick xmlns='http://jabber.org/protocol/nick'>N</nick>"
           b"</message> \n<presence/>")


def describe(events) -> list:
    out = []
    for event in events:
        if isinstance(event, StreamOpen):
            out.append(("open", event.tag, event.attrs.get("to")))
        elif event is STREAM_CLOSE:
            out.append(("close",))
        else:
            out.append(("stanza", serialize(event)))
    return out


def feed_whole(data: bytes) -> list:
    return XmlStreamParser().feed(data)


def feed_bytewise(data: bytes) -> list:
    parser = XmlStreamParser()
    events = []
    for i in range(len(data)):
        events.extend(parser.feed(data[i:i + 1]))
    return events


def test_whole_and_byte_by_byte_agree():
    data = HEADER + STANZAS + b"</stream:stream>"
    whole = describe(feed_whole(data))
    assert whole == describe(feed_bytewise(data))
    assert whole[0] == ("open", "{http://etherx.jabber.org/streams}stream", "meet.jitsi")
    assert whole[-1] == ("close",)
    assert [e[0] for e in whole] == ["open", "stanza", "stanza", "stanza", "close"]
    assert whole[2][1] == (b'<message xmlns="jabber:client" to="a@meet.jitsi"><body>x &amp; y</body>'
                           b'<nick xmlns="http://jabber.org/protocol/nick">N</nick></message>')


def test_xml_lang_and_namespaced_attributes_round_trip():
    events = feed_whole(HEADER + b"<message xml:lang='fr' xmlns:j='urn:j' j:a='1'/>")
    assert serialize(events[1]) == b'<message xmlns="jabber:client" xml:lang="fr" xmlns:a1="urn:j" a1:a="1"/>'
    assert events[0].attrs["{http://www.w3.org/XML/1998/namespace}lang"] == "en"


def test_component_and_bosh_namespaces_read_as_jabber_client():
    parser = XmlStreamParser()
    events = parser.feed(b"<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/"
                         b"streams'><message><body>hi</body></message>")
    assert events[1].tag == "{jabber:client}message" and events[1][0].tag == "{jabber:client}body"
    root, children = parse_document(b"<body xmlns='http://jabber.org/protocol/httpbind' rid='1'><message/></body>")
    assert root.tag == "{http://jabber.org/protocol/httpbind}body" and root.attrs["rid"] == "1"
    assert children[0].tag == "{jabber:client}message"


def test_serializer_writes_xmlns_never_prefixes():
    message = Element("{jabber:client}message", {"to": 'a"b@x'})
    x = SubElement(message, "{http://jabber.org/protocol/muc#user}x")
    SubElement(x, "{http://jabber.org/protocol/muc#user}item", {"jid": "a@b/c"})
    SubElement(message, "plain").text = "<&>"
    assert serialize(message) == (
        b'<message xmlns="jabber:client" to="a&quot;b@x"><x xmlns="http://jabber.org/protocol/muc#user">'
        b'<item jid="a@b/c"/></x><plain xmlns="">&lt;&amp;&gt;</plain></message>'
    )
    assert serialize(message, ns.COMPONENT).startswith(b'<message xmlns="jabber:component:accept"')
    features = Element(ns.tag(ns.STREAMS, "features"))
    SubElement(features, ns.tag(ns.BIND, "bind"))
    assert serialize(features) == (b'<stream:features xmlns:stream="http://etherx.jabber.org/streams">'
                                   b'<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></stream:features>')


def test_fanout_splice_equals_a_per_recipient_serialization():
    message = Element("{jabber:client}message", {"from": "r@muc/n", "to": "old@x/y", "type": "groupchat"})
    SubElement(message, "{jabber:client}body").text = "hello"
    head, tail = split_for_fanout(message)
    spliced = head + to_attribute("bob@meet.jitsi/r<1>") + tail
    reparsed = XmlStreamParser().feed(b"<s xmlns='jabber:client'>" + spliced)[1]
    assert reparsed.get("to") == "bob@meet.jitsi/r<1>"
    assert reparsed.get("from") == "r@muc/n" and reparsed.findtext("{jabber:client}body") == "hello"


@pytest.mark.parametrize("data,condition", [
    (b"<!DOCTYPE x>" + HEADER, "restricted-xml"),
    (HEADER + b"<?pi x?>", "restricted-xml"),
    (HEADER + b"<!--c-->", "restricted-xml"),
    (HEADER + b"<a>\xff</a>", "not-well-formed"),
    (HEADER + b"<a>&unknown;</a>", "not-well-formed"),
    (HEADER + b"<a></b>", "not-well-formed"),
    (HEADER + b"<a>" * 60, "policy-violation"),
    (HEADER + b"<a " + b" ".join(b"x%d='1'" % i for i in range(70)) + b"/>", "policy-violation"),
    (HEADER + b"<a>" + b"x" * 300_000 + b"</a>", "policy-violation"),
])
def test_refusals_whole_and_bytewise(data, condition):
    with pytest.raises(StreamError) as whole:
        feed_whole(data)
    assert whole.value.condition == condition
    if len(data) < 5000:
        with pytest.raises(StreamError) as bytewise:
            feed_bytewise(data)
        assert bytewise.value.condition == condition


def test_whitespace_keepalives_do_not_count_toward_the_stanza_limit():
    parser = XmlStreamParser(max_stanza_size=1000)
    parser.feed(HEADER)
    for _ in range(5000):
        assert parser.feed(b" ") == []
    assert len(parser.feed(b"<presence/>")) == 1


def test_any_input_parses_or_raises_stream_error():
    """The one-exception rule: random mutations of a valid stream never raise anything else."""
    rng = random.Random(7)
    base = HEADER + STANZAS
    for _ in range(400):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        parser = XmlStreamParser(max_stanza_size=512, max_depth=8)
        try:
            for i in range(0, len(data), rng.randint(1, 40)):
                parser.feed(bytes(data[i:i + 40]))
        except StreamError:
            pass
