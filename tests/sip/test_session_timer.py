"""Session timers (RFC 4028) on the sans-I/O user agent: negotiation both ways, 422, refreshes by UPDATE
and by re-INVITE at half the interval, and the BYE when the peer's refresh does not come."""

import pytest

from jitsi_py.sip import ua as sipua
from jitsi_py.sip.message import Request, SipSyntaxError, parse
from jitsi_py.sip.session_timer import parse_session_expires

from .test_ua import INVITE, A, B, agent, events, in_dialog, transfer


def sent(ua):
    return [parse(out.data) for out in ua.datagrams_to_send()]


def test_session_expires_is_read_with_its_refresher_and_bad_values_are_refused():
    assert parse_session_expires("90;refresher=uas") == (90, "uas")
    assert parse_session_expires(" 1800 ; REFRESHER=UAC;x=1") == (1800, "uac")
    assert parse_session_expires("600") == (600, None)
    for bad in ("", "0", "-5", "90;refresher=both", "ninety"):
        with pytest.raises(SipSyntaxError):
            parse_session_expires(bad)


def test_a_short_interval_gets_422_and_the_caller_asks_again_with_the_min_se():
    a = agent(A, "gateway", session_expires=60, min_se=30)
    b = agent(B, "phone", session_expires=1800, min_se=120)
    call = a.invite("sip:room@127.0.0.1:5062", b"offer", 0.0, headers={"Jitsi-Conference-Room": "r@muc"})
    assert call.invite.header("session-expires") == "60" and call.invite.header("supported") == "timer"
    transfer([a, b], 0.0)
    [incoming] = events(b)
    again = incoming.call.invite
    assert again.header("session-expires") == "120" and again.header("min-se") == "120" and again.cseq == (2, "INVITE")
    assert again.header("jitsi-conference-room") == "r@muc" and again.header_all("supported") == ["timer"]
    b.respond(incoming.call, 200, 0.1, sdp=b"answer")
    ok = next(m for m in map(parse, transfer([a, b], 0.1)) if getattr(m, "status", 0) == 200)
    # no refresher asked for and the caller supports timers: the caller refreshes (and must, Require)
    assert ok.header("session-expires") == "120;refresher=uac" and ok.header("require") == "timer"
    assert events(a)[-1] == sipua.CallAnswered(call)
    assert call.session.ours and call.session.refresh_at == pytest.approx(60.1)
    theirs = incoming.call.session
    assert not theirs.ours and theirs.expire_at == pytest.approx(0.1 + 120 - 32)


def test_we_refresh_by_update_at_half_the_interval_and_the_peer_hangs_up_when_we_stop():
    a, b = agent(A, "gateway", session_expires=100), agent(B, "phone", session_expires=100)
    call = a.invite("sip:room@127.0.0.1:5062", b"offer", 0.0)
    transfer([a, b], 0.0)
    [incoming] = events(b)
    b.respond(incoming.call, 200, 0.0, sdp=b"answer")
    transfer([a, b], 0.0)
    events(a), events(b)
    assert call.update_allowed and a.deadline == 50.0
    a.handle_timer(50.0)
    refresh = transfer([a, b], 50.0)
    assert [parse(m).method if isinstance(parse(m), Request) else parse(m).status for m in refresh] == ["UPDATE", 200]
    update = parse(refresh[0])
    assert update.header("session-expires") == "100;refresher=uac" and not update.body
    assert call.session.refresh_at == 100.0 and incoming.call.session.expire_at == pytest.approx(50 + 100 - 32)
    assert events(a) == events(b) == []
    # a stops refreshing (its UPDATE lost): b says BYE before the session would expire
    a.handle_timer(100.0)
    transfer([a, b], 100.0, drop=lambda data: data.startswith(b"UPDATE"))
    b.handle_timer(118.0)
    transfer([a, b], 118.0)
    [ended] = events(b)
    assert (ended.status, ended.reason) == (408, "the session expired") and not b.calls
    [ended] = events(a)
    assert ended.by_remote and call.state == "ended"


INVITE_WITH_TIMER = INVITE.replace(b"Expires: 30\r\n", b"Session-Expires: 90;refresher=uas\r\nMin-SE: 90\r\n")


