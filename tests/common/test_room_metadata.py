"""What the room metadata says about transcription (docs/transcription.md §2)."""

import pytest

from jitsi_py.common.stanzas.room_metadata import metadata_of, transcribing_enabled, transcription_requested


@pytest.mark.parametrize("metadata, enabled, requested", [
    ({"recording": {"isTranscribingEnabled": True}}, True, True),
    ({"recording": {"isTranscribingEnabled": False}, "visitors": {"transcribingCount": 2}}, False, True),
    ({"visitors": {"transcribingCount": 0}}, False, False),
    ({}, False, False),
    # what a client may put there that is not a request
    ({"recording": {"isTranscribingEnabled": "true"}}, False, False),
    ({"recording": [True], "visitors": {"transcribingCount": True}}, False, False),
    ({"visitors": {"transcribingCount": "3"}}, False, False),
    (None, False, False),
])
def test_what_asks_for_transcription(metadata, enabled, requested):
    assert transcribing_enabled(metadata) is enabled
    assert transcription_requested(metadata) is requested


def test_only_the_components_messages_carry_metadata():
    assert metadata_of({"type": "room_metadata", "metadata": {"a": 1}}) == {"a": 1}
    assert metadata_of({"type": "room_metadata", "metadata": "x"}) == {}
    assert metadata_of({"type": "av_moderation", "metadata": {"a": 1}}) is None
    assert metadata_of(["room_metadata"]) is None
