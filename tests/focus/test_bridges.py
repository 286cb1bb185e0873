"""Bridge selection as jicofo's single-bridge strategy does it."""

from jitsi_py.focus.bridges import FAILED, LEFT, UNANSWERED, BridgeTable

BREWERY = "jvbbrewery@internal-muc.meet.jitsi/"


def stats(stress=0.1, drain="false", **extra):
    return {"stress_level": str(stress), "drain": drain, **{k: str(v) for k, v in extra.items()}}


def table(**kwargs):
    return BridgeTable(**kwargs)


def test_presence_without_stats_is_not_a_bridge():
    bridges = table()
    assert bridges.presence(BREWERY + "x", None) is None
    assert bridges.select(0.0) is None


def test_least_stressed_wins_and_draining_only_as_last_resort():
    bridges = table()
    bridges.presence(BREWERY + "a", stats(0.5))
    bridges.presence(BREWERY + "b", stats(0.2))
    bridges.presence(BREWERY + "c", stats(0.0, drain="true"))
    assert bridges.select(0.0).jid == BREWERY + "b"
    bridges.left(BREWERY + "a")
    bridges.left(BREWERY + "b")
    assert bridges.select(0.0).jid == BREWERY + "c"


def test_a_bridge_that_never_said_drain_counts_as_draining():
    bridges = table()
    bridges.presence(BREWERY + "quiet", {"stress_level": "0.0"})
    bridges.presence(BREWERY + "loud", stats(0.7))
    assert bridges.select(0.0).jid == BREWERY + "loud"


def test_shutting_down_and_unhealthy_are_skipped():
    bridges = table()
    bridges.presence(BREWERY + "a", stats(0.0, shutting_down="true"))
    bridges.presence(BREWERY + "b", stats(0.0, healthy="false"))
    assert bridges.select(0.0) is None
    bridges.presence(BREWERY + "a", stats(0.0, shutting_down="false"))
    assert bridges.select(0.0) is None, "shutting down stays true for that bridge instance"


def test_failed_bridge_is_avoided_until_the_reset_time():
    bridges = table(failure_reset=60.0)
    bridges.presence(BREWERY + "a", stats(0.0))
    bridges.presence(BREWERY + "b", stats(0.5))
    bridges.failed(BREWERY + "a", now=10.0)
    assert bridges.select(20.0).jid == BREWERY + "b"
    assert bridges.select(71.0).jid == BREWERY + "a"


def test_conference_sticks_to_its_bridge_until_the_cap():
    bridges = table(max_participants=2)
    bridges.presence(BREWERY + "a", stats(0.5))
    bridges.presence(BREWERY + "b", stats(0.0))
    assert bridges.select(0.0, current=[BREWERY + "a"], counts={BREWERY + "a": 1}).jid == BREWERY + "a"
    assert bridges.select(0.0, current=[BREWERY + "a"], counts={BREWERY + "a": 2}).jid == BREWERY + "b"


def test_region_is_preferred_over_stress():
    bridges = table()
    bridges.presence(BREWERY + "eu", stats(0.4, region="eu"))
    bridges.presence(BREWERY + "us", stats(0.1, region="us"))
    assert bridges.select(0.0, region="eu").jid == BREWERY + "eu"
    assert bridges.select(0.0).jid == BREWERY + "us"


def test_recent_endpoints_raise_the_corrected_stress():
    bridges = table(participant_stress=0.1)
    bridges.presence(BREWERY + "a", stats(0.1))
    bridges.presence(BREWERY + "b", stats(0.15))
    for _ in range(3):
        bridges.endpoint_added(BREWERY + "a", now=0.0)
    assert bridges.select(1.0).jid == BREWERY + "b"
    assert bridges.select(30.0).jid == BREWERY + "a"


def test_graceful_shutdown_is_passed_over_for_new_conferences():
    bridges = table()
    bridges.presence(BREWERY + "a", stats(0.0, graceful_shutdown="true"))
    bridges.presence(BREWERY + "b", stats(0.6))
    assert bridges.select(0.0).jid == BREWERY + "b"
    assert bridges.select(0.0, current=[BREWERY + "a"]).jid == BREWERY + "b"


def test_health_checks_judge_by_who_answered():
    bridges = table()
    for name in "abcd":
        bridges.presence(BREWERY + name, stats())
    # the bridge's own errors, or no answer at all, fail it for failure_reset seconds
    for name, condition in (("a", "internal-server-error"), ("b", "service-unavailable"), ("c", UNANSWERED)):
        assert bridges.health_checked(BREWERY + name, condition, 10.0, in_brewery=True) == FAILED
        assert not bridges.operational(bridges.bridges[BREWERY + name], 10.0)
    assert bridges.operational(bridges.bridges[BREWERY + "a"], 10.0 + bridges.failure_reset)
    # a result restores it at once
    assert bridges.health_checked(BREWERY + "a", None, 11.0, in_brewery=True) is None
    assert bridges.operational(bridges.bridges[BREWERY + "a"], 11.0)
    # item-not-found is the brewery MUC's: the bridge left it, once
    assert bridges.health_checked(BREWERY + "d", "item-not-found", 12.0, in_brewery=True) == LEFT
    assert BREWERY + "d" not in bridges.bridges
    assert bridges.health_checked(BREWERY + "d", "item-not-found", 13.0, in_brewery=True) is None
    # other errors come from the MUC too and say nothing about the bridge
    assert bridges.health_checked(BREWERY + "a", "forbidden", 14.0, in_brewery=True) is None
    assert bridges.operational(bridges.bridges[BREWERY + "a"], 14.0)


def test_failed_health_checks_count_only_in_the_brewery():
    bridges = table()
    bridges.presence(BREWERY + "a", stats())
    assert bridges.health_checked(BREWERY + "a", UNANSWERED, 1.0, in_brewery=False) is None
    assert bridges.operational(bridges.bridges[BREWERY + "a"], 1.0)
    assert bridges.health_checked(BREWERY + "gone", UNANSWERED, 1.0, in_brewery=True) is None


def test_the_failed_relays_our_bridges_list_are_read_and_anything_malformed_skipped():
    table = BridgeTable()
    bridge = table.presence("brewery@internal/jvb1", {"failed_relays": "m1/relay-b m2/relay-c /x y/ junk"})
    assert bridge is not None and bridge.failed_relays == {("m1", "relay-b"), ("m2", "relay-c")}
    assert table.presence("brewery@internal/jvb1", {"stress_level": "0.1"}).failed_relays == frozenset()
