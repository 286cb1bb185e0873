"""The meeting client's own pieces that need no network."""

from __future__ import annotations

from jitsi_py.common.meeting.client import BASE_FEATURES, caps_ver, disco_info
from jitsi_py.common.stanzas.jitsi import FEATURE_VIDEO
from jitsi_py.focus.caps import verify


def test_our_disco_answer_hashes_to_the_caps_ver_of_our_presence():
    """So the focus may cache it for every later meeting client (docs/focus.md §2.2)."""
    for features in (BASE_FEATURES, BASE_FEATURES + (FEATURE_VIDEO,)):
        assert verify(disco_info(features, "https://github.com/jitsi-py/meeting#x"), "sha-1", caps_ver(features))
    assert caps_ver(BASE_FEATURES) != caps_ver(BASE_FEATURES + (FEATURE_VIDEO,))
