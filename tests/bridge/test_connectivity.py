"""Connectivity status (EndpointConnectivityStatusChangeEvent) across relays, and relays that fail:
the bridge's side, driven by hand with ``now``, one conference on one bridge and a relay whose
other bridge is played by the test (docs/bridge-media.md §6.2, §7)."""

import json

import pytest

from jitsi_py.bridge.channel import ChannelError, MessageHandler
from jitsi_py.bridge.conference import FIRST_MEDIA_LIMIT, INACTIVITY_LIMIT, Endpoint
from jitsi_py.bridge.forwarder import Source
from jitsi_py.bridge.relay import Relay, RelayChannel
from jitsi_py.bridge.videobridge import Videobridge

STATUS = "EndpointConnectivityStatusChangeEvent"


def statuses(inbox: list[dict]) -> list[tuple[str, str]]:
    found = [(m["endpoint"], m["active"]) for m in inbox if m["colibriClass"] == STATUS]
    inbox.clear()
    return found


@pytest.fixture
async def conference():
    """Alice and bob local (each with an inbox), carol and dave behind relay ``jvb-b`` (whose
    outbox is the relay's channel), the bridge's relay limit 6 s."""
    bridge = Videobridge(candidates=[], relay_timeout=6.0)
    conference = bridge.create_conference("m-status", None, 0.0)
    inboxes: dict[str, list[dict]] = {}
    for name in ("alice", "bob"):
        endpoint = Endpoint(conference, name, now=0.0)
        conference.add_endpoint(endpoint)
        endpoint.channel = inboxes.setdefault(name, []).append
    relay = Relay(conference, "jvb-b", ice_controlling=True, now=0.0)
    conference.add_relay(relay)
    relay.channel = inboxes.setdefault("jvb-b", []).append
    for name in ("carol", "dave"):
        relay.set_endpoint(name, [Source(f"{name}-a0", name, "audio", [len(name)])])
    conference.inboxes = inboxes
    yield conference
    bridge.expire_conference(conference)


def media_until(conference, name: str, now: float) -> None:
    conference.endpoints[name].last_media = now


def tick(conference, now: float) -> None:
    conference._next_report = 0.0  # the activity checks run now, not a second after the last
    relay = conference.relays.get("jvb-b")
    if relay is not None:
        relay.last_activity = now  # the other bridge's keep-alives keep coming
    conference.tick(now)


def test_a_local_endpoint_going_inactive_is_told_to_the_others_and_to_the_relays(conference):
    inboxes = conference.inboxes
    media_until(conference, "alice", 1.0)
    media_until(conference, "bob", 1.0)
    tick(conference, 1.0 + INACTIVITY_LIMIT)
    assert all(statuses(box) == [] for box in inboxes.values())
    media_until(conference, "bob", 1.0 + INACTIVITY_LIMIT)
    tick(conference, 2.0 + INACTIVITY_LIMIT)
    assert statuses(inboxes["bob"]) == [("alice", "false")] and statuses(inboxes["alice"]) == []
    assert statuses(inboxes["jvb-b"]) == [("alice", "false")]
    tick(conference, 3.0 + INACTIVITY_LIMIT)  # no change, nothing said
    assert all(statuses(box) == [] for box in inboxes.values())
    media_until(conference, "alice", 4.0 + INACTIVITY_LIMIT)
    media_until(conference, "bob", 4.0 + INACTIVITY_LIMIT)
    tick(conference, 4.0 + INACTIVITY_LIMIT)
    assert statuses(inboxes["bob"]) == [("alice", "true")] and statuses(inboxes["jvb-b"]) == [("alice", "true")]
    assert conference.bridge.stats()["inactive_endpoints"] == 0


def test_an_endpoint_that_never_sends_is_inactive_after_the_first_media_limit_and_visitors_never_are(conference):
    visitor = Endpoint(conference, "viewer", visitor=True, now=0.0)
    conference.add_endpoint(visitor)
    visitor.channel = conference.inboxes.setdefault("viewer", []).append
    tick(conference, FIRST_MEDIA_LIMIT)
    assert statuses(conference.inboxes["viewer"]) == []
    tick(conference, FIRST_MEDIA_LIMIT + 1.0)
    assert statuses(conference.inboxes["viewer"]) == [("alice", "false"), ("bob", "false")]
    assert statuses(conference.inboxes["jvb-b"]) == [("alice", "false"), ("bob", "false")]


def test_a_status_from_the_relay_reaches_the_local_endpoints_for_endpoints_behind_it_only(conference):
    inboxes = conference.inboxes
    channel = RelayChannel(conference.relays["jvb-b"])
    channel.receive(json.dumps({"colibriClass": STATUS, "endpoint": "carol", "active": "false"}))
    assert statuses(inboxes["alice"]) == [("carol", "false")] and statuses(inboxes["bob"]) == [("carol", "false")]
    channel.receive(json.dumps({"colibriClass": STATUS, "endpoint": "carol", "active": "false"}))
    assert statuses(inboxes["alice"]) == []  # said once
    assert statuses(inboxes["jvb-b"]) == []  # never sent back: relayed statuses are not relayed again
    for refused in ({"endpoint": "alice", "active": "false"}, {"endpoint": "nobody", "active": "false"},
                    {"endpoint": ["carol"], "active": "false"}, {"endpoint": "carol", "active": "maybe"},
                    {"endpoint": "carol", "active": 0}, {"endpoint": "carol"}):
        with pytest.raises(ChannelError):
            channel.receive(json.dumps({"colibriClass": STATUS, **refused}))
    assert statuses(inboxes["alice"]) == []
    channel.receive(json.dumps({"colibriClass": STATUS, "endpoint": "carol", "active": "true"}))
    assert statuses(inboxes["alice"]) == [("carol", "true")]


