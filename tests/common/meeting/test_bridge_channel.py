"""The endpoint's side of the bridge channel."""

from __future__ import annotations

import json

from jitsi_py.common.meeting import bridge_channel, events


def test_messages_from_the_bridge_become_events_and_anything_else_nothing():
    assert bridge_channel.received(json.dumps({"colibriClass": "DominantSpeakerEndpointChangeEvent",
                                               "dominantSpeakerEndpoint": "abcd1234", "previousSpeakers": []})) == [
        events.DominantSpeaker("abcd1234")]
    assert bridge_channel.received(json.dumps({"colibriClass": "EndpointMessage", "from": "abcd1234", "to": "",
                                               "msgPayload": {"type": "hi"}})) == [
        events.EndpointMessage("abcd1234", {"type": "hi"})]
    assert bridge_channel.received(json.dumps({"colibriClass": "EndpointConnectivityStatusChangeEvent",
                                               "endpoint": "abcd1234", "active": "false"})) == [
        events.EndpointConnectivity("abcd1234", False)]
    assert bridge_channel.received(json.dumps({"colibriClass": "EndpointConnectivityStatusChangeEvent",
                                               "endpoint": "abcd1234", "active": "true"})) == [
        events.EndpointConnectivity("abcd1234", True)]
    for text in ('{"colibriClass": "EndpointConnectivityStatusChangeEvent", "endpoint": "a", "active": "no"}',
                 '{"colibriClass": "EndpointConnectivityStatusChangeEvent", "endpoint": 1, "active": "true"}',
                 "", "[1]", "{", '{"colibriClass": "ServerHello"}', '{"colibriClass": "EndpointMessage"}',
                 '{"colibriClass": ["x"]}'):
        assert bridge_channel.received(text) == []


def test_constraints_put_the_stage_high_and_the_rest_at_180p_or_nothing():
    message = json.loads(bridge_channel.receiver_video_constraints({"b-v0", "a-v0"}, 720, True))
    assert message == {"colibriClass": "ReceiverVideoConstraints", "lastN": -1, "onStageSources": ["a-v0", "b-v0"],
                       "selectedSources": [], "defaultConstraints": {"maxHeight": 180},
                       "constraints": {"a-v0": {"maxHeight": 720}, "b-v0": {"maxHeight": 720}}}
    none = json.loads(bridge_channel.receiver_video_constraints(set(), 720, False))
    assert none["lastN"] == 0 and none["defaultConstraints"] == {"maxHeight": 0}
    assert json.loads(bridge_channel.endpoint_message("", {"a": 1})) == {
        "colibriClass": "EndpointMessage", "to": "", "msgPayload": {"a": 1}}
