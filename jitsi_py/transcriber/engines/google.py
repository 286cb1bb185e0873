"""Google Cloud Speech-to-Text (v1 streaming recognition) with docker-jitsi-meet's ``GC_*`` service account.

Each speaker's stream is a ``StreamingRecognize`` call of the ``google-cloud-speech`` library (gRPC):
the first request carries the configuration (LINEAR16 at 16 kHz, the meeting's language, the model,
interim results), then the audio as it comes. Google finds the phrases: its interim results become
ours (their parts joined, the least stable part's stability), each final result a final. The answers
come on their own schedule, so a call's answers are read by a task of its own and ``feed`` hands over
what has arrived.

Google ends a streaming call after about five minutes of audio and when no audio came for a while,
so a call is ended (half-closed, its last answers still read) once it has carried ``ROTATE_AFTER``
seconds and no phrase is open (at ``ROTATE_AT_LATEST`` whatever is open), or after ``IDLE`` seconds
without audio (a muted speaker); the next audio starts a new call, its times continuing the stream's.

An unreachable or refusing service is an :class:`EngineError` (the session says so in the meeting
and tries again later). Never run against Google itself: tested only against a loopback gRPC server
(docs/transcription.md §4).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, AsyncIterator

from . import SAMPLE_RATE, EngineError, Result, require

if TYPE_CHECKING:
    from ...settings.transcriber import GoogleCloud, Transcriber as TranscriberSettings

log = logging.getLogger(__name__)

BYTES_PER_SECOND = SAMPLE_RATE * 2
ROTATE_AFTER = 240.0  # seconds of audio in one call, then a new call at the next pause
ROTATE_AT_LATEST = 280.0  # ... and here even within a phrase: Google ends a call at about 305 s
IDLE = 5.0  # seconds without audio before a call is ended (before Google ends it with an error)
QUEUE_CHUNKS = 100  # audio slices waiting for the call (10 s of the session's 100 ms slices)
ANSWER_TIMEOUT = 10.0  # for the last answers when a stream closes
CONNECT_TIMEOUT = 10.0


def service_account_credentials(google: GoogleCloud) -> Any:
    """The credential Jigasi's key file would give, from the ``GC_*`` settings; EngineError naming
    what is missing or wrong."""
    from google.oauth2 import service_account  # noqa: PLC0415 - only with this engine

    missing = google.missing()
    if missing:
        raise EngineError(f"the google engine needs {', '.join(missing)} (a Google Cloud service account)")
    try:
        return service_account.Credentials.from_service_account_info(google.service_account_info())
    except ValueError as exc:
        raise EngineError(f"GC_PRIVATE_KEY is not a usable private key ({exc})") from exc


class Call:
    """One StreamingRecognize call: a queue of audio in, a task reading the answers into ``stream``."""

    def __init__(self, stream: GoogleStream, base: float) -> None:
        self.stream = stream
        self.base = base  # seconds of the stream's audio before this call
        self.last_end = base  # where the next phrase starts: the previous final's end
        self.sent = 0  # bytes of audio given to this call
        self.phrase_open = False
        self.ended = False
        self.audio: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_CHUNKS)
        self.task = stream.engine.start(self._run())

    def send(self, pcm: bytes) -> None:
        try:
            self.audio.put_nowait(pcm)
        except asyncio.QueueFull:
            raise EngineError(f"{self.stream.engine.where} is not taking the audio in time") from None
        self.sent += len(pcm)

    def end(self) -> None:
        if self.ended:
            return
        self.ended = True
        if self.audio.full():
            self.task.cancel()  # a call that took none of its queue will not take the end either
        else:
            self.audio.put_nowait(None)

    async def _requests(self) -> AsyncIterator[Any]:
        from google.cloud.speech_v1 import StreamingRecognizeRequest  # noqa: PLC0415

        yield StreamingRecognizeRequest(streaming_config=self.stream.config)
        while True:
            try:
                chunk = await asyncio.wait_for(self.audio.get(), IDLE)
            except TimeoutError:
                chunk = None  # a silent source: Google would end the call itself, with an error
            if chunk is None:
                self.ended = True
                return
            yield StreamingRecognizeRequest(audio_content=chunk)

    async def _run(self) -> None:
        from google.api_core.exceptions import GoogleAPIError  # noqa: PLC0415
        from grpc import RpcError  # noqa: PLC0415

        engine = self.stream.engine
        try:
            answers = await engine.client().streaming_recognize(requests=self._requests())
            async for answer in answers:
                if answer.error.code:
                    raise EngineError(f"{engine.where} answered error {answer.error.code}: {answer.error.message}")
                self._answer(answer)
        except EngineError as exc:
            self.stream.failed(exc)
        except (GoogleAPIError, RpcError, OSError) as exc:
            reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            self.stream.failed(EngineError(f"{engine.where} failed: {reason}"))
        finally:
            self.ended = True

    def _answer(self, answer: Any) -> None:
        interim: list[str] = []
        stability = 1.0
        for part in answer.results:
            if not part.alternatives:
                continue
            best = part.alternatives[0]
            end = self.base + part.result_end_time.total_seconds()
            if part.is_final:
                start, self.last_end, self.phrase_open = self.last_end, end, False
                if best.transcript.strip():
                    self.stream.results.append(Result(best.transcript.strip(), True, 1.0, start, end,
                                                      best.confidence or None))
            elif best.transcript.strip():
                interim.append(best.transcript.strip())
                stability = min(stability, part.stability)
        if interim:
            self.phrase_open = True
            self.stream.results.append(Result(" ".join(interim), False, stability, self.last_end,
                                              self.base + self.sent / BYTES_PER_SECOND))


class GoogleStream:
    def __init__(self, engine: GoogleEngine, config: Any) -> None:
        self.engine = engine
        self.config = config
        self.position = 0.0  # seconds of audio taken
        self.call: Call | None = None
        self.calls: list[Call] = []  # the current one and ended ones whose last answers may still come
        self.results: list[Result] = []
        self.error: EngineError | None = None

    def failed(self, exc: EngineError) -> None:
        self.error = self.error or exc

    async def feed(self, pcm: bytes) -> list[Result]:
        if self.error is not None:
            self._end()
            raise self.error
        if not pcm:
            return self._take()
        call = self.call
        if call is not None and (call.ended or call.sent >= ROTATE_AT_LATEST * BYTES_PER_SECOND
                                 or (call.sent >= ROTATE_AFTER * BYTES_PER_SECOND and not call.phrase_open)):
            call.end()
            call = None
        if call is None:
            call = self.call = Call(self, self.position)
            self.calls = [c for c in self.calls if not c.task.done()] + [call]
        try:
            call.send(pcm)
        except EngineError:
            self._end()  # the session drops this stream: its calls end now, not after IDLE
            raise
        self.position += len(pcm) / BYTES_PER_SECOND
        return self._take()

    async def close(self) -> list[Result]:
        """The last answers of every call (within ``ANSWER_TIMEOUT``); a failure loses only those."""
        self._end()
        tasks = [c.task for c in self.calls if not c.task.done()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=ANSWER_TIMEOUT)
            for task in late:
                task.cancel()
        return self._take()

    def _end(self) -> None:
        for call in self.calls:
            call.end()
        self.call = None

    def _take(self) -> list[Result]:
        results, self.results = self.results, []
        return results


class GoogleEngine:
    name = "google"

    def __init__(self, settings: TranscriberSettings) -> None:
        require("google.cloud.speech_v1", "google-cloud-speech", "google")
        account = settings.google
        self.credentials = service_account_credentials(account)
        self.endpoint = account.endpoint
        self.model = account.model
        self.where = f"Google Cloud Speech at {account.endpoint}"
        self._client: Any = None
        self._tasks: set[asyncio.Task] = set()

    def client(self) -> Any:
        """One gRPC channel for every stream (made in the running loop, as grpc.aio wants)."""
        if self._client is None:
            import grpc  # noqa: PLC0415
            from google.cloud.speech_v1 import SpeechAsyncClient  # noqa: PLC0415
            from google.cloud.speech_v1.services.speech.transports import SpeechGrpcAsyncIOTransport  # noqa: PLC0415

            local = self.endpoint.startswith("http://")
            transport = SpeechGrpcAsyncIOTransport(
                host=self.endpoint.removeprefix("http://").rstrip("/"),
                credentials=self.credentials,
                # loopback without TLS: gRPC's local credentials still carry the call credentials
                ssl_channel_credentials=grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
                if local else None,
                always_use_jwt_access=True,  # a token signed here, as the library does by default
            )
            self._client = SpeechAsyncClient(transport=transport)
        return self._client

    def start(self, work: Any) -> asyncio.Task:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # held until done: a stream dropped mid-call still ends its call
        task.add_done_callback(self._tasks.discard)
        return task

    async def warm(self) -> None:
        return None  # the service is reached per speaker; one that is down is said in the meeting

    async def connect(self) -> None:
        """The channel connected, or EngineError: a stream is opened only when the service is reached,
        so the meeting hears that transcription works again only when it does."""
        import grpc  # noqa: PLC0415

        channel = self.client().transport.grpc_channel
        state = channel.get_state(try_to_connect=True)
        if state == grpc.ChannelConnectivity.TRANSIENT_FAILURE:
            # a failed channel waits out gRPC's reconnect back-off; our own retries pace the attempts
            await self._close_client()
            channel = self.client().transport.grpc_channel
            state = channel.get_state(try_to_connect=True)
        deadline = asyncio.get_running_loop().time() + CONNECT_TIMEOUT
        while state != grpc.ChannelConnectivity.READY:
            if state in (grpc.ChannelConnectivity.TRANSIENT_FAILURE, grpc.ChannelConnectivity.SHUTDOWN):
                raise EngineError(f"cannot reach {self.where}")
            try:
                await asyncio.wait_for(channel.wait_for_state_change(state),
                                       deadline - asyncio.get_running_loop().time())
            except TimeoutError:
                raise EngineError(f"cannot reach {self.where}: no connection in {CONNECT_TIMEOUT:g} s") from None
            state = channel.get_state()

    async def open(self, language: str) -> GoogleStream:
        from google.cloud.speech_v1 import RecognitionConfig, StreamingRecognitionConfig  # noqa: PLC0415

        await self.connect()

        config = StreamingRecognitionConfig(
            config=RecognitionConfig(encoding=RecognitionConfig.AudioEncoding.LINEAR16,
                                     sample_rate_hertz=SAMPLE_RATE, language_code=language, model=self.model),
            interim_results=True,
        )
        return GoogleStream(self, config)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_client()

    async def _close_client(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.transport.close()
