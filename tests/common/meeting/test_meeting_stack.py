"""The meeting client against our focus and bridge, end to end over loopback."""

from __future__ import annotations

import asyncio
from xml.etree.ElementTree import Element, SubElement

import pytest
from playwright.async_api import async_playwright
from slixmpp.exceptions import IqError

from jitsi_py.common import ns
from jitsi_py.common.meeting import JoinError, Login, Meeting, XmppServer, events
from jitsi_py.common.stanzas.jitsi import MuteIq

from ...support.stack import free_port, join_browser, running_stack
from ...web.test_browser import CHROMIUM, CHROMIUM_ARGS
from .conftest import meetings, server_of
from .media import ToneTrack, tone_energy


async def next_event(meeting: Meeting, kind, timeout: float = 30):  # a bound for a loaded machine
    async def wait():
        async for event in meeting.events():
            if isinstance(event, kind):
                return event
        raise AssertionError(f"meeting ended before a {kind.__name__}")
    return await asyncio.wait_for(wait(), timeout)


async def test_a_meeting_hears_another_meetings_audio_source(tmp_path):
    async with running_stack(tmp_path, bridge=True) as stack:
        server = server_of(stack)
        speaker = Meeting(server, display_name="Speaker", audio_source=ToneTrack(), receive_video=False)
        listener = Meeting(server, display_name="Listener", receive_video=False)
        async with meetings(speaker, listener):
            await listener.join("tone", wait_for_media=False)  # first in: the focus makes it owner
            await speaker.join("tone")
            joined = await next_event(listener, events.ParticipantJoined)
            assert (joined.endpoint_id, joined.display_name) == (speaker.endpoint_id, "Speaker")
            added = await next_event(listener, events.TrackAdded)
            assert (added.endpoint_id, added.source_name, added.kind) == (
                speaker.endpoint_id, f"{speaker.endpoint_id}-a0", "audio")
            frames = [await asyncio.wait_for(added.track.recv(), 10) for _ in range(100)]
            assert frames[-1].sample_rate == 48000
            rms, share = tone_energy(frames[-50:])
            assert rms > 1000 and share > 0.8, (rms, share)

            # the bridge channel both ways, and the MUC
            assert await next_event(listener, events.DominantSpeaker) == events.DominantSpeaker(speaker.endpoint_id)
            await speaker.send_endpoint_message(listener.endpoint_id, {"type": "hello"})
            assert await next_event(listener, events.EndpointMessage) == events.EndpointMessage(
                speaker.endpoint_id, {"type": "hello"})
            await speaker.send_group_message("hi all", {"type": "note"})
            assert await next_event(listener, events.GroupMessage) == events.GroupMessage(
                speaker.endpoint_id, "hi all", {"type": "note"})

            # a moderator's mute through the focus: obeyed, and seen in presence
            iq = listener._xmpp.make_iq_set(ito=f"{listener.room_jid}/focus")
            iq.xml.append(MuteIq("audio", f"{speaker.room_jid}/{speaker.endpoint_id}", True).to_element())
            await iq.send(timeout=5)
            assert await next_event(speaker, events.MuteRequest) == events.MuteRequest("audio", True)
            assert await next_event(listener, events.SourceMuted) == events.SourceMuted(
                speaker.endpoint_id, f"{speaker.endpoint_id}-a0", True)
            assert speaker.audio_muted


@pytest.mark.system
@pytest.mark.browser
async def test_a_meeting_decodes_a_browsers_audio_and_video(tmp_path):
    async with running_stack(tmp_path, bridge=True) as stack, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        recorder = Meeting(server_of(stack), display_name="Recorder")
        try:
            async with meetings(recorder):
                await join_browser(browser, stack.base, "Alice", "/browser")
                await recorder.join("browser")
                joined = await next_event(recorder, events.ParticipantJoined)
                assert joined.display_name == "Alice"
                tracks = {}
                while len(tracks) < 2:
                    added = await next_event(recorder, events.TrackAdded)
                    assert added.endpoint_id == joined.endpoint_id
                    tracks[added.kind] = added
                assert tracks["video"].source_name == f"{joined.endpoint_id}-v0"
                assert tracks["video"].video_type == "camera"
                frame = await asyncio.wait_for(tracks["video"].track.recv(), 20)
                assert frame.width > 0 and frame.height > 0
                audio = await asyncio.wait_for(tracks["audio"].track.recv(), 10)
                assert audio.sample_rate == 48000 and audio.samples > 0
        finally:
            await browser.close()


async def room_iq(meeting: Meeting, query: Element, tries: int = 50) -> None:
    """An IQ to the room from ``meeting`` (a moderator's action), retried while the focus has not yet
    made it owner. Through the client's own stream: the meeting client has no room-admin API."""
    for _ in range(tries):
        iq = meeting._xmpp.make_iq_set(ito=meeting.room_jid)
        iq.xml.append(query)
        try:
            await iq.send(timeout=5)
            return
        except IqError as exc:
            if exc.iq["error"]["condition"] != "forbidden":
                raise
        await asyncio.sleep(0.1)
    raise AssertionError("never became owner")


