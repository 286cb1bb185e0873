"""Restart requests in the focus, as jicofo counts them: per-participant rate limits (a budget for
full restarts, another for in-place ICE restarts) and the bridge's ICE failure detection."""

import pytest

from jitsi_py.common.errors import StanzaError
from jitsi_py.common.stanzas.colibri2 import parse_conference_modify
from jitsi_py.common.stanzas.jingle import BridgeSession, Jingle
from jitsi_py.focus.bridges import BridgeTable, IceFailureDetection
from jitsi_py.focus.conference import ColibriRequest, RestartLimits, SendJingle
from jitsi_py.settings import Settings

from .test_conference import B1, B2, STATS, accept_for, answer_creates, conference, participant

DETECTING = IceFailureDetection(enabled=True, interval=60.0, min_endpoints=2, threshold=0.1, timeout=600.0)


def in_a_call(**kwargs):
    conf = conference(**kwargs)
    conf.joined(participant("alice"), 1.0)
    conf.joined(participant("bob"), 1.0)
    offers = {c.nick: c.jingle for c in answer_creates(conf, conf.commands()) if isinstance(c, SendJingle)}
    for nick, ssrc_base in (("alice", 0), ("bob", 100)):
        conf.jingle(nick, accept_for(offers[nick], nick, ssrc_base), 2.0)
    conf.commands()
    return conf, offers


def restart(offer: Jingle) -> Jingle:
    return Jingle("session-terminate", offer.sid, bridge_session=BridgeSession(offer.bridge_session.id, restart=True))


def ice_restart(offer: Jingle) -> Jingle:
    return Jingle("session-info", offer.sid, bridge_session=BridgeSession(offer.bridge_session.id, ice_restart=True))


def reoffer(conf, nick, now):
    return next(c.jingle for c in answer_creates(conf, conf.commands(), now)
                if isinstance(c, SendJingle) and c.nick == nick and c.jingle.action == "session-initiate")


def test_restart_limits_follow_max_and_interval():
    limits = RestartLimits(max_requests=2, interval=30.0)
    times: list[float] = []
    assert limits.accept(times, 0.0) and not limits.accept(times, 4.9), "at least 5 s apart"
    assert limits.accept(times, 5.0) and not limits.accept(times, 20.0), "at most 2 per 30 s"
    assert limits.accept(times, 30.0) and times == [5.0, 30.0]


def test_ice_restarts_do_not_use_up_the_full_restart_budget():
    conf, offers = in_a_call(restart_limits=RestartLimits(max_requests=1, interval=60.0))
    conf.jingle("alice", ice_restart(offers["alice"]), 10.0)
    assert conf.commands()
    with pytest.raises(StanzaError) as limited:
        conf.jingle("alice", ice_restart(offers["alice"]), 20.0)
    assert limited.value.condition == "resource-constraint"
    conf.jingle("alice", restart(offers["alice"]), 20.0)  # its own budget: accepted
    assert reoffer(conf, "alice", 20.5).sid != offers["alice"].sid


def test_a_rate_limited_restart_still_ends_the_session():
    conf, offers = in_a_call(restart_limits=RestartLimits(max_requests=1, interval=60.0))
    conf.jingle("alice", restart(offers["alice"]), 10.0)
    second = reoffer(conf, "alice", 10.5)
    with pytest.raises(StanzaError) as limited:
        conf.jingle("alice", restart(second), 30.0)  # past min-interval, over max-requests
    assert limited.value.condition == "resource-constraint"
    expired = [parse_conference_modify(c.request) for c in conf.commands() if isinstance(c, ColibriRequest)]
    assert [e.id for m in expired for e in m.endpoints if e.expire] == ["alice"]
    assert conf.participants["alice"].state == "waiting" and conf.participants["alice"].sid is None
    conf.jingle("alice", restart(second), 30.0)  # the ended session's id is gone: ignored


