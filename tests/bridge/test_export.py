"""The media export's core (docs/colibri2.md §3.5): what a <connects> does, and the mediajson frames."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import struct

import pytest
from aiohttp import WSMsgType, web

from jitsi_py.bridge.export import LEGACY_ID, MediaJsonEncoder, plan
from jitsi_py.bridge.exporter import Exporter
from jitsi_py.common.errors import StanzaError
from jitsi_py.common.stanzas import mediajson
from jitsi_py.common.stanzas.colibri2 import Connect


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def connect(ident: str | None = "transcriber", **kw) -> Connect:
    return Connect(kw.pop("url", "ws://t/m1"), ident, audio=True, **kw)


def test_connects_with_ids_are_changes():
    running = {"transcriber": connect()}
    # neither create nor expire: an update, only of what is exported
    assert plan(running, [connect(exports=["a-a0"])]).update == [connect(exports=["a-a0"])]
    # expire and create the same id again in one request: the URL changes
    changes = plan(running, [connect(create=True, url="ws://u/m1"), connect(expire=True)])
    assert (changes.stop, changes.start) == (["transcriber"], [connect(create=True, url="ws://u/m1")])
    assert plan({}, [connect(expire=True)]).stop == ["transcriber"]  # unknown: stopped as nothing, warned


@pytest.mark.parametrize("connects, condition, text", [
    ([connect(create=True)], "bad-request", "create=true for an existing id=transcriber"),
    ([connect("other")], "bad-request", "unknown id=other without create=true"),
    ([connect(url="ws://u/m1")], "feature-not-implemented", "other than its exports"),
    ([connect(expire=True), connect(expire=True)], "bad-request", "Duplicate expire"),
    ([connect(expire=True), connect()], "bad-request", "expired in the same request"),
    ([connect("a", create=True), connect("a", create=True)], "bad-request", "Multiple connects for id=a"),
    ([connect(video=True, create=True)], "feature-not-implemented", "video"),
    ([connect(None), connect("x", create=True)], "bad-request", "with and without ids"),
])
def test_refused_connects_change_nothing(connects, condition, text):
    with pytest.raises(StanzaError, match=text) as refused:
        plan({"transcriber": connect()}, connects)
    assert refused.value.condition == condition


def test_connects_without_ids_are_the_whole_set():
    running = {LEGACY_ID: connect(None)}
    assert (plan(running, []).stop, plan(running, []).start) == ([LEGACY_ID], [])
    changes = plan({}, [connect(None)])
    assert [c.id for c in changes.start] == [LEGACY_ID]
    with pytest.raises(StanzaError, match="Multiple connects without ids"):
        plan({}, [connect(None), connect(None)])


def rtp(seq: int, ts: int, ssrc: int, payload: bytes, pt: int = 111, extension: bool = True) -> bytes:
    if not extension:
        return struct.pack("!BBHII", 0x80, pt, seq, ts, ssrc) + payload
    # one-byte header extension (audio level), as browsers send it
    return struct.pack("!BBHII", 0x90, pt, seq, ts, ssrc) + bytes([0xBE, 0xDE, 0, 1, 0x10, 0x85, 0, 0]) + payload


def test_the_encoder_starts_each_source_and_keeps_one_time_line():
    encoder = MediaJsonEncoder(now=100.0)
    first = encoder.encode("alice", "alice-a0", rtp(65535, 4294966336, 1, b"\x01\x02"), "opus", now=100.5)
    assert [json.loads(f)["event"] for f in first] == ["start", "media"]
    assert mediajson.parse(first[0]) == mediajson.Start("alice-a0", "alice", "opus", 48000, 2)
    media = mediajson.parse(first[1])
    assert media == mediajson.Media("alice-a0", 65535, 24000, b"\x01\x02")  # 0.5 s after opening, in 48 kHz
    # the sequence number and timestamp wrap; chunk and timestamp go on
    [after] = encoder.encode("alice", "alice-a0", rtp(0, 0, 1, b"\x03", extension=False), "opus", 100.52)
    assert mediajson.parse(after) == mediajson.Media("alice-a0", 65536, 24960, b"\x03")
    assert json.loads(after)["sequenceNumber"] == "3"  # across sources, as strings (VoxImplant's format)
    # a second source starts where the time line is now, whatever its own RTP timestamps
    bob = encoder.encode("bob", "bob-a0", rtp(7, 123456, 2, b"\x04"), "opus", now=101.0)
    assert mediajson.parse(bob[1]).timestamp == 48000
    assert json.loads(bob[1])["media"]["payload"] == base64.b64encode(b"\x04").decode()


def test_the_encoder_passes_on_the_senders_audio_level_and_voice_activity():
    """As jitsi-videobridge since its exporter reads ssrc-audio-level: a number and a boolean, left
    out of a packet without the extension or when the sender negotiated none."""
    encoder = MediaJsonEncoder(now=0.0)
    [_, loud] = encoder.encode("a", "a-a0", rtp(1, 0, 1, b"\x01"), "opus", 0.0, level_id=1)  # level 5, voice
    assert json.loads(loud)["media"]["audioLevel"] == 5 and json.loads(loud)["media"]["vad"] is True
    assert mediajson.parse(loud) == mediajson.Media("a-a0", 1, 0, b"\x01", audio_level=5, vad=True)
    silent = bytearray(rtp(2, 960, 1, b"\x02"))
    silent[17] = 0x7F  # level 127, no voice
    [quiet] = encoder.encode("a", "a-a0", bytes(silent), "opus", 0.02, level_id=1)
    assert (mediajson.parse(quiet).audio_level, mediajson.parse(quiet).vad) == (127, False)
    for packet, level_id in ((rtp(3, 1920, 1, b"\x03", extension=False), 1), (rtp(4, 2880, 1, b"\x04"), 0),
                             (rtp(5, 3840, 1, b"\x05"), 2)):
        [bare] = encoder.encode("a", "a-a0", packet, "opus", 0.04, level_id=level_id)
        assert not {"audioLevel", "vad"} & set(json.loads(bare)["media"])


def test_the_encoder_skips_padding_and_malformed_packets():
    encoder = MediaJsonEncoder(now=0.0)
    padded = bytearray(rtp(1, 0, 1, b"\x09\x00\x00\x03", extension=False))
    padded[0] |= 0x20  # the last byte says 3 bytes of padding
    assert mediajson.parse(encoder.encode("a", "a-a0", bytes(padded), "opus", 0.0)[1]).payload == b"\x09"
    assert encoder.encode("a", "a-a0", bytes([0x9F]) + bytes(11), "opus", 0.0) == []  # CSRCs beyond its end


class FakeConference:
    """What an exporter asks of its conference."""

    meeting_id = "m1"

    class bridge:  # noqa: N801 - stands for the Videobridge attribute
        region = None

    def __init__(self) -> None:
        self.broadcasts: list[dict] = []

    def audio_encoding(self, sender: str, pt: int) -> str:
        return "opus" if pt == 111 else "red"

    def audio_level_id(self, sender: str) -> int:
        return 1

    def broadcast(self, message: dict, *, to_relays: bool = False) -> None:
        assert to_relays, "what the export's peer says goes to the other bridges' endpoints too"
        self.broadcasts.append(message)


async def serve(peer) -> tuple[web.AppRunner, str]:
    """The export's peer on loopback, at ``ws://127.0.0.1:<port>/m1``."""
    app = web.Application()
    app.router.add_get("/m1", peer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"ws://127.0.0.1:{port}/m1"


RESULT = {"event": "transcription-result", "type": "transcription-result", "is_interim": True,
          "message_id": "p1", "participant": {"id": "alice"}, "transcript": [{"text": "hel"}]}


def answering(result: dict):
    """A peer that answers the bridge's ``info`` with ``result``."""
    async def peer(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.TEXT and json.loads(message.data)["event"] == "info":
                await ws.send_str(json.dumps(result))
        return ws
    return peer


async def test_an_unreachable_peer_is_said_and_tried_again_without_holding_media(caplog):
    conference = FakeConference()
    exporter = Exporter(conference, Connect(f"ws://127.0.0.1:{free_port()}/m1", "t"), 16, "test")
    try:
        for _ in range(100):
            if exporter.counters["failures"]:
                break
            await asyncio.sleep(0.02)
        exporter.audio("alice", "alice-a0", rtp(1, 0, 1, b"\x01"))
        assert not exporter.queue, "nothing is held while there is no connection"
        assert "failed (ClientConnectorError" in caplog.text and "trying again in 1 s" in caplog.text
    finally:
        exporter.stop()


async def test_an_exporter_streams_mediajson_and_relays_results_back():
    frames: list[dict] = []
    got_media = asyncio.Event()

    async def peer(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            frames.append(json.loads(message.data))
            if frames[-1]["event"] == "media":
                got_media.set()
                await ws.send_str(json.dumps({"event": "transcription-result", "type": "transcription-result",
                                              "is_interim": False, "transcript": [{"text": "hello"}]}))
        return ws

    runner, url = await serve(peer)
    conference = FakeConference()
    exporter = Exporter(conference, Connect(url, "t"), 16, "test")
    try:
        for _ in range(200):
            if exporter.connected:
                break
            await asyncio.sleep(0.01)
        for seq in range(40):  # more than the queue holds, given in one go: the oldest are dropped
            exporter.audio("alice", "alice-a0", rtp(seq, seq * 960, 1, bytes([seq])))
        exporter.audio("alice", "alice-a0", rtp(0, 0, 2, b"\x00", pt=63))  # RED: not exported
        await asyncio.wait_for(got_media.wait(), 5)
        for _ in range(200):
            if conference.broadcasts and exporter.counters["not_opus"]:
                break
            await asyncio.sleep(0.01)
    finally:
        exporter.stop()
        for _ in range(200):
            if frames and frames[-1]["event"] == "session-end":
                break
            await asyncio.sleep(0.01)
        await runner.cleanup()
    assert [f["event"] for f in frames[:2]] == ["info", "start"] and frames[0]["application"] == "jitsi-videobridge"
    media = [f for f in frames if f["event"] == "media"]
    # 16 held: the RED packet and the last 15 Opus ones
    assert [f["media"]["chunk"] for f in media] == [str(seq) for seq in range(25, 40)]
    assert {(f["media"]["audioLevel"], f["media"]["vad"]) for f in media} == {(5, True)}
    assert exporter.counters["packets_dropped"] == 25 and exporter.counters["not_opus"] == 1
    assert frames[-1] == {"event": "session-end"}
    assert conference.broadcasts[0] == {"colibriClass": "EndpointMessage", "from": "transcriber", "to": "",
                                        "msgPayload": {"type": "transcription-result", "is_interim": False,
                                                       "transcript": [{"text": "hello"}]}}


async def test_results_reach_the_endpoints_behind_the_relays_and_go_no_further():
    """Two bridges' conferences joined by relays whose bridge channels are joined in memory: a
    result bridge A's export gets back reaches A's endpoint and, through the relay, B's; B does
    not send it on (the focus links every pair of bridges), and only a broadcast may come from
    ``transcriber``."""
    from jitsi_py.bridge.channel import ChannelError
    from jitsi_py.bridge.conference import Endpoint
    from jitsi_py.bridge.relay import Relay, RelayChannel
    from jitsi_py.bridge.videobridge import Videobridge

    inbox: dict[str, list[dict]] = {"alice": [], "bob": [], "a to b": [], "b to a": []}
    conferences = {}
    for name, other, local, remote in (("a", "b", "alice", "bob"), ("b", "a", "bob", "alice")):
        conference = conferences[name] = Videobridge(candidates=[], relays_enabled=True).create_conference(
            "m-relayed", None, 0.0)
        endpoint = Endpoint(conference, local)
        conference.add_endpoint(endpoint)
        endpoint.channel = inbox[local].append
        relay = conference.relays[f"jvb-{other}"] = Relay(conference, f"jvb-{other}", ice_controlling=name == "a",
                                                          now=0.0)
        relay.set_endpoint(remote, [])
    on_b = RelayChannel(conferences["b"].relays["jvb-a"])

    def a_to_b(message: dict) -> None:
        inbox["a to b"].append(message)
        on_b.receive(json.dumps(message))
    conferences["a"].relays["jvb-b"].channel = a_to_b
    conferences["b"].relays["jvb-a"].channel = inbox["b to a"].append

    runner, url = await serve(answering(RESULT))
    exporter = Exporter(conferences["a"], Connect(url, "transcriber", audio=True), 16, "test")
    try:
        for _ in range(500):
            if inbox["bob"]:
                break
            await asyncio.sleep(0.01)
    finally:
        exporter.stop()
        await runner.cleanup()
    expected = {"colibriClass": "EndpointMessage", "from": "transcriber", "to": "",
                "msgPayload": {k: v for k, v in RESULT.items() if k != "event"}}
    assert inbox == {"alice": [expected], "bob": [expected], "a to b": [expected], "b to a": []}
    assert exporter.counters["results_received"] == 1
    for message in ({**expected, "to": "bob"}, {"colibriClass": "EndpointStats", "from": "transcriber"}):
        with pytest.raises(ChannelError, match="from 'transcriber', not an endpoint behind this relay"):
            on_b.receive(json.dumps(message))
    assert inbox["bob"] == [expected]
