"""The bridge's export received: this test plays the bridge (mediajson over a WebSocket, an Opus
frame per media event, as jitsi-videobridge's exporter sends them) against the transcriber's export
server; results come back on the socket for the bridge to relay. Our own bridge does not export
yet, so no bridge of ours is in this test."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import av
import numpy as np
import pytest
from aiohttp import web

from bench.speech import SENTENCES, silence, speak, word_error_rate
from jitsi_py.common.meeting import Login, XmppServer
from jitsi_py.common.stanzas import mediajson
from jitsi_py.settings import load
from jitsi_py.transcriber.engines import load as load_engine
from jitsi_py.transcriber.export import export_app
from jitsi_py.transcriber.session import Where

from ..web.conftest import free_port

pytestmark = pytest.mark.system  # espeak-ng


def opus_packets(samples: np.ndarray) -> list[bytes]:
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 48000, "stereo", "s16"
    stereo = np.repeat(samples.astype(np.int16), 2)
    packets = []
    for i in range(0, len(samples) - 960 + 1, 960):
        frame = av.AudioFrame.from_ndarray(stereo[2 * i:2 * (i + 960)][None, :], format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48000, i
        packets += [bytes(p) for p in encoder.encode(frame)]
    return packets


def where(transcripts) -> Where:
    return Where(server=XmppServer("127.0.0.1", 1, "meet.jitsi", "muc.meet.jitsi"), login=Login("t@h", "x"),
                 language="en-US", join_timeout=1, empty_timeout=1, transcripts=transcripts, base_url=None,
                 send_txt=False, record_audio=False)


async def export_through(engine, transcripts, text: str) -> list[dict]:
    """Plays the bridge: one speaker's espeak-ng sentence exported to the transcriber's export
    server, in meeting ``meeting-42``; the results that came back until the first final."""
    runner = web.AppRunner(export_app(where(transcripts), engine))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    speech = np.concatenate([silence(0.5, 48000), speak(text, rate=48000), silence(1.0, 48000)])
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(f"ws://127.0.0.1:{port}/meeting-42") as ws:
            await ws.send_str(json.dumps({"event": "info", "application": "jitsi-videobridge", "version": "2.3"}))
            await ws.send_str(mediajson.start(1, "abcd1234-a0", "abcd1234"))
            await ws.send_str("{not json")  # counted and dropped; the session goes on
            for seq, packet in enumerate(opus_packets(speech), start=2):
                await ws.send_str(mediajson.media(seq, "abcd1234-a0", seq, seq * 960, packet))
            await ws.send_str(json.dumps({"event": "ping", "id": 7}))
            results, pongs = [], []
            async with asyncio.timeout(30):
                while not any(not r["is_interim"] for r in results) or not pongs:
                    message = json.loads((await ws.receive()).data)
                    (pongs if message["event"] == "pong" else results).append(message)
            assert pongs == [{"event": "pong", "id": 7}]
            await ws.send_str(json.dumps({"event": "session-end"}))
            assert (await ws.receive()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    finally:
        await runner.cleanup()
        await engine.aclose()
    final = next(r for r in results if not r["is_interim"])
    assert final["event"] == final["type"] == "transcription-result"  # the bridge keys on event, clients on type
    assert final["participant"]["id"] == "abcd1234"
    [path] = list(transcripts.glob("*_meeting-42/transcript_*_meeting-42.txt"))
    written = path.read_text()
    assert f"abcd1234 (abcd1234): {final['transcript'][0]['text']}" in written and "transcription ended" in written
    return results


async def test_a_bridge_exports_a_speaker_and_gets_the_results_back(tmp_path):
    engine = load_engine("pocketsphinx", load(environ={}).transcriber)
    results = await export_through(engine, tmp_path, SENTENCES[2])
    final = next(r for r in results if not r["is_interim"])
    assert word_error_rate([(SENTENCES[2], final["transcript"][0]["text"])]) <= 0.4, final


def test_malformed_mediajson_is_a_precise_error():
    with pytest.raises(mediajson.MediaJsonError, match="media.chunk: expected a number, got 'x'"):
        mediajson.parse(json.dumps({"event": "media", "media": {"tag": "a-a0", "chunk": "x", "timestamp": "1",
                                                                "payload": "AA=="}}))
    with pytest.raises(mediajson.MediaJsonError, match="media.payload: not base64"):
        mediajson.parse(json.dumps({"event": "media", "media": {"tag": "a-a0", "chunk": "1", "timestamp": "1",
                                                                "payload": "@@"}}))
    for level, vad, error in ((128, None, "media.audioLevel: expected a number from 0 to 127, got 128"),
                              (True, None, "media.audioLevel: expected a number from 0 to 127, got True"),
                              (3, "true", "media.vad: expected true or false, got 'true'")):
        frame = json.loads(mediajson.media(1, "a-a0", 1, 1, b"\x00"))
        frame["media"].update(audioLevel=level, vad=vad)
        with pytest.raises(mediajson.MediaJsonError, match=error):
            mediajson.parse(json.dumps(frame))
    with pytest.raises(mediajson.MediaJsonError, match="start.mediaFormat: expected an object"):
        mediajson.parse(json.dumps({"event": "start", "start": {"tag": "a-a0"}}))
    assert mediajson.parse(mediajson.start(1, "a-a0", "a")) == mediajson.Start("a-a0", "a", "opus", 48000, 2)
    assert mediajson.parse('{"event": "sources", "exports": []}') == mediajson.Other(
        "sources", {"event": "sources", "exports": []})