def test_full_restarts_and_ice_failed_count_against_the_bridge_in_place_restarts_do_not():
    conf, offers = in_a_call()
    bridge = conf.bridges.bridges[B1]
    conf.jingle("alice", ice_restart(offers["alice"]), 10.0)
    assert not bridge.restart_requests
    conf.jingle("bob", restart(offers["bob"]), 10.0)
    assert list(bridge.restart_requests) == [10.0]
    conf.commands()
    failed = Jingle("session-info", offers["alice"].sid, ice_state="failed",
                    bridge_session=BridgeSession(offers["alice"].bridge_session.id))
    conf.jingle("alice", failed, 11.0)
    actions = [(c.nick, c.jingle.action) for c in answer_creates(conf, conf.commands(), 11.5)
               if isinstance(c, SendJingle)]
    assert ("alice", "session-terminate") in actions and ("alice", "session-initiate") in actions
    assert list(bridge.restart_requests) == [10.0, 11.0]


def test_ice_failed_for_an_old_bridge_session_is_ignored():
    conf, offers = in_a_call()
    stale = Jingle("session-info", offers["alice"].sid, ice_state="failed", bridge_session=BridgeSession("old"))
    conf.jingle("alice", stale, 10.0)
    assert not conf.commands() and conf.participants["alice"].state == "active"


def test_a_bridge_failing_ice_is_ranked_overloaded_until_the_timeout():
    table = BridgeTable(ice_failure=DETECTING)
    table.presence(B1, {**STATS, "stress_level": "0.1", "endpoints": "20"})
    table.presence(B2, {**STATS, "stress_level": "0.3", "endpoints": "20"})
    assert table.select(0.0).jid == B1
    assert not table.restart_requested(B1, 1.0) and not table.restart_requested(B1, 2.0)
    assert table.restart_requested(B1, 3.0), "3 of 20 endpoints within the interval is over 0.1"
    assert not table.restart_requested(B1, 4.0), "already failing: refreshed, not entered again"
    assert table.corrected_stress(table.bridges[B1], 5.0) == pytest.approx(0.81)
    assert table.select(5.0).jid == B2
    assert table.select(4.0 + 600.0).jid == B1, "the failing state lasts the timeout after the last refresh"


def test_ice_failure_detection_needs_enabling_and_enough_endpoints():
    off = BridgeTable()
    few = BridgeTable(ice_failure=IceFailureDetection(enabled=True, min_endpoints=40))
    for table in (off, few):
        table.presence(B1, {**STATS, "endpoints": "20"})
        assert not any(table.restart_requested(B1, float(t)) for t in range(20))
        assert not table.failing_ice(table.bridges[B1], 20.0)
    spread = BridgeTable(ice_failure=DETECTING)
    spread.presence(B1, {**STATS, "endpoints": "20"})
    assert not any(spread.restart_requested(B1, t * 31.0) for t in range(10)), "never 3 within 60 s"


def test_settings_read_as_docker_jitsi_meets_jicofo_conf():
    default = Settings.from_values({}).focus
    assert (default.ice_failure_detection, default.ice_failure_interval, default.ice_failure_min_endpoints,
            default.ice_failure_threshold) == (False, 60.0, 40, 0.1)
    assert (default.restart_request_max, default.restart_request_interval) == (5, 60.0)
    focus = Settings.from_values({
        "JICOFO_ENABLE_ICE_FAILURE_DETECTION": "true", "JICOFO_ICE_FAILURE_INTERVAL": "30",
        "JICOFO_ICE_FAILURE_MIN_ENDPOINTS": "10", "JICOFO_ICE_FAILURE_THRESHOLD": "0.25",
        "JICOFO_RESTART_REQUEST_MAX": "3", "JICOFO_RESTART_REQUEST_INTERVAL": "120"}).focus
    assert (focus.ice_failure_detection, focus.ice_failure_interval, focus.ice_failure_min_endpoints,
            focus.ice_failure_threshold, focus.restart_request_max, focus.restart_request_interval) == (
        True, 30.0, 10, 0.25, 3, 120.0)
    with pytest.raises(ValueError, match="JICOFO_ICE_FAILURE_THRESHOLD='2'"):
        Settings.from_values({"JICOFO_ICE_FAILURE_THRESHOLD": "2"})


# --- load redistribution (JICOFO_ENABLE_LOAD_REDISTRIBUTION, jicofo's LoadRedistributor) -------------