def test_a_newly_connected_endpoint_is_told_who_is_inactive_here_and_behind_relays(conference):
    media_until(conference, "bob", 0.5)
    tick(conference, 1.0 + INACTIVITY_LIMIT)
    RelayChannel(conference.relays["jvb-b"]).receive(json.dumps(
        {"colibriClass": STATUS, "endpoint": "dave", "active": "false"}))
    erin = Endpoint(conference, "erin", now=2.0 + INACTIVITY_LIMIT)
    conference.add_endpoint(erin)
    erin.channel = inbox = []
    erin.channel = inbox.append
    MessageHandler(erin).connected(hello=False)
    assert statuses(inbox) == [("bob", "false"), ("dave", "false")]
    # The relay's channel connecting tells the other bridge our inactive ones, once connected.
    conference.inboxes["jvb-b"].clear()
    RelayChannel(conference.relays["jvb-b"]).connected(hello=False)
    assert statuses(conference.inboxes["jvb-b"]) == [("bob", "false")]


def test_an_inactive_endpoint_recreated_under_its_id_is_announced_active_by_its_media(conference):
    inboxes = conference.inboxes
    media_until(conference, "alice", 1.0)
    media_until(conference, "bob", 1.0)
    media_until(conference, "alice", 2.0 + INACTIVITY_LIMIT)
    tick(conference, 2.0 + INACTIVITY_LIMIT)
    assert statuses(inboxes["alice"]) == [("bob", "false")]
    conference.remove_endpoint("bob")
    bob = Endpoint(conference, "bob", now=3.0 + INACTIVITY_LIMIT)
    conference.add_endpoint(bob)
    assert not bob.active
    media_until(conference, "alice", 4.0 + INACTIVITY_LIMIT)
    media_until(conference, "bob", 4.0 + INACTIVITY_LIMIT)
    tick(conference, 4.0 + INACTIVITY_LIMIT)
    assert statuses(inboxes["alice"]) == [("bob", "true")]
    # The same for one that moved behind the relay: created there, it is presumed active.
    conference.remove_endpoint("bob")
    tick(conference, 5.0 + INACTIVITY_LIMIT)
    media_until(conference, "alice", 5.0 + INACTIVITY_LIMIT)
    conference.inactive.add("bob")
    conference.relays["jvb-b"].set_endpoint("bob", None)
    assert statuses(inboxes["alice"]) == [("bob", "true")]


def test_a_relay_without_any_packet_past_the_limit_fails_and_recovers(conference):
    bridge = conference.bridge
    inboxes = conference.inboxes
    relay = conference.relays["jvb-b"]
    changed = []
    bridge.on_relays_changed = lambda: changed.append(bridge.failed_relays())
    RelayChannel(relay).receive(json.dumps({"colibriClass": STATUS, "endpoint": "carol", "active": "false"}))
    statuses(inboxes["alice"]), statuses(inboxes["bob"])
    assert relay.ice.keepalive_interval == 2.0  # a third of the limit
    for now in (1.0, 2.0, 3.0):
        media_until(conference, "alice", now)
        media_until(conference, "bob", now)
        tick(conference, now)
    relay.last_activity = 3.0
    for now in (4.0, 9.0):  # 6 s since the last packet: not yet
        conference._next_report = 0.0
        conference.tick(now)
    assert not relay.failed and changed == []
    conference._next_report = 0.0
    conference.tick(9.5)
    assert relay.failed and changed == [["m-status/jvb-b"]]
    assert statuses(inboxes["alice"]) == [("dave", "false")]  # carol was inactive already
    assert statuses(inboxes["bob"]) == [("dave", "false")]
    stats = bridge.stats()
    assert stats["relays_failed"] == 1 and stats["failed_relays"] == "m-status/jvb-b"
    assert stats["relays_ice_failed"] == 0
    # A packet: recovered; dave is active again, carol stays as her bridge said.
    relay.last_activity = 10.0
    conference._next_report = 0.0
    conference.tick(10.0)
    assert not relay.failed and changed[-1] == []
    assert statuses(inboxes["alice"]) == [("dave", "true")]
    assert "failed_relays" not in bridge.stats() and bridge.stats()["relays_failed"] == 1


def test_a_relay_whose_ice_consent_expires_is_counted_apart_from_endpoints():
    bridge = Videobridge(candidates=[])
    conference = bridge.create_conference("m-ice", None, 0.0)
    relay = Relay(conference, "jvb-b", ice_controlling=True, now=0.0)
    conference.add_relay(relay)
    relay.ice.last_valid = 0.0
    relay.handle_timer(31.0)
    assert bridge.stats()["relays_ice_failed"] == 1 and bridge.stats()["total_ice_failed"] == 0
    bridge.expire_conference(conference)

