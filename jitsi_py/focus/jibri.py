"""Recording and live streaming through recorders (the Jibri role), sans-I/O (docs/focus.md §8).

* :class:`RecorderPool` is what the recorder brewery says: which recorders are there, which are
  available (idle and healthy), and which one to pick next (jicofo's ``JibriDetector``).
* :class:`Recording` is one conference's recorder session (jicofo's ``JibriRecorder`` and
  ``JibriSession``): a moderator's start and stop, the start request to a recorder and its answer,
  the recorder's later status updates, retries on other recorders, the pending timeout.

Inputs are method calls with ``now``; a refusal the moderator must get at once is raised as
:class:`StanzaError`. Outputs are commands drained from :meth:`Recording.commands`:
:class:`SendToRecorder` (with an ``attempt``, the answer goes back to
:meth:`Recording.start_answered`), :class:`AnswerRequest` (the moderator's start, answered once a
recorder took it) and :class:`PublishStatus` (the focus's ``<jibri-recording-status>``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Callable

from ..common.errors import StanzaError
from ..common.stanzas.jibri import (
    ERROR,
    FILE,
    OFF,
    ON,
    PENDING,
    START,
    STOP,
    STREAM,
    JibriIq,
    JibriStatus,
    RecordingStatus,
)

# A recorder picked is not picked again so soon (its busy presence may be on its way), and one that
# failed a request is left alone for a minute unless it says it is available again.
SELECT_HOLD = 0.2
FAILURE_HOLD = 60.0


@dataclass
class Recorder:
    jid: str  # its brewery occupant JID, where start and stop requests go
    available: bool
    last_failed: float | None = None
    last_selected: float | None = None


class RecorderPool:
    """The recorders in the brewery, by occupant JID."""

    def __init__(self) -> None:
        self.recorders: dict[str, Recorder] = {}

    def presence(self, jid: str, status: JibriStatus) -> None:
        recorder = self.recorders.setdefault(jid, Recorder(jid, status.available))
        recorder.available = status.available
        if status.available:
            # Recorders publish presence only on change: "available" again means it recovered.
            recorder.last_failed = None

    def left(self, jid: str) -> bool:
        return self.recorders.pop(jid, None) is not None

    def failed(self, jid: str, now: float) -> None:
        recorder = self.recorders.get(jid)
        if recorder is not None:
            recorder.last_failed = now

    def select(self, now: float) -> str | None:
        """Among available recorders not picked in the last 200 ms, the one whose failure is the
        oldest (or that never failed); none if even that one failed in the last minute."""
        candidates = [r for r in self.recorders.values()
                      if r.available and (r.last_selected is None or now - r.last_selected >= SELECT_HOLD)]
        if not candidates:
            return None
        best = min(candidates, key=lambda r: float("-inf") if r.last_failed is None else r.last_failed)
        if best.last_failed is not None and now - best.last_failed < FAILURE_HOLD:
            return None
        best.last_selected = now
        return best.jid


@dataclass
class SendToRecorder:
    to: str
    iq: JibriIq
    attempt: int | None = None  # set for a start, whose answer is awaited


@dataclass
class AnswerRequest:
    """The answer to the moderator's IQ: ``error``, else a result carrying ``result`` (if any)."""

    request: object  # the glue's handle of the moderator's IQ
    result: JibriIq | None = None
    error: StanzaError | None = None


@dataclass
class PublishStatus:
    status: RecordingStatus


Command = SendToRecorder | AnswerRequest | PublishStatus


def _refusal(condition: str, text: str) -> StanzaError:
    return StanzaError("cancel" if condition != "bad-request" else "modify", condition, text)


@dataclass
class Session:
    id: str
    room: str
    initiator: str
    streamid: str | None
    broadcast_id: str | None
    app_data: str | None
    displayname: str | None
    recorder: str | None = None  # the recorder working on it (or asked to)
    status: str | None = None  # the recorder's last status
    retries: int = 0
    attempt: int = 0  # numbers the start requests; a late answer to an older one is ignored
    awaiting: bool = False  # a start request is out
    request: object | None = None  # the moderator's start, until a recorder took it
    failure: str | None = None  # the failure that made us try another recorder
    pending_deadline: float | None = None
    terminator: str | None = None

    @property
    def mode(self) -> str:
        return STREAM if self.streamid else FILE