def test_redistribution_takes_from_the_conferences_with_most_endpoints_on_the_bridge():
    from jitsi_py.focus.bridges import redistribution_moves

    assert redistribution_moves({"a": 1, "b": 3, "c": 3}, 1) == {"b": 1}
    assert redistribution_moves({"a": 1, "b": 3, "c": 3}, 4) == {"b": 3, "c": 1}
    assert redistribution_moves({"a": 1, "b": 3, "c": 3}, 100) == {"b": 3, "c": 3, "a": 1}


def test_an_overloaded_bridge_is_relieved_once_per_timeout_while_another_can_take_load():
    from jitsi_py.focus.bridges import LoadRedistribution

    table = BridgeTable(redistribution=LoadRedistribution(enabled=True))
    table.presence(B1, {**STATS, "stress_level": "0.95"})
    assert table.to_relieve(0.0) == [], "no bridge below the stress threshold to take the endpoints"
    table.presence(B2, {**STATS, "stress_level": "0.2"})
    assert table.to_relieve(1.0) == [B1]
    assert table.to_relieve(61.0) == [], "rests for the timeout"
    assert table.to_relieve(181.0) == [B1]
    assert BridgeTable().to_relieve(500.0) == [], "off unless enabled"


def test_moved_endpoints_leave_the_bridge_before_being_placed_again():
    conf, offers = in_a_call(bridges=(B1, B2))
    conf.bridges.presence(B1, {**STATS, "stress_level": "0.95"})
    assert conf.endpoints_on(B1) == 2 and conf.endpoints_on(B2) == 0
    assert conf.move_endpoints(B1, 10, 100.0) == 2
    commands = conf.commands()
    terminated = {c.nick for c in commands if isinstance(c, SendJingle) and c.jingle.action == "session-terminate"}
    assert terminated == {"alice", "bob"}
    expired = [c for c in commands if isinstance(c, ColibriRequest) and c.bridge == B1]
    assert expired and parse_conference_modify(expired[-1].request).expire, "the conference left B1"
    creates = [c for c in commands if isinstance(c, ColibriRequest) and c.key[0] == "create"]
    assert {c.bridge for c in creates} == {B2}, "placed afresh on the bridge that is not overloaded"
    again = {c.nick for c in answer_creates(conf, commands, 100.5)
             if isinstance(c, SendJingle) and c.jingle.action == "session-initiate"}
    assert again == {"alice", "bob"}


def test_load_redistribution_setting():
    assert not Settings.from_values({}).focus.load_redistribution
    assert Settings.from_values({"JICOFO_ENABLE_LOAD_REDISTRIBUTION": "true"}).focus.load_redistribution


async def test_the_tracker_moves_endpoints_from_the_conference_with_most_on_the_bridge():
    from types import SimpleNamespace

    from jitsi_py.focus.bridges import LoadRedistribution
    from jitsi_py.focus.room_tracker import Room, RoomTracker

    table = BridgeTable(redistribution=LoadRedistribution(enabled=True, endpoints=2))
    table.presence(B1, STATS)
    table.presence(B2, {**STATS, "stress_level": "0.5"})
    flushed: list[str] = []
    focus = SimpleNamespace(bridges=table, counters={"participants_moved": 0},
                            flush=lambda room: flushed.append(room.jid))
    tracker = RoomTracker(focus)
    small, large = conference(), conference()
    small.bridges = large.bridges = table
    for core, nicks in ((small, ("alice", "bob")), (large, ("carol", "dave", "erin"))):
        for nick in nicks:
            core.joined(participant(nick), 1.0)
        answer_creates(core, core.commands())
    for jid, core in (("small@muc.meet.jitsi", small), ("large@muc.meet.jitsi", large)):
        room = tracker._rooms[jid] = Room(focus, jid)
        room.core = core
    table.presence(B1, {**STATS, "stress_level": "0.95"})
    tracker.redistribute(100.0)
    assert flushed == ["large@muc.meet.jitsi"] and focus.counters["participants_moved"] == 2
    assert large.endpoints_on(B1) == 1 and small.endpoints_on(B1) == 2
