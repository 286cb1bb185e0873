"""The google engine against a loopback gRPC server of this test's: google.cloud.speech.v1's
Speech/StreamingRecognize, with the library's own message classes. Nothing here reaches Google, so
what this cannot show is that Google itself answers the same (docs/transcription.md §4 says so).

The server's "recognition" is a toy that follows the audio it got: a 100 ms slice louder than
silence is a word (an interim result per word), the first quiet slice after words ends the phrase
(a final "phrase N: W words"). It records each call's configuration and checks the caller's token,
a JWT signed with the test's own service-account key."""

from __future__ import annotations

import asyncio
import contextlib
import time

import av
import grpc
import jwt
import numpy as np
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.cloud.speech_v1 import (
    RecognitionConfig,
    SpeechRecognitionAlternative,
    StreamingRecognitionResult,
    StreamingRecognizeRequest,
    StreamingRecognizeResponse,
)

from jitsi_py.settings import load
from jitsi_py.transcriber.engines import EngineError, google as google_engine, load as load_engine
from jitsi_py.transcriber.session import Transcription

from ..web.conftest import free_port
from .test_export import where

SLICE = 3200  # 100 ms of 16 kHz s16le
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
EMAIL = "transcriber@meet-test.iam.gserviceaccount.com"


def gc_env(endpoint: str, **more: str) -> dict[str, str]:
    return {"GC_PROJECT_ID": "meet-test", "GC_PRIVATE_KEY_ID": "kid-1", "GC_PRIVATE_KEY": PEM,
            "GC_CLIENT_EMAIL": EMAIL, "GC_CLIENT_ID": "1234567890",
            "GC_CLIENT_CERT_URL": "https://www.googleapis.com/robot/v1/metadata/x509/transcriber",
            "JITSI_PY_TRANSCRIBER_GOOGLE_ENDPOINT": endpoint, **more}


def engine_for(endpoint: str, **more: str):
    return load_engine("google", load(environ=gc_env(endpoint, **more)).transcriber)


class Speech:
    """The server's side: what each call was configured with and heard."""

    def __init__(self, fail_with: grpc.StatusCode | None = None) -> None:
        self.fail_with = fail_with
        self.configs: list = []
        self.tokens: list[dict] = []
        self.audio: list[int] = []  # bytes heard, per call

    async def recognize(self, requests, context):
        bearer = dict(context.invocation_metadata()).get("authorization", "")
        header = jwt.get_unverified_header(bearer.removeprefix("Bearer "))
        claims = jwt.decode(bearer.removeprefix("Bearer "), KEY.public_key(), algorithms=["RS256"],
                            options={"verify_aud": False})
        self.tokens.append({**claims, "kid": header.get("kid")})
        first = await anext(requests)
        self.configs.append(first.streaming_config)
        if self.fail_with is not None:
            context.set_code(self.fail_with)
            context.set_details("language_code zz-ZZ is not supported")
            return
        self.audio.append(0)
        words = phrases = 0
        heard = 0.0
        async for request in requests:
            pcm = np.frombuffer(request.audio_content, np.int16)
            self.audio[-1] += len(request.audio_content)
            heard += len(pcm) / 16000
            if loud(pcm):
                words += 1
                yield response(" ".join(["word"] * words), final=False, stability=0.4, end=heard)
            elif words:
                phrases += 1
                yield response(f"phrase {phrases}: {words} words", final=True, end=heard)
                words = 0
        if words:
            yield response(f"phrase {phrases + 1}: {words} words (at the end)", final=True, end=heard)


def loud(pcm: np.ndarray) -> bool:
    """A word, to the toy recogniser."""
    return len(pcm) > 0 and np.abs(pcm.astype(np.int32)).mean() > 500


def response(text: str, *, final: bool, end: float, stability: float = 0.0) -> StreamingRecognizeResponse:
    return StreamingRecognizeResponse(results=[StreamingRecognitionResult(
        alternatives=[SpeechRecognitionAlternative(transcript=text, confidence=0.9 if final else 0.0)],
        is_final=final, stability=stability, result_end_time={"seconds": int(end), "nanos": int(end % 1 * 1e9)})])


@contextlib.asynccontextmanager
async def speech_server(speech: Speech, port: int | None = None):
    handler = grpc.method_handlers_generic_handler("google.cloud.speech.v1.Speech", {
        "StreamingRecognize": grpc.stream_stream_rpc_method_handler(
            speech.recognize, request_deserializer=StreamingRecognizeRequest.deserialize,
            response_serializer=StreamingRecognizeResponse.serialize)})
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_secure_port(f"127.0.0.1:{port or 0}",
                                  grpc.local_server_credentials(grpc.LocalConnectionType.LOCAL_TCP))
    await server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.stop(None)


def tone(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)


def quiet(seconds: float, rate: int = 16000) -> np.ndarray:
    return np.zeros(int(seconds * rate), np.int16)


