"""The MUC's hook registry: events are Hook members, a misspelt name fails at registration."""

import pytest

from jitsi_py.xmpp.muc.hooks import Hook, Hooks


def test_a_hook_name_that_is_not_a_member_is_refused_when_registering():
    hooks = Hooks()
    with pytest.raises(ValueError, match="unknown MUC hook 'ocupant-joined'"):
        hooks.on("ocupant-joined", lambda room, occupant: None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown MUC hook"):
        hooks.on("occupant-joined", lambda room, occupant: None)  # type: ignore[arg-type]


def test_handlers_run_in_registration_order_and_results_are_gathered():
    hooks = Hooks()
    seen = []
    hooks.on(Hook.OCCUPANT_JOINED, lambda room, occupant: seen.append(("first", room)))
    hooks.on(Hook.OCCUPANT_JOINED, lambda room, occupant: seen.append(("second", room)))
    hooks.fire(Hook.OCCUPANT_JOINED, "r", "o")
    assert seen == [("first", "r"), ("second", "r")]
    hooks.on(Hook.ROOMINFO, lambda room: None)
    hooks.on(Hook.ROOMINFO, lambda room: [("var", room)])
    assert hooks.collect(Hook.ROOMINFO, "r") == [[("var", "r")]]
    assert not hooks.any(Hook.KEEP_EMPTY, "r")
    hooks.on(Hook.KEEP_EMPTY, lambda room: False)
    hooks.on(Hook.KEEP_EMPTY, lambda room: True)
    assert hooks.any(Hook.KEEP_EMPTY, "r")
