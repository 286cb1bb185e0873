"""The gateway's refusals, over loopback UDP with one of our user agents as the caller: each bad call
gets its status, costs nothing else, and the gateway goes on taking calls."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import replace
from xml.etree.ElementTree import Element

import pytest

from jitsi_py.common.errors import StanzaError
from jitsi_py.common.meeting import Participant, XmppServer
from jitsi_py.common.stanzas.rayo import HANGUP
from jitsi_py.sip import mute, sdes, sdp, ua as sipua
from jitsi_py.sip.gateway import HUNG_UP, Gateway, Leg
from jitsi_py.sip.media import PortPool
from jitsi_py.sip.message import parse
from jitsi_py.sip.ua import Account, UserAgent

from ..support.stack import free_rtp_port, free_udp_port
from .test_media import BARESIP_OFFER

NOWHERE = XmppServer("127.0.0.1", 9, "meet.jitsi", "muc.meet.jitsi")  # refusals never reach the meeting


class Caller(asyncio.DatagramProtocol):
    """A user agent core on a socket of its own, to call the gateway."""

    def __init__(self, port: int) -> None:
        self.ua = UserAgent(Account("sip:phone@127.0.0.1", None, ("127.0.0.1", port)))
        self.received: list[bytes] = []
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data, addr) -> None:
        self.received.append(data)
        self.ua.receive(data, addr, asyncio.get_running_loop().time())
        self.flush()

    def flush(self) -> None:
        for out in self.ua.datagrams_to_send():
            self.transport.sendto(out.data, out.to)

    async def ended(self) -> sipua.CallEnded:
        for _ in range(100):
            while (event := self.ua.next_event()) is not None:
                if isinstance(event, sipua.CallEnded):
                    return event
            await asyncio.sleep(0.02)
        raise AssertionError("the call never ended")


@pytest.fixture
async def gateway():
    port, rtp = free_udp_port(), free_rtp_port()
    made = Gateway(Account("sip:jigasi@127.0.0.1", None, ("127.0.0.1", port)), bind=("127.0.0.1", port),
                   media_address="127.0.0.1", ports=PortPool(rtp, rtp + 4), meeting_server=NOWHERE, max_calls=5)
    await made.start(register=False)
    yield made
    await made.close()


async def call(gateway: Gateway, uri: str, sdp: bytes = BARESIP_OFFER, headers=None) -> sipua.CallEnded:
    loop = asyncio.get_running_loop()
    port = free_udp_port()
    _, caller = await loop.create_datagram_endpoint(lambda: Caller(port), local_addr=("127.0.0.1", port))
    try:
        caller.ua.invite(uri.format(port=gateway.bind[1]), sdp, loop.time(), headers=headers)
        caller.flush()
        return await caller.ended()
    finally:
        caller.transport.close()


async def test_bad_calls_get_their_status_and_the_gateway_keeps_going(gateway):
    no_room = await call(gateway, "sip:jigasi@127.0.0.1:{port}")  # our own user: no room named
    assert no_room.status == 404
    g729 = BARESIP_OFFER.replace(b"96 9 0 8 101", b"18 101").split(b"a=rtpmap:96")[0] + b"a=rtpmap:18 G729/8000\r\n"
    assert (await call(gateway, "sip:room@127.0.0.1:{port}", g729)).status == 488
    assert (await call(gateway, "sip:room@127.0.0.1:{port}", b"v=0\r\nm=video 1 RTP/AVP 97\r\n")).status == 488
    savp = BARESIP_OFFER.replace(b"RTP/AVP 96", b"RTP/SAVP 96") + (
        b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n")
    assert (await call(gateway, "sip:room@127.0.0.1:{port}", savp)).status == 488  # SDES-SRTP is off
    gateway.accepting = False  # a graceful shutdown
    assert (await call(gateway, "sip:room@127.0.0.1:{port}")).status == 503
    assert not gateway.legs and len(gateway.ports.free) == 2 and gateway.calls_failed == 5


async def test_malformed_sip_is_answered_with_400_when_it_can_be(gateway):
    loop = asyncio.get_running_loop()
    port = free_udp_port()
    _, caller = await loop.create_datagram_endpoint(lambda: Caller(port), local_addr=("127.0.0.1", port))
    try:
        target = ("127.0.0.1", gateway.bind[1])
        caller.transport.sendto(b"\x00\xff garbage\r\n\r\n", target)
        caller.transport.sendto(
            b"OPTIONS sip:jigasi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKx\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:jigasi@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\r\n" % port,
            target)  # a CSeq of another method
        caller.transport.sendto(
            b"OPTIONS sip:jigasi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKy\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:jigasi@127.0.0.1>\r\nCall-ID: c2\r\nCSeq: 1 OPTIONS\r\n\r\n" % port,
            target)
        for _ in range(100):
            if len(caller.received) == 2:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        # the garbage dropped (nobody to answer), the mismatched CSeq refused, the OPTIONS answered
        assert sorted(parse(data).status for data in caller.received) == [200, 400]
        assert gateway.ua.rejected == 2
    finally:
        caller.transport.close()


def _reinvite(gateway: Gateway, call, cseq: int, body: bytes) -> sipua.SessionOffer:
    """The phone's re-INVITE, fed to the gateway's user agent: the offer it hands the gateway."""
    to = str(call.local)
    gateway.ua.receive((f"INVITE sip:jigasi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK{cseq}"
                        f"\r\nFrom: {call.remote}\r\nTo: {to}\r\nCall-ID: {call.call_id}\r\nCSeq: {cseq} INVITE\r\n"
                        f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body,
                       ("127.0.0.1", 5999), float(cseq))
    event = gateway.ua.next_event()
    assert isinstance(event, sipua.SessionOffer)
    return event


def _answered(gateway: Gateway, cseq: int) -> tuple[int, sdp.AudioDescription | None, bytes]:
    """The gateway's answer to the re-INVITE, and the phone's ACK of it."""
    [out] = [parse(o.data) for o in gateway.ua.datagrams_to_send() if b"INVITE" in o.data.split(b"\r\n\r\n")[0]]
    assert out.cseq == (cseq, "INVITE")
    gateway.ua.receive(f"ACK sip:jigasi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKa{cseq}\r\n"
                       f"From: {out.header('from')}\r\nTo: {out.header('to')}\r\nCall-ID: {out.call_id}\r\n"
                       f"CSeq: {cseq} ACK\r\nContent-Length: 0\r\n\r\n".encode(), ("127.0.0.1", 5999), cseq + 0.5)
    return out.status, sdp.parse(out.body) if out.body else None, out.body


PCMU_OFFER = BARESIP_OFFER.replace(b"96 9 0 8 101", b"0 8 101")


def _idle_gateway(port: int = 5062) -> Gateway:
    rtp = free_rtp_port()
    return Gateway(Account("sip:jigasi@127.0.0.1", None, ("127.0.0.1", port)), bind=("127.0.0.1", port),
                   media_address="127.0.0.1", ports=PortPool(rtp, rtp + 4), meeting_server=NOWHERE)


def _confirmed(gateway: Gateway, call_id: str, phone: int = 5999, headers: str = "") -> tuple[sipua.Call, Leg]:
    """A PCMU call from a phone at 127.0.0.1:``phone``, answered and acknowledged; no meeting is joined."""
    invite = (f"INVITE sip:room@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{phone};branch=z9hG4bK1\r\n{headers}"
              f"From: <sip:phone@127.0.0.1>;tag=p\r\nTo: <sip:room@127.0.0.1>\r\nCall-ID: {call_id}\r\n"
              f"CSeq: 1 INVITE\r\nContact: <sip:phone@127.0.0.1:{phone}>\r\nContent-Length: {len(PCMU_OFFER)}\r\n"
              f"\r\n").encode() + PCMU_OFFER
    gateway.ua.receive(invite, ("127.0.0.1", phone), 0.0)
    call = gateway.ua.next_event().call
    leg = gateway.legs[call.call_id] = gateway._leg(call, "room", "phone", gateway.ports.take())
    leg.offer, leg.answer, _ = gateway._answer(call.remote_sdp, leg.media.port)
    leg.media.start(leg.offer, *leg.answer.first)
    gateway.ua.respond(call, 200, 0.1, sdp=leg.local_sdp(leg.answer))
    gateway.ua.datagrams_to_send()
    gateway.ua.receive(f"ACK sip:jigasi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{phone};branch=z9hG4bKa1\r\n"
                       f"From: {call.remote}\r\nTo: {call.local}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\n\r\n".encode(),
                       ("127.0.0.1", phone), 0.2)
    gateway.ua.next_event()
    return call, leg


async def test_reinvites_hold_resume_and_change_the_codec_and_a_bad_one_changes_nothing():
    """The sans-I/O half of a call in progress (no meeting is joined): what each re-INVITE does to
    our answer and to the call's media."""
    gateway = _idle_gateway()
    call, leg = _confirmed(gateway, "held")
    assert leg.sent is not None and leg.sent.first == (0, sdp.PCMU) and leg.media.sending

    gateway._reoffered(_reinvite(gateway, call, 2, PCMU_OFFER.replace(b"a=sendrecv", b"a=sendonly")))
    status, held, body = _answered(gateway, 2)
    assert status == 200 and held.direction == "recvonly" and held.first == (0, sdp.PCMU)
    assert not leg.media.sending and b"o=jitsi-py %d %d " % (leg.sdp_id, leg.sdp_id + 1) in body
    gateway._reoffered(_reinvite(gateway, call, 3, PCMU_OFFER.replace(b"a=sendrecv", b"a=inactive")))
    assert _answered(gateway, 3)[1].direction == "inactive" and not leg.media.sending
    gateway._reoffered(_reinvite(gateway, call, 4, PCMU_OFFER))  # taken off hold
    assert _answered(gateway, 4)[1].direction == "sendrecv" and leg.media.sending

    pcma = BARESIP_OFFER.replace(b"96 9 0 8 101", b"8 101").replace(b"10000", b"10010")
    gateway._reoffered(_reinvite(gateway, call, 5, pcma))  # another codec, another port
    status, changed, _ = _answered(gateway, 5)
    assert status == 200 and changed.first == (8, sdp.PCMA) and changed.port == leg.media.port
    assert leg.media.transcoder.codec == sdp.PCMA and leg.media.pt == 8 and leg.media.remote == ("127.0.0.1", 10010)

    g729 = pcma.replace(b"8 101", b"18 101").replace(b"PCMA/8000", b"G729/8000").replace(b"rtpmap:8", b"rtpmap:18")
    gateway._reoffered(_reinvite(gateway, call, 6, g729))
    assert _answered(gateway, 6)[0] == 488
    assert leg.media.transcoder.codec == sdp.PCMA and leg.media.sending and call.state == "confirmed"

    gateway._reoffered(_reinvite(gateway, call, 7, b""))  # no SDP: we offer, the ACK will answer
    status, offered, _ = _answered(gateway, 7)
    assert status == 200 and list(offered.codecs.values()) == list(sdp.CODECS)


