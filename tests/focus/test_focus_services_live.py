"""Recording, dial-out and trusted members with the focus on Debian's Prosody and on our XMPP
server: scripted recorders and gateways in their breweries, moderators as slixmpp clients
(docs/focus.md §8-§10)."""

import asyncio

import pytest
from slixmpp.exceptions import IqError

from jitsi_py.common.stanzas.jibri import FEATURE as FEATURE_JIBRI, JibriIq
from jitsi_py.common.stanzas.rayo import ROOM_NAME_HEADER, TRANSCRIBER_CALLEE, Dial, Ref
from jitsi_py.focus.client import Focus

from .conftest import focus_settings, until
from .harness import (
    AUTH,
    DOMAIN,
    JIBRI_BREWERY,
    JIBRI_PASSWORD,
    JIGASI_BREWERY,
    MUC,
    Participant,
    ScriptedGateway,
    ScriptedRecorder,
    free_port,
    set_room_metadata,
)
from .test_focus_live import participants

pytestmark = [pytest.mark.system, pytest.mark.timeout(90)]
JIBRI = "{http://jitsi.org/protocol/jibri}jibri"
REF = "{urn:xmpp:rayo:1}ref"


@pytest.fixture
async def focus(xmpp_server):
    # The scripted services log in on the auth domain: trusted here, as the hidden domain is in docker.
    focus = Focus(focus_settings(xmpp_server.c2s_port, free_port(), ENABLE_RECORDING="1", ENABLE_TRANSCRIPTIONS="1",
                                 JICOFO_TRUSTED_DOMAINS=AUTH, JITSI_PY_FOCUS_REPLY_TIMEOUT="3"))
    await focus.start()
    await asyncio.wait_for(focus.connected.wait(), 15)
    yield focus
    await focus.stop()


async def moderator_and_guest(xmpp_server, focus, room):
    alice, bob = await participants(xmpp_server, focus, room)
    await until(lambda: alice.role == "moderator")
    return alice, bob


async def recorders(focus, *scripts):
    for recorder in scripts:  # one at a time: the first to arrive is the first picked
        await recorder.start()
        await until(lambda r=recorder: r.occupant in focus.recorders.recorders)


async def refused(person, payload) -> str:
    with pytest.raises(IqError) as caught:
        await person.send_jingle(payload)
    return caught.value.iq["error"]["condition"]


async def test_a_moderator_records_and_the_room_sees_on_then_off(xmpp_server, focus):
    recorder = ScriptedRecorder("jibri1", xmpp_server.c2s_port)
    await recorders(focus, recorder)
    room = f"recorded@{MUC}"
    alice, bob = await moderator_and_guest(xmpp_server, focus, room)
    app_data = '{"file_recording_metadata":{"share":true}}'
    answer = await alice.send_jingle(JibriIq(action="start", recording_mode="file", app_data=app_data).to_element())
    session_id = JibriIq.from_element(answer.xml.find(JIBRI)).session_id
    focus_occupant, start = await recorder.next_request()
    assert focus_occupant == f"{JIBRI_BREWERY}/focus"
    assert (start.action, start.recording_mode, start.room, start.session_id, start.app_data) == (
        "start", "file", room, session_id, app_data)
    await recorder.update(focus_occupant, status="on", session_id=session_id)
    await until(lambda: bob.recording and bob.recording[-1].status == "on")
    on = bob.recording[-1]
    assert (on.session_id, on.recording_mode, on.initiator) == (session_id, "file", f"{room}/{alice.nick}")
    assert await refused(alice, JibriIq(action="start", recording_mode="file").to_element()) == "unexpected-request"
    assert (focus.stats()["recorders"], focus.stats()["recordings"]) == (1, 1)

    await alice.send_jingle(JibriIq(action="stop", recording_mode="file").to_element())
    _, stop = await recorder.next_request()
    assert (stop.action, stop.session_id) == ("stop", session_id)
    await until(lambda: bob.recording[-1].status == "off")
    assert bob.recording[-1].initiator == f"{room}/{alice.nick}"
    assert recorder.errors == [], "the focus took the recorder's answers for requests"
    with pytest.raises(IqError) as late:  # the session is over: the recorder's "off" belongs to none
        await recorder.update(focus_occupant, status="off", session_id=session_id)
    assert late.value.iq["error"]["condition"] == "item-not-found"
    for client in (alice, bob, recorder):
        await client.stop()


