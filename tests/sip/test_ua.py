"""Two user agents against each other in memory (and a registrar written out by hand): calls both
ways, lost messages recovered by the RFC 3261 timers, CANCEL, digest registration and its refresh."""

import hashlib

import pytest
from hypothesis import given, strategies as st

from jitsi_py.sip import ua as sipua
from jitsi_py.sip.message import Request, Response, parse, parse_auth
from jitsi_py.sip.ua import Account, UserAgent

A, B, REGISTRAR = ("127.0.0.1", 5061), ("127.0.0.1", 5062), ("127.0.0.1", 5060)


def agent(addr, user, **kw):
    return UserAgent(Account(f"sip:{user}@127.0.0.1", kw.pop("password", None), addr, **kw))


def transfer(agents, now, drop=lambda data: False):
    """Moves every pending datagram to its addressee until nothing is left; returns what was sent."""
    by_addr = {a.account.local: a for a in agents}
    sent = []
    while True:
        moved = False
        for sender in agents:
            for out in sender.datagrams_to_send():
                sent.append(out.data)
                moved = True
                if not drop(out.data) and out.to in by_addr:
                    by_addr[out.to].receive(out.data, sender.account.local, now)
        if not moved:
            return sent


def events(agent):
    out = []
    while (event := agent.next_event()) is not None:
        out.append(event)
    return out


def test_a_call_is_set_up_answered_and_hung_up():
    a, b = agent(A, "gateway"), agent(B, "phone")
    call = a.invite("sip:room1@127.0.0.1:5062", b"v=0 offer", 0.0, display="Gateway",
                    headers={"Jitsi-Conference-Room": "room1@muc.meet.jitsi"})
    transfer([a, b], 0.0)
    [incoming] = events(b)
    assert isinstance(incoming, sipua.IncomingCall)
    theirs = incoming.call
    assert theirs.header("jitsi-conference-room") == "room1@muc.meet.jitsi" and theirs.remote_sdp == b"v=0 offer"
    b.respond(theirs, 180, 0.1)
    transfer([a, b], 0.1)
    assert [type(e) for e in events(a)] == [sipua.CallProgress]
    b.respond(theirs, 200, 0.2, sdp=b"v=0 answer")
    transfer([a, b], 0.2)
    [answered] = events(a)
    assert isinstance(answered, sipua.CallAnswered) and answered.call.remote_sdp == b"v=0 answer"
    assert [type(e) for e in events(b)] == [sipua.CallAnswered]  # the ACK
    assert call.state == theirs.state == "confirmed"
    b.hangup(theirs, 1.0)
    transfer([a, b], 1.0)
    [ended] = events(a)
    assert isinstance(ended, sipua.CallEnded) and ended.by_remote and ended.call is call
    assert not a.calls and not b.calls


def test_a_lost_invite_and_a_lost_200_are_retransmitted():
    a, b = agent(A, "gateway"), agent(B, "phone")
    a.invite("sip:x@127.0.0.1:5062", b"offer", 0.0)
    transfer([a, b], 0.0, drop=lambda data: data.startswith(b"INVITE"))
    assert events(b) == []
    assert a.deadline == 0.5  # timer A
    a.handle_timer(0.5)
    transfer([a, b], 0.5)
    [incoming] = events(b)
    b.respond(incoming.call, 200, 0.6, sdp=b"answer")
    sent = transfer([a, b], 0.6, drop=lambda data: data.startswith(b"SIP/2.0 200"))
    assert any(data.startswith(b"SIP/2.0 200") for data in sent) and events(a) == []
    b.handle_timer(1.1)  # the 2xx again, T1 later
    transfer([a, b], 1.1)
    assert [type(e) for e in events(a)] == [sipua.CallAnswered]
    assert [type(e) for e in events(b)] == [sipua.CallAnswered]
    b.handle_timer(2.1)
    assert not any(data.startswith(b"SIP/2.0 200") for data in transfer([a, b], 2.1))  # ACKed: no more