async def test_our_session_refresh_offers_the_session_in_use_one_version_up():
    """RFC 4028 with us as refresher and a phone without UPDATE: at half the interval a re-INVITE with our
    SDP for the session (one codec, the o-line version one up); an offer of ours (dial-out) is narrowed
    to the codec the answer took."""
    gateway = _idle_gateway()
    call, leg = _confirmed(gateway, "refreshed", headers="Session-Expires: 90;refresher=uas\r\n")
    assert call.session is not None and call.session.ours
    gateway.ua.handle_timer(45.1)
    event = gateway.ua.next_event()
    assert event == sipua.RefreshDue(call)
    gateway._refresh_due(event)
    [reinvite] = [parse(o.data) for o in gateway.ua.datagrams_to_send()]
    assert reinvite.method == "INVITE" and reinvite.header("session-expires") == "90;refresher=uac"
    assert b"o=jitsi-py %d %d " % (leg.sdp_id, leg.sdp_id + 1) in reinvite.body
    assert sdp.parse(reinvite.body).codecs == {0: sdp.PCMU}
    ours = sdp.offer("127.0.0.1", leg.media.port)
    leg.local_sdp(ours)
    leg.media.start(sdp.parse(PCMU_OFFER.replace(b"0 8 101", b"8 101")), 8, sdp.PCMA)
    assert sdp.parse(leg.refresh_sdp()).codecs == {8: sdp.PCMA} and leg.sdp_version == 3
    leg.media.close()


