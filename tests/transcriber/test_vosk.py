"""The Vosk engine against a server speaking vosk-server's WebSocket protocol on loopback. No Vosk
server or model installs here without a download, so the server is this test's: real recognition
(the offline engine) behind the protocol as vosk-server documents it. What it cannot show is that
a real vosk-server answers the same; docs/transcription.md says so."""

from __future__ import annotations

import contextlib
import json

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from bench.speech import SENTENCES, silence, speak, word_error_rate
from jitsi_py.settings import load
from jitsi_py.transcriber.engines import EngineError, load as load_engine
from jitsi_py.transcriber.engines.vosk import servers

from ..web.conftest import free_port

pytestmark = pytest.mark.system  # espeak-ng


@contextlib.asynccontextmanager
async def vosk_protocol_server(die_after: int | None = None, port: int | None = None):
    """One answer per audio frame: {"partial"} or, when a phrase ended, {"text", "result"}."""
    recogniser = load_engine("pocketsphinx", load(environ={}).transcriber)
    await recogniser.pool.warm()  # as a vosk-server has its model loaded before it listens
    frames_seen = 0

    def answer(results) -> dict:
        final = next((r for r in results if r.final), None)
        if final is not None:
            return {"text": final.text, "result": [
                {"word": w, "start": final.start, "end": final.end, "conf": 0.8} for w in final.text.split()]}
        partial = next((r for r in reversed(results) if not r.final), None)
        return {"partial": partial.text if partial else ""}

    async def handle(request: web.Request) -> web.WebSocketResponse:
        nonlocal frames_seen
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        config = json.loads((await socket.receive()).data)
        assert config == {"config": {"sample_rate": 16000}}
        stream = await recogniser.open("en-US")
        async for message in socket:
            if message.type == aiohttp.WSMsgType.BINARY:
                frames_seen += 1
                if die_after is not None and frames_seen > die_after:
                    await socket.close()
                    break
                await socket.send_str(json.dumps(answer(await stream.feed(message.data))))
            elif json.loads(message.data) == {"eof": 1}:
                last = answer(await stream.close())
                await socket.send_str(json.dumps(last if "text" in last else {"text": ""}))
                break
        return socket

    app = web.Application()
    app.router.add_get("/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = port or free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()
        await recogniser.aclose()


def engine_for(url: str):
    return load_engine("vosk", load(environ={"JIGASI_TRANSCRIBER_VOSK_URL": url}).transcriber)


async def feed_all(stream, samples: np.ndarray):
    data = samples.astype(np.int16).tobytes()
    results = []
    for i in range(0, len(data), 3200):
        results += await stream.feed(data[i:i + 3200])
    return results + await stream.close()


async def test_a_vosk_server_streams_partials_then_finals():
    async with vosk_protocol_server() as url:
        engine = engine_for(url)
        assert engine.name == "vosk"
        pairs = []
        for text in (SENTENCES[2], SENTENCES[3]):
            stream = await engine.open("en-US")
            results = await feed_all(stream, np.concatenate([silence(0.5), speak(text), silence(1.0)]))
            assert [r.final for r in results].count(True) == 1 and results[-1].final, results
            assert any(not r.final for r in results[:-1])
            assert results[-1].confidence == pytest.approx(0.8)
            pairs.append((text, results[-1].text))
        assert word_error_rate(pairs) <= 0.4, pairs


async def test_an_unreachable_or_failing_vosk_server_is_a_clear_engine_error():
    port = free_port()
    engine = engine_for(f"ws://127.0.0.1:{port}")
    with pytest.raises(EngineError, match=rf"cannot reach the Vosk server at ws://127.0.0.1:{port}"):
        await engine.open("en-US")
    async with vosk_protocol_server(die_after=3) as url:
        stream = await engine_for(url).open("en-US")
        with pytest.raises(EngineError, match="stopped answering|instead of a result"):
            await feed_all(stream, speak(SENTENCES[3]))


def test_the_vosk_url_setting():
    assert servers("ws://vosk:2700") == {"": "ws://vosk:2700"}
    assert servers('{"en": "ws://a:2700", "de-DE": "wss://b"}') == {"en": "ws://a:2700", "de": "wss://b"}
    with pytest.raises(ValueError, match="expected a ws:// or wss:// URL for 'en', got 'http://a'"):
        servers('{"en": "http://a"}')
    engine = engine_for('{"en": "ws://a:2700"}')
    assert engine.url_for("en-GB") == "ws://a:2700"
    with pytest.raises(EngineError, match="no Vosk server for fr-FR"):
        engine.url_for("fr-FR")
    assert load(environ={"JIGASI_TRANSCRIBER_VOSK_URL": "ws://v:2700"}).transcriber.engine == "vosk"
    assert load(environ={}).transcriber.engine == "pocketsphinx"
    with pytest.raises(EngineError, match="JIGASI_TRANSCRIBER_VOSK_URL: expected a ws://"):
        engine_for("http://nope")


def test_the_vosk_engine_without_a_url_stops_the_start_with_one_line():
    from jitsi_py.settings import SettingsError
    from jitsi_py.transcriber.service import TranscriberService

    with pytest.raises(SettingsError, match="JITSI_PY_TRANSCRIBER_ENGINE='vosk': the vosk engine needs "
                                            "JIGASI_TRANSCRIBER_VOSK_URL"):
        TranscriberService(load(environ={"JITSI_PY_TRANSCRIBER_ENGINE": "vosk", "JIGASI_XMPP_PASSWORD": "x",
                                         "JIGASI_TRANSCRIBER_PASSWORD": "y"}))
