"""Fuzzing Jitsi's own extensions as the focus reads them: the conference and logout IQs, the mute
IQ, a participant's presence (regions, caps, SourceInfo JSON), a bridge's stats presence, and the
compact JSON sources of ``<json-message>``. The contract (jitsi.py): a value or
:class:`JitsiStanzaError`; the presence and stats readers never raise."""

from __future__ import annotations

import json
from xml.etree.ElementTree import fromstring

import pytest
from hypothesis import example, given, strategies as st

from jitsi_py.common.stanzas.jitsi import (
    ConferenceIq,
    JitsiStanzaError,
    LogoutIq,
    MuteIq,
    ParticipantPresence,
    bridge_stats,
    decode_sources,
    encode_sources,
)
from tests.support.fuzz import inputs, mutated_tree

from .samples import JITSI, SOURCES_JSON, elements

pytestmark = pytest.mark.fuzz

READERS = [ConferenceIq.from_element, LogoutIq.from_element, MuteIq.from_element]


DEEP = "[" * 5000 + "]" * 5000


@given(tree=mutated_tree(elements(JITSI), max_edits=6))
# SourceInfo nested past the recursion limit: RecursionError out of the focus's presence handler.
@example(tree=fromstring(f"<presence><SourceInfo>{DEEP}</SourceInfo></presence>"))
def test_any_element_reads_as_each_extension_or_raises_jitsi_stanza_error(tree):
    for read in READERS:
        try:
            read(tree)
        except JitsiStanzaError:
            pass
    ParticipantPresence.from_element(tree)
    stats = bridge_stats(tree)
    assert stats is None or all(isinstance(k, str) and isinstance(v, str) for k, v in stats.items())


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6) | st.floats(allow_nan=False),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                               st.sampled_from(["s", "n", "m", "v", "sources", "jvb", "a"]), inner, max_size=4),
                           max_leaves=16)


@given(text=st.one_of(inputs([SOURCES_JSON.encode()], max_size=200).map(lambda b: b.decode("utf-8", "replace")),
                      json_values.map(json.dumps),
                      json_values.map(lambda v: json.dumps({"sources": {"e": v}}))))
@example(text=SOURCES_JSON)
# Each raised TypeError or RecursionError out of the focus's Jingle handler.
@example(text='{"sources":' + DEEP + "}")
@example(text='{"sources":{"a":[1,[],[]]}}')
@example(text='{"sources":{"a":[[],[[[1],2]],[]]}}')
@example(text='{"sources":{"a":[[],[],[],5]}}')
# Refused since: what the XML form cannot carry either (the bridge refuses such an SSRC).
@example(text='{"sources":{"a":[[{"s":-1}],[],[]]}}')
@example(text='{"sources":{"a":[[{"s":4294967296}],[["s",1,true]],[]]}}')
@example(text='{"sources":{"a":[[{"s":1,"n":["x"],"m":{}}],[],[]]}}')
def test_any_json_message_decodes_to_sources_or_raises_jitsi_stanza_error(text):
    try:
        by_owner = decode_sources(text)
    except JitsiStanzaError:
        return
    for sources, groups in by_owner.values():
        assert all(0 <= s.ssrc < 1 << 32 and isinstance(s.name, (str, type(None))) for s in sources)
        assert all(0 <= ssrc < 1 << 32 for group in groups for ssrc in group.ssrcs)
    assert decode_sources(encode_sources(by_owner)) == by_owner