def test_an_unanswered_invite_times_out_with_timer_b():
    a = agent(A, "gateway")
    call = a.invite("sip:x@127.0.0.1:5999", b"offer", 0.0)
    now = 0.0
    while (deadline := a.deadline) is not None and deadline < 40:
        now = deadline
        a.handle_timer(now)
        a.datagrams_to_send()
    [ended] = events(a)
    assert (ended.call, ended.status) == (call, 408) and now == 32.0


def ringing(a, b):
    """A calls B, B rings: (A's call, B's call)."""
    call = a.invite("sip:room@127.0.0.1:5062", b"offer", 0.0)
    transfer([a, b], 0.0)
    [incoming] = events(b)
    b.respond(incoming.call, 180, 0.1)
    transfer([a, b], 0.1)
    events(a)
    return call, incoming.call


def test_a_caller_cancels_before_the_answer():
    a, b = agent(A, "phone"), agent(B, "gateway")
    call, _ = ringing(a, b)
    a.hangup(call, 0.2)
    sent = transfer([a, b], 0.2)
    assert any(d.startswith(b"CANCEL") for d in sent) and any(d.startswith(b"SIP/2.0 487") for d in sent)
    [ended] = events(b)
    assert isinstance(ended, sipua.CallEnded) and ended.status == 487 and ended.by_remote
    assert any(d.startswith(b"ACK") for d in sent)  # the 487's ACK, by the client transaction


def test_a_200_that_crosses_our_cancel_is_acknowledged_and_ended_with_bye():
    a, b = agent(A, "gateway"), agent(B, "phone")
    call, theirs = ringing(a, b)
    a.hangup(call, 0.2)  # CANCEL goes out...
    cancel = a.datagrams_to_send()
    b.respond(theirs, 200, 0.2, sdp=b"answer")  # ...while the phone answers
    for out in b.datagrams_to_send():
        a.receive(out.data, B, 0.25)
    sent = [parse(out.data).method for out in a.datagrams_to_send() if not out.data.startswith(b"SIP/")]
    assert [parse(out.data).method for out in cancel] == ["CANCEL"] and sent == ["ACK", "BYE"]
    assert not a.calls


def test_requests_outside_a_dialog_and_unknown_methods():
    b = agent(B, "gateway")
    bye = Request(method="BYE", uri="sip:gateway@127.0.0.1", headers=[
        ("Via", "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1"), ("From", "<sip:a@x>;tag=1"),
        ("To", "<sip:gateway@x>;tag=2"), ("Call-ID", "nope"), ("CSeq", "2 BYE")])
    b.receive(bytes(bye), A, 0.0)
    publish = Request(method="PUBLISH", uri="sip:gateway@127.0.0.1", headers=[
        ("Via", "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK2"), ("From", "<sip:a@x>;tag=1"),
        ("To", "<sip:gateway@x>"), ("Call-ID", "c"), ("CSeq", "1 PUBLISH")])
    b.receive(bytes(publish), A, 0.0)
    b.receive(b"INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\r\n\r\n", A, 0.0)  # no From...
    b.receive(bytes(publish).replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1).replace(b"bK2", b"bK4"), A, 0.0)
    statuses = [parse(out.data).status for out in b.datagrams_to_send()]
    assert sorted(statuses) == [481, 501, 505] and b.rejected == 2