def test_a_phone_that_makes_us_refresher_without_update_gets_a_reinvite_with_the_session_sdp():
    b = agent(B, "gateway")
    b.receive(INVITE_WITH_TIMER, A, 0.0)  # no Allow: UPDATE, no Supported: timer
    [incoming] = events(b)
    call = incoming.call
    b.respond(call, 200, 0.0, sdp=b"ours")
    [trying, ok] = sent(b)
    assert ok.header("session-expires") == "90;refresher=uas" and ok.header("require") is None
    assert ok.header_all("supported") == ["timer"] and "UPDATE" in ok.header_all("allow")
    b.receive(in_dialog("ACK", 1, ok.header("to"), branch="a1"), A, 0.1)
    events(b)
    assert not call.update_allowed and b.deadline == 45.0
    b.handle_timer(45.0)
    assert events(b) == [sipua.RefreshDue(call)] and sent(b) == []
    b.reinvite(call, b"ours, version 2", 45.0)
    [reinvite] = sent(b)
    assert (reinvite.method, reinvite.cseq, reinvite.body) == ("INVITE", (2, "INVITE"), b"ours, version 2")
    assert reinvite.uri == "sip:a@127.0.0.1:5061" and reinvite.header("session-expires") == "90;refresher=uac"
    answer = (f"SIP/2.0 200 OK\r\nVia: {reinvite.header('via')}\r\nFrom: {reinvite.header('from')}\r\n"
              f"To: {reinvite.header('to')}\r\nCall-ID: fz\r\nCSeq: 2 INVITE\r\nContact: <sip:a@127.0.0.1:5061>\r\n"
              f"Session-Expires: 90;refresher=uac\r\nContent-Length: 6\r\n\r\ntheirs").encode()
    b.receive(answer, A, 45.2)
    [ack] = sent(b)
    assert (ack.method, ack.cseq) == ("ACK", (2, "ACK")) and call.remote_sdp == b"theirs"
    assert events(b) == [sipua.RefreshAnswered(call)]  # the gateway follows the answer, or hangs up
    assert call.session.ours and call.session.refresh_at == pytest.approx(90.2) and call.refreshing is None
    # the phone's own UPDATE refresh, which hands the refreshing to it
    b.receive(in_dialog("UPDATE", 2, ok.header("to"), branch="u2").replace(b"Contact:", b"Session-Expires: 90\r\n"
                                                                          b"Supported: timer\r\nContact:"), A, 60.0)
    [updated] = sent(b)
    assert updated.status == 200 and updated.header("session-expires") == "90;refresher=uac"
    assert updated.header("require") == "timer" and not call.session.ours and call.session.expire_at == 120.0
    assert events(b) == []
    # an UPDATE with SDP is an offer like a re-INVITE's, answered once (no 2xx retransmissions, no ACK);
    # without Session-Expires and Supported: timer the phone cannot be left the refresher, so we are
    b.receive(in_dialog("UPDATE", 3, ok.header("to"), b"hold", "u3"), A, 70.0)
    assert events(b) == [sipua.SessionOffer(call, b"hold")]
    b.respond(call, 200, 70.1, sdp=b"recvonly")
    [answered] = sent(b)
    assert (answered.status, answered.cseq, answered.body) == (200, (3, "UPDATE"), b"recvonly")
    assert answered.header("session-expires") == "90;refresher=uas" and answered.header("require") is None
    assert call.ok is None and call.server is None and call.session.ours
    assert call.session.refresh_at == pytest.approx(115.1)


def test_a_refresher_phone_that_falls_silent_gets_a_bye_and_a_short_interval_422():
    b = agent(B, "gateway", min_se=120)
    b.receive(INVITE_WITH_TIMER, A, 0.0)
    [refused] = sent(b)  # no 100 Trying before the refusal
    assert refused.status == 422 and refused.header("min-se") == "120" and not b.calls and events(b) == []
    b.receive(INVITE_WITH_TIMER.replace(b"90;refresher=uas", b"soon").replace(b"bKf", b"bKg"), A, 0.0)
    [refused] = sent(b)
    assert refused.status == 400 and "Session-Expires" in refused.reason and not b.calls and events(b) == []
    b = agent(B, "gateway")
    b.receive(INVITE_WITH_TIMER.replace(b"refresher=uas", b"refresher=uac").replace(b"Min-SE", b"Supported: timer\r\n"
                                                                                     b"Min-SE"), A, 0.0)
    [incoming] = events(b)
    b.respond(incoming.call, 200, 0.0, sdp=b"ours")
    ok = sent(b)[-1]
    assert ok.header("session-expires") == "90;refresher=uac" and ok.header("require") == "timer"
    b.receive(in_dialog("ACK", 1, ok.header("to"), branch="a1"), A, 0.1)
    events(b)
    assert b.deadline == 60.0  # 90 - min(32, 90 / 3)
    b.handle_timer(60.0)
    [bye] = sent(b)
    assert bye.method == "BYE"
    [ended] = events(b)
    assert (ended.status, ended.reason, ended.by_remote) == (408, "the session expired", True) and not b.calls


def test_a_refresh_the_dialog_does_not_know_ends_the_call():
    b = agent(B, "gateway", session_expires=90)
    b.receive(INVITE_WITH_TIMER.replace(b"Contact:", b"Allow: INVITE, ACK, BYE, UPDATE\r\nContact:"), A, 0.0)
    [incoming] = events(b)
    b.respond(incoming.call, 200, 0.0, sdp=b"ours")
    ok = sent(b)[-1]
    b.receive(in_dialog("ACK", 1, ok.header("to"), branch="a1"), A, 0.1)
    events(b)
    b.handle_timer(45.0)
    [update] = sent(b)
    assert update.method == "UPDATE" and events(b) == []
    b.receive((f"SIP/2.0 481 Call/Transaction Does Not Exist\r\nVia: {update.header('via')}\r\n"
               f"From: {update.header('from')}\r\nTo: {update.header('to')}\r\nCall-ID: fz\r\n"
               f"CSeq: {update.cseq[0]} UPDATE\r\nContent-Length: 0\r\n\r\n").encode(), A, 45.1)
    assert [m.method for m in sent(b)] == ["BYE"]
    [ended] = events(b)
    assert ended.status == 481 and not b.calls