def _refreshed(gateway: Gateway, now: float, body: bytes) -> list:
    """Our refresh re-INVITE, due at ``now``, answered 200 with ``body`` at once: what the gateway sends."""
    gateway.ua.handle_timer(now)
    gateway._refresh_due(gateway.ua.next_event())
    [reinvite] = [parse(o.data) for o in gateway.ua.datagrams_to_send()]
    head = "".join(f"{name}: {reinvite.header(name)}\r\n" for name in ("via", "from", "to", "call-id", "cseq"))
    gateway.ua.receive((f"SIP/2.0 200 OK\r\n{head}Contact: <sip:phone@127.0.0.1:5999>\r\n"
                        f"Session-Expires: 90;refresher=uac\r\nContent-Type: application/sdp\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n").encode() + body, ("127.0.0.1", 5999), now + 0.1)
    event = gateway.ua.next_event()
    assert isinstance(event, sipua.RefreshAnswered) and event.call.remote_sdp == body
    gateway._refresh_answered(event)
    return [parse(o.data) for o in gateway.ua.datagrams_to_send()]


async def test_the_answer_to_our_refresh_moves_or_holds_the_media_and_one_outside_our_offer_ends_the_call():
    """The peer's 200 to our refresh re-INVITE is an answer like any: its new address and port are where
    the media goes (and the source is learnt again), its sendonly holds; an answer with a codec we did not
    offer, or none, gets a BYE after the ACK."""
    gateway = _idle_gateway()
    call, leg = _confirmed(gateway, "moved", headers="Session-Expires: 90;refresher=uas\r\n")
    moved = PCMU_OFFER.replace(b"c=IN IP4 127.0.0.1", b"c=IN IP4 127.0.0.2").replace(b"10000", b"10020")
    [ack] = _refreshed(gateway, 45.1, moved)
    assert ack.method == "ACK" and call.state == "confirmed"
    assert leg.media.remote == ("127.0.0.2", 10020) and leg.media.source is None and leg.media.sending
    [ack] = _refreshed(gateway, 90.3, moved.replace(b"a=sendrecv", b"a=sendonly"))
    assert not leg.media.sending and leg.media.transcoder.codec == sdp.PCMU and call.state == "confirmed"

    pcma = moved.replace(b"0 8 101", b"8 101")  # our refresh offered PCMU only
    ack, bye = _refreshed(gateway, 135.5, pcma)
    assert (ack.method, bye.method) == ("ACK", "BYE") and call.state == "ended"
    assert isinstance(gateway.ua.next_event(), sipua.CallEnded)

    gateway = _idle_gateway()
    call, leg = _confirmed(gateway, "unanswered", headers="Session-Expires: 90;refresher=uas\r\n")
    assert [m.method for m in _refreshed(gateway, 45.1, b"")] == ["ACK", "BYE"] and call.state == "ended"
    leg.media.close()


