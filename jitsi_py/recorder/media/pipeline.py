"""The pipeline: decoded frames in (event loop), one composed and encoded A/V stream out (worker thread).

The event loop side only stores: the latest video frame per source (a new one replaces the old, so
nothing queues up) and each audio chunk with its arrival time. One worker thread owns everything
else — the clock, layout, composition, the mix and the encoder — so a slow encoder delays only
itself; when it falls behind, ticks are skipped and the video stays on real time.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import queue
import threading
import time

import av

from .composer import Composer
from .layout import Layout, arrange
from .mixer import RATE, Mixer
from .output import DEFAULT_IO_TIMEOUT, EncodeSettings, Output, RecordingFailed, redacted

log = logging.getLogger(__name__)

ENCODER_SLACK = 8
STOP_SLACK = 5.0  # s beyond the I/O limit that stop() grants a flush
STALE = 2.0  # s without a frame: a camera shows its placeholder, a screen share leaves the stage


class Pipeline:
    def __init__(self, target: str, encode: EncodeSettings | None = None, layout: Layout | str = Layout.STAGE,
                 io_timeout: float = DEFAULT_IO_TIMEOUT):
        self.encode = encode or EncodeSettings()
        self._output = Output(target, self.encode, io_timeout)  # ValueError for a target we cannot write
        self._io_timeout = io_timeout
        self.layout = Layout(layout)
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}  # join order
        self._dominant: str | None = None
        self._frames: dict[tuple[str, bool], tuple[av.VideoFrame, float]] = {}
        self._share_started: dict[str, float] = {}
        self._audio_in: collections.deque = collections.deque()
        self._resamplers: dict[str, av.AudioResampler] = {}
        self._stopping = threading.Event()
        self._broken = threading.Event()  # the encoder gave up: the clock thread stops too
        # composed frames, mixed samples (array, position) and, last, the end time; a few frames of slack
        self._encoding: queue.Queue = queue.Queue(maxsize=ENCODER_SLACK)
        self._progress = 0.0  # when the encoder last finished a write
        self._written_pts = -1  # the last picture the encoder wrote
        self.frames_dropped = 0  # ticks without a picture because composing or encoding fell behind
        self._thread: threading.Thread | None = None
        self._t0: float | None = None
        self._duration = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Future | None = None
        try:
            self.failed: asyncio.Future | None = asyncio.get_running_loop().create_future()
        except RuntimeError:
            self.failed = None  # made by start()

    # --- the event loop's side: cheap, no I/O -------------------------------------------------------

    def add_participant(self, endpoint_id: str, display_name: str | None) -> None:
        with self._lock:
            self._names[endpoint_id] = display_name or ""

    def rename(self, endpoint_id: str, display_name: str | None) -> None:
        with self._lock:
            if endpoint_id in self._names:
                self._names[endpoint_id] = display_name or ""

    def remove_participant(self, endpoint_id: str) -> None:
        with self._lock:
            self._names.pop(endpoint_id, None)
            self._frames.pop((endpoint_id, False), None)
            self._frames.pop((endpoint_id, True), None)
            self._share_started.pop(endpoint_id, None)
            if self._dominant == endpoint_id:
                self._dominant = None
        self._resamplers.pop(endpoint_id, None)
        self._audio_in.append((endpoint_id, None, 0.0))  # the mixer forgets the source in order

    def dominant_speaker(self, endpoint_id: str | None) -> None:
        self._dominant = endpoint_id

    def video(self, endpoint_id: str, frame: av.VideoFrame, screen_share: bool = False) -> None:
        """The latest decoded frame of a participant's camera or shared screen; it replaces the previous one."""
        now = time.monotonic()
        key = (endpoint_id, screen_share)
        with self._lock:
            if endpoint_id not in self._names:
                return
            if screen_share:
                previous = self._frames.get(key)
                if previous is None or now - previous[1] > STALE:
                    self._share_started[endpoint_id] = now
            self._frames[key] = (frame, now)

    def audio(self, endpoint_id: str, frame: av.AudioFrame) -> None:
        """A decoded audio frame (any rate and layout; aiortc gives 48 kHz), mixed where it arrived in time."""
        if self._t0 is None or self._stopping.is_set() or self._broken.is_set() or endpoint_id not in self._names:
            return
        arrival = time.monotonic() - self._t0
        resampler = self._resamplers.get(endpoint_id)
        if resampler is None:
            resampler = self._resamplers[endpoint_id] = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        for mono in resampler.resample(frame):
            self._audio_in.append((endpoint_id, mono.to_ndarray()[0], arrival))

    async def start(self) -> None:
        """Opens the file or connects to the stream, then records; raises RecordingFailed if it cannot."""
        if self._thread is not None:
            raise RuntimeError("the pipeline was started already")
        self._loop = asyncio.get_running_loop()
        if self.failed is None:
            self.failed = self._loop.create_future()
        self._done = self._loop.create_future()
        try:
            await asyncio.to_thread(self._output.open)
        except RecordingFailed as exc:
            self._fail(exc)
            self._done.set_result(0.0)
            raise
        log.info("recording to %s at %dx%d@%d", redacted(self._output.target), self.encode.width,
                 self.encode.height, self.encode.framerate)
        self._t0 = self._progress = t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run_clock, args=(t0,), name="recorder-composer", daemon=True)
        self._thread.start()
        threading.Thread(target=self._run_encoder, name="recorder-encoder", daemon=True).start()

    async def stop(self) -> float:
        """Ends the recording: flushes and closes the file or stream. Returns the recorded duration in seconds."""
        self._stopping.set()
        if self._done is None:
            return 0.0
        try:
            # the encoder flushes a few frames and the trailer; more than the I/O limit means it is stuck
            return await asyncio.wait_for(asyncio.shield(self._done), self._io_timeout + STOP_SLACK)
        except TimeoutError:
            self._broken.set()
            self._fail(RecordingFailed(f"cannot finish {redacted(self._output.target)}: stalled", True))
            return (self._written_pts + 1) / self.encode.framerate

    def _fail(self, exc: RecordingFailed) -> None:
        failed = self.failed
        if failed is not None and not failed.done():
            log.warning("recording failed: %s", exc.reason)
            failed.set_result(exc)

    def _report(self, callback, *args) -> None:
        if self._loop is None:
            return  # never started: nobody is waiting
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            pass  # the loop is gone: nobody is waiting any more

    # --- the worker thread ----------------------------------------------------------------------------

    def _snapshot(self, now: float) -> tuple[list[str], dict, dict, str | None, str | None]:
        with self._lock:
            names = dict(self._names)
            frames = {key: frame for key, (frame, seen) in self._frames.items() if now - seen <= STALE}
            sharing = [(started, eid) for eid, started in self._share_started.items() if (eid, True) in frames]
        dominant = self._dominant if self._dominant in names else None
        share = max(sharing)[1] if sharing else None
        return list(names), names, frames, dominant, share

    def _run_clock(self, t0: float) -> None:
        """Composes and mixes at the output frame rate; hands frames and samples to the encoder thread."""
        period = 1 / self.encode.framerate
        composer = Composer(self.encode.width, self.encode.height)
        mixer = Mixer()
        arranged_for, placements = None, []
        tick = written = 0
        try:
            while not self._stopping.wait(max(0.0, t0 + tick * period - time.monotonic())):
                if self._broken.is_set() or self._stalled():
                    return
                now = time.monotonic()
                # a late tick is skipped, not made up for: a picture composed now shows what is latest
                # now, and stamped with an earlier tick its content would run ahead of the sound
                late = int((now - t0) / period)
                if late > tick:
                    self.frames_dropped += late - tick
                    tick = late
                order, names, frames, dominant, share = self._snapshot(now)
                if (order, dominant, share) != arranged_for:
                    arranged_for = (order, dominant, share)
                    placements = arrange(self.layout, self.encode.width, self.encode.height, order, dominant, share)
                    composer.retain({(p.endpoint_id, p.screen_share) for p in placements})
                frame = composer.render(placements, names, frames)
                frame.pts = tick
                try:
                    self._encoding.put_nowait(frame)
                except queue.Full:
                    self.frames_dropped += 1  # the encoder is behind: this picture is skipped, the sound is not
                written = tick = tick + 1
                self._mix(mixer, mixer.due(written * period))
            self._mix(mixer, round(written * period * RATE))
        except Exception:  # noqa: BLE001 - a bug must still end the recording with a status, not hang it
            log.exception("recorder composer crashed")
            self._report(self._fail, RecordingFailed("recorder error", True))
        finally:
            self._hand_over(written * period)  # the end: the encoder closes the output

    def _hand_over(self, item) -> None:
        """Queues for the encoder, waiting while it is busy, unless it has given up."""
        while not self._broken.is_set() and not self._stalled():
            try:
                self._encoding.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _stalled(self) -> bool:
        """The encoder has had work but wrote nothing for the I/O time limit: the stream is stuck."""
        if self._encoding.empty() or time.monotonic() - self._progress <= self._io_timeout:
            return False
        # the encoder thread stays blocked in FFmpeg until the socket gives up; the recording ends now
        self._broken.set()
        self._duration = (self._written_pts + 1) / self.encode.framerate
        self._report(self._fail, RecordingFailed(f"cannot write to {redacted(self._output.target)}: stalled", True))
        self._report(self._finish)
        return True

    def _mix(self, mixer: Mixer, until: int) -> None:
        while self._audio_in:
            endpoint_id, samples, arrival = self._audio_in.popleft()
            if samples is None:
                mixer.forget(endpoint_id)
            else:
                mixer.push(endpoint_id, samples, arrival)
        if until > mixer.position:
            position = mixer.position
            self._hand_over((mixer.pull(until), position))

    def _run_encoder(self) -> None:
        """Encodes and writes what the clock thread composed, until it hands over the end time."""
        try:
            while True:
                item = self._encoding.get()
                self._progress = time.monotonic()
                if isinstance(item, av.VideoFrame):
                    self._output.write_video(item)
                    self._written_pts = item.pts if item.pts is not None else self._written_pts + 1
                elif isinstance(item, tuple):
                    samples, position = item
                    self._output.write_audio(samples, position, RATE)
                else:
                    self._output.close()
                    self._duration = item
                    return
        except RecordingFailed as exc:
            self._broken.set()
            self._output.abort()
            self._duration = (self._written_pts + 1) / self.encode.framerate
            self._report(self._fail, exc)
        except Exception:  # noqa: BLE001 - as in the clock thread
            self._broken.set()
            self._output.abort()
            self._duration = (self._written_pts + 1) / self.encode.framerate
            log.exception("recorder encoder crashed")
            self._report(self._fail, RecordingFailed("recorder error", True))
        finally:
            self._report(self._finish)

    def _finish(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(self._duration)