def test_registration_answers_the_digest_challenge_and_refreshes():
    a = agent(A, "jigasi", password="s3cret", proxy=REGISTRAR, register_expires=120)
    a.register(0.0)
    [first] = a.datagrams_to_send()
    request = parse(first.data)
    assert isinstance(request, Request) and first.to == REGISTRAR and request.header("expires") == "120"

    def answer(req, status, *extra):
        response = Response(status=status, reason="x")
        for name in ("via", "from", "to", "call-id", "cseq"):
            response.add(name, req.header(name))
        for name, value in extra:
            response.add(name, value)
        a.receive(bytes(response), REGISTRAR, 0.1)

    answer(request, 401, ("WWW-Authenticate", 'Digest realm="127.0.0.1", nonce="n0nce", qop="auth"'))
    [second] = a.datagrams_to_send()
    retry = parse(second.data)
    _, auth = parse_auth(retry.header("authorization"))
    ha1 = hashlib.md5(b"jigasi:127.0.0.1:s3cret").hexdigest()
    ha2 = hashlib.md5(f"REGISTER:{auth['uri']}".encode()).hexdigest()
    expected = hashlib.md5(f"{ha1}:n0nce:{auth['nc']}:{auth['cnonce']}:auth:{ha2}".encode()).hexdigest()
    assert (auth["username"], auth["response"], auth["nc"]) == ("jigasi", expected, "00000001")
    assert retry.call_id == request.call_id and retry.cseq[0] == request.cseq[0] + 1
    answer(retry, 200, ("Contact", "<sip:jigasi@127.0.0.1:5061>;expires=60"))
    assert events(a) == [sipua.Registered(60)]
    assert a.deadline == 0.1 + 5.0  # timer K of the REGISTER transaction
    a.handle_timer(5.1)
    assert a.deadline == 0.1 + 25.0  # the OPTIONS keep-alive comes before the refresh at 30 s
    a.handle_timer(30.1)
    kinds = [parse(out.data).method for out in a.datagrams_to_send()]
    assert sorted(kinds) == ["OPTIONS", "REGISTER"]


def test_a_refused_registration_backs_off():
    a = agent(A, "jigasi", password="wrong", proxy=REGISTRAR)
    a.register(0.0)
    [out] = a.datagrams_to_send()
    request = parse(out.data)
    response = Response(status=403, reason="Forbidden")
    for name in ("via", "from", "to", "call-id", "cseq"):
        response.add(name, request.header(name))
    a.receive(bytes(response), REGISTRAR, 1.0)
    assert events(a) == [sipua.RegistrationFailed(403, "Forbidden", 5.0)]
    assert a.deadline == 6.0


def in_dialog(method: str, cseq: int, to: str, body: bytes = b"", branch: str = "r") -> bytes:
    """A request of the phone A in the dialog of INVITE (below), with our To tag."""
    head = (f"{method} sip:gateway@127.0.0.1:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK{branch}\r\n"
            f"From: <sip:a@127.0.0.1>;tag=1\r\nTo: {to}\r\nCall-ID: fz\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:a@127.0.0.1:5061>\r\n")
    if body:
        head += "Content-Type: application/sdp\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def answered_call(b: UserAgent, offer: bytes = b"v=0\n"):
    """B takes A's INVITE (``offer`` its body, empty for none) with a 200 and gets its ACK: (call, To)."""
    invite = INVITE.replace(b"Content-Length: 4\r\n\r\nv=0\n", b"Content-Length: %d\r\n\r\n" % len(offer) + offer)
    b.receive(invite, A, 0.0)
    [incoming] = events(b)
    b.respond(incoming.call, 200, 0.1, sdp=b"ours")
    ok = parse(b.datagrams_to_send()[-1].data)
    to = ok.header("to")
    return incoming.call, to


def test_a_reinvite_is_offered_answered_and_one_at_a_time():
    b = agent(B, "gateway")
    call, to = answered_call(b)
    b.receive(in_dialog("ACK", 1, to, branch="a1"), A, 0.2)
    assert events(b) == [sipua.CallAnswered(call, False)]  # the ACK of an answer: nothing to take
    b.receive(in_dialog("INVITE", 2, to, b"hold", "r2"), A, 1.0)  # a=sendonly, say
    [offered] = events(b)
    assert offered == sipua.SessionOffer(call, b"hold")
    b.respond(call, 200, 1.1, sdp=b"recvonly")
    ok = parse(b.datagrams_to_send()[-1].data)
    assert (ok.status, ok.cseq, ok.body) == (200, (2, "INVITE"), b"recvonly") and ok.header("contact")
    # another offer before the ACK of our 2xx: 491, and the call goes on
    b.receive(in_dialog("INVITE", 3, to, b"again", "r3"), A, 1.2)
    assert [parse(out.data).status for out in b.datagrams_to_send()] == [491] and events(b) == []
    b.receive(in_dialog("ACK", 2, to, branch="a2"), A, 1.3)
    assert events(b) == [] and call.ok is None
    # an offer the gateway cannot take: 488, the session stays as it was, the failure's ACK absorbed
    b.receive(in_dialog("INVITE", 4, to, b"g729", "r4"), A, 2.0)
    [offered] = events(b)
    b.respond(call, 488, 2.1)
    assert [parse(out.data).status for out in b.datagrams_to_send()] == [488]
    b.receive(in_dialog("ACK", 4, to, branch="r4"), A, 2.2)
    assert events(b) == [] and call.state == "confirmed" and b.calls == {"fz": call}
    b.receive(in_dialog("INVITE", 5, to, b"x", "r5").replace(b"application/sdp", b"text/plain"), A, 3.0)
    assert [parse(out.data).status for out in b.datagrams_to_send()] == [415] and events(b) == []


