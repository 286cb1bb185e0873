"""The recorder's sans-I/O core: one instance's status and its one recording session at a time.

The focus's ``<jibri>`` requests, what the meeting and the encoder report, and ``now`` (the loop's
monotonic clock) go in; the answer to each request, effects for the glue to carry out and the next
deadline come out. The glue (service.py) sends, joins, encodes and writes; it reports back with
:meth:`Recorder.capturing`, :meth:`members`, :meth:`failed`, :meth:`meeting_ended` and, once the
capture is torn down and the files finalized, :meth:`ended`, which frees the instance whatever
happened before: there is no path from busy that does not lead back to idle (or, in single-use mode,
to expired).

Status reporting follows Jibri (docs/recording.md §3): the start request is answered at once
(pending; off+busy+retry; off+error), then ``on`` once capturing, and exactly one closing ``off`` per
session unless the focus itself asked to stop (its stop request is answered ``off``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..common.stanzas.jibri import BUSY, ERROR, FILE, OFF, ON, PENDING, STREAM, JibriIq, JibriStatus, stream_url

IDLE_STATUS, BUSY_STATUS, EXPIRED_STATUS = "IDLE", "BUSY", "EXPIRED"  # Jibri's health API names
STREAM_SCHEMES = ("rtmp://", "rtmps://")


@dataclass(frozen=True)
class Job:
    """What the focus asked for, checked: everything the glue needs to record one session."""

    session_id: str
    mode: str  # FILE or STREAM
    room: str  # the meeting's bare room JID
    focus: str  # where status updates go: the focus's occupant JID in the brewery
    stream_url: str | None = None  # STREAM only
    broadcast_id: str | None = None
    app_data: dict[str, Any] = field(default_factory=dict)


# --- effects: what the glue must do ----------------------------------------------------------------
@dataclass(frozen=True)
class Publish:
    """Send this status in the brewery presence."""

    status: JibriStatus


@dataclass(frozen=True)
class Notify:
    """Send ``iq`` as an IQ set to ``to`` (the focus), which answers with an empty result."""

    to: str
    iq: JibriIq


@dataclass(frozen=True)
class BeginCapture:
    """Join the meeting and start encoding; report :meth:`Recorder.capturing` once frames flow."""

    job: Job


@dataclass(frozen=True)
class EndCapture:
    """Stop encoding, leave the meeting, write the metadata and run the finalize script, then report
    :meth:`Recorder.ended`. ``reason`` is for the log."""

    session_id: str
    reason: str


@dataclass(frozen=True)
class Refusal:
    """A start request refused for what it asks (answered off+error, no retry): log why."""

    reason: str


Effect = Publish | Notify | BeginCapture | EndCapture | Refusal


class Refused(ValueError):
    """A start request that no recorder could serve."""


@dataclass
class _Session:
    job: Job
    started: float
    phase: str = PENDING  # PENDING (joining), ON (capturing), OFF (tearing down)
    empty_since: float | None = None


class Recorder:
    def __init__(self, *, pending_timeout: float, empty_timeout: float, usage_timeout: float | None = None,
                 single_use: bool = False, healthy: bool = True) -> None:
        self.pending_timeout = pending_timeout
        self.empty_timeout = empty_timeout
        self.usage_timeout = usage_timeout  # None or 0: no limit
        self.single_use = single_use
        self.healthy = healthy
        self.expired = False
        self.session: _Session | None = None
        self.sessions_started = 0
        self.sessions_failed = 0

    # --- status ------------------------------------------------------------------------------------
    @property
    def busy_status(self) -> str:
        if self.session is not None:
            return BUSY_STATUS
        return EXPIRED_STATUS if self.expired else IDLE_STATUS

    def status(self) -> JibriStatus:
        """What the brewery sees: expired is internal and stays published as busy, so no focus picks
        an instance that will not record again."""
        return JibriStatus(busy=self.busy_status != IDLE_STATUS, healthy=self.healthy)

    def health(self) -> dict[str, Any]:
        """Jibri's ``/jibri/api/v1.0/health`` body."""
        return {"status": {"busyStatus": self.busy_status, "health": {
            "healthStatus": "HEALTHY" if self.healthy else "UNHEALTHY", "details": {}}}}

    # --- the focus's requests -------------------------------------------------------------------------
    def start(self, request: JibriIq, sender: str, now: float) -> tuple[JibriIq, list[Effect]]:
        """The answer to a start request and, when accepted, the effects that begin the session."""
        if self.session is not None or self.expired:
            return JibriIq(status=OFF, failure_reason=BUSY, should_retry=True, sipaddress=request.sipaddress), []
        try:
            job = self._job(request, sender)
        except Refused as exc:
            return (JibriIq(status=OFF, failure_reason=ERROR, should_retry=False, sipaddress=request.sipaddress),
                    [Refusal(str(exc))])
        self.session = _Session(job, started=now)
        self.sessions_started += 1
        return JibriIq(status=PENDING), [Publish(self.status()), BeginCapture(job)]

    def stop(self, request: JibriIq, now: float) -> tuple[JibriIq, list[Effect]]:
        """The focus's stop: answered off; the session, if any is still running, ends without a
        status IQ of its own (the focus has already published off)."""
        session = self.session
        effects: list[Effect] = []
        if session is not None and session.phase != OFF and request.session_id in (None, session.job.session_id):
            session.phase = OFF
            effects.append(EndCapture(session.job.session_id, "stopped by the focus"))
        return JibriIq(status=OFF, sipaddress=request.sipaddress), effects

    @staticmethod
    def _job(request: JibriIq, sender: str) -> Job:
        if request.sipaddress:
            raise Refused("SIP gateway mode (sipaddress) is not supported")
        if request.recording_mode not in (FILE, STREAM):
            raise Refused(f"unsupported recording_mode {request.recording_mode!r}")
        if not request.session_id:
            raise Refused("no session_id")
        room = request.room or ""
        local, at, domain = room.partition("@")
        if not local or not at or not domain or "/" in room:
            raise Refused(f"room {request.room!r} is not a room's bare JID")
        try:
            app_data = json.loads(request.app_data) if request.app_data else {}
        except ValueError:
            raise Refused("app_data is not JSON") from None
        if not isinstance(app_data, dict):
            raise Refused("app_data is not a JSON object")
        url = None
        if request.recording_mode == STREAM:
            if not request.streamid:
                raise Refused("stream mode without a streamid")
            streamid = request.streamid.strip()
            # Jibri takes whatever is not an RTMP URL for a YouTube key; a URL of another scheme is no key.
            if "://" in streamid and not streamid.lower().startswith(STREAM_SCHEMES):
                raise Refused(f"stream URL {streamid!r}: only rtmp:// and rtmps:// are supported")
            url = stream_url(streamid)
        return Job(session_id=request.session_id, mode=request.recording_mode, room=room, focus=sender,
                   stream_url=url, broadcast_id=request.you_tube_broadcast_id, app_data=app_data)

    # --- what the glue reports -------------------------------------------------------------------------
    def capturing(self, session_id: str, now: float) -> list[Effect]:
        session = self._live(session_id)
        if session is None or session.phase != PENDING:
            return []
        session.phase = ON
        return [Notify(session.job.focus, JibriIq(status=ON, session_id=session_id))]

    def members(self, session_id: str, visible: int, now: float) -> list[Effect]:
        """How many participants the meeting shows (hidden ones, like us, not counted)."""
        session = self._live(session_id)
        if session is not None:
            if visible:
                session.empty_since = None
            elif session.empty_since is None:
                session.empty_since = now
        return []

    def failed(self, session_id: str, reason: str, retryable: bool, now: float) -> list[Effect]:
        """The session cannot go on (no join, encoder or stream failure): off+error to the focus."""
        session = self._live(session_id)
        if session is None:
            return []
        session.phase = OFF
        self.sessions_failed += 1
        return [Notify(session.job.focus, JibriIq(status=OFF, failure_reason=ERROR, should_retry=retryable,
                                                  session_id=session_id)),
                EndCapture(session_id, reason)]

    def meeting_ended(self, session_id: str, reason: str, now: float) -> list[Effect]:
        """The meeting ended under us (destroyed, kicked): the session is over, without error."""
        return self._finish(session_id, reason)

    def ended(self, session_id: str, now: float) -> list[Effect]:
        """The capture is torn down and finalized: the instance is free (or, single use, expired)."""
        if self.session is None or self.session.job.session_id != session_id:
            return []
        self.session = None
        if self.single_use:
            self.expired = True
            return []
        return [Publish(self.status())]

    # --- time ------------------------------------------------------------------------------------------
    @property
    def deadline(self) -> float | None:
        session = self.session
        if session is None or session.phase == OFF:
            return None
        times = []
        if session.phase == PENDING:
            times.append(session.started + self.pending_timeout)
        if session.empty_since is not None:
            times.append(session.empty_since + self.empty_timeout)
        if self.usage_timeout:
            times.append(session.started + self.usage_timeout)
        return min(times, default=None)

    def tick(self, now: float) -> list[Effect]:
        session = self.session
        if session is None or session.phase == OFF:
            return []
        sid = session.job.session_id
        if session.phase == PENDING and now >= session.started + self.pending_timeout:
            return self.failed(sid, f"not in the meeting after {self.pending_timeout:g} s (JIBRI_PENDING_TIMEOUT)",
                               True, now)
        if session.empty_since is not None and now >= session.empty_since + self.empty_timeout:
            return self._finish(sid, "the meeting is empty")
        if self.usage_timeout and now >= session.started + self.usage_timeout:
            return self._finish(sid, f"the usage limit of {self.usage_timeout / 60:g} min (JIBRI_USAGE_TIMEOUT)")
        return []

    # --- helpers ---------------------------------------------------------------------------------------
    def _live(self, session_id: str) -> _Session | None:
        session = self.session
        if session is None or session.job.session_id != session_id or session.phase == OFF:
            return None
        return session

    def _finish(self, session_id: str, reason: str) -> list[Effect]:
        session = self._live(session_id)
        if session is None:
            return []
        session.phase = OFF
        return [Notify(session.job.focus, JibriIq(status=OFF, session_id=session_id)),
                EndCapture(session_id, reason)]
