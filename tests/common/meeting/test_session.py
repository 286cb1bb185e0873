"""One Jingle session on an aiortc peer connection, without a network: the events and the answers."""

from __future__ import annotations

from dataclasses import replace

import pytest
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

from jitsi_py.common.meeting import events
from jitsi_py.common.meeting.session import MediaSession
from jitsi_py.common.stanzas.jingle import IceTransport, Jingle, Source
from jitsi_py.common.stanzas.jitsi import encode_sources

from .test_sdp import ALICE, BOB, US, offer


async def test_tracks_come_and_go_with_the_sources_and_a_replaced_transport_keeps_them():
    seen = []
    session = MediaSession(offer(), US, tracks=[AudioStreamTrack()], on_event=seen.append,
                           video_type_of=lambda owner, name: "desktop" if owner == ALICE else None)
    try:
        accept = await session.answer("us@meet.jitsi/r")
        assert accept.action == "session-accept" and [s.name for s in accept.content("audio").sources] == [f"{US}-a0"]
        added = {(e.endpoint_id, e.source_name, e.kind, e.video_type) for e in seen}
        assert added == {(ALICE, f"{ALICE}-v0", "video", "desktop"), (ALICE, f"{ALICE}-a0", "audio", None),
                         (BOB, f"{BOB}-v1", "video", "desktop"), (BOB, f"{BOB}-a0", "audio", None)}
        track = next(e.track for e in seen if e.source_name == f"{BOB}-v1")

        seen.clear()
        await session.remove_sources(Jingle("source-remove", "sid1", json_sources=encode_sources(
            {BOB: ([Source(201, "video", f"{BOB}-v1")], [])})))
        assert seen == [events.TrackRemoved(BOB, f"{BOB}-v1")]
        with pytest.raises(MediaStreamError):
            await track.recv()
        await session.add_sources(Jingle("source-add", "sid1", json_sources=encode_sources(
            {BOB: ([Source(202, "video", f"{BOB}-v2")], [])})))
        assert [(type(e), e.source_name) for e in seen[1:]] == [(events.TrackAdded, f"{BOB}-v2")]

        moved = replace(offer(), action="transport-replace", contents=[
            replace(c, transport=IceTransport("ufrag2", "pwd2pwd2pwd2pwd2pwd2pwd2", c.transport.candidates,
                                              c.transport.fingerprints, sctp_port=c.transport.sctp_port))
            for c in offer().contents])
        successor = MediaSession(moved, US, on_event=seen.append)
        try:
            seen.clear()
            accepted = await successor.answer("us@meet.jitsi/r", "transport-accept", session.remote_sources())
            assert accepted.action == "transport-accept"
            assert {e.source_name for e in seen} == {f"{ALICE}-v0", f"{ALICE}-a0", f"{BOB}-a0", f"{BOB}-v2"}
            assert "a=ice-ufrag:ufrag2" in successor.lines.sdp()
        finally:
            await successor.close()
    finally:
        await session.close()
    assert session.closed and session.announced == {}


async def test_every_m_line_of_the_first_offer_shares_the_one_bundled_transport():
    # several sources of a kind in the session-initiate (a late joiner's): each m-line must be on the
    # transport that ICE and DTLS start, or its receiver never starts and its track stays silent
    session = MediaSession(offer(), US)
    try:
        await session.answer("us@meet.jitsi/r")
        transports = {t.receiver.transport for t in session.pc.getTransceivers()}
        assert len(session.pc.getTransceivers()) > 2 and len(transports) == 1
        assert session.pc.sctp is None or session.pc.sctp.transport in transports
    finally:
        await session.close()


async def test_the_callers_track_is_lent_so_a_closed_session_leaves_it_live_for_the_next():
    source = AudioStreamTrack()
    first = MediaSession(offer(), US, tracks=[source])
    lent = first.tracks[0]
    assert lent is not source and lent.kind == "audio"
    lent.stop()  # what aiortc's sender does to its track when the peer connection closes
    await first.close()
    assert source.readyState == "live"
    second = MediaSession(offer(), US, tracks=[source])
    try:
        assert (await second.tracks[0].recv()).samples == 160  # the source's 20 ms frames
    finally:
        await second.close()
        source.stop()