async def test_a_busy_recorder_passes_the_request_to_another(xmpp_server, focus):
    busy = ScriptedRecorder("jibri1", xmpp_server.c2s_port, answer="busy")
    idle = ScriptedRecorder("jibri2", xmpp_server.c2s_port)
    await recorders(focus, busy, idle)
    alice, bob = await moderator_and_guest(xmpp_server, focus, f"retried@{MUC}")
    answer = await alice.send_jingle(JibriIq(action="start", recording_mode="stream", streamid="abcd-efgh-ijkl-mnop",
                                             you_tube_broadcast_id="xyz").to_element())
    session_id = JibriIq.from_element(answer.xml.find(JIBRI)).session_id
    _, first = await busy.next_request()
    _, second = await idle.next_request()
    assert first.session_id == second.session_id == session_id
    assert (second.recording_mode, second.streamid, second.you_tube_broadcast_id) == (
        "stream", "abcd-efgh-ijkl-mnop", "xyz")
    assert focus.recorders.recorders[busy.occupant].last_failed is not None
    for client in (alice, bob, busy, idle):
        await client.stop()


async def test_refusals_none_connected_guests_and_missing_stream_keys(xmpp_server, focus):
    alice, bob = await moderator_and_guest(xmpp_server, focus, f"refused@{MUC}")
    file_start = JibriIq(action="start", recording_mode="file").to_element()
    assert await refused(bob, file_start) == "not-allowed"
    assert await refused(alice, file_start) == "service-unavailable"
    assert await refused(alice, JibriIq(action="start", recording_mode="stream").to_element()) == "bad-request"
    assert await refused(alice, JibriIq(action="stop").to_element()) == "item-not-found"
    assert bob.recording == [], "nothing was published"
    for client in (alice, bob):
        await client.stop()


async def test_the_recorder_leaving_mid_session_is_off_with_an_error(xmpp_server, focus):
    recorder = ScriptedRecorder("jibri1", xmpp_server.c2s_port)
    await recorders(focus, recorder)
    alice, bob = await moderator_and_guest(xmpp_server, focus, f"crashed@{MUC}")
    answer = await alice.send_jingle(JibriIq(action="start", recording_mode="file").to_element())
    session_id = JibriIq.from_element(answer.xml.find(JIBRI)).session_id
    focus_occupant, _ = await recorder.next_request()
    await recorder.update(focus_occupant, status="on", session_id=session_id)
    await until(lambda: bob.recording and bob.recording[-1].status == "on")
    await recorder.leave()
    await until(lambda: bob.recording[-1].status == "off")
    assert (bob.recording[-1].failure_reason, bob.recording[-1].session_id) == ("error", session_id)
    for client in (alice, bob, recorder):
        await client.stop()


async def test_dial_out_goes_to_a_sip_gateway_and_transcription_to_a_transcriber(xmpp_server, focus):
    refusing = ScriptedGateway("sipbad", xmpp_server.c2s_port, participants=0, refuse="service-unavailable")
    sip = ScriptedGateway("sipok", xmpp_server.c2s_port, participants=5)
    transcriber = ScriptedGateway("trans", xmpp_server.c2s_port, sip=False, transcription=True)
    for gateway in (refusing, sip, transcriber):
        await gateway.start()
    await until(lambda: len(focus.gateways.gateways) == 3)
    room = f"dialling@{MUC}"
    alice, bob = await moderator_and_guest(xmpp_server, focus, room)
    call = Dial("+4930123456", "fromnumber", {ROOM_NAME_HEADER: room, "JvbRoomPassword": "secret"})
    answer = await alice.send_jingle(call.to_element())
    assert Ref.from_element(answer.xml.find(REF)).uri == sip.uri
    assert len(refusing.dials) == 1, "the least loaded gateway was asked first"
    sender, forwarded = sip.dials[0]
    assert sender == f"{JIGASI_BREWERY}/focus" and forwarded == call
    assert transcriber.dials == []

    answer = await alice.send_jingle(Dial(TRANSCRIBER_CALLEE, "x", {ROOM_NAME_HEADER: room}).to_element())
    assert Ref.from_element(answer.xml.find(REF)).uri == transcriber.uri
    assert await refused(bob, call.to_element()) == "forbidden"
    other_room = Dial("+4930123456", None, {ROOM_NAME_HEADER: f"other@{MUC}"})
    assert await refused(alice, other_room.to_element()) == "forbidden"
    for client in (alice, bob, refusing, sip, transcriber):
        await client.stop()