def lock(password: str) -> Element:
    query = Element(ns.tag(ns.MUC_OWNER, "query"))
    form = SubElement(query, ns.tag(ns.DATA_FORMS, "x"), type="submit")
    for var, value in (("FORM_TYPE", "http://jabber.org/protocol/muc#roomconfig"),
                       ("muc#roomconfig_roomsecret", password), ("muc#roomconfig_passwordprotectedroom", "1")):
        field = SubElement(form, ns.tag(ns.DATA_FORMS, "field"), var=var)
        SubElement(field, ns.tag(ns.DATA_FORMS, "value")).text = value
    return query


def kick(endpoint_id: str) -> Element:
    query = Element(ns.tag(ns.MUC_ADMIN, "query"))
    SubElement(query, ns.tag(ns.MUC_ADMIN, "item"), nick=endpoint_id, role="none")
    return query


async def test_a_locked_room_refuses_a_guest_without_password_and_a_kick_ends_the_guests_meeting(tmp_path):
    async with running_stack(tmp_path, bridge=True) as stack:
        server = server_of(stack)
        host, stranger, guest = (Meeting(server, display_name=name) for name in ("Host", "Stranger", "Guest"))
        async with meetings(host, stranger, guest):
            await host.join("locked", wait_for_media=False)
            await room_iq(host, lock("s3cret"))
            with pytest.raises(JoinError) as refused:
                await stranger.join("locked", timeout=10)
            assert refused.value.reason == "room locked (password)"
            assert [e async for e in stranger.events()] == [events.Ended("join failed")]
            assert [e async for e in stranger.events()] == []  # taken already: ends at once

            await guest.join("locked", password="s3cret")
            await room_iq(host, kick(guest.endpoint_id))
            assert await next_event(guest, events.Ended) == events.Ended("kicked")
            left = await next_event(host, events.ParticipantLeft)
            assert left == events.ParticipantLeft(guest.endpoint_id, kicked=True)
            await host.leave()
            assert await next_event(host, events.Ended) == events.Ended("left")


async def test_joining_an_empty_room_and_waiting_for_media_times_out_naming_the_stage(tmp_path):
    async with running_stack(tmp_path) as stack:
        alone = Meeting(server_of(stack))
        async with meetings(alone):
            with pytest.raises(JoinError) as refused:
                await alone.join("empty", timeout=3)
            assert refused.value.reason == "timed out waiting for the media session (no session-initiate)"


OUTBOUND_VIDEO_SSRCS = """async () => {
    const pc = window.jitsiPy.view.conference.session.pc;
    return [...(await pc.getStats()).values()].filter(r => r.type === 'outbound-rtp' && r.kind === 'video')
        .map(r => r.ssrc);
}"""


@pytest.mark.system
@pytest.mark.browser
async def test_a_meeting_receives_two_browsers_videos_as_two_tracks_of_the_right_endpoints(tmp_path):
    async with running_stack(tmp_path, bridge=True) as stack, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        recorder = Meeting(server_of(stack), display_name="Recorder", receive_audio=False)
        try:
            async with meetings(recorder):
                pages = {name: await join_browser(browser, stack.base, name, "/three") for name in ("Alice", "Bob")}
                await recorder.join("three")
                nicks = {}
                for name, page in pages.items():
                    await page.wait_for_function("window.jitsiPy?.view?.conference?.session?.pc?.connectionState"
                                                 " === 'connected'", timeout=30000)
                    nicks[name] = await page.evaluate("window.jitsiPy.view.conference.nick")
                names, videos = {}, {}
                async for event in recorder.events():
                    if isinstance(event, events.ParticipantJoined):
                        names[event.endpoint_id] = event.display_name
                    elif isinstance(event, events.TrackAdded):
                        assert event.kind == "video"
                        videos[event.endpoint_id] = event
                    if len(videos) == 2 and len(names) == 2:
                        break
                assert names == {nicks["Alice"]: "Alice", nicks["Bob"]: "Bob"}
                assert {e.source_name for e in videos.values()} == {f"{nick}-v0" for nick in nicks.values()}
                assert videos[nicks["Alice"]].track is not videos[nicks["Bob"]].track
                for name, nick in nicks.items():
                    # the track of each endpoint is fed by the SSRC that endpoint's browser sends
                    line = recorder._session.announced[f"{nick}-v0"]
                    assert line.source.ssrcs[0] in await pages[name].evaluate(OUTBOUND_VIDEO_SSRCS)
                    frame = await asyncio.wait_for(videos[nick].track.recv(), 20)
                    assert frame.width > 0 and frame.height > 0

                # Alice on stage: both tracks keep decoding (a receiver estimate per m-line once made
                # the bridge suspend the stage source: aiortc's REMB is off, see sdp.ABS_SEND_TIME)
                recorder.set_video_constraints({f"{nicks['Alice']}-v0"}, 720)
                for _ in range(2):
                    await asyncio.sleep(2)
                    for track in (videos[nick].track for nick in nicks.values()):
                        while track._queue.qsize() > 1:  # what queued while we slept: skip to the newest
                            await track.recv()
                        assert (await asyncio.wait_for(track.recv(), 5)).height > 0
        finally:
            await browser.close()