def test_an_answer_must_be_within_the_offer():
    """RFC 3264 §6.1, for the answers to our offers: each way out of the offer is named."""
    ours = sdp.offer("127.0.0.1", 4000)
    assert sdp.check_answer(ours, sdp.parse(PCMU_OFFER.replace(b"0 8 101", b"9 101"))) == (9, sdp.G722)
    bad = {
        BARESIP_OFFER: "OPUS as payload type 96 was not offered",  # ours is 111
        PCMU_OFFER.replace(b"m=audio 10000", b"m=audio 0"): "port 0",
        PCMU_OFFER.replace(b"RTP/AVP", b"RTP/SAVP"): "profile RTP/SAVP",
        PCMU_OFFER.replace(b"0 8 101", b"18 101"): "no codec",
    }
    for answer, why in bad.items():
        with pytest.raises(sdp.SdpError, match=why):
            sdp.check_answer(ours, sdp.parse(answer))
    held = replace(ours, direction="recvonly")
    with pytest.raises(sdp.SdpError, match="sendrecv to an offer of recvonly"):
        sdp.check_answer(held, sdp.parse(PCMU_OFFER))
    assert sdp.check_answer(held, sdp.parse(PCMU_OFFER.replace(b"a=sendrecv", b"a=inactive"))) == (0, sdp.PCMU)
    secure, _ = sdes.offer_crypto()
    with pytest.raises(sdp.SdpError, match="no crypto line"):
        sdp.check_answer(sdp.offer("127.0.0.1", 4000, crypto=secure), sdp.parse(PCMU_OFFER.replace(b"RTP/AVP",
                                                                                                    b"RTP/SAVP")))