def test_hanging_up_during_a_reinvite_refuses_it_and_says_bye():
    b = agent(B, "gateway")
    call, to = answered_call(b)
    b.receive(in_dialog("ACK", 1, to, branch="a1"), A, 0.2)
    b.receive(in_dialog("INVITE", 2, to, b"offer", "r2"), A, 1.0)
    events(b)
    b.hangup(call, 1.1)
    sent = [parse(out.data) for out in b.datagrams_to_send()]
    assert sorted(str(getattr(m, "status", None) or m.method) for m in sent) == ["487", "BYE"]
    assert [type(e) for e in events(b)] == [sipua.CallEnded] and not b.calls


def test_without_sdp_our_2xx_offers_and_the_ack_answers():
    b = agent(B, "gateway")
    call, to = answered_call(b, offer=b"")  # an INVITE without SDP
    assert call.offered
    b.receive(in_dialog("ACK", 1, to, b"answer", "a1"), A, 0.2)
    assert events(b) == [sipua.CallAnswered(call, True)] and call.remote_sdp == b"answer"
    b.receive(in_dialog("INVITE", 2, to, branch="r2"), A, 1.0)  # a re-INVITE without SDP: asks for ours
    assert events(b) == [sipua.SessionOffer(call, b"")]
    b.respond(call, 200, 1.1, sdp=b"offer again")
    b.datagrams_to_send()
    b.receive(in_dialog("ACK", 2, to, b"answer 2", "a2"), A, 1.2)
    assert events(b) == [sipua.CallAnswered(call, True)] and call.remote_sdp == b"answer 2"


INVITE = (b"INVITE sip:room@127.0.0.1:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;rport;branch=z9hG4bKf\r\n"
          b"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:room@127.0.0.1>\r\nCall-ID: fz\r\nCSeq: 1 INVITE\r\n"
          b"Contact: <sip:a@127.0.0.1:5061>\r\nExpires: 30\r\nContent-Type: application/sdp\r\n"
          b"Content-Length: 4\r\n\r\nv=0\n")


def test_a_request_uri_of_another_scheme_gets_416():
    b = agent(B, "gateway")
    b.receive(INVITE.replace(b"INVITE sip:room@", b"INVITE mailto:room@"), A, 0.0)
    statuses = [parse(out.data).status for out in b.datagrams_to_send()]
    assert statuses == [416] and not b.calls


@pytest.mark.fuzz
@given(st.integers(0, len(INVITE) - 1), st.binary(min_size=1, max_size=6), st.booleans())
def test_any_damage_to_a_request_costs_only_that_request(at, junk, replace):
    """Spliced or overwritten bytes anywhere: the agent answers or drops, never raises, and still
    takes the next call."""
    b = agent(B, "gateway")
    damaged = INVITE[:at] + junk + INVITE[at + (len(junk) if replace else 0):]
    b.receive(damaged, A, 0.0)
    b.datagrams_to_send()
    while b.next_event() is not None:
        pass
    b.receive(INVITE.replace(b"Call-ID: fz", b"Call-ID: next").replace(b"bKf", b"bKg"), A, 0.1)
    assert any(isinstance(e, sipua.IncomingCall) and e.call.call_id == "next" for e in events(b))
