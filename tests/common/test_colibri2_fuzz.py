"""Fuzzing the Colibri2 codec: the bridge parses what the focus sends (conference-modify with
endpoints, relays and sources), the focus what the bridge answers (conference-modified). The
contract (colibri2.py): a value or :class:`Colibri2Error`, nothing else; the element built from
a value parses without error, and building and parsing again changes nothing."""

from __future__ import annotations

from xml.etree.ElementTree import tostring

import pytest
from hypothesis import given, note

from jitsi_py.common.stanzas.colibri2 import (
    CONFERENCE_MODIFIED,
    Colibri2Error,
    error_reason,
    parse_conference_modified,
    parse_conference_modify,
)
from tests.support.fuzz import mutated_tree

from .samples import COLIBRI2, elements

pytestmark = pytest.mark.fuzz


@given(tree=mutated_tree(elements(COLIBRI2), max_edits=6))
def test_any_colibri2_element_parses_or_raises_colibri2_error_and_round_trips(tree):
    note(tostring(tree, encoding="unicode"))
    parse = parse_conference_modified if tree.tag == CONFERENCE_MODIFIED else parse_conference_modify
    try:
        value = parse(tree)
    except Colibri2Error:
        return
    built = parse(value.to_element())
    assert parse(built.to_element()) == built
    error_reason(tree)  # any element where an IQ error is expected: a reason or None
