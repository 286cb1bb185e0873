"""The whisper engine's plumbing on a tiny model of our own (tests/transcriber/tiny_whisper.py).

The model's weights are random apart from one habit (it says "a" over and over), so these tests
show that a model directory loads in the worker processes, that each phrase the endpointer finds
reaches the model and comes back as interim results and one final with the right times and token
bound, and that a bad model directory or a dead worker is a clear error. What a real model
transcribes is not tested here: no real Whisper model can be downloaded in this environment.
"""

import asyncio
import os
import signal

import numpy as np
import pytest

from bench.speech import SENTENCES, silence, speak
from jitsi_py.settings import load
from jitsi_py.transcriber.engines import EngineError, load as load_engine, whisper
from tests.transcriber.test_export import export_through
from tests.transcriber.tiny_whisper import build

SLICE = 320 * 2  # bytes: 20 ms at 16 kHz


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return build(tmp_path_factory.mktemp("whisper") / "tiny")


def settings(**environ):
    return load(environ={"JITSI_PY_TRANSCRIBER_WHISPER_WORKERS": "2", **environ}).transcriber


async def stream_through(stream, samples: np.ndarray):
    """Fed as a meeting delivers audio, slower than the tiny model decodes: each interim decode
    that starts is finished before more audio comes, so every one is seen."""
    data = samples.astype(np.int16).tobytes()
    results = []
    for i in range(0, len(data), SLICE):
        results += await stream.feed(data[i:i + SLICE])
        if stream.interim is not None:
            await asyncio.wait_for(asyncio.shield(stream.interim), 30)
    return results + await stream.close()


def bound(seconds: float) -> int:
    return min(whisper.MAX_TOKENS, whisper.TOKENS_AT_LEAST + int(whisper.TOKENS_PER_SECOND * seconds))


@pytest.mark.system  # espeak-ng
async def test_a_phrase_gives_growing_interims_then_one_final(model):
    engine = load_engine("whisper", settings(JITSI_PY_TRANSCRIBER_WHISPER_MODEL=str(model)))
    assert engine.name == "whisper"
    await engine.warm()
    stream = await engine.open("en-US")
    spoken = speak(SENTENCES[2])
    results = await stream_through(stream, np.concatenate([silence(0.5), spoken, silence(1.0)]))
    *interims, final = results
    assert final.final and final.stability == 1.0 and 0 < final.confidence <= 1
    assert len(interims) >= 2 and not any(r.final for r in interims), results
    # every result of the phrase starts where the phrase does; interims end where their audio did
    assert {r.start for r in results} == {final.start} and 0.1 <= final.start <= 0.8
    assert [r.end for r in interims] == sorted(r.end for r in interims) and interims[-1].end < final.end
    assert final.end <= 0.5 + len(spoken) / 16000 + 0.8
    # the model's text, bounded by the phrase's length (a model repeating itself stops)
    assert all(set(r.text) == {"a"} and len(r.text) <= bound(r.end - r.start) for r in results)
    assert len(interims[0].text) < len(final.text)
    await engine.aclose()


@pytest.mark.system  # espeak-ng
async def test_two_phrases_are_two_finals_silence_is_nothing_and_a_long_phrase_is_cut(model, monkeypatch):
    engine = load_engine("whisper", settings(JITSI_PY_TRANSCRIBER_WHISPER_MODEL=str(model)))
    first, second = speak(SENTENCES[0]), speak(SENTENCES[3])
    stream = await engine.open("de-DE")  # an English-only model answers in English
    results = await stream_through(stream, np.concatenate([silence(2.0), first, silence(1.5), second, silence(1.0)]))
    finals = [r for r in results if r.final]
    assert len(finals) == 2 and finals[0].end < finals[1].start, results
    quiet = await engine.open("en-US")
    rng = np.random.default_rng(7)
    assert await stream_through(quiet, np.concatenate([silence(2.0), rng.normal(0, 30, 32000)])) == []
    # Whisper's window is 30 s: a phrase longer than MAX_PHRASE is cut into finals back to back
    monkeypatch.setattr(whisper, "MAX_PHRASE", 1.0)
    long = await engine.open("en-US")
    finals = [r for r in await stream_through(long, np.concatenate([silence(0.5), speak(SENTENCES[2]), silence(1)]))
              if r.final]
    assert len(finals) >= 2 and all(a.end == pytest.approx(b.start) for a, b in zip(finals, finals[1:])), finals
    await engine.aclose()