async def test_the_phones_own_mute_request_mutes_its_participant_and_is_answered():
    """Jigasi's JSON INFO from the phone: the participant's audio muted, then unmuted (the meeting client's
    local mute; an unmute once the focus allowed it), each answered 200 and then with a muteResponse INFO
    naming the request's id; an unmute the focus refuses (audio moderation) is answered FAILED and the
    participant stays muted."""
    loop = asyncio.get_running_loop()
    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    phone.bind(("127.0.0.1", 0))
    phone.setblocking(False)
    gateway = _idle_gateway(free_udp_port())
    await gateway.start(register=False)
    try:
        here = phone.getsockname()[1]
        call, leg = _confirmed(gateway, "muting", here)
        moderated = False

        async def unmute_by_the_focus() -> None:  # the meeting joined no room: the focus's answer, stood in
            if moderated:
                raise StanzaError("cancel", "not-allowed", "audio moderation is on")
            await leg.meeting.set_audio_muted(False)

        for cseq, muted, status in ((2, True, "OK"), (3, False, "OK"), (4, True, "OK"), (5, False, "FAILED")):
            if cseq == 4:  # until then the meeting's own: not in a room, so nobody to ask, and unmuted
                leg.meeting.unmute_audio = unmute_by_the_focus
            moderated = cseq == 5
            body = json.dumps({"type": "muteRequest", "data": {"audio": muted}, "id": f"ask-{cseq}"}).encode()
            phone.sendto((f"INFO sip:jigasi@127.0.0.1 SIP/2.0\r\n"
                          f"Via: SIP/2.0/UDP 127.0.0.1:{here};branch=z9hG4bKi{cseq}\r\nFrom: {call.remote}\r\n"
                          f"To: {call.local}\r\nCall-ID: muting\r\nCSeq: {cseq} INFO\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body,
                         gateway.bind)
            ok = parse(await asyncio.wait_for(loop.sock_recv(phone, 4096), 5))
            assert ok.status == 200 and ok.cseq == (cseq, "INFO")
            answer = parse(await asyncio.wait_for(loop.sock_recv(phone, 4096), 5))
            assert answer.method == "INFO" and answer.header("content-type") == "application/json"
            assert json.loads(answer.body) == {"type": "muteResponse", "data": {"audio": muted}, "id": f"ask-{cseq}",
                                               "status": status}
            assert leg.meeting.audio_muted is (muted or status == "FAILED")
        hand = leg.meeting.presence_extras  # refused: the caller's hand went up, as Jigasi raises it
        assert [e.tag for e in hand] == ["{jabber:client}jitsi_participant_raisedHand"] and int(hand[0].text) > 0
    finally:
        phone.close()
        await gateway.close()


def test_mute_requests_in_sip_info_are_read_as_jigasi_writes_them():
    asked = mute.parse_request("application/json; charset=utf-8",
                               b'{"type":"muteRequest","data":{"audio":true},"id":"x"}')
    assert asked == mute.MuteRequest(True, "x")
    assert json.loads(mute.response(asked, False))["status"] == "FAILED"
    assert json.loads(mute.request(False))["data"] == {"audio": False}
    for other in ((b'{"type":"muteResponse","data":{"audio":true},"id":"x","status":"OK"}'), b"not json", b"[]"):
        assert mute.parse_request("application/json", other) is None
    assert mute.parse_request("application/dtmf-relay", b"Signal=1") is None
    for bad in (b'{"type":"muteRequest","data":{"audio":"yes"},"id":"x"}',
                b'{"type":"muteRequest","data":{"audio":true}}'):
        with pytest.raises(ValueError, match="mute request without"):
            mute.parse_request("application/json", bad)


async def test_a_health_check_call_fails_with_why_and_gives_its_port_back(gateway):
    port, rtp = free_udp_port(), free_rtp_port()
    checker = Gateway(Account("sip:jigasi@127.0.0.1", None, ("127.0.0.1", port)), bind=("127.0.0.1", port),
                      media_address="127.0.0.1", ports=PortPool(rtp, rtp + 4), meeting_server=NOWHERE)
    await checker.start(register=False)
    try:
        gateway.accepting = False  # the callee refuses: 503
        target = f"sip:echo@127.0.0.1:{gateway.bind[1]}"
        assert (await checker.health_call(target)).startswith("the call failed: 503")
        silent = free_udp_port()  # nobody there: no answer, no audio
        assert await checker.health_call(f"sip:echo@127.0.0.1:{silent}", timeout=0.5) == "no audio within 0.5 s"
        assert len(checker.ports.free) == 2 and not checker.probes and not checker.legs
    finally:
        await checker.close()


async def test_a_late_offer_without_a_room_is_asked_for_its_pin_once_the_ack_answers():
    """An INVITE without SDP naming no room: our 200 offers, the ACK answers PCMU, and the PIN prompt
    then reaches the caller's RTP port in PCMU."""
    port, rtp = free_udp_port(), free_rtp_port()

    async def no_room(_pin: str) -> None:
        return None
    gateway = Gateway(Account("sip:jigasi@127.0.0.1", None, ("127.0.0.1", port)), bind=("127.0.0.1", port),
                      media_address="127.0.0.1", ports=PortPool(rtp, rtp + 4), meeting_server=NOWHERE,
                      resolve_pin=no_room)
    await gateway.start(register=False)
    loop = asyncio.get_running_loop()
    sip, media = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
    for sock in (sip, media):
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
    try:
        here = sip.getsockname()[1]
        head = (f"Via: SIP/2.0/UDP 127.0.0.1:{here};branch=z9hG4bK{{}}\r\nFrom: <sip:late@127.0.0.1>;tag=l\r\n"
                f"To: {{}}\r\nCall-ID: late-pin\r\n")
        sip.sendto((f"INVITE sip:jigasi@127.0.0.1:{port} SIP/2.0\r\n" + head.format("i", "<sip:jigasi@127.0.0.1>")
                    + f"CSeq: 1 INVITE\r\nContact: <sip:late@127.0.0.1:{here}>\r\nContent-Length: 0\r\n\r\n"
                    ).encode(), ("127.0.0.1", port))
        ok = None
        while ok is None:
            response = parse(await asyncio.wait_for(loop.sock_recv(sip, 4096), 5))
            ok = response if response.status == 200 else None
        offer = sdp.parse(ok.body)
        body = sdp.serialize(sdp.answer(offer, "127.0.0.1", media.getsockname()[1], preference=(sdp.PCMU,)), 1)
        sip.sendto((f"ACK sip:jigasi@127.0.0.1:{port} SIP/2.0\r\n" + head.format("a", ok.header("to"))
                    + f"CSeq: 1 ACK\r\nContent-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n"
                    ).encode() + body, ("127.0.0.1", port))
        packet = await asyncio.wait_for(loop.sock_recv(media, 2048), 5)
        assert packet[1] & 0x7F == 0  # the prompt, in the codec of the answer
        [leg] = gateway.legs.values()
        assert leg.media.sending and leg.call.state == "confirmed" and leg.room == ""
    finally:
        sip.close()
        media.close()
        await gateway.close()


async def test_a_moderators_rayo_hangup_ends_the_call_and_anyone_elses_is_refused():
    """The hangup a moderator sends to the call's occupant (the dial's ref), as the meeting client hands
    it to the gateway: BYE to the phone (CANCEL to one still ringing), and the refusals for a hangup too
    early, from a participant, or for a call already over."""
    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    phone.bind(("127.0.0.1", 0))
    phone.setblocking(False)
    gateway = _idle_gateway(free_udp_port())
    await gateway.start(register=False)
    moderator, hangup = Participant("0d0d0d0d", role="moderator"), Element(HANGUP)
    try:
        placing = gateway._leg(None, "room", "+4930123", gateway.ports.take())
        with pytest.raises(StanzaError, match="unexpected-request"):
            placing.meeting.requests[HANGUP](moderator, hangup)
        call, leg = _confirmed(gateway, "hung", phone.getsockname()[1])
        with pytest.raises(StanzaError, match="forbidden"):
            leg.meeting.requests[HANGUP](Participant("5e5e5e5e"), hangup)
        assert call.state == "confirmed"
        leg.meeting.requests[HANGUP](moderator, hangup)
        assert call.state == "ended"
        bye = parse(await asyncio.wait_for(asyncio.get_running_loop().sock_recv(phone, 4096), 5))
        assert bye.method == "BYE" and bye.call_id == "hung"
        with pytest.raises(StanzaError, match="item-not-found"):
            leg.meeting.requests[HANGUP](moderator, hangup)

        # a dial-out still ringing is cancelled, and its participant leaves without a Failed status
        loop = asyncio.get_running_loop()
        call = gateway.ua.invite(f"sip:callee@127.0.0.1:{phone.getsockname()[1]}", PCMU_OFFER, loop.time())
        ringing = gateway.legs[call.call_id] = gateway._leg(call, "room", "callee", gateway.ports.take())
        ringing.outcome = loop.create_future()
        gateway.flush()
        invite = parse(await asyncio.wait_for(loop.sock_recv(phone, 4096), 5))
        head = "".join(f"{name}: {invite.header(name)}\r\n" for name in ("via", "from", "call-id", "cseq"))
        phone.sendto(f"SIP/2.0 180 Ringing\r\n{head}To: {invite.header('to')};tag=r\r\n\r\n".encode(),
                     gateway.bind)
        await asyncio.sleep(0.2)
        ringing.meeting.requests[HANGUP](moderator, hangup)
        cancel = parse(await asyncio.wait_for(loop.sock_recv(phone, 4096), 5))
        assert cancel.method == "CANCEL" and cancel.call_id == call.call_id
        assert ringing.outcome.result() == HUNG_UP
    finally:
        phone.close()
        await gateway.close()


async def test_the_rtp_a_call_dropped_still_counts_once_the_call_is_over():
    gateway = _idle_gateway(free_udp_port())
    await gateway.start(register=False)
    try:
        _call, leg = _confirmed(gateway, "counted")
        leg.media.stray_packets, leg.media.bad_packets = 3, 1
        assert gateway.rtp_dropped() == (3, 1)
        gateway._drop(leg)
        assert not gateway.legs and gateway.rtp_dropped() == (3, 1)
    finally:
        await gateway.close()