class Recording:
    """One conference's recorder (at most one session at a time, file or stream)."""

    def __init__(self, room: str, pool: RecorderPool, *, retries: int = 5, pending_timeout: float = 90.0,
                 session_ids: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.room = room
        self.pool = pool
        self.max_retries = retries
        self.pending_timeout = pending_timeout
        self.session_ids = session_ids
        self.session: Session | None = None
        self._commands: list[Command] = []

    # --- outputs ----------------------------------------------------------------------------------

    def commands(self) -> list[Command]:
        out, self._commands = self._commands, []
        return out

    def next_deadline(self) -> float | None:
        return self.session.pending_deadline if self.session is not None else None

    # --- the moderator ----------------------------------------------------------------------------

    def request(self, handle: object, sender: str, request: JibriIq, now: float, *, member: bool,
                moderator: bool) -> None:
        """A ``<jibri>`` from ``sender``, an occupant of the room, answered by an
        :class:`AnswerRequest` (a start: once a recorder took it); raises a refusal."""
        if not member:
            raise _refusal("forbidden", "not a member of this conference")
        if not moderator:
            raise _refusal("not-allowed", "only moderators may start or stop recording")
        if request.action == START:
            if self.session is not None:
                raise _refusal("unexpected-request", "Recording or live streaming is already enabled")
            self._start_request(handle, sender, request, now)
            return
        if request.action == STOP:
            if self.session is None:
                raise _refusal("item-not-found", "Unknown session")
            self._stop(sender)
            self._commands.append(AnswerRequest(handle))
            return
        raise _refusal("bad-request", "the jibri request needs action start or stop")

    def _start_request(self, handle: object, sender: str, request: JibriIq, now: float) -> None:
        if not request.streamid and request.recording_mode != FILE:
            raise _refusal("bad-request", "Stream ID is empty or undefined")
        if request.streamid and request.recording_mode == FILE:
            raise _refusal("bad-request", "Stream ID is provided for a FILE recording.")
        session = self.session = Session(self.session_ids(), self.room, sender, request.streamid,
                                         request.you_tube_broadcast_id, request.app_data, request.displayname,
                                         request=handle)
        refusal = self._start(session, now)
        if refusal is not None:
            self.session = None
            raise refusal

    # --- the recorders ----------------------------------------------------------------------------

    def handles(self, recorder: str) -> bool:
        """Whether an IQ from this recorder belongs to our session."""
        return self.session is not None and self.session.recorder == recorder

    def start_answered(self, attempt: int, answer: JibriIq | None, now: float) -> None:
        """The recorder's answer to a start request; None when it did not answer in time or
        answered an error."""
        session = self.session
        if session is None or not session.awaiting or attempt != session.attempt:
            return
        session.awaiting = False
        recorder = session.recorder
        assert recorder is not None
        if answer is None or answer.status != PENDING:
            if answer is None:
                # It may still be starting: tell it to stop, so it does not join on its own later.
                self._commands.append(SendToRecorder(recorder, JibriIq(action=STOP, session_id=session.id)))
            self.pool.failed(recorder, now)
            self._attempt_failed(session, now)
            return
        session.status = PENDING
        self._taken(session)

    def recorder_update(self, recorder: str, update: JibriIq, now: float) -> None:
        """A status IQ from the recorder of our session (see :meth:`handles`)."""
        if update.status is not None:
            self._status(recorder, update.status, update.failure_reason, update.should_retry, now)

    def recorder_left(self, recorder: str, now: float) -> None:
        """The recorder left the brewery: to us it failed, and may be replaced."""
        session = self.session
        if session is None or session.recorder != recorder:
            return
        if session.awaiting:  # its answer will never come
            session.awaiting = False
            self._attempt_failed(session, now)
            return
        self._status(recorder, OFF, ERROR, True, now)

    # --- time and the end -------------------------------------------------------------------------

    def handle_timer(self, now: float) -> None:
        session = self.session
        if session is None or session.pending_deadline is None or now < session.pending_deadline:
            return
        session.pending_deadline = None
        if session.status in (None, PENDING):
            # Hung while starting: stopped and reported off (jicofo's retry finds nothing left to retry).
            self._stop(None)

    def end(self) -> None:
        """The conference ends: whatever runs is stopped, nothing is published."""
        session = self.session
        if session is None:
            return
        if session.request is not None:
            self._commands.append(AnswerRequest(session.request, error=_refusal(
                "internal-server-error", "the conference ended")))
        if session.recorder is not None:
            self._commands.append(SendToRecorder(session.recorder, JibriIq(action=STOP, session_id=session.id)))
        self.session = None

    # --- internals --------------------------------------------------------------------------------

    def _start(self, session: Session, now: float) -> StanzaError | None:
        """Asks the next recorder; the refusal when there is none to ask."""
        recorder = self.pool.select(now)
        if recorder is None:
            if self.pool.recorders:
                return _refusal("resource-constraint", "all Jibris are busy")
            return _refusal("service-unavailable", "no Jibris available")
        session.recorder = recorder
        session.attempt += 1
        session.awaiting = True
        if self.pending_timeout > 0:
            session.pending_deadline = now + self.pending_timeout
        start = JibriIq(action=START, recording_mode=session.mode, room=session.room, session_id=session.id,
                        app_data=session.app_data, displayname=session.displayname)
        if session.streamid:
            start.streamid = session.streamid
            start.you_tube_broadcast_id = session.broadcast_id
        self._commands.append(SendToRecorder(recorder, start, session.attempt))
        return None

    def _attempt_failed(self, session: Session, now: float) -> None:
        if self._retries_left(session):
            session.retries += 1
            refusal = self._start(session, now)
        else:
            refusal = _refusal("internal-server-error", "Internal server error")
        if refusal is not None:
            self._give_up(session, refusal)

    def _give_up(self, session: Session, refusal: StanzaError) -> None:
        """No recorder takes the session: the moderator still waiting is refused; after a
        recorder had taken it, the room learns it is off, with the failure that ended it."""
        if session.request is not None:
            self._commands.append(AnswerRequest(session.request, error=refusal))
        else:
            self._publish(session, OFF, session.failure or ERROR)
        self.session = None

    def _taken(self, session: Session) -> None:
        if session.request is not None:
            self._commands.append(AnswerRequest(session.request, result=JibriIq(session_id=session.id)))
            session.request = None

    def _retries_left(self, session: Session) -> bool:
        return self.max_retries < 0 or session.retries < self.max_retries

    def _status(self, recorder: str, status: str, failure: str | None, should_retry: bool | None,
                now: float) -> None:
        session = self.session
        if session is None or recorder != session.recorder:
            return
        session.status = status
        if status != PENDING:
            session.pending_deadline = None
        if failure is not None:
            if should_retry and self._retries_left(session):
                session.failure = failure
                session.retries += 1
                refusal = self._start(session, now)
                if refusal is not None:
                    self._give_up(session, refusal)
                return
            self._publish(session, status, failure)
            self.session = None
        elif status == OFF:
            self._publish(session, OFF, None)
            self.session = None
        elif status == ON:
            self._publish(session, ON, None)

    def _stop(self, stopper: str | None) -> None:
        session = self.session
        assert session is not None
        self._taken(session)  # a start still waiting for its recorder is answered first, as it was taken
        session.terminator = stopper
        if session.recorder is not None:
            self._commands.append(SendToRecorder(session.recorder, JibriIq(action=STOP, session_id=session.id)))
        self._publish(session, OFF, None)
        self.session = None

    def _publish(self, session: Session, status: str, failure: str | None) -> None:
        initiator = session.initiator if status == ON else session.terminator if status == OFF else None
        self._commands.append(PublishStatus(RecordingStatus(status, session.id, session.mode, initiator, failure)))

