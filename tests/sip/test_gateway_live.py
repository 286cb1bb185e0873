"""The gateway service against kamailio: it registers (digest), takes a call the proxy routes to it with
the room in a header, and calls a phone out of a meeting when a moderator asks the focus (Rayo); audio
both ways, and the call's progress in the room."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from xml.etree.ElementTree import Element

import aiohttp
import pytest
from slixmpp.exceptions import IqError

from jitsi_py.common import ns
from jitsi_py.common.meeting import Meeting, events
from jitsi_py.common.stanzas.rayo import HANGUP, ROOM_NAME_HEADER, Dial, Ref
from jitsi_py.common.tls import ensure_self_signed
from jitsi_py.sip import run as run_sip

from ..common.meeting.conftest import meetings, server_of
from ..common.meeting.media import TONE_HZ, ToneTrack
from ..support.stack import free_port, free_rtp_port, free_udp_port, running_stack
from .live import hears, next_event
from .phone import Phone, free_sip_port, read_wav, tone_share, write_tone
from .registrar import Registrar
from .test_dial_in_live import PHONE_HZ

pytestmark = pytest.mark.system
PASSWORD = "sip-secret"


async def test_registered_gateway_takes_calls_through_the_proxy_and_dials_out(tmp_path):
    proxy_port, sip_port, http_port, rtp = free_sip_port(), free_udp_port(), free_port(), free_rtp_port()
    env = {
        "JIGASI_SIP_URI": "jigasi@127.0.0.1", "JIGASI_SIP_PASSWORD": PASSWORD, "JIGASI_SIP_SERVER": "127.0.0.1",
        "JIGASI_SIP_PORT": str(proxy_port), "JITSI_PY_SIP_HOST": "127.0.0.1", "JITSI_PY_SIP_PORT": str(sip_port),
        "JIGASI_PORT_MIN": str(rtp), "JIGASI_PORT_MAX": str(rtp + 8), "JIGASI_XMPP_PASSWORD": "jigasi-secret",
        "JITSI_PY_SIP_HTTP_PORT": str(http_port), "JITSI_PY_SIP_HTTP_INTERFACES": "127.0.0.1",
        "JIGASI_INSTANCE_ID": "gateway1", "JIGASI_HEALTH_CHECK_SIP_URI": f"sip:phone@127.0.0.1:{proxy_port}",
    }
    phone = Phone(tmp_path / "phone", free_sip_port(), write_tone(tmp_path / "tone.wav", PHONE_HZ, rate=8000),
                  password=PASSWORD, registrar=f"127.0.0.1:{proxy_port}",
                  account_params=";audio_codecs=pcmu;answermode=auto")
    async with Registrar(tmp_path / "kamailio", proxy_port, PASSWORD), \
            running_stack(tmp_path, bridge=True, **env) as stack, phone:
        await phone.wait_for(b"200 OK", 10)  # the phone is registered: the health-check call reaches it
        ready = asyncio.Event()
        service = asyncio.ensure_future(run_sip(stack.settings, lambda _summary: ready.set()))
        listener = Meeting(server_of(stack), display_name="Moderator", audio_source=ToneTrack(),
                           receive_video=False)
        try:
            await asyncio.wait_for(ready.wait(), 20)
            async with aiohttp.ClientSession() as http:
                for _ in range(150):  # healthy once registered and the health-check call brought audio
                    async with http.get(f"http://127.0.0.1:{http_port}/about/health") as response:
                        if response.status == 200:
                            break
                    await asyncio.sleep(0.1)
                assert response.status == 200
                async with http.get(f"http://127.0.0.1:{http_port}/about/stats") as response:
                    stats = await response.json()
                assert stats["supports_sip"] is True and stats["participants"] == 0  # the check is no call
            await phone.wait_for(b"session closed", 10)  # we hung the health-check call up (BYE)
            async with meetings(listener):
                await listener.join("proxied", wait_for_media=False)
                statuses: list[str] = []
                listener._xmpp.add_event_handler(
                    "presence", lambda p: p["status"] and statuses.append(str(p["status"])))

                # dial-in: the proxy names the room in X-Room-Name
                phone.command(f"/dial sip:proxied@127.0.0.1:{proxy_port}")
                caller = await next_event(listener, events.ParticipantJoined)
                assert caller.display_name == "phone"
                await hears(listener, caller.endpoint_id, PHONE_HZ)
                phone.command("/hangup")
                assert (await next_event(listener, events.ParticipantLeft)).endpoint_id == caller.endpoint_id

                # dial-out: a moderator's dial, routed by the focus to the gateway in the brewery
                iq = listener._xmpp.make_iq_set(ito=f"{listener.room_jid}/focus")
                iq.xml.append(Dial("phone", headers={ROOM_NAME_HEADER: listener.room_jid}).to_element())
                result = await iq.send(timeout=20)
                ref = Ref.from_element(result.xml.find(ns.tag(ns.RAYO, "ref")))
                callee = await next_event(listener, events.ParticipantJoined)
                assert ref.uri == f"xmpp:{listener.room_jid}/{callee.endpoint_id}" and callee.display_name == "phone"
                await hears(listener, callee.endpoint_id, PHONE_HZ)
                assert "Connected" in statuses, statuses
                await asyncio.sleep(2)  # the phone records the moderator's tone
                # the moderator hangs up where lib-jitsi-meet sends it: the ref, the call's occupant
                hangup = listener._xmpp.make_iq_set(ito=ref.uri.removeprefix("xmpp:"))
                hangup.xml.append(Element(HANGUP))
                heard = len(phone.output)
                await hangup.send(timeout=10)
                await phone.wait_for(b"session closed", 10, since=heard)
                assert (await next_event(listener, events.ParticipantLeft)).endpoint_id == callee.endpoint_id
                again = listener._xmpp.make_iq_set(ito=ref.uri.removeprefix("xmpp:"))
                again.xml.append(Element(HANGUP))
                with pytest.raises(IqError) as gone:  # the MUC: no such occupant any more
                    await again.send(timeout=10)
                assert gone.value.iq["error"]["condition"] == "item-not-found"

                # a busy callee: the room sees why, then the participant goes
                iq = listener._xmpp.make_iq_set(ito=f"{listener.room_jid}/focus")
                iq.xml.append(Dial("busy", headers={ROOM_NAME_HEADER: listener.room_jid}).to_element())
                await iq.send(timeout=20)
                busy = await next_event(listener, events.ParticipantJoined)
                assert (await next_event(listener, events.ParticipantLeft)).endpoint_id == busy.endpoint_id
                assert statuses[-1] == "Busy", statuses
            samples, rate = read_wav(phone.heard())
            rms, share = tone_share(samples[-3 * rate:-rate // 2], rate, TONE_HZ)  # the call, not its end
            assert rms > 1000 and share > 0.8, (rms, share)
        finally:
            service.cancel()
            await asyncio.gather(service, return_exceptions=True)


@pytest.mark.parametrize("transport", ["TCP", "TLS"])
async def test_the_gateway_registers_and_calls_both_ways_over_tcp_and_tls(tmp_path, transport):
    """The gateway has no UDP socket: kamailio reaches it over TCP or TLS (kamailio's tls module, a
    certificate made by the test; ours is made by the gateway) or not at all; the phone is on UDP."""
    proxy_port, sip_port, http_port, rtp = free_sip_port(tls=True), free_sip_port(), free_port(), free_rtp_port()
    cert, key = tmp_path / "kamailio-cert.pem", tmp_path / "kamailio-key.pem"
    ensure_self_signed(cert, key, ["127.0.0.1"])
    env = {
        "JIGASI_SIP_URI": "jigasi@127.0.0.1", "JIGASI_SIP_PASSWORD": PASSWORD, "JIGASI_SIP_SERVER": "127.0.0.1",
        "JIGASI_SIP_PORT": str(proxy_port + (transport == "TLS")), "JIGASI_SIP_TRANSPORT": transport,
        "JITSI_PY_SIP_TLS_VERIFY": "0", "JITSI_PY_SIP_HOST": "127.0.0.1", "JITSI_PY_SIP_PORT": str(sip_port),
        "JIGASI_PORT_MIN": str(rtp), "JIGASI_PORT_MAX": str(rtp + 4), "JIGASI_XMPP_PASSWORD": "jigasi-secret",
        "JITSI_PY_SIP_HTTP_PORT": str(http_port), "JITSI_PY_SIP_HTTP_INTERFACES": "127.0.0.1",
    }
    phone = Phone(tmp_path / "phone", free_sip_port(), write_tone(tmp_path / "tone.wav", PHONE_HZ, rate=8000),
                  password=PASSWORD, registrar=f"127.0.0.1:{proxy_port}",
                  account_params=";audio_codecs=pcmu;answermode=auto")
    async with Registrar(tmp_path / "kamailio", proxy_port, PASSWORD, tls=(cert, key)), \
            running_stack(tmp_path, bridge=True, **env) as stack:
        ready = asyncio.Event()
        service = asyncio.ensure_future(run_sip(stack.settings, lambda _summary: ready.set()))
        listener = Meeting(server_of(stack), display_name="Listener", receive_video=False)
        try:
            await asyncio.wait_for(ready.wait(), 20)
            async with meetings(listener), phone:
                await phone.wait_for(b"200 OK", 10)
                await listener.join("overstream", wait_for_media=False)
                phone.command(f"/dial sip:overstream@127.0.0.1:{proxy_port}")
                caller = await next_event(listener, events.ParticipantJoined)
                assert caller.display_name == "phone"
                await hears(listener, caller.endpoint_id, PHONE_HZ, frames=60)
                phone.command("/hangup")
                assert (await next_event(listener, events.ParticipantLeft)).endpoint_id == caller.endpoint_id
                iq = listener._xmpp.make_iq_set(ito=f"{listener.room_jid}/focus")
                iq.xml.append(Dial("phone", headers={ROOM_NAME_HEADER: listener.room_jid}).to_element())
                await iq.send(timeout=20)
                callee = await next_event(listener, events.ParticipantJoined)
                await hears(listener, callee.endpoint_id, PHONE_HZ, frames=60)
        finally:
            service.cancel()
            await asyncio.gather(service, return_exceptions=True)


async def test_two_concurrent_calls_and_the_meeting_outlives_a_killed_gateway(tmp_path):
    """The gateway as its own process (python -m jitsi_py.sip), two phones in one room at once; killed
    with SIGKILL, its two participants go and the room carries on for the others."""
    sip_port, http_port, rtp = free_udp_port(), free_port(), free_rtp_port()
    env = {"JIGASI_SIP_URI": "jigasi@127.0.0.1", "JIGASI_XMPP_PASSWORD": "jigasi-secret"}
    async with running_stack(tmp_path, bridge=True, **env) as stack:
        gateway_env = {
            **env, "PATH": os.environ["PATH"], "CONFIG": str(tmp_path / "cfg"), "XMPP_SERVER": "127.0.0.1",
            "XMPP_PORT": str(stack.settings.xmpp.c2s_port), "JITSI_PY_SIP_HOST": "127.0.0.1",
            "JITSI_PY_SIP_PORT": str(sip_port), "JIGASI_PORT_MIN": str(rtp), "JIGASI_PORT_MAX": str(rtp + 8),
            "JITSI_PY_SIP_HTTP_PORT": str(http_port), "JITSI_PY_SIP_HTTP_INTERFACES": "127.0.0.1",
        }
        gateway = await asyncio.create_subprocess_exec(sys.executable, "-m", "jitsi_py.sip", env=gateway_env,
                                                       stdout=asyncio.subprocess.DEVNULL,
                                                       stderr=(tmp_path / "gateway.log").open("wb"))
        listener = Meeting(server_of(stack), display_name="Listener", receive_video=False)
        tone = write_tone(tmp_path / "tone.wav", PHONE_HZ, rate=8000)
        first = Phone(tmp_path / "one", free_sip_port(), tone, user="one", account_params=";audio_codecs=pcmu")
        second = Phone(tmp_path / "two", free_sip_port(), tone, user="two", account_params=";audio_codecs=pcma")
        try:
            async with meetings(listener), first, second:
                await listener.join("together", wait_for_media=False)
                async with aiohttp.ClientSession() as http:  # the gateway answers once it is in the brewery
                    for _ in range(200):
                        with contextlib.suppress(aiohttp.ClientError):
                            async with http.get(f"http://127.0.0.1:{http_port}/about/health") as response:
                                if response.status == 200:
                                    break
                        await asyncio.sleep(0.1)
                first.command(f"/dial sip:together@127.0.0.1:{sip_port}")
                second.command(f"/dial sip:together@127.0.0.1:{sip_port}")
                callers = {(await next_event(listener, events.ParticipantJoined)).display_name for _ in range(2)}
                assert callers == {"one", "two"}
                gateway.kill()
                await gateway.wait()
                gone = [await next_event(listener, events.ParticipantLeft) for _ in range(2)]
                assert len({left.endpoint_id for left in gone}) == 2
                late = Meeting(server_of(stack), display_name="Late", receive_video=False)
                async with meetings(late):
                    await late.join("together", wait_for_media=False)
                    assert (await next_event(listener, events.ParticipantJoined)).display_name == "Late"
        finally:
            if gateway.returncode is None:
                gateway.kill()
                await gateway.wait()
