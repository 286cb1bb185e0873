"""Virtual hosts as docker assigns them: anonymous main domain, or passwords plus a guest domain."""

from __future__ import annotations

import pytest

from jitsi_py.xmpp.auth.internal import shared_store

from .conftest import connect, disconnect


@pytest.fixture
def settings_values() -> dict[str, str]:
    return {"ENABLE_AUTH": "1", "ENABLE_GUESTS": "1", "AUTH_TYPE": "internal"}


async def test_auth_enabled_main_domain_needs_a_password_and_guests_go_anonymous(server):
    with pytest.raises(AssertionError):
        await connect(server, "meet.jitsi", mechanism="ANONYMOUS")
    shared_store(server.settings).set_password("alice", "meet.jitsi", "wonderland")
    alice = await connect(server, "alice@meet.jitsi", "wonderland", "SCRAM-SHA-1")
    guest = await connect(server, "guest.meet.jitsi", mechanism="ANONYMOUS")
    try:
        assert alice.boundjid.bare == "alice@meet.jitsi"
        assert guest.boundjid.domain == "guest.meet.jitsi" and len(guest.boundjid.user) == 36
        assert server.router.sessions[guest.boundjid.full].origin.anonymous
        assert not server.router.sessions[alice.boundjid.full].origin.anonymous
    finally:
        await disconnect(alice, guest)


async def test_service_accounts_are_marked_and_the_hidden_domain_takes_passwords(server):
    focus = await connect(server, "focus@auth.meet.jitsi", "focus-secret")
    shared_store(server.settings).set_password("recorder", "hidden.meet.jitsi", "rec")
    recorder = await connect(server, "recorder@hidden.meet.jitsi", "rec")
    try:
        assert server.router.sessions[focus.boundjid.full].origin.service_account
        assert server.router.sessions[recorder.boundjid.full].origin.service_account
    finally:
        await disconnect(focus, recorder)
