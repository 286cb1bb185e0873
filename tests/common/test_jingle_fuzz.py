"""Fuzzing the Jingle codec (what participants send the focus: session-accept, source-add/remove,
session-info, transport-info, terminate). The contract (jingle.py): ``parse_jingle`` returns a
:class:`Jingle` or raises :class:`JingleError`, nothing else; the element built from what it
returns parses without error, and building and parsing again changes nothing (what a hostile
stanza carries beyond what the codec writes, e.g. a reason text without a reason, is dropped
once)."""

from __future__ import annotations

from xml.etree.ElementTree import tostring

import pytest
from hypothesis import given, note

from jitsi_py.common.stanzas.jingle import JingleError, parse_jingle
from tests.support.fuzz import mutated_tree

from .samples import JINGLE, elements

pytestmark = pytest.mark.fuzz


@given(tree=mutated_tree(elements(JINGLE), max_edits=6))
def test_any_jingle_parses_or_raises_jingle_error_and_what_we_build_of_it_is_stable(tree):
    note(tostring(tree, encoding="unicode"))
    try:
        jingle = parse_jingle(tree)
    except JingleError:
        return
    built = parse_jingle(jingle.to_element())
    assert parse_jingle(built.to_element()) == built
