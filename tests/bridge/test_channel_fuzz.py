"""Fuzzing the bridge channel's JSON (colibri-ws and the SCTP data channel, and a relay's channel
from the other bridge). The contract: a message is acted on, ignored, or refused with
:class:`ChannelError` (the carriers count and drop it); nothing else is raised.

Duplicate keys (JSA-2023-0001: parsers that keep the first or the last of two equal keys read one
message two ways, e.g. a ``to`` that a checker and a router see differently): the bridge refuses
every message with a duplicate key, at any depth, however the key's characters are escaped. A
message means one thing or nothing."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, strategies as st

from jitsi_py.bridge.channel import ChannelError, MessageHandler, parse_message
from jitsi_py.bridge.relay import RelayChannel
from tests.support.fuzz import inputs

from .memory import bridge_in_memory

pytestmark = pytest.mark.fuzz

CLASSES = ["ClientHello", "EndpointMessage", "EndpointStats", "LastNChangedEvent", "ReceiverVideoConstraints",
           "ReceiverAudioSubscription", "SourceVideoTypeMessage", "VideoTypeMessage", "AddReceiver",
           "RemoveReceiver", "ServerHello", "Unknown"]
FIELDS = ["to", "from", "msgPayload", "lastN", "onStageSources", "selectedSources", "defaultConstraints",
          "constraints", "maxHeight", "maxFrameRate", "mode", "list", "all", "include", "exclude", "endpointId",
          "sourceName", "videoType", "videoConstraints", "bitrate"]
NAMES = ["alice", "bob", "carol", "alice-v0", "alice-a0", "carol-v0", "nobody", "", "ALL"]

scalars = (st.none() | st.booleans() | st.integers(-2, 2000) | st.integers() | st.sampled_from(NAMES)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(FIELDS + NAMES), inner, max_size=4), max_leaves=12)
messages = st.builds(lambda kind, fields: {"colibriClass": kind, **fields}, st.sampled_from(CLASSES),
                     st.dictionaries(st.sampled_from(FIELDS), values, max_size=5))

SAMPLES = [json.dumps(m).encode() for m in [
    {"colibriClass": "EndpointMessage", "to": "bob", "msgPayload": {"type": "e2e-ping"}},
    {"colibriClass": "EndpointStats", "from": "carol", "bitrate": {"audio": 1}},
    {"colibriClass": "ReceiverVideoConstraints", "lastN": 3, "onStageSources": ["alice-v0"],
     "selectedSources": ["carol-v0"], "defaultConstraints": {"maxHeight": 180},
     "constraints": {"alice-v0": {"maxHeight": 720, "maxFrameRate": 15.0}}},
    {"colibriClass": "ReceiverAudioSubscription", "mode": "Exclude", "list": ["alice-a0"]},
    {"colibriClass": "SourceVideoTypeMessage", "sourceName": "alice-v0", "videoType": "DESKTOP"},
    {"colibriClass": "AddReceiver", "bridgeId": "other", "sourceName": "alice-v0",
     "videoConstraints": {"maxHeight": 360}},
    {"colibriClass": "SourceVideoTypeMessage", "endpointId": "carol", "sourceName": "carol-v0",
     "videoType": "CAMERA"},
]]


def receive(handler, text) -> None:
    try:
        handler.receive(text)
    except ChannelError:
        pass


@given(sent=st.lists(st.one_of(messages.map(json.dumps), inputs(SAMPLES, max_size=256)), min_size=1, max_size=6))
@example(sent=[s.decode() for s in SAMPLES])
# Unhashable names: dict.get([..]) raised TypeError.
@example(sent=['{"colibriClass":"SourceVideoTypeMessage","sourceName":[],"videoType":"camera"}',
               '{"colibriClass":"SourceVideoTypeMessage","endpointId":"carol","sourceName":{},"videoType":"x"}',
               '{"colibriClass":"EndpointMessage","from":["carol"]}',
               '{"colibriClass":"EndpointMessage","from":"carol","to":{}}',
               '{"colibriClass":"EndpointMessage","to":[]}',
               '{"colibriClass":"AddReceiver","sourceName":[]}',
               '{"colibriClass":"RemoveReceiver","endpointId":[]}'])
# Non-finite numbers (Python's json reads NaN and Infinity) and deep nesting.
@example(sent=['{"colibriClass":"ReceiverVideoConstraints","defaultConstraints":{"maxFrameRate":NaN}}',
               '{"colibriClass":"ReceiverVideoConstraints","constraints":{"alice-v0":{"maxFrameRate":Infinity}}}',
               '{"colibriClass":"ReceiverVideoConstraints","lastN":1e999}',
               '{"colibriClass":"EndpointMessage","to":"bob","x":' + "[" * 5000 + "]" * 5000 + "}"])
def test_any_message_from_an_endpoint_or_a_relay_is_handled_or_refused_as_channel_error(sent):
    memory = bridge_in_memory()
    try:
        handlers = [MessageHandler(memory.alice), MessageHandler(memory.bob), RelayChannel(memory.relay)]
        for i, text in enumerate(sent):
            receive(handlers[i % 3], text)
            receive(handlers[(i + 1) % 3], text)
    finally:
        memory.close()


def escaped_variants(key: str) -> st.SearchStrategy[str]:
    """``key`` as JSON string source, each character plain or as a \\u escape."""
    def escaped(c: str) -> str:
        units = c.encode("utf-16-be")
        return "".join(f"\\u{int.from_bytes(units[i:i + 2], 'big'):04x}" for i in range(0, len(units), 2))

    return st.lists(st.booleans(), min_size=len(key), max_size=len(key)).map(
        lambda escape: '"' + "".join(escaped(c) if e else json.dumps(c)[1:-1] for c, e in zip(key, escape)) + '"')


@given(key=st.sampled_from(["colibriClass", "to", "from", "lastN", "sourceName"]) | st.text(min_size=1, max_size=6),
       first=values, second=values, data=st.data(), nested=st.booleans())
@example(key="to", first="alice", second="bob", data=None, nested=False)
def test_a_duplicate_key_anywhere_and_however_escaped_is_refused(key, first, second, data, nested):
    spellings = (data.draw(escaped_variants(key)), data.draw(escaped_variants(key))) if data else (
        '"to"', '"t\\u006f"')
    pair = f'{spellings[0]}:{json.dumps(first)},{spellings[1]}:{json.dumps(second)}'
    text = ('{"colibriClass":"EndpointMessage","msgPayload":{' + pair + "}}" if nested
            else "{" + pair + ',"colibriClass":"EndpointMessage"}' if key != "colibriClass" else "{" + pair + "}")
    with pytest.raises(ChannelError, match="duplicate JSON key"):
        parse_message(text)


@pytest.mark.parametrize("text", ['{"colibriClass":"X","a":NaN}', '{"colibriClass":"X","a":[-Infinity]}',
                                  '{"colibriClass":"X","a":' + "[" * 5000 + "]" * 5000 + "}"])
def test_what_json_parse_in_a_browser_refuses_is_refused(text):
    with pytest.raises(ChannelError):
        parse_message(text)


@given(text=st.text(max_size=300) | st.binary(max_size=300) | inputs(SAMPLES, max_size=300))
def test_parse_message_returns_an_object_with_a_string_colibri_class_or_raises_channel_error(text):
    try:
        message = parse_message(text)
    except ChannelError:
        return
    assert isinstance(message, dict) and isinstance(message["colibriClass"], str)
