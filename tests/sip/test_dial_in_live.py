"""Dial-in end to end: baresip calls the gateway, the caller joins a meeting of our stack; a tone goes
each way and is found by its frequency on the other side."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from dataclasses import dataclass

import numpy as np
import pytest

from jitsi_py.common.meeting import Meeting, events
from jitsi_py.common.stanzas.jitsi import MuteIq
from jitsi_py.common.stanzas.rayo import ROOM_NAME_HEADER, Dial
from jitsi_py.common.tls import ensure_self_signed, server_context
from jitsi_py.sip import rtp, sdp
from jitsi_py.sip.audio import Transcoder
from jitsi_py.sip.gateway import Gateway
from jitsi_py.sip.mapper import ConferenceMapper
from jitsi_py.sip.media import PortPool
from jitsi_py.sip.message import Response, parse
from jitsi_py.sip.ua import Account

from ..common.meeting.conftest import meetings, server_of
from ..common.meeting.media import TONE_HZ, ToneTrack
from ..common.meeting.test_meeting_stack import kick, lock, room_iq
from ..support.stack import free_rtp_port, running_stack
from .live import hears, next_event
from .phone import Phone, free_sip_port, read_wav, tone_share, write_tone
from .sipp import BYE_IN_30_S, SIPP_CALL, SIPP_SDP, sipp_answers, sipp_phone

PHONE_HZ = 1000
pytestmark = pytest.mark.system


@dataclass
class Call:
    gateway: Gateway
    listener: Meeting  # in the room, before the phone calls
    phone: Phone
    port: int  # the gateway's SIP port


@contextlib.asynccontextmanager
async def gateway_and_listener(tmp_path, room: str, listener_source=None, transport: str = "UDP",
                               account_kw=None, **gateway_kw):
    """Our stack, a gateway on a port of its own (no registration) and a listener in ``room``."""
    async with running_stack(tmp_path, bridge=True) as stack:
        port, rtp = free_sip_port(), free_rtp_port()
        gateway = Gateway(Account("sip:jigasi@127.0.0.1", None, ("127.0.0.1", port), transport, **(account_kw or {})),
                          bind=("127.0.0.1", port),
                          media_address="127.0.0.1", ports=PortPool(rtp, rtp + 8), meeting_server=server_of(stack),
                          join_timeout=20, **gateway_kw)
        await gateway.start(register=False)
        listener = Meeting(server_of(stack), display_name="Listener", audio_source=listener_source,
                           receive_video=False)
        try:
            async with meetings(listener):
                await listener.join(room, wait_for_media=False)
                yield gateway, listener, port
        finally:
            await gateway.close()


@contextlib.asynccontextmanager
async def direct_call(tmp_path, room: str, user: str, phone_params: str = "", listener_source=None,
                      codec: str = "pcmu", rate: int = 8000, channels: int = 1, transport: str = "UDP",
                      phone_tls=None, **gateway_kw):
    """:func:`gateway_and_listener` and a phone playing a 1 kHz tone (at ``rate``: baresip's file
    source takes its codec's rate), ready to dial."""
    async with gateway_and_listener(tmp_path, room, listener_source, transport, **gateway_kw) as (
            gateway, listener, port):
        tone = write_tone(tmp_path / "tone.wav", PHONE_HZ, rate=rate, channels=channels)
        phone = Phone(tmp_path / "phone", free_sip_port(tls=phone_tls is not None), tone, user=user,
                      account_params=f";audio_codecs={codec}" + phone_params, tls=phone_tls)
        async with phone:
            yield Call(gateway, listener, phone, port)


async def test_a_phone_dials_in_by_the_request_uri_and_audio_flows_both_ways(tmp_path):
    async with direct_call(tmp_path, "phonecall", "+4930123", listener_source=ToneTrack()) as call:
        call.phone.command(f"/dial sip:phonecall@127.0.0.1:{call.port}")
        joined = await next_event(call.listener, events.ParticipantJoined)
        assert joined.display_name == "+4930123"
        assert "http://jitsi.org/protocol/jigasi" in joined.features
        await hears(call.listener, joined.endpoint_id, PHONE_HZ, frames=150)
        [leg] = call.gateway.legs.values()
        assert leg.media.sources  # the listener's audio reaches the phone's mix
        await asyncio.sleep(3)
        call.phone.command("/hangup")
        left = await next_event(call.listener, events.ParticipantLeft)
        assert left.endpoint_id == joined.endpoint_id
        for _ in range(50):
            if not call.gateway.legs:
                break
            await asyncio.sleep(0.1)
        assert not call.gateway.legs and len(call.gateway.ports.free) == 4
    samples, rate = read_wav(call.phone.heard())
    rms, share = tone_share(samples[-rate * 2:], rate, TONE_HZ)
    assert rms > 1000 and share > 0.8, (rms, share)


@pytest.mark.parametrize(("codec", "baresip_name", "rate", "channels"), [("g722", "G722/16000", 16000, 1),
                                                                        ("opus", "opus/48000/2", 48000, 2)])
async def test_a_phone_on_a_wideband_codec_is_heard(tmp_path, codec, baresip_name, rate, channels):
    async with direct_call(tmp_path, "wideband", "wide", codec=baresip_name, rate=rate, channels=channels) as call:
        call.phone.command(f"/dial sip:wideband@127.0.0.1:{call.port}")
        joined = await next_event(call.listener, events.ParticipantJoined)
        await hears(call.listener, joined.endpoint_id, PHONE_HZ)
        [leg] = call.gateway.legs.values()
        assert leg.media.transcoder.codec.name == codec and leg.media.buffer.lost == 0


async def until(condition, timeout: float = 10) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not within the time")


async def test_a_phone_holds_the_call_and_takes_it_off_hold(tmp_path):
    """baresip's /hold is a re-INVITE with a=sendonly: answered recvonly, we stop sending; /resume
    (sendrecv) and we send again, and hear it again (baresip is silent while it holds)."""
    async with direct_call(tmp_path, "holding", "holder") as call:
        call.phone.command(f"/dial sip:holding@127.0.0.1:{call.port}")
        joined = await next_event(call.listener, events.ParticipantJoined)
        await hears(call.listener, joined.endpoint_id, PHONE_HZ, frames=60)
        [leg] = call.gateway.legs.values()
        assert leg.media.sending
        call.phone.command("/hold")
        await until(lambda: not leg.media.sending)
        assert b"a=recvonly" in leg.call.local_sdp and leg.sdp_version == 1
        sent, heard = leg.media.sent_packets, leg.media.buffer.received
        await asyncio.sleep(0.5)
        assert leg.media.sent_packets == sent
        call.phone.command("/resume")
        await until(lambda: leg.media.sending)
        await until(lambda: leg.media.sent_packets > sent + 10 and leg.media.buffer.received > heard + 10)
        assert b"a=sendrecv" in leg.call.local_sdp and leg.call.state == "confirmed" and leg.media.bad_packets == 0


async def test_a_phone_calls_in_and_is_called_over_tls(tmp_path):
    """JIGASI_SIP_TRANSPORT=TLS without a SIP server: the phone reaches our TLS listener (our
    certificate, made by the test), and we reach the phone's; audio both times."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_self_signed(cert, key, ["127.0.0.1", "localhost"])
    async with direct_call(tmp_path, "overtls", "secure", ";answermode=auto", transport="TLS", phone_tls=(cert, key),
                           tls=ssl.create_default_context(cafile=str(cert)),
                           server_tls=server_context(cert, key)) as call:
        call.phone.command(f"/dial sip:overtls@127.0.0.1:{call.port};transport=tls")
        joined = await next_event(call.listener, events.ParticipantJoined)
        await hears(call.listener, joined.endpoint_id, PHONE_HZ, frames=60)
        [leg] = call.gateway.legs.values()
        assert leg.call.invite.header("via").startswith("SIP/2.0/TLS ")
        call.phone.command("/hangup")
        await next_event(call.listener, events.ParticipantLeft)
        await until(lambda: not call.gateway.legs)
        await call.gateway.dial(Dial(f"sip:secure@127.0.0.1:{call.phone.port + 1};transport=tls",
                                     headers={ROOM_NAME_HEADER: call.listener.room_jid}))
        callee = await next_event(call.listener, events.ParticipantJoined)
        await hears(call.listener, callee.endpoint_id, PHONE_HZ, frames=60)
        [leg] = call.gateway.legs.values()
        assert leg.call.state == "confirmed" and ("127.0.0.1", call.phone.port + 1) in call.gateway.signalling.streams


async def test_a_phone_types_a_pin_that_the_conference_mapper_turns_into_a_room(tmp_path, aiohttp_mapper):
    async with direct_call(tmp_path, "pinroom", "+4930999",
                           resolve_pin=ConferenceMapper(aiohttp_mapper.url).room) as call:
        call.phone.command(f"/dial sip:jigasi@127.0.0.1:{call.port}")  # the gateway's own user: no room named
        await call.phone.wait_for(b"established", 10)
        for key in "999#":  # a PIN that names no room: asked again
            call.phone.command(key)
            await asyncio.sleep(0.25)
        for _ in range(50):
            if aiohttp_mapper.asked:
                break
            await asyncio.sleep(0.1)
        for key in "123456#":
            call.phone.command(key)
            await asyncio.sleep(0.25)
        joined = await next_event(call.listener, events.ParticipantJoined)
        assert joined.display_name == "+4930999"
        assert aiohttp_mapper.asked == ["999", "123456"]
        await hears(call.listener, joined.endpoint_id, PHONE_HZ)


async def test_a_phone_on_sdes_srtp_is_heard_then_muted_and_kicked_by_a_moderator(tmp_path):
    async with direct_call(tmp_path, "secret", "secure", ";mediaenc=srtp-mand", srtp=True) as call:
        call.phone.command(f"/dial sip:secret@127.0.0.1:{call.port}")
        joined = await next_event(call.listener, events.ParticipantJoined)
        await hears(call.listener, joined.endpoint_id, PHONE_HZ)
        [leg] = call.gateway.legs.values()
        assert leg.media.protection is not None and b"RTP/SAVP" in leg.call.local_sdp
        assert leg.media.bad_packets == 0
        # the moderator (the listener, first in) mutes the caller through the focus, as anyone
        iq = call.listener._xmpp.make_iq_set(ito=f"{call.listener.room_jid}/focus")
        iq.xml.append(MuteIq("audio", f"{call.listener.room_jid}/{joined.endpoint_id}", True).to_element())
        await iq.send(timeout=5)
        muted = await next_event(call.listener, events.SourceMuted, where=lambda e: e.endpoint_id == joined.endpoint_id)
        assert muted.muted
        # and kicks it: the phone's call ends
        await room_iq(call.listener, kick(joined.endpoint_id))
        assert (await next_event(call.listener, events.ParticipantLeft)).endpoint_id == joined.endpoint_id
        await call.phone.wait_for(b"secret@127.0.0.1:%d terminated" % call.port, 10)
        for _ in range(50):
            if not call.gateway.legs:
                break
            await asyncio.sleep(0.1)
        assert not call.gateway.legs


async def test_a_locked_room_refuses_the_call_and_wrong_pins_end_it(tmp_path, aiohttp_mapper):
    async with direct_call(tmp_path, "closed", "+4930777",
                           resolve_pin=ConferenceMapper(aiohttp_mapper.url).room) as call:
        await room_iq(call.listener, lock("s3cret"))
        call.phone.command(f"/dial sip:closed@127.0.0.1:{call.port}")
        await call.phone.wait_for(b"403 cannot join closed: room locked", 20)
        call.phone.command(f"/dial sip:jigasi@127.0.0.1:{call.port}")  # no room: a PIN is asked for
        await call.phone.wait_for(b"established", 10)
        for attempt in range(3):
            for key in f"{attempt}{attempt}#":
                call.phone.command(key)
                await asyncio.sleep(0.2)
            for _ in range(50):
                if len(aiohttp_mapper.asked) > attempt:
                    break
                await asyncio.sleep(0.1)
        assert aiohttp_mapper.asked == ["00", "11", "22"]
        await call.phone.wait_for(b"jigasi@127.0.0.1:%d terminated" % call.port, 10)  # the error tone, then BYE
        for _ in range(50):
            if not call.gateway.legs:
                break
            await asyncio.sleep(0.1)
        assert not call.gateway.legs and call.gateway.calls_failed == 1


async def test_an_invite_without_sdp_gets_our_offer_and_the_ack_carries_the_answer(tmp_path):
    """A delayed offer, by hand over a raw socket (baresip always offers): our 200 offers, the ACK
    answers PCMU, and the caller's RTP tone is heard in the meeting."""
    async with direct_call(tmp_path, "delayed", "unused") as call:
        loop = asyncio.get_running_loop()
        sip, rtp_socket = _udp(), _udp()
        sip_port, rtp_port = sip.getsockname()[1], rtp_socket.getsockname()[1]
        def head(branch: str, to: str) -> str:
            return (f"Via: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bK{branch}\r\n"
                    f"From: \"Late\" <sip:late@127.0.0.1>;tag=d1\r\nTo: {to}\r\nCall-ID: delayed-1\r\n")
        sip.sendto((f"INVITE sip:delayed@127.0.0.1:{call.port} SIP/2.0\r\n{head('inv', '<sip:delayed@127.0.0.1>')}"
                    f"CSeq: 1 INVITE\r\nContact: <sip:late@127.0.0.1:{sip_port}>\r\nContent-Length: 0\r\n\r\n"
                    ).encode(), ("127.0.0.1", call.port))
        ok = None
        while ok is None:
            data = await asyncio.wait_for(loop.sock_recv(sip, 4096), 20)
            response = parse(data)
            if isinstance(response, Response) and response.status == 200:
                ok = response
        offer = sdp.parse(ok.body)
        answer = sdp.answer(offer, "127.0.0.1", rtp_port, preference=(sdp.PCMU,))
        body = sdp.serialize(answer, 1)
        sip.sendto((f"ACK sip:delayed@127.0.0.1:{call.port} SIP/2.0\r\n{head('ack', ok.header('to'))}"
                    f"CSeq: 1 ACK\r\nContent-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n"
                    ).encode() + body, ("127.0.0.1", call.port))
        joined = await next_event(call.listener, events.ParticipantJoined)
        assert joined.display_name == "Late"
        payload = Transcoder(sdp.PCMU).encode((8000 * np.sin(2 * np.pi * PHONE_HZ * np.arange(960) / 48000))
                                              .astype(np.int16))
        sender = asyncio.ensure_future(_send_rtp(rtp_socket, ("127.0.0.1", offer.port), payload))
        try:
            await hears(call.listener, joined.endpoint_id, PHONE_HZ)
        finally:
            sender.cancel()
            sip.close()
            rtp_socket.close()


def _udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


async def _send_rtp(sock: socket.socket, to, payload: bytes) -> None:
    for seq in range(3000):  # a minute at most
        sock.sendto(rtp.write(0, seq == 0, seq, seq * 160, 0x5151, payload), to)
        await asyncio.sleep(0.02)


# the phone types a key in SIP INFO (application/dtmf-relay), as PBXs and phones set to "SIP INFO" DTMF do
SIPP_INFO = """  <pause milliseconds="150"/>
  <send retrans="500"><![CDATA[
INFO sip:jigasi@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "+4930555" <sip:+4930555@[local_ip]:[local_port]>;tag=[pid]sipp[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: {cseq} INFO
Max-Forwards: 70
Content-Type: application/dtmf-relay
Content-Length: [len]

Signal={key}
Duration=160
]]></send>
  <recv response="200"/>
"""


async def test_a_phone_types_its_pin_in_sip_info_and_a_kick_sends_it_a_bye(tmp_path, aiohttp_mapper):
    pin = "".join(SIPP_INFO.format(cseq=2 + k, key=key) for k, key in enumerate("123456#"))
    scenario = SIPP_CALL.format(room="jigasi", headers="", then=pin + BYE_IN_30_S)  # the gateway's own user
    async with gateway_and_listener(tmp_path, "pinroom", resolve_pin=ConferenceMapper(aiohttp_mapper.url).room) as (
            gateway, listener, port):
        async with sipp_phone(tmp_path, port, scenario, "pin-by-info"):
            joined = await next_event(listener, events.ParticipantJoined)
            assert joined.display_name == "+4930555" and aiohttp_mapper.asked == ["123456"]
            await room_iq(listener, kick(joined.endpoint_id))


# the phone takes our session refresh, a re-INVITE or (when its Allow names it) an UPDATE, and leaves us
# the refresher
SIPP_TAKES_OUR_REINVITE = sipp_answers("INVITE", "Contact: <sip:+4930555@[local_ip]:[local_port]>\n"
                                       "Session-Expires: {expires};refresher=uac\n", SIPP_SDP) \
    + '  <recv request="ACK"/>\n'
SIPP_TAKES_OUR_UPDATE = sipp_answers("UPDATE", "Contact: <sip:+4930555@[local_ip]:[local_port]>\n"
                                     "Session-Expires: {expires};refresher=uac\n")
SESSION_TIMER = ("Allow: INVITE, ACK, BYE, CANCEL{update}\nSupported: timer\n"
                 "Session-Expires: {expires};refresher={refresher}\nMin-SE: {expires}\n")


async def _session_of(leg):
    """The session timer of ``leg``'s call, once our 200 has set it (after the meeting is joined)."""
    await until(lambda: leg.call.session is not None)
    return leg.call.session


# SIPp called by the gateway: it refuses our 3 s session timer with 422 (its Min-SE is 4 s), takes the
# INVITE that asks for 4 s, leaves the refreshing to us, and takes our UPDATE
SIPP_CALLEE_WITH_MIN_SE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a callee with a Min-SE">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 422 Session Interval Too Small
[last_Via:]
[last_From:]
[last_To:];tag=[pid]sipp[call_number]
[last_Call-ID:]
[last_CSeq:]
Min-SE: 4
Content-Length: 0

]]></send>
  <recv request="ACK"/>
