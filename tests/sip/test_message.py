"""The SIP codec: well-formed messages round-trip, every malformed one raises SipSyntaxError with the
status to answer (never another exception)."""

import pytest
from hypothesis import given, strategies as st

from jitsi_py.sip.message import (
    Request,
    Response,
    SipSyntaxError,
    frame_length,
    parse,
    parse_address,
    parse_uri,
    parse_via,
)

INVITE = (
    b"INVITE sip:standup@127.0.0.1:5060 SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 10.0.0.2:5062;rport;branch=z9hG4bKa1, SIP/2.0/TCP proxy.example;branch=z9hG4bKb2\r\n"
    b"Max-Forwards: 70\r\n"
    b'f: "+49 30 123" <sip:+4930123@example.org>;tag=abc\r\n'
    b"t: <sip:standup@127.0.0.1>\r\n"
    b"i: call-1@10.0.0.2\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Subject: a folded\r\n  header\r\n"
    b"m: <sip:+4930123@10.0.0.2:5062>\r\n"
    b"Jitsi-Conference-Room: standup@muc.meet.jitsi\r\n"
    b"c: application/sdp\r\n"
    b"l: 4\r\n\r\n"
    b"v=0\ngarbage after the body"
)


def test_a_request_parses_with_compact_and_folded_headers():
    msg = parse(INVITE)
    assert isinstance(msg, Request)
    assert (msg.method, msg.uri, msg.call_id, msg.cseq) == ("INVITE", "sip:standup@127.0.0.1:5060", "call-1@10.0.0.2",
                                                            (7, "INVITE"))
    assert len(msg.header_all("via")) == 2 and msg.branch == "z9hG4bKa1"
    assert msg.header("subject") == "a folded header"
    assert msg.header("jitsi-conference-room") == "standup@muc.meet.jitsi"
    assert msg.body == b"v=0\n"  # Content-Length wins over what follows
    sender = parse_address(msg.header("from"))
    assert (sender.display, sender.uri, sender.tag) == ("+49 30 123", "sip:+4930123@example.org", "abc")
    again = parse(bytes(msg))
    assert again.headers == msg.headers and again.body == msg.body


def test_a_response_round_trips():
    response = Response(status=180, reason="Ringing", headers=[
        ("Via", "SIP/2.0/UDP h;branch=z9hG4bKx"), ("From", "<sip:a@b>;tag=1"), ("To", "<sip:c@d>;tag=2"),
        ("Call-ID", "x"), ("CSeq", "1 INVITE")])
    parsed = parse(bytes(response))
    assert isinstance(parsed, Response) and (parsed.status, parsed.reason) == (180, "Ringing")
    assert parsed.header("content-length") == "0"


def test_uris_vias_and_addresses():
    uri = parse_uri("sip:+4930123@[::1]:5070;transport=tcp")
    assert (uri.user, uri.host, uri.port, uri.params) == ("+4930123", "::1", 5070, {"transport": "tcp"})
    assert str(uri) == "sip:+4930123@[::1]:5070;transport=tcp"
    via = parse_via("SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bKq")
    assert (via.transport, via.host, via.port, via.params) == ("UDP", "10.0.0.1", 5060,
                                                                {"rport": "", "branch": "z9hG4bKq"})
    assert parse_address("sip:bob@example.org;tag=9").tag == "9"


@pytest.mark.parametrize(("data", "status", "reason"), [
    (INVITE.replace(b"CSeq: 7 INVITE", b"CSeq: 7 BYE"), 400, "does not match"),
    (INVITE.replace(b"CSeq: 7 INVITE", b"CSeq: -1 INVITE"), 400, "bad CSeq"),
    (INVITE.replace(b"CSeq: 7 INVITE", b"CSeq: 99999999999 INVITE"), 400, "bad CSeq"),
    (INVITE.replace(b"i: call-1@10.0.0.2\r\n", b""), 400, "missing Call-ID"),
    (INVITE.replace(b"l: 4", b"l: 400"), 400, "more than"),
    (INVITE.replace(b"l: 4", b"l: four"), 400, "not a number"),
    (INVITE.replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1), 505, "unsupported version"),
    (INVITE.replace(b"sip:standup@127.0.0.1:5060", b"<sip:standup@127.0.0.1>"), 400, "request-URI"),
    (INVITE.replace(b"Max-Forwards: 70", b"Max Forwards: 70"), 400, "bad header line"),
    (INVITE.replace(b"\r\n\r\n", b"\r\n"), 400, "no empty line"),
    (b"SIP/2.0 99 Too Small\r\n\r\n", 400, "bad status code"),
    (b"INVITE sip:a@b SIP/2.0\r\n \r\nVia: x\r\n\r\n", 400, "continuation line"),
    (b"\xff\xfe INVITE\r\n\r\n", 400, "not UTF-8"),
    (b"INVITE sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * 200 + b"\r\n", 400, "too many headers"),
])
def test_malformed_messages_name_their_fault(data, status, reason):
    with pytest.raises(SipSyntaxError) as caught:
        parse(data)
    assert caught.value.status == status and reason in caught.value.reason


def test_stream_framing_needs_the_whole_message():
    assert frame_length(INVITE[:40]) is None
    whole = frame_length(INVITE)
    assert whole is not None and INVITE[:whole].endswith(b"v=0\n")
    with pytest.raises(SipSyntaxError):
        frame_length(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n")
    middle = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\nVia: x\r\n\r\nabcNEXT"
    assert frame_length(middle) == len(middle) - 4


@pytest.mark.fuzz
@given(st.binary(max_size=400) | st.builds(lambda cut, junk: INVITE[:cut] + junk + INVITE[cut:],
                                           st.integers(0, len(INVITE)), st.binary(max_size=8)))
def test_any_bytes_parse_or_raise_the_one_error(data):
    try:
        parse(data)
    except SipSyntaxError:
        pass
