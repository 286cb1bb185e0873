"""Fuzzing the XML stream parser, the one parser every byte from every XMPP transport goes
through. The contract (xmlstream.py): any bytes, fed in any pieces, give events or raise
:class:`StreamError`; nothing else, and within its bounds (depth, attributes, stanza size). What
the serializer writes of any parsed stanza parses back to the same stanza."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import pytest
from hypothesis import example, given, strategies as st

from jitsi_py.common import ns
from jitsi_py.common.xmlstream import (
    STREAM_CLOSE,
    StreamError,
    StreamOpen,
    XmlStreamParser,
    parse_document,
    serialize,
)
from tests.support.fuzz import chunked, inputs

from .samples import ALL

pytestmark = pytest.mark.fuzz

HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' to='meet.jitsi' xml:lang='en' version='1.0'>")
BOSH = (b"<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' rid='1001' "
        b"sid='abc' xmpp:restart='true'>")
LIMITS = {"max_stanza_size": 4096, "max_depth": 12, "max_attributes": 16}


def stanza(text: str) -> bytes:
    body = text.strip().encode()
    return body if body.startswith(b"<presence") else b"<iq type='set' id='f1' to='focus.meet.jitsi'>" + body + b"</iq>"


STANZAS = [stanza(text) for text in ALL] + [
    b"<message to='a@meet.jitsi' xml:lang='fr'><body>x &amp; y &#x1F600; &lt;</body></message>",
    b"<iq type='get' id='1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    b"<r xmlns='urn:xmpp:sm:3'/>", b" \n\t",
]
STREAMS = [HEADER + s for s in STANZAS] + [HEADER + b"".join(STANZAS[:4]) + b"</stream:stream>"]
DOCUMENTS = [BOSH + s + b"</body>" for s in STANZAS] + [BOSH[:-1] + b"/>"]


def feed(parser: XmlStreamParser, pieces: list[bytes]) -> list:
    events = []
    try:
        for piece in pieces:
            events.extend(parser.feed(piece))
            assert parser.depth <= LIMITS["max_depth"]
    except StreamError as exc:
        assert exc.condition in ("not-well-formed", "restricted-xml", "policy-violation")
        return events + [exc]
    return events


@st.composite
def pieces(draw, samples):
    return draw(chunked(draw(inputs(samples, max_size=512))))


@given(stream=pieces(STREAMS))
@example(stream=[HEADER + b"<iq><a xmlns:x='u' x:b='1' x:b2='2'/></iq>"])
@example(stream=[HEADER, b"<!DOCTYPE x [<!ENTITY a 'b'>]>"])
@example(stream=[HEADER[:40], HEADER[40:] + b"<presence>\xff</presence>"])
def test_any_bytes_in_any_pieces_give_events_or_stream_error(stream):
    parser = XmlStreamParser(**LIMITS)
    events = feed(parser, stream)
    for event in events:
        assert isinstance(event, (StreamOpen, StreamError, Element)) or event is STREAM_CLOSE


@given(stream=pieces(STREAMS))
def test_every_stanza_serializes_to_xml_that_parses_back_to_itself(stream):
    for event in feed(XmlStreamParser(**LIMITS), stream):
        if not isinstance(event, Element) or not event.tag.startswith("{"):
            # A stanza in no namespace (the stream's own xmlns left out) has no form in a
            # jabber:client stream: written there, it reads back as jabber:client.
            continue
        data = serialize(event)
        again = XmlStreamParser(max_stanza_size=1 << 20).feed(HEADER + data)
        assert len(again) == 2, data
        assert serialize(again[1]) == data


@given(document=inputs(DOCUMENTS, max_size=512))
@example(document=BOSH)
@example(document=BOSH + b"</body><extra/>")
@example(document=BOSH.replace(b"xmlns=", b"ymlns=") + STANZAS[-3] + b"</body>")  # children in no namespace
def test_a_bosh_body_is_a_document_or_stream_error(document):
    try:
        root, children = parse_document(document, **LIMITS)
    except StreamError:
        return
    assert isinstance(root, StreamOpen)
    assert all(isinstance(child, Element) for child in children)


def test_stanzas_come_out_as_jabber_client_from_a_bosh_body():
    _, children = parse_document(DOCUMENTS[0], **LIMITS)
    assert children[0].tag == f"{{{ns.CLIENT}}}iq"
