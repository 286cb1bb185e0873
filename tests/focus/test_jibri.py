"""The recorder pool and one conference's recording, driven in memory (docs/focus.md §8)."""

import pytest

from jitsi_py.common.errors import StanzaError
from jitsi_py.common.stanzas.jibri import BUSY, ERROR, OFF, ON, PENDING, JibriIq, JibriStatus
from jitsi_py.focus.jibri import AnswerRequest, PublishStatus, RecorderPool, Recording, SendToRecorder

ROOM = "standup@muc.meet.jitsi"
BREWERY = "jibribrewery@internal-muc.meet.jitsi"
J1, J2, J3 = f"{BREWERY}/jibri1", f"{BREWERY}/jibri2", f"{BREWERY}/jibri3"
ALICE = f"{ROOM}/alice"
IDLE = JibriStatus(busy=False, healthy=True)
BUSY_STATUS = JibriStatus(busy=True, healthy=True)
SID = "sid-1"


def pool(*jids, status=IDLE):
    recorders = RecorderPool()
    for jid in jids:
        recorders.presence(jid, status)
    return recorders


def recording(recorders, **kwargs):
    return Recording(ROOM, recorders, session_ids=lambda: SID, **kwargs)


def start(rec, now=0.0, **attrs):
    request = JibriIq(action="start", **({"recording_mode": "file"} | attrs))
    rec.request("handle", ALICE, request, now, member=True, moderator=True)
    return rec.commands()


def only(commands, kind):
    found = [c for c in commands if isinstance(c, kind)]
    assert len(found) == 1, commands
    return found[0]


# --- the pool -----------------------------------------------------------------------------------

def test_the_pool_picks_available_recorders_and_not_the_same_twice_within_200_ms():
    recorders = pool(J1)
    recorders.presence(J2, BUSY_STATUS)
    recorders.presence(J3, JibriStatus(busy=False, healthy=False))
    assert recorders.select(0.0) == J1
    assert recorders.select(0.1) is None
    assert recorders.select(0.2) == J1


def test_the_pool_prefers_the_oldest_failure_and_skips_failures_of_the_last_minute():
    recorders = pool(J1, J2)
    recorders.failed(J1, 10.0)
    recorders.failed(J2, 20.0)
    assert recorders.select(30.0) is None, "the oldest failure is 20 s old"
    assert recorders.select(80.0) == J1
    assert recorders.select(80.1) == J2, "J1 was just picked"


def test_available_presence_clears_a_failure_and_leaving_forgets():
    recorders = pool(J1)
    recorders.failed(J1, 0.0)
    recorders.presence(J1, IDLE)
    assert recorders.select(1.0) == J1
    assert recorders.left(J1) and not recorders.left(J1)
    assert recorders.select(5.0) is None


# --- the moderator's requests ---------------------------------------------------------------------

@pytest.mark.parametrize(("member", "moderator", "condition"), [(False, False, "forbidden"),
                                                                (True, False, "not-allowed")])
def test_only_moderators_may_record(member, moderator, condition):
    rec = recording(pool(J1))
    with pytest.raises(StanzaError) as refused:
        rec.request("h", ALICE, JibriIq(action="start", recording_mode="file"), 0.0, member=member,
                    moderator=moderator)
    assert refused.value.condition == condition
    assert rec.session is None and rec.commands() == []


@pytest.mark.parametrize("attrs", [{"recording_mode": "stream"}, {"recording_mode": "file", "streamid": "k"},
                                   {"recording_mode": None}])
def test_stream_needs_a_stream_id_and_file_has_none(attrs):
    rec = recording(pool(J1))
    with pytest.raises(StanzaError) as refused:
        rec.request("h", ALICE, JibriIq(action="start", **attrs), 0.0, member=True, moderator=True)
    assert refused.value.condition == "bad-request"


def test_no_recorder_is_service_unavailable_and_all_busy_is_resource_constraint():
    with pytest.raises(StanzaError) as none:
        start(recording(RecorderPool()))
    assert none.value.condition == "service-unavailable"
    with pytest.raises(StanzaError) as busy:
        start(recording(pool(J1, status=BUSY_STATUS)))
    assert busy.value.condition == "resource-constraint"