async def feed_in_step(stream, samples: np.ndarray):
    """Each slice's answer (the toy answers a loud slice, and the first quiet one after loud ones)
    awaited before the next slice goes, as real speech gives the service time: where the calls
    change then depends on the audio, not on how fast this machine is."""
    results: list = []
    due = words = 0
    for i in range(0, len(samples), SLICE // 2):
        chunk = samples[i:i + SLICE // 2]
        results += await stream.feed(chunk.tobytes())
        if loud(chunk) or words:
            due += 1
            words = words + 1 if loud(chunk) else 0
        deadline = time.monotonic() + 5
        while len(results) < due:
            assert time.monotonic() < deadline, f"no answer to slice {i // (SLICE // 2)}"
            await asyncio.sleep(0.005)
            results += await stream.feed(b"")
    return results + await stream.close()


async def feed_all(stream, samples: np.ndarray, pace: float = 0.0):
    data = samples.tobytes()
    results = []
    for i in range(0, len(data), SLICE):
        results += await stream.feed(data[i:i + SLICE])
        await asyncio.sleep(pace)  # the answers come on their own: give them time, as real audio would
    return results + await stream.close()


async def test_a_stream_sends_the_config_and_audio_and_gives_interims_then_finals():
    speech = Speech()
    async with speech_server(speech) as endpoint:
        engine = engine_for(endpoint, JITSI_PY_TRANSCRIBER_LANGUAGE="de-DE")
        assert engine.name == "google"
        try:
            stream = await engine.open("de-DE")
            audio = np.concatenate([quiet(0.3), tone(0.5), quiet(0.3), tone(0.3), quiet(0.2)])
            results = await feed_all(stream, audio, pace=0.01)
        finally:
            await engine.aclose()
    [config] = speech.configs
    assert config.interim_results
    assert config.config.encoding == RecognitionConfig.AudioEncoding.LINEAR16
    assert config.config.sample_rate_hertz == 16000
    assert config.config.language_code == "de-DE" and config.config.model == "latest_long"
    assert speech.audio == [len(audio) * 2]
    [token] = speech.tokens  # the GC_* service account's own signature, with its key id
    assert token["kid"] == "kid-1" and token["iss"] == token["sub"] == EMAIL
    finals = [r for r in results if r.final]
    assert [r.text for r in finals] == ["phrase 1: 5 words", "phrase 2: 3 words"]
    assert finals[0].confidence == pytest.approx(0.9, abs=1e-6) and finals[0].end == pytest.approx(0.9, abs=1e-3)
    assert finals[1].start == pytest.approx(0.9, abs=1e-3) and finals[1].end == pytest.approx(1.5, abs=1e-3)
    interims = [r.text for r in results[:results.index(finals[0])]]
    assert interims == ["word", "word word", "word word word", "word word word word", "word word word word word"]
    assert all(r.stability == pytest.approx(0.4) for r in results if not r.final)


async def test_a_long_stream_goes_on_in_a_new_call_at_a_pause(monkeypatch):
    monkeypatch.setattr(google_engine, "ROTATE_AFTER", 0.5)
    monkeypatch.setattr(google_engine, "ROTATE_AT_LATEST", 1.0)
    speech = Speech()
    async with speech_server(speech) as endpoint:
        engine = engine_for(endpoint)
        try:
            stream = await engine.open("en-US")
            audio = np.concatenate([tone(0.4), quiet(0.2), tone(1.2), quiet(0.2)])
            results = await feed_in_step(stream, audio)
        finally:
            await engine.aclose()
    # the first call ends at the pause after its 0.5 s; the second mid-phrase at its 1.0 s
    assert len(speech.configs) == 3 and sum(speech.audio) == len(audio) * 2
    finals = [r for r in results if r.final]
    assert [r.text for r in finals] == ["phrase 1: 4 words", "phrase 1: 9 words (at the end)", "phrase 1: 3 words"]
    assert [round(r.end, 1) for r in finals] == [0.5, 1.5, 1.9]  # on the stream's time line, not the call's


async def test_an_unreachable_or_refusing_service_is_a_clear_engine_error():
    port = free_port()
    engine = engine_for(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(EngineError, match=rf"^cannot reach Google Cloud Speech at http://127.0.0.1:{port}$"):
            await engine.open("en-US")
    finally:
        await engine.aclose()
    async with speech_server(Speech(fail_with=grpc.StatusCode.INVALID_ARGUMENT)) as endpoint:
        engine = engine_for(endpoint)
        try:
            stream = await engine.open("zz-ZZ")
            # Google's reason, unless the refusal raced a write of audio in gRPC's client, which
            # then reports its own (docs/transcription.md)
            with pytest.raises(EngineError, match=rf"^Google Cloud Speech at {endpoint} failed: "
                                                  "(language_code zz-ZZ is not supported|Internal error from Core)$"):
                await feed_all(stream, tone(5.0), pace=0.05)
        finally:
            await engine.aclose()


class Collected(Transcription):
    def __init__(self, engine) -> None:
        super().__init__("room@muc.meet.jitsi", where(None), engine)
        self.results: list[dict] = []
        self.texts: list[str] = []

    async def send_result(self, payload):
        self.results.append(payload)

    async def send_text(self, text):
        self.texts.append(text)


def frames(samples: np.ndarray, rate: int = 48000):
    """A speaker's track as the session gets it: 20 ms av.AudioFrames, in real time."""
    chunks = [samples[i:i + rate // 50] for i in range(0, len(samples), rate // 50)]

    async def receive():
        if not chunks:
            return None
        await asyncio.sleep(0.02)
        frame = av.AudioFrame.from_ndarray(chunks.pop(0)[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        return frame
    return receive


async def until(check, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_the_meeting_gets_captions_and_is_told_when_the_service_fails_and_works_again():
    port = free_port()
    engine = engine_for(f"http://127.0.0.1:{port}")
    session = Collected(engine)
    session.names["abcd1234"] = "Alice"
    try:
        # nobody listens yet: the failure is said once in the meeting, the engine tried again later
        session.follow("abcd1234", "abcd1234-a0", frames(quiet(1.0, 48000)))
        await until(lambda: session.texts)
        assert session.texts == [f"Transcription is failing: cannot reach Google Cloud Speech at "
                                 f"http://127.0.0.1:{port}. Retrying."]
        async with speech_server(Speech(), port):
            speaking = np.concatenate([tone(0.6, 48000), quiet(0.4, 48000)])
            session.follow("abcd1234", "abcd1234-a0", frames(np.concatenate([quiet(1.0, 48000), speaking, speaking])))
            await until(lambda: sum(not r["is_interim"] for r in session.results) == 2)
            await session.end()
    finally:
        await engine.aclose()
    assert session.texts[1:] == ["Transcription works again."]
    first = [r for r in session.results if r["message_id"] == session.results[0]["message_id"]]
    assert [r["is_interim"] for r in first][-1] is False and all(r["is_interim"] for r in first[:-1]) and first[:-1]
    final = first[-1]
    assert final["participant"] == {"id": "abcd1234", "name": "Alice"} and final["language"] == "en-US"
    assert final["transcript"][0]["text"].startswith("phrase 1: ") and final["transcript"][0]["confidence"] == 0.9
    assert final["type"] == final["event"] == "transcription-result"


def test_the_credential_is_the_service_account_jigasi_would_write():
    settings = load(environ=gc_env("speech.googleapis.com")).transcriber
    assert settings.engine == "google"  # the service account given: Google, as Jigasi
    info = settings.google.service_account_info()
    assert info["type"] == "service_account" and info["token_uri"] == "https://oauth2.googleapis.com/token"
    credentials = google_engine.service_account_credentials(settings.google)
    assert credentials.service_account_email == EMAIL and credentials.project_id == "meet-test"
    assert credentials.signer_email == EMAIL and credentials.signer.key_id == "kid-1"
    signature = credentials.sign_bytes(b"hello")
    KEY.public_key().verify(signature, b"hello", *_pkcs1_sha256())
    # an .env file's one-line key, with literal \n, is the same key
    one_line = load(environ=gc_env("speech.googleapis.com", GC_PRIVATE_KEY=PEM.replace("\n", "\\n"))).transcriber
    assert google_engine.service_account_credentials(one_line.google).sign_bytes(b"hello") == signature


def _pkcs1_sha256():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.PKCS1v15(), hashes.SHA256()


def test_missing_or_broken_gc_variables_stop_the_start_with_one_line():
    from jitsi_py.settings import SettingsError
    from jitsi_py.transcriber.service import TranscriberService

    partial = {k: v for k, v in gc_env("speech.googleapis.com").items() if k not in ("GC_CLIENT_ID", "GC_PRIVATE_KEY")}
    assert load(environ=partial).transcriber.engine == "pocketsphinx"
    logins = {"JIGASI_XMPP_PASSWORD": "x", "JIGASI_TRANSCRIBER_PASSWORD": "y"}
    with pytest.raises(SettingsError, match="JITSI_PY_TRANSCRIBER_ENGINE='google': the google engine needs "
                                            r"GC_PRIVATE_KEY, GC_CLIENT_ID \(a Google Cloud service account\)"):
        TranscriberService(load(environ={**partial, **logins, "JITSI_PY_TRANSCRIBER_ENGINE": "google"}))
    with pytest.raises(EngineError, match="GC_PRIVATE_KEY is not a usable private key"):
        engine_for("speech.googleapis.com", GC_PRIVATE_KEY="-----BEGIN PRIVATE KEY-----\nno\n-----END PRIVATE KEY-----")
    with pytest.raises(SettingsError, match="JITSI_PY_TRANSCRIBER_GOOGLE_ENDPOINT='https://x/': expected host"):
        load(environ=gc_env("https://x/"))
