"""Fuzzing what the bridge does with a Colibri2 request (``colibri2.handle``), past the codec: the
conference create, endpoint create and update (transport, fingerprints, candidates, media,
sources, force-mute), relays and their endpoints, expire. Requests are the real shapes mutated
structurally, sent in sequence to one conference so updates meet existing state. The contract:
an answer or :class:`Colibri2Failure`; nothing else (the XMPP side answers a failure with an IQ
error and anything else with a generic one, losing the reason)."""

from __future__ import annotations

import asyncio
from xml.etree.ElementTree import fromstring, tostring

import pytest
from hypothesis import example, given, note, strategies as st

from jitsi_py.bridge.colibri2 import Colibri2Failure, handle
from jitsi_py.common.stanzas.colibri2 import Colibri2Error, parse_conference_modify
from tests.common.samples import RELAY_MODIFY
from tests.common.test_colibri2 import CREATE, UPDATE
from tests.support.fuzz import mutated_tree

from .memory import bridge_in_memory

pytestmark = pytest.mark.fuzz

MEETING = "m1"
SAMPLES = [fromstring(text.replace('meeting-id="0b9d3c62-7f3e-4c39-9d55-6c2f5b1e8f11"', f'meeting-id="{MEETING}"'))
           for text in (CREATE, UPDATE, RELAY_MODIFY)]
EXPIRE = fromstring(f'<conference-modify xmlns="jitsi:colibri2" meeting-id="{MEETING}" expire="true"/>')


async def apply(requests) -> None:
    memory = bridge_in_memory()  # its own conference ("fuzz") stays untouched by these
    bridge = memory.bridge
    try:
        for i, tree in enumerate(requests):
            note(tostring(tree, encoding="unicode"))
            try:
                request = parse_conference_modify(tree)
            except Colibri2Error:
                continue
            try:
                handle(bridge, request, float(i))
            except Colibri2Failure:
                pass
            await asyncio.sleep(0)  # a relay's own port opens on the loop (use-unique-port)
        assert bridge.conferences["fuzz"] is memory.conference
    finally:
        for conference in [c for c in bridge.conferences.values() if c is not memory.conference]:
            bridge.expire_conference(conference)
        memory.close()
        await asyncio.sleep(0)


@given(requests=st.lists(mutated_tree(SAMPLES + [EXPIRE], max_edits=5), min_size=1, max_size=6))
@example(requests=SAMPLES + [EXPIRE])
def test_any_request_is_answered_or_fails_with_colibri2_failure(requests):
    asyncio.run(apply(requests))