def test_start_goes_to_a_recorder_and_is_answered_once_it_is_pending():
    rec = recording(pool(J1))
    sent = only(start(rec, streamid="abcd-efgh", you_tube_broadcast_id="yt", app_data='{"x":1}',
                      recording_mode="stream"), SendToRecorder)
    assert sent.to == J1 and sent.attempt is not None
    assert (sent.iq.action, sent.iq.recording_mode, sent.iq.room, sent.iq.session_id) == ("start", "stream", ROOM, SID)
    assert (sent.iq.streamid, sent.iq.you_tube_broadcast_id, sent.iq.app_data) == ("abcd-efgh", "yt", '{"x":1}')
    rec.start_answered(sent.attempt, JibriIq(status=PENDING), 1.0)
    answer = only(rec.commands(), AnswerRequest)
    assert answer.request == "handle" and answer.error is None and answer.result.session_id == SID


def test_a_second_start_is_unexpected_and_stop_without_session_is_item_not_found():
    rec = recording(pool(J1))
    start(rec)
    with pytest.raises(StanzaError) as again:
        start(rec, now=1.0)
    assert again.value.condition == "unexpected-request"
    with pytest.raises(StanzaError) as unknown:
        recording(pool(J1)).request("h", ALICE, JibriIq(action="stop"), 0.0, member=True, moderator=True)
    assert unknown.value.condition == "item-not-found"


def test_status_updates_publish_on_then_off_with_initiators():
    rec = recording(pool(J1))
    sent = only(start(rec), SendToRecorder)
    rec.start_answered(sent.attempt, JibriIq(status=PENDING), 1.0)
    assert not [c for c in rec.commands() if isinstance(c, PublishStatus)], "pending is not published"
    assert rec.handles(J1) and not rec.handles(J2)
    rec.recorder_update(J1, JibriIq(status=ON), 5.0)
    on = only(rec.commands(), PublishStatus).status
    assert (on.status, on.session_id, on.recording_mode, on.initiator, on.failure_reason) == (ON, SID, "file", ALICE,
                                                                                              None)
    bob = f"{ROOM}/bob"
    rec.request("stop-handle", bob, JibriIq(action="stop"), 9.0, member=True, moderator=True)
    commands = rec.commands()
    stop = only(commands, SendToRecorder)
    assert (stop.to, stop.iq.action, stop.iq.session_id, stop.attempt) == (J1, "stop", SID, None)
    off = only(commands, PublishStatus).status
    assert (off.status, off.initiator) == (OFF, bob)
    assert only(commands, AnswerRequest).request == "stop-handle"
    assert rec.session is None


def test_a_busy_recorder_is_marked_failed_and_another_one_is_asked():
    recorders = pool(J1, J2)
    rec = recording(recorders)
    first = only(start(rec), SendToRecorder)
    rec.start_answered(first.attempt, JibriIq(status=OFF, failure_reason=BUSY, should_retry=True), 1.0)
    second = only(rec.commands(), SendToRecorder)
    assert second.to != first.to and second.attempt != first.attempt
    rec.start_answered(first.attempt, JibriIq(status=PENDING), 1.1)
    assert rec.commands() == [], "a late answer to an older request is ignored"
    rec.start_answered(second.attempt, JibriIq(status=PENDING), 1.2)
    assert only(rec.commands(), AnswerRequest).result.session_id == SID
    assert recorders.recorders[first.to].last_failed == 1.0


def test_the_only_recorder_busy_is_resource_constraint_for_the_moderator():
    rec = recording(pool(J1))
    first = only(start(rec), SendToRecorder)
    rec.start_answered(first.attempt, JibriIq(status=OFF, failure_reason=BUSY), 1.0)
    answer = only(rec.commands(), AnswerRequest)
    assert answer.error.condition == "resource-constraint" and rec.session is None


def test_no_answer_sends_stop_and_retries_run_out_as_internal_server_error():
    rec = recording(pool(J1, J2), retries=1)
    first = only(start(rec), SendToRecorder)
    rec.start_answered(first.attempt, None, 15.0)
    commands = rec.commands()
    stop, retry = [c for c in commands if isinstance(c, SendToRecorder)]
    assert (stop.to, stop.iq.action) == (first.to, "stop")
    rec.start_answered(retry.attempt, JibriIq(status=OFF, failure_reason=ERROR, should_retry=True), 16.0)
    assert only(rec.commands(), AnswerRequest).error.condition == "internal-server-error"


