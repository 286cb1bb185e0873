"""Lobby and join errors through the real server with several slixmpp clients."""

from __future__ import annotations

import json

import pytest

from ..conftest import connect
from ..muc.test_live import MUC_USER, ROOM, Inbox, close, codes, iq, join

JITMEET = "http://jitsi.org/jitmeet"
LOBBY = "standup@lobby.meet.jitsi"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


@pytest.fixture
def settings_values():
    return {"MAX_PARTICIPANTS": "3"}


def error_condition(el) -> str:
    error = el.find("{jabber:client}error")
    return next(c.tag.split("}")[1] for c in error
                if c.tag.startswith(f"{{{STANZAS}}}") and not c.tag.endswith("}text"))


def configure(fields: dict) -> str:
    body = "".join(f'<field var="{k}"><value>{v}</value></field>' for k, v in fields.items())
    return (f'<iq type="set" to="{ROOM}"><query xmlns="http://jabber.org/protocol/muc#owner">'
            f'<x xmlns="jabber:x:data" type="submit">{body}</x></query></iq>')


def lobby_event(el) -> dict | None:
    text = el.findtext(f"{{{JITMEET}}}json-message")
    return json.loads(text) if text and el.get("type") == "groupchat" else None


async def test_lobby_knock_approve_deny_and_join_errors(server):
    focus = await connect(server, "focus@auth.meet.jitsi", "focus-secret")
    alice, bob, carol, dave = [await connect(server, "meet.jitsi", mechanism="ANONYMOUS") for _ in range(4)]
    inbox = {c: Inbox(c) for c in (focus, alice, bob, carol, dave)}
    try:
        join(focus, "focus")
        await inbox[focus].presence_from(f"{ROOM}/focus")
        join(alice, "aa11")
        await inbox[alice].presence_from(f"{ROOM}/aa11")
        await iq(focus, f'<iq type="set" to="{ROOM}"><query xmlns="http://jabber.org/protocol/muc#admin">'
                        f'<item affiliation="owner" jid="{alice.boundjid.bare}"/></query></iq>')
        await iq(alice, configure({"muc#roomconfig_membersonly": "true"}))
        enabled = await inbox[alice].wait(lambda el: (lobby_event(el) or {}).get("event") == "LOBBY-ENABLED")
        assert lobby_event(enabled)["value"] is True

        # bob has no display name, then knocks with one
        bob.send_raw(f'<presence to="{ROOM}/bb22"><x xmlns="http://jabber.org/protocol/muc"/></presence>')
        refused = await inbox[bob].presence_from(f"{ROOM}/bb22", "error")
        assert error_condition(refused) == "not-acceptable"
        join(bob, "bb22")
        refused = await inbox[bob].presence_from(f"{ROOM}/bb22", "error")
        assert error_condition(refused) == "registration-required"
        assert refused.findtext(f"{{jabber:client}}error/{{{JITMEET}}}lobbyroom") == LOBBY
        join(bob, "bb22", LOBBY)
        await inbox[bob].presence_from(f"{LOBBY}/bb22")
        join(alice, "aa11", LOBBY)
        await inbox[alice].presence_from(f"{LOBBY}/bb22")

        # approve bob: he is invited, becomes a member and enters
        alice.send_raw(f'<message to="{ROOM}"><x xmlns="{MUC_USER}"><invite to="{bob.boundjid.full}"/></x></message>')
        await inbox[bob].wait(lambda el: el.get("from") == ROOM
                              and el.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}invite") is not None)
        granted = await inbox[alice].wait(lambda el: (lobby_event(el) or {}).get("event") == "LOBBY-ACCESS-GRANTED")
        assert lobby_event(granted)["value"] == f"{LOBBY}/bb22"
        bob.send_raw(f'<presence type="unavailable" to="{LOBBY}/bb22"/>')
        join(bob, "bb22")
        assert "110" in codes(await inbox[bob].presence_from(f"{ROOM}/bb22"))

        # deny carol: kicked from the lobby
        join(carol, "cc33", LOBBY)
        await inbox[alice].presence_from(f"{LOBBY}/cc33")
        await iq(alice, f'<iq type="set" to="{LOBBY}"><query xmlns="http://jabber.org/protocol/muc#admin">'
                        f'<item nick="cc33" role="none"/></query></iq>')
        assert "307" in codes(await inbox[carol].presence_from(f"{LOBBY}/cc33", "unavailable"))
        denied = await inbox[alice].wait(lambda el: (lobby_event(el) or {}).get("event") == "LOBBY-ACCESS-DENIED")
        assert lobby_event(denied)["value"] == f"{LOBBY}/cc33"

        # lobby off, password on: a wrong password is refused; the room is full at 3
        await iq(alice, configure({"muc#roomconfig_membersonly": "false", "muc#roomconfig_roomsecret": "pw",
                                   "muc#roomconfig_passwordprotectedroom": "1"}))
        join(carol, "cc33")
        assert error_condition(await inbox[carol].presence_from(f"{ROOM}/cc33", "error")) == "not-authorized"
        carol.send_raw(f'<presence to="{ROOM}/cc33"><x xmlns="http://jabber.org/protocol/muc">'
                       f'<password>pw</password></x></presence>')
        await inbox[carol].presence_from(f"{ROOM}/cc33")
        dave.send_raw(f'<presence to="{ROOM}/dd44"><x xmlns="http://jabber.org/protocol/muc">'
                      f'<password>pw</password></x></presence>')
        full = await inbox[dave].presence_from(f"{ROOM}/dd44", "error")
        assert error_condition(full) == "service-unavailable"
    finally:
        close(focus, alice, bob, carol, dave)