@pytest.mark.system  # espeak-ng
async def test_a_session_transcribes_an_exported_speaker_with_whisper(model, tmp_path):
    """Through the transcriber's session, as the bridge's export feeds it: Opus decoded, resampled,
    each phrase to a Whisper worker, the results back on the socket and the final in the transcript."""
    engine = load_engine("whisper", settings(JITSI_PY_TRANSCRIBER_WHISPER_MODEL=str(model)))
    results = await export_through(engine, tmp_path, SENTENCES[2])
    final = next(r for r in results if not r["is_interim"])
    assert set(final["transcript"][0]["text"]) == {"a"} and final["language"] == "en-US"
    assert "language en-US, engine whisper" in next(tmp_path.glob("*/transcript_*.txt")).read_text()


async def test_a_worker_that_died_fails_one_phrase_and_the_next_one_works(model):
    engine = load_engine("whisper", settings(JITSI_PY_TRANSCRIBER_WHISPER_MODEL=str(model),
                                             JITSI_PY_TRANSCRIBER_WHISPER_WORKERS="1"))
    await engine.warm()
    pool = engine.pool
    # killed between phrases, so that the test does not race the tiny model's 0.1 s decode: the
    # next phrase finds the pool broken, as one under way would
    for pid in list(pool._executor._processes):
        os.kill(pid, signal.SIGKILL)
    audio = (np.random.default_rng(1).normal(0, 3000, 16000)).astype(np.int16).tobytes()
    with pytest.raises(EngineError, match="^a Whisper worker process died$"):
        await pool.run(whisper._transcribe, audio, "en", True)
    text, confidence = await pool.run(whisper._transcribe, audio, "en", True)
    assert set(text) == {"a"} and len(text) <= bound(1.0) and confidence is not None
    await engine.aclose()


async def test_a_bad_model_directory_is_a_clear_error(model, tmp_path):
    with pytest.raises(EngineError, match="needs JITSI_PY_TRANSCRIBER_WHISPER_MODEL"):
        load_engine("whisper", settings(JITSI_PY_TRANSCRIBER_ENGINE="whisper"))
    with pytest.raises(EngineError, match="is not a directory"):
        load_engine("whisper", settings(JITSI_PY_TRANSCRIBER_WHISPER_MODEL=str(tmp_path / "nope")))
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "model.bin").write_bytes((model / "model.bin").read_bytes())
    with pytest.raises(EngineError, match="has no config.json, tokenizer.json: expected a Whisper model"):
        load_engine("whisper", settings(JITSI_PY_TRANSCRIBER_WHISPER_MODEL=str(partial)))
    # all files there, the weights not a model: the load fails in the worker, said at warm-up and
    # again by every stream that opens (the session retries), and no download is tried
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for name in os.listdir(model):
        (corrupt / name).write_bytes((model / name).read_bytes())
    (corrupt / "model.bin").write_bytes(b"not a model" * 100)
    engine = load_engine("whisper", settings(JITSI_PY_TRANSCRIBER_WHISPER_MODEL=str(corrupt)))
    with pytest.raises(EngineError, match=f"cannot load the Whisper model at {corrupt}: "):
        await engine.warm()
    with pytest.raises(EngineError, match="cannot load the Whisper model"):
        await engine.open("en-US")
    await engine.aclose()


def test_a_model_setting_chooses_whisper_unless_a_vosk_server_is_given(model):
    from jitsi_py.settings import SettingsError
    from jitsi_py.transcriber.service import TranscriberService

    assert settings(JITSI_PY_TRANSCRIBER_WHISPER_MODEL=str(model)).engine == "whisper"
    assert settings(JITSI_PY_TRANSCRIBER_WHISPER_MODEL=str(model), JIGASI_TRANSCRIBER_VOSK_URL="ws://v:2700").engine \
        == "vosk"
    with pytest.raises(SettingsError, match="JITSI_PY_TRANSCRIBER_WHISPER_COMPUTE_TYPE='float16'"):
        settings(JITSI_PY_TRANSCRIBER_WHISPER_COMPUTE_TYPE="float16")
    with pytest.raises(SettingsError, match="JITSI_PY_TRANSCRIBER_ENGINE='whisper': JITSI_PY_TRANSCRIBER_WHISPER_MODEL="
                                            "'/nonexistent' is not a directory"):
        TranscriberService(load(environ={"JITSI_PY_TRANSCRIBER_WHISPER_MODEL": "/nonexistent",
                                         "JIGASI_XMPP_PASSWORD": "x", "JIGASI_TRANSCRIBER_PASSWORD": "y"}))