def test_a_failure_with_should_retry_moves_the_session_to_another_recorder():
    recorders = pool(J1, J2)
    rec = recording(recorders)
    first = only(start(rec), SendToRecorder)
    rec.start_answered(first.attempt, JibriIq(status=PENDING), 1.0)
    recorders.presence(first.to, BUSY_STATUS)
    rec.recorder_update(first.to, JibriIq(status=ON), 2.0)
    rec.commands()
    rec.recorder_update(first.to, JibriIq(status=OFF, failure_reason=ERROR, should_retry=True), 30.0)
    second = only(rec.commands(), SendToRecorder)
    assert second.to != first.to and second.iq.session_id == SID
    rec.start_answered(second.attempt, JibriIq(status=PENDING), 31.0)
    assert rec.commands() == [], "the moderator was answered long ago; nothing is published for pending"
    rec.recorder_update(second.to, JibriIq(status=ON), 32.0)
    assert only(rec.commands(), PublishStatus).status.status == ON


def test_a_failure_without_should_retry_is_published():
    rec = recording(pool(J1, J2))
    first = only(start(rec), SendToRecorder)
    rec.start_answered(first.attempt, JibriIq(status=PENDING), 1.0)
    rec.commands()
    rec.recorder_update(first.to, JibriIq(status=OFF, failure_reason=ERROR), 3.0)
    off = only(rec.commands(), PublishStatus).status
    assert (off.status, off.failure_reason) == (OFF, ERROR) and rec.session is None


def test_the_recorder_leaving_is_an_error_and_with_none_left_the_room_sees_off():
    recorders = pool(J1)
    rec = recording(recorders)
    first = only(start(rec), SendToRecorder)
    rec.start_answered(first.attempt, JibriIq(status=PENDING), 1.0)
    rec.recorder_update(J1, JibriIq(status=ON), 2.0)
    rec.commands()
    recorders.left(J1)
    rec.recorder_left(J1, 10.0)
    off = only(rec.commands(), PublishStatus).status
    assert (off.status, off.failure_reason, off.session_id) == (OFF, ERROR, SID)
    assert rec.session is None


def test_the_pending_timeout_stops_the_recorder_and_publishes_off():
    rec = recording(pool(J1), pending_timeout=90.0)
    first = only(start(rec), SendToRecorder)
    rec.start_answered(first.attempt, JibriIq(status=PENDING), 1.0)
    rec.commands()
    assert rec.next_deadline() == 90.0
    rec.handle_timer(89.0)
    assert rec.commands() == []
    rec.handle_timer(90.0)
    commands = rec.commands()
    assert only(commands, SendToRecorder).iq.action == "stop"
    assert only(commands, PublishStatus).status.status == OFF
    assert rec.session is None and rec.next_deadline() is None


def test_on_clears_the_pending_timeout():
    rec = recording(pool(J1), pending_timeout=90.0)
    first = only(start(rec), SendToRecorder)
    rec.start_answered(first.attempt, JibriIq(status=PENDING), 1.0)
    rec.recorder_update(J1, JibriIq(status=ON), 5.0)
    assert rec.next_deadline() is None


def test_the_conference_end_stops_the_recorder_and_answers_a_waiting_moderator():
    rec = recording(pool(J1))
    start(rec)
    rec.end()
    commands = rec.commands()
    assert only(commands, SendToRecorder).iq.action == "stop"
    assert only(commands, AnswerRequest).error.condition == "internal-server-error"
    assert not [c for c in commands if isinstance(c, PublishStatus)]


def test_unlimited_retries_keep_trying_while_recorders_are_left():
    recorders = pool(J1, J2, J3)
    rec = recording(recorders, retries=-1)
    sent = only(start(rec), SendToRecorder)
    for now in (1.0, 2.0):
        rec.start_answered(sent.attempt, JibriIq(status=OFF, failure_reason=BUSY), now)
        sent = only(rec.commands(), SendToRecorder)
    rec.start_answered(sent.attempt, JibriIq(status=OFF, failure_reason=BUSY), 3.0)
    assert only(rec.commands(), AnswerRequest).error.condition == "resource-constraint"
