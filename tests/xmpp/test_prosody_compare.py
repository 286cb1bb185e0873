"""Where the exact answer matters, Debian's Prosody and our server must give the same one."""

from __future__ import annotations

import re

import pytest

from tests.support.prosody import Prosody

from .test_hostile_tcp import CASES, exchange


@pytest.fixture(scope="module")
def prosody(tmp_path_factory):
    with Prosody(tmp_path_factory.mktemp("prosody-compare")) as server:
        yield server


@pytest.fixture
def settings_values() -> dict[str, str]:
    return {"PROSODY_DISABLE_C2S_LIMIT": "1"}


def condition_of(received: bytes) -> str | None:
    match = re.search(rb"<stream:error[^>]*>\s*<([a-z-]+)", received)
    return match.group(1).decode() if match else None


@pytest.mark.system
@pytest.mark.parametrize("name,data,condition", CASES, ids=[c[0] for c in CASES])
async def test_stream_errors_match_prosody(server, prosody, name, data, condition):
    ours = condition_of(await exchange(server.listening.c2s_port, data))
    theirs = condition_of(await exchange(prosody.c2s_port, data, timeout=2, silence_ok=True))
    assert ours == condition.decode()
    assert theirs == KNOWN_DIFFERENCES.get(name, ours), prosody.log()[-2000:]


# Where we are deliberately stricter than Prosody 0.12, and what Prosody answers instead:
KNOWN_DIFFERENCES: dict[str, str | None] = {
    # RFC 6120 §11.1 names restricted-xml for these; Prosody reports them as not-well-formed.
    "doctype": "not-well-formed",
    "processing instruction": "not-well-formed",
    "comment": "not-well-formed",
    # Prosody has no depth bound: the stream just stays open until the stanza size limit.
    "deep nesting": None,
    # Prosody has no attribute-count bound; it rejects the unknown top-level element instead.
    "many attributes": "unsupported-stanza-type",
    # Prosody answers a stanza sent before authentication with a stanza error and keeps the stream.
    "stanza before auth": None,
}
