"""Dial-in end to end: baresip calls the gateway, the caller joins a meeting of our stack; a tone goes
each way and is found by its frequency on the other side."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from jitsi_py.common.meeting import Meeting, events
from jitsi_py.sip.gateway import Gateway
from jitsi_py.sip.mapper import ConferenceMapper
from jitsi_py.sip.media import PortPool, mono
from jitsi_py.sip.ua import Account

from ..common.meeting.conftest import meetings, server_of
from ..common.meeting.media import TONE_HZ, ToneTrack
from ..support.stack import free_udp_port, running_stack
from .phone import Phone, free_sip_port, read_wav, tone_share, write_tone

PHONE_HZ = 1000
pytestmark = pytest.mark.system


async def next_event(meeting: Meeting, kind, timeout: float = 30, where=lambda e: True):
    async def wait():
        async for event in meeting.events():
            if isinstance(event, kind) and where(event):
                return event
        raise AssertionError(f"meeting ended before a {kind.__name__}")
    return await asyncio.wait_for(wait(), timeout)


def gateway_for(stack, port: int, **kw) -> Gateway:
    rtp = free_udp_port() & ~1
    return Gateway(Account("sip:jigasi@127.0.0.1", None, ("127.0.0.1", port)), bind=("127.0.0.1", port),
                   media_address="127.0.0.1", ports=PortPool(rtp, rtp + 8), meeting_server=server_of(stack),
                   join_timeout=20, **kw)


async def test_a_phone_dials_in_by_the_request_uri_and_audio_flows_both_ways(tmp_path):
    async with running_stack(tmp_path, bridge=True) as stack:
        port = free_udp_port()
        gateway = gateway_for(stack, port)
        await gateway.start(register=False)
        listener = Meeting(server_of(stack), display_name="Listener", audio_source=ToneTrack(), receive_video=False)
        phone = Phone(tmp_path / "phone", free_sip_port(), write_tone(tmp_path / "tone.wav", PHONE_HZ, rate=8000),
                      user="+4930123", account_params=";audio_codecs=pcmu")
        try:
            async with meetings(listener), phone:
                await listener.join("phonecall", wait_for_media=False)
                phone.command(f"/dial sip:phonecall@127.0.0.1:{port}")
                joined = await next_event(listener, events.ParticipantJoined)
                assert joined.display_name == "+4930123"
                assert "http://jitsi.org/protocol/jigasi" in joined.features
                added = await next_event(listener, events.TrackAdded,
                                         where=lambda e: e.endpoint_id == joined.endpoint_id)
                frames = [await asyncio.wait_for(added.track.recv(), 10) for _ in range(150)]
                heard = np.concatenate([mono(f) for f in frames[-75:]]).astype(np.float64)
                rms, share = tone_share(heard, 48000, PHONE_HZ)
                assert rms > 1000 and share > 0.8, (rms, share)
                [leg] = gateway.legs.values()
                assert leg.media.sources  # the listener's audio reaches the phone's mix
                await asyncio.sleep(3)
                phone.command("/hangup")
                left = await next_event(listener, events.ParticipantLeft)
                assert left.endpoint_id == joined.endpoint_id
            samples, rate = read_wav(phone.heard())
            rms, share = tone_share(samples[-rate * 2:], rate, TONE_HZ)
            assert rms > 1000 and share > 0.8, (rms, share)
            assert not gateway.legs and len(gateway.ports.free) == 4
        finally:
            await gateway.close()


async def test_a_phone_types_a_pin_that_the_conference_mapper_turns_into_a_room(tmp_path, aiohttp_mapper):
    async with running_stack(tmp_path, bridge=True) as stack:
        port = free_udp_port()
        gateway = gateway_for(stack, port, resolve_pin=ConferenceMapper(aiohttp_mapper.url).room)
        await gateway.start(register=False)
        listener = Meeting(server_of(stack), display_name="Listener", receive_video=False)
        phone = Phone(tmp_path / "phone", free_sip_port(), write_tone(tmp_path / "tone.wav", PHONE_HZ, rate=8000),
                      user="+4930999", account_params=";audio_codecs=pcmu")
        try:
            async with meetings(listener), phone:
                await listener.join("pinroom", wait_for_media=False)
                phone.command(f"/dial sip:jigasi@127.0.0.1:{port}")  # the gateway's own user: no room named
                await phone.wait_for(b"established", 10)
                for key in "999#":  # a PIN that names no room: asked again
                    phone.command(key)
                    await asyncio.sleep(0.25)
                for _ in range(50):
                    if aiohttp_mapper.asked:
                        break
                    await asyncio.sleep(0.1)
                for key in "123456#":
                    phone.command(key)
                    await asyncio.sleep(0.25)
                joined = await next_event(listener, events.ParticipantJoined)
                assert joined.display_name == "+4930999"
                assert aiohttp_mapper.asked == ["999", "123456"]
                added = await next_event(listener, events.TrackAdded,
                                         where=lambda e: e.endpoint_id == joined.endpoint_id)
                frames = [await asyncio.wait_for(added.track.recv(), 10) for _ in range(100)]
                rms, share = tone_share(np.concatenate([mono(f) for f in frames[-50:]]).astype(np.float64), 48000,
                                        PHONE_HZ)
                assert rms > 1000 and share > 0.8, (rms, share)
        finally:
            await gateway.close()


async def test_a_phone_that_insists_on_sdes_srtp_is_heard_through_it(tmp_path):
    async with running_stack(tmp_path, bridge=True) as stack:
        port = free_udp_port()
        gateway = gateway_for(stack, port, srtp=True)
        await gateway.start(register=False)
        listener = Meeting(server_of(stack), display_name="Listener", receive_video=False)
        phone = Phone(tmp_path / "phone", free_sip_port(), write_tone(tmp_path / "tone.wav", PHONE_HZ, rate=8000),
                      user="secure", account_params=";audio_codecs=pcmu;mediaenc=srtp-mand")
        try:
            async with meetings(listener), phone:
                await listener.join("secret", wait_for_media=False)
                phone.command(f"/dial sip:secret@127.0.0.1:{port}")
                joined = await next_event(listener, events.ParticipantJoined)
                added = await next_event(listener, events.TrackAdded,
                                         where=lambda e: e.endpoint_id == joined.endpoint_id)
                [leg] = gateway.legs.values()
                assert leg.media.protection is not None and b"RTP/SAVP" in leg.call.local_sdp
                frames = [await asyncio.wait_for(added.track.recv(), 10) for _ in range(100)]
                rms, share = tone_share(np.concatenate([mono(f) for f in frames[-50:]]).astype(np.float64), 48000,
                                        PHONE_HZ)
                assert rms > 1000 and share > 0.8, (rms, share)
                assert leg.media.bad_packets == 0
        finally:
            await gateway.close()
