"""One recording session's I/O: the meeting joined as a hidden participant, every participant's
decoded audio and video fed to the media pipeline, then the teardown and, for a file, the metadata
and the finalize script.

The session reports to the core through ``report`` callbacks; it never decides when to end: the
core does, and :meth:`Capture.end` is how it is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from xml.etree.ElementTree import Element

from aiortc.mediastreams import MediaStreamError

from ..common import ns
from ..common.meeting import JoinError, Login, Meeting, XmppServer, events
from ..common.stanzas.jibri import FEATURE, FILE, view_url
from ..settings import Settings
from .files import meeting_url, metadata, recording_name, session_directory
from .finalize import finalize
from .media import EncodeSettings, Pipeline, RecordingFailed
from .session import Job

log = logging.getLogger(__name__)

LEAVE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Where:
    """Everything a session needs from the settings: the servers, its login, the encoder, the files."""

    xmpp_host: str
    xmpp_port: int
    focus_jid: str
    hidden_domain: str
    login: Login
    encode: EncodeSettings  # a file's; a stream's has its own preset and the bitrate cap
    stream_preset: str
    stream_bitrate: int  # bit/s
    layout: str
    recordings: Path
    base_url: str
    xmpp_domain: str
    strip_domain: str
    pending_timeout: float
    stop_timeout: float
    finalize_script: Path | None
    finalize_timeout: float


def where(settings: Settings, recorder_password: str) -> Where:
    r, domains = settings.recorder, settings.common.domains
    width, height = r.resolution
    return Where(
        xmpp_host=r.xmpp.server, xmpp_port=r.xmpp.port, focus_jid=domains.focus_component,
        hidden_domain=domains.hidden,
        login=Login(jid=f"{r.recorder_user}@{domains.hidden}", password=recorder_password),
        encode=EncodeSettings(width=width, height=height, framerate=r.framerate, preset=r.preset_recording,
                              crf=r.crf, audio_bitrate=r.audio_bitrate * 1000, video_bitrate=None),
        stream_preset=r.preset_streaming, stream_bitrate=r.streaming_max_bitrate, layout=r.layout,
        recordings=r.recording_dir, base_url=settings.common.public_url, xmpp_domain=domains.domain,
        strip_domain=r.strip_domain, pending_timeout=r.pending_timeout, stop_timeout=r.stop_timeout,
        finalize_script=r.finalize_script, finalize_timeout=r.finalize_timeout)


@dataclass
class Reports:
    """How the session tells the core what happened (each bound to its session id by the caller)."""

    capturing: Callable[[], None]
    members: Callable[[int], None]
    failed: Callable[[str, bool], None]
    meeting_ended: Callable[[str], None]


@dataclass
class Capture:
    job: Job
    where: Where
    reports: Reports
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    participants: dict[str, dict[str, Any]] = field(default_factory=dict)  # everyone seen, for metadata
    finalize_killed: bool = False
    _end: asyncio.Event = field(default_factory=asyncio.Event)
    _meeting: Meeting | None = None
    _pipeline: Pipeline | None = None
    _target: Path | None = None

    def end(self) -> None:
        self._end.set()

    @property
    def directory(self) -> Path:
        return session_directory(self.where.recordings, self.job.session_id)

    async def run(self) -> None:
        """Capture until told to end, then tear down; returns once the instance may record again."""
        work = asyncio.ensure_future(self._capture())
        ending = asyncio.ensure_future(self._end.wait())
        try:
            await asyncio.wait({work, ending}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ending.cancel()
            if not work.done():
                work.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await work
                except Exception as exc:  # noqa: BLE001 - whatever broke, it is this session's failure
                    log.exception("recorder: session %s failed", self.job.session_id)
                    self.reports.failed(f"internal error: {exc}", True)
            stopped = datetime.now(timezone.utc)
            await self._teardown()
            if self.job.mode == FILE:
                await self._finish_files(stopped)

    # --- capture -----------------------------------------------------------------------------------
    async def _capture(self) -> None:
        job, where = self.job, self.where
        presence = [_text(ns.tag(ns.CLIENT, "session_id"), job.session_id), _text(ns.tag(ns.CLIENT, "mode"), job.mode)]
        if job.broadcast_id:
            presence.append(_text(ns.tag(ns.CLIENT, "live-stream-view-url"), view_url(job.broadcast_id)))
        room, _, muc_domain = job.room.partition("@")
        server = XmppServer(where.xmpp_host, where.xmpp_port, where.xmpp_domain, muc_domain,
                            focus_jid=where.focus_jid, hidden_domain=where.hidden_domain)
        meeting = Meeting(server=server, login=where.login, display_name="Recorder",
                          features=(FEATURE,), presence_extras=presence, receive_video=True, receive_audio=True,
                          video_height=where.encode.height)
        self._meeting = meeting
        try:
            await meeting.join(room=job.room, timeout=where.pending_timeout)
        except JoinError as exc:
            self.reports.failed(f"cannot join {job.room}: {exc}", True)
            return
        if job.mode == FILE:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self.reports.failed(f"cannot make {self.directory}: {exc.strerror}", True)
                return
            self._target = self.directory / recording_name(room, self.started)
            target: str = str(self._target)
            encode = where.encode
        else:
            assert job.stream_url is not None
            target = job.stream_url
            encode = dataclasses.replace(where.encode, preset=where.stream_preset, video_bitrate=where.stream_bitrate)
        try:
            pipeline = Pipeline(target, encode=encode, layout=where.layout)
        except ValueError as exc:
            self.reports.failed(str(exc), False)
            return
        self._pipeline = pipeline
        try:
            await pipeline.start()
        except RecordingFailed as exc:
            self.reports.failed(exc.reason, exc.retryable)
            return
        tasks: set[asyncio.Task] = set()
        self._spawn(tasks, self._watch(pipeline))
        try:
            for participant in meeting.participants.values():
                self._joined(pipeline, participant.endpoint_id, participant.display_name, participant.hidden)
            self.reports.members(self._visible())
            self.reports.capturing()
            log.info("recorder: session %s: recording %s to %s", job.session_id, job.room,
                     target if job.mode == FILE else _redacted(target))
            await self._follow(meeting, pipeline, tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _spawn(tasks: set[asyncio.Task], work: Any) -> asyncio.Task:
        task = asyncio.ensure_future(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    async def _watch(self, pipeline: Pipeline) -> None:
        assert pipeline.failed is not None  # made by start()
        failure: RecordingFailed = await asyncio.shield(pipeline.failed)
        self.reports.failed(failure.reason, failure.retryable)

    async def _follow(self, meeting: Meeting, pipeline: Pipeline, tasks: set[asyncio.Task]) -> None:
        pumps: dict[tuple[str, str], tuple[asyncio.Task, str]] = {}  # (endpoint, source) -> (pump, kind)

        def stage_every_video() -> None:
            # Every picture is in the recording, so every video source is on our stage: the bridge then
            # forwards each one at least at its lowest layer whatever our bandwidth estimate says (off
            # stage, a source waits for the estimate to grow, which for a receive-only peer it may not).
            videos = {source for (_, source), (_, kind) in pumps.items() if kind == "video"}
            meeting.set_video_constraints(videos, max_height=self.where.encode.height)

        def stop_pumps(endpoint_id: str, source: str | None = None) -> None:
            """Of one source, or of every source of ``endpoint_id``."""
            for key in [k for k in pumps if k[0] == endpoint_id and source in (None, k[1])]:
                pumps.pop(key)[0].cancel()
            stage_every_video()

        async for event in meeting.events():
            match event:
                case events.ParticipantJoined(endpoint_id=eid, display_name=name, hidden=hidden):
                    self._joined(pipeline, eid, name, hidden)
                    self.reports.members(self._visible())
                case events.ParticipantChanged(endpoint_id=eid, display_name=name):
                    if self.participants.get(eid, {}).get("present") and name:
                        self.participants[eid]["name"] = name
                        pipeline.rename(eid, name)
                case events.ParticipantLeft(endpoint_id=eid):
                    stop_pumps(eid)
                    if self.participants.get(eid, {}).pop("present", None):
                        pipeline.remove_participant(eid)
                    self.reports.members(self._visible())
                case events.TrackAdded(endpoint_id=eid, source_name=source, kind=kind, video_type=vtype, track=track):
                    log.debug("recorder: session %s: %s track %s of %s", self.job.session_id, kind, source, eid)
                    if self.participants.get(eid, {}).get("present"):
                        pump = self._spawn(tasks, _pump(pipeline, eid, kind, vtype == "desktop", track))
                        pumps[(eid, source)] = (pump, kind)
                        stage_every_video()
                case events.TrackRemoved(endpoint_id=eid, source_name=source):
                    stop_pumps(eid, source)
                case events.DominantSpeaker(endpoint_id=eid):
                    pipeline.dominant_speaker(eid)
                case events.Ended(reason=reason):
                    if reason == "connection lost":
                        self.reports.failed(f"the meeting connection was lost ({self.job.room})", True)
                    else:
                        self.reports.meeting_ended(reason)
                    return
        self.reports.meeting_ended("the meeting ended")

    def _joined(self, pipeline: Pipeline, endpoint_id: str, name: str | None, hidden: bool) -> None:
        """Once per stay: the roster at the start and the queued join events tell of the same people."""
        seen = self.participants.get(endpoint_id)
        if hidden or (seen is not None and seen.get("present")):
            return
        seen = self.participants.setdefault(endpoint_id, {"id": endpoint_id})
        seen["name"] = name or seen.get("name") or endpoint_id
        seen["present"] = True
        pipeline.add_participant(endpoint_id, seen["name"])

    def _visible(self) -> int:
        return sum(1 for p in self.participants.values() if p.get("present"))

    # --- teardown ----------------------------------------------------------------------------------
    async def _teardown(self) -> None:
        if self._pipeline is not None:
            try:
                await asyncio.wait_for(self._pipeline.stop(), self.where.stop_timeout)
            except (asyncio.TimeoutError, RecordingFailed, OSError) as exc:
                log.error("recorder: session %s: the encoder did not close cleanly: %s", self.job.session_id,
                          exc if str(exc) else type(exc).__name__)
        if self._meeting is not None:
            try:
                await asyncio.wait_for(self._meeting.leave(), LEAVE_TIMEOUT)
            except (asyncio.TimeoutError, OSError, ConnectionError) as exc:
                log.warning("recorder: session %s: leaving the meeting: %s", self.job.session_id,
                            exc if str(exc) else type(exc).__name__)

    async def _finish_files(self, stopped: datetime) -> None:
        """metadata.json and the finalize script when something was recorded; else no directory."""
        directory = self.directory
        recorded = self._target is not None and self._target.is_file() and self._target.stat().st_size > 0
        if not recorded:
            if directory.is_dir():
                shutil.rmtree(directory, ignore_errors=True)
            log.info("recorder: session %s: nothing recorded", self.job.session_id)
            return
        url = meeting_url(self.where.base_url, self.job.room, self.where.xmpp_domain, self.where.strip_domain)
        people = [{"id": p["id"], "name": p["name"]} for p in self.participants.values()]
        try:
            (directory / "metadata.json").write_text(
                json.dumps(metadata(url, people, self.started, stopped, self.job.app_data), indent=2))
        except OSError as exc:
            log.error("recorder: session %s: cannot write metadata.json: %s", self.job.session_id, exc.strerror)
        log.info("recorder: session %s: recorded %s", self.job.session_id, self._target)
        if self.where.finalize_script is not None:
            self.finalize_killed = not await finalize(self.where.finalize_script, directory,
                                                      self.where.finalize_timeout, self.job.session_id)


async def _pump(pipeline: Pipeline, endpoint_id: str, kind: str, screen_share: bool, track: Any) -> None:
    """One remote source's decoded frames into the pipeline, until the track ends (aiortc's
    MediaStreamError). The first frame is logged: a source that never yields one is worth knowing of."""
    try:
        frame = await track.recv()
        log.info("recorder: first %s frame from %s%s", kind, endpoint_id, " (screen share)" if screen_share else "")
        if kind == "video":
            feed_video = pipeline.video
            while True:
                feed_video(endpoint_id, frame, screen_share)
                frame = await track.recv()
        else:
            feed_audio = pipeline.audio
            while True:
                feed_audio(endpoint_id, frame)
                frame = await track.recv()
    except MediaStreamError:
        return


def _text(tag: str, value: str) -> Element:
    elem = Element(tag)
    elem.text = value
    return elem


def _redacted(url: str) -> str:
    """A stream URL for the log: its key (the last path part) is a secret."""
    head, _, _key = url.rpartition("/")
    return head + "/****" if head else "****"