async def test_a_lost_connection_ends_the_meeting(tmp_path):
    async with running_stack(tmp_path) as stack:
        meeting = Meeting(server_of(stack))
        async with meetings(meeting):
            await meeting.join("lost", wait_for_media=False)
            meeting._xmpp.transport.abort()  # the TCP connection drops under the client
            assert await next_event(meeting, events.Ended) == events.Ended("connection lost")


async def test_a_session_ended_by_the_focus_leaves_us_in_the_room_and_a_new_one_brings_new_tracks(tmp_path):
    async with running_stack(tmp_path, bridge=True, JICOFO_CONF_SINGLE_PARTICIPANT_TIMEOUT="1") as stack:
        server = server_of(stack)
        stayer = Meeting(server, display_name="Stayer", receive_video=False)
        first, second = (Meeting(server, display_name=name, audio_source=ToneTrack(), receive_video=False)
                         for name in ("First", "Second"))
        async with meetings(stayer, first, second):
            await stayer.join("again", wait_for_media=False)
            await first.join("again")
            gone = await next_event(stayer, events.TrackAdded)
            assert gone.endpoint_id == first.endpoint_id
            await first.leave()
            assert await next_event(stayer, events.TrackRemoved) == events.TrackRemoved(
                first.endpoint_id, f"{first.endpoint_id}-a0")
            # alone: the focus ends our session after the single-participant timeout; we stay in the room
            for _ in range(100):
                if stayer._session is None:
                    break
                await asyncio.sleep(0.1)
            assert stayer._session is None
            await second.join("again")
            added = await next_event(stayer, events.TrackAdded, timeout=20)
            assert added.endpoint_id == second.endpoint_id and added.track is not gone.track
            frames = [await asyncio.wait_for(added.track.recv(), 10) for _ in range(60)]
            assert tone_energy(frames[-30:])[1] > 0.8


async def test_a_recorder_logs_in_on_the_hidden_domain_and_others_see_it_hidden(tmp_path):
    async with running_stack(tmp_path, bridge=True, JIBRI_RECORDER_PASSWORD="rec-secret") as stack:
        server = server_of(stack)
        hidden = stack.settings.common.domains.hidden
        intruder = Meeting(server, Login(f"recorder@{hidden}", "wrong"))
        recorder = Meeting(server, Login(f"recorder@{hidden}", "rec-secret"), display_name="Recorder",
                           features=("http://jitsi.org/protocol/jibri",), receive_video=False)
        speaker = Meeting(server, display_name="Speaker", audio_source=ToneTrack(), receive_video=False)
        async with meetings(intruder, recorder, speaker):
            with pytest.raises(JoinError) as refused:
                await intruder.join("hidden", timeout=10)
            assert refused.value.reason == "authentication failed"
            await speaker.join("hidden", wait_for_media=False)
            await recorder.join("hidden")
            seen = await next_event(speaker, events.ParticipantJoined)
            assert (seen.endpoint_id, seen.hidden, seen.features) == (
                recorder.endpoint_id, True, ("http://jitsi.org/protocol/jibri",))
            assert seen.jid.startswith(f"recorder@{hidden}/")  # the room is non-anonymous: the focus sets it
            added = await next_event(recorder, events.TrackAdded)
            assert added.endpoint_id == speaker.endpoint_id
            frames = [await asyncio.wait_for(added.track.recv(), 10) for _ in range(60)]
            assert tone_energy(frames[-30:])[1] > 0.8


async def test_no_xmpp_server_is_a_join_error_at_once():
    meeting = Meeting(XmppServer("127.0.0.1", free_port(), "meet.jitsi", "muc.meet.jitsi"))  # nothing listens
    started = asyncio.get_running_loop().time()
    with pytest.raises(JoinError) as refused:
        await meeting.join("nobody", timeout=10)
    assert refused.value.reason == "cannot connect to the XMPP server"
    assert asyncio.get_running_loop().time() - started < 5


async def test_a_destroyed_room_ends_the_meeting(tmp_path):
    async with running_stack(tmp_path) as stack:
        server = server_of(stack)
        host, guest = Meeting(server, display_name="Host"), Meeting(server, display_name="Guest")
        async with meetings(host, guest):
            await host.join("doomed", wait_for_media=False)
            await guest.join("doomed", wait_for_media=False)
            destroy = Element(ns.tag(ns.MUC_OWNER, "query"))
            reason = SubElement(SubElement(destroy, ns.tag(ns.MUC_OWNER, "destroy")), ns.tag(ns.MUC_OWNER, "reason"))
            reason.text = "bye"
            await room_iq(host, destroy)
            assert await next_event(guest, events.Ended) == events.Ended("room destroyed")