""" + sipp_answers("INVITE", "Contact: <sip:phone@[local_ip]:[local_port]>\nAllow: INVITE, ACK, BYE, UPDATE\n"
                   "Supported: timer\nRequire: timer\nSession-Expires: 4;refresher=uac\n", SIPP_SDP,
                   action='<ereg regexp="4" search_in="hdr" header="Min-SE:" check_it="true" assign_to="min"/>'
                   ).replace("[last_To:]", "[last_To:];tag=[pid]sipp[call_number]") + """  <recv request="ACK"/>
""" + sipp_answers("UPDATE", "Session-Expires: 4;refresher=uac\n") + BYE_IN_30_S + """  <Reference variables="min"/>
</scenario>
"""


async def test_session_timers_with_sipp_dialling_in_and_dialled_out(tmp_path):
    """RFC 4028 with SIPp as the phone, intervals of 4 s (Min-SE lowered and our interval cut to 3 s for
    the test). Dialling in: refreshed by us at half the interval, with a re-INVITE (the session's SDP, one
    version up), or an UPDATE when the phone allows it; refreshed by the phone, which never does, ended
    by our BYE before it expires (at 4 - 4/3 s), and the caller leaves the meeting. Dialled out: SIPp's
    422 makes us ask again for its Min-SE, and we refresh by UPDATE."""
    expires = 4
    async with gateway_and_listener(tmp_path, "timers", account_kw={"min_se": 2, "session_expires": 3}) as (
            gateway, listener, port):
        for update, takes_it in (("", SIPP_TAKES_OUR_REINVITE), (", UPDATE", SIPP_TAKES_OUR_UPDATE)):
            ours = SIPP_CALL.format(room="timers", then=takes_it.format(expires=expires) + BYE_IN_30_S,
                                    headers=SESSION_TIMER.format(expires=expires, refresher="uas", update=update))
            async with sipp_phone(tmp_path, port, ours, f"we-refresh{update[2:]}"):
                joined = await next_event(listener, events.ParticipantJoined)
                [leg] = gateway.legs.values()
                session = await _session_of(leg)
                assert session.ours and session.interval == expires
                before = session.refresh_at
                await until(lambda call=leg.call, b=before: call.session.refresh_at not in (None, b))  # 2xx came
                assert leg.call.session.ours  # the refresh's 2xx kept us refresher
                assert leg.sdp_version == (0 if update else 1)  # an UPDATE carries no SDP
                await room_iq(listener, kick(joined.endpoint_id))  # before the next refresh: SIPp takes one
                await next_event(listener, events.ParticipantLeft)
            await until(lambda: not gateway.legs)

        theirs = SIPP_CALL.format(room="timers", then=BYE_IN_30_S,
                                  headers=SESSION_TIMER.format(expires=expires, refresher="uac", update=""))
        async with sipp_phone(tmp_path, port, theirs, "they-refresh"):
            joined = await next_event(listener, events.ParticipantJoined)
            [leg] = gateway.legs.values()
            session = await _session_of(leg)
            assert not session.ours and session.require
            answered = asyncio.get_running_loop().time()
            left = await next_event(listener, events.ParticipantLeft, timeout=expires + 10)
            assert left.endpoint_id == joined.endpoint_id
            assert asyncio.get_running_loop().time() - answered < expires  # the BYE came before the expiry
        await until(lambda: not gateway.legs)

        callee = free_sip_port()
        async with sipp_phone(tmp_path, port, SIPP_CALLEE_WITH_MIN_SE, "callee", sipp_port=callee) as sipp:
            await asyncio.sleep(0.3)  # SIPp listening
            await gateway.dial(Dial(f"sip:phone@127.0.0.1:{callee}", headers={ROOM_NAME_HEADER: listener.room_jid}))
            joined = await next_event(listener, events.ParticipantJoined)
            [leg] = gateway.legs.values()
            session = await _session_of(leg)
            assert session.ours and session.interval == 4 and leg.call.invite.header("session-expires") == "4"
            await until(lambda b=session.refresh_at: leg.call.session.refresh_at not in (None, b))  # refreshed
            await sipp.received("UPDATE sip:phone@")
            await room_iq(listener, kick(joined.endpoint_id))
        await until(lambda: not gateway.legs)


async def test_a_phone_that_moves_its_media_in_the_answer_to_our_refresh_is_followed(tmp_path):
    """SIPp answers our refresh re-INVITE with its audio on another port: the gateway sends there from
    then on (and learns the source again), and the call goes on."""
    moved = free_rtp_port()
    takes_it = sipp_answers("INVITE", "Contact: <sip:+4930555@[local_ip]:[local_port]>\n"
                            "Session-Expires: 4;refresher=uac\n", SIPP_SDP.replace("[media_port]", str(moved)))
    scenario = SIPP_CALL.format(room="moving", then=takes_it + '  <recv request="ACK"/>\n' + BYE_IN_30_S,
                                headers=SESSION_TIMER.format(expires=4, refresher="uas", update=""))
    async with gateway_and_listener(tmp_path, "moving", account_kw={"min_se": 2, "session_expires": 3}) as (
            gateway, listener, port):
        async with sipp_phone(tmp_path, port, scenario, "moves"):
            joined = await next_event(listener, events.ParticipantJoined)
            [leg] = gateway.legs.values()
            signalled = leg.media.remote
            await until(lambda: leg.media.remote == ("127.0.0.1", moved))
            assert signalled != leg.media.remote and leg.media.source is None and leg.media.sending
            assert leg.call.state == "confirmed" and leg.sdp_version == 1
            await room_iq(listener, kick(joined.endpoint_id))
            await next_event(listener, events.ParticipantLeft)
        await until(lambda: not gateway.legs)


def sipp_mutes(cseq: int, muted: str) -> str:
    """The phone mutes (``muted`` "true") or unmutes itself with Jigasi's JSON INFO, then waits for our
    muteResponse to it. Its To is the one :data:`REMEMBER_TO` kept."""
    body = f'{{"type": "muteRequest", "data": {{"audio": {muted}}}, "id": "phone-{cseq}"}}'
    answer = f'"muteResponse", "data": [{{]"audio": {muted}[}}], "id": "phone-{cseq}", "status": "OK"'
    return f"""  <pause milliseconds="1500"/>
  <send retrans="500"><![CDATA[
INFO sip:jigasi@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "+4930555" <sip:+4930555@[local_ip]:[local_port]>;tag=[pid]sipp[call_number]
To:[$to]
Call-ID: [call_id]
CSeq: {cseq} INFO
Max-Forwards: 70
Content-Type: application/json
Content-Length: [len]

{body}]]></send>
  <recv response="200"/>