@pytest.mark.parametrize("xmpp_server", ["ours"], indirect=True)  # Prosody's stock modules have no metadata
async def test_room_metadata_asking_for_transcription_brings_one_transcriber(xmpp_server, focus):
    transcriber = ScriptedGateway("trans", xmpp_server.c2s_port, sip=False, transcription=True)
    await transcriber.start()
    await until(lambda: len(focus.gateways.gateways) == 1)
    room = f"metadata@{MUC}"
    alice, bob = await moderator_and_guest(xmpp_server, focus, room)
    set_room_metadata(alice.client, f"metadata.{DOMAIN}", room, "recording", {"isTranscribingEnabled": True})
    await until(lambda: transcriber.dials)
    sender, dial = transcriber.dials[0]
    assert sender == f"{JIGASI_BREWERY}/focus"
    assert dial.to == TRANSCRIBER_CALLEE and dial.headers == {ROOM_NAME_HEADER: room}
    # on its way (this one never joins): a member's dial for another is refused
    dial_too = Dial(TRANSCRIBER_CALLEE, "x", {ROOM_NAME_HEADER: room}).to_element()
    assert await refused(alice, dial_too) == "conflict"
    assert len(transcriber.dials) == 1
    for client in (alice, bob, transcriber):
        await client.stop()


async def test_a_recorder_left_alone_does_not_keep_the_conference(xmpp_server, focus):
    room = f"alone@{MUC}"
    (alice,) = await participants(xmpp_server, focus, room, count=1)
    recorder = Participant(xmpp_server.c2s_port, xmpp_server.focus_address or focus.xmpp.boundjid.full, room,
                           jid=f"jibri@{AUTH}", password=JIBRI_PASSWORD)
    await recorder.start()
    await recorder.join(features=(FEATURE_JIBRI,))
    await until(lambda: recorder.nick in focus.rooms[room].core.participants)
    assert focus.rooms[room].core.participants[recorder.nick].is_jibri
    await alice.leave()
    await until(lambda: room not in focus.rooms)
    for client in (alice, recorder):
        await client.stop()


async def test_a_recorder_stuck_pending_is_stopped_after_the_pending_timeout(xmpp_server):
    focus = Focus(focus_settings(xmpp_server.c2s_port, free_port(), ENABLE_RECORDING="1", JIBRI_PENDING_TIMEOUT="2"))
    await focus.start()
    try:
        await asyncio.wait_for(focus.connected.wait(), 15)
        recorder = ScriptedRecorder("jibri1", xmpp_server.c2s_port)
        await recorders(focus, recorder)
        alice, bob = await moderator_and_guest(xmpp_server, focus, f"stuck@{MUC}")
        loop = asyncio.get_running_loop()
        asked_at = loop.time()
        answer = await alice.send_jingle(JibriIq(action="start", recording_mode="file").to_element())
        session_id = JibriIq.from_element(answer.xml.find(JIBRI)).session_id
        await recorder.next_request()
        _, stop = await recorder.next_request(timeout=10)
        assert (stop.action, stop.session_id) == ("stop", session_id)
        assert loop.time() - asked_at >= 2.0
        await until(lambda: bob.recording and bob.recording[-1].status == "off")
        assert (bob.recording[-1].session_id, bob.recording[-1].failure_reason) == (session_id, None)
        for client in (alice, bob, recorder):
            await client.stop()
    finally:
        await focus.stop()