""" + sipp_answers("INFO", action=f"<ereg regexp='{answer}' search_in=\"body\" check_it=\"true\" "
                                  f"assign_to=\"answer{cseq}\"/>")


# the To of the gateway's 200, kept: the INFOs after one from the gateway cannot take [last_To:]
REMEMBER_TO = ('<recv response="200"><action><ereg regexp=".*" search_in="hdr" header="To:" assign_to="to"/>'
               "</action></recv>")


async def test_a_phone_mutes_and_unmutes_itself_and_the_meeting_sees_it(tmp_path):
    """SIPp sends Jigasi's muteRequest INFO: the caller's audio is muted in the meeting (its presence says
    so, as for a local mute), SIPp gets the muteResponse; then the same to unmute."""
    mutes = sipp_mutes(2, "true") + sipp_mutes(3, "false")
    scenario = SIPP_CALL.format(room="muting", headers="", then=mutes + BYE_IN_30_S).replace(
        '<recv response="200"/>', REMEMBER_TO, 1).replace("</scenario>", '  <Reference variables="answer2,answer3"/>\n'
                                                                          "</scenario>")
    async with gateway_and_listener(tmp_path, "muting") as (gateway, listener, port):
        async with sipp_phone(tmp_path, port, scenario, "mutes") as sipp:
            joined = await next_event(listener, events.ParticipantJoined)
            audio = f"{joined.endpoint_id}-a0"
            muted = await next_event(listener, events.SourceMuted, where=lambda e: e.source_name == audio)
            assert muted.muted and listener.participants[joined.endpoint_id].sources[audio]["muted"]
            [leg] = gateway.legs.values()
            assert leg.meeting.audio_muted
            unmuted = await next_event(listener, events.SourceMuted, where=lambda e: e.source_name == audio)
            assert not unmuted.muted and not leg.meeting.audio_muted
            await sipp.received('"id": "phone-3", "status": "OK"')
            await room_iq(listener, kick(joined.endpoint_id))
        await until(lambda: not gateway.legs)
