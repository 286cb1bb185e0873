"""Breakout rooms through the real server: the router's timers close rooms once their time is up."""

from __future__ import annotations

import json

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from jitsi_py.xmpp.rooms import breakout_rooms

from ..conftest import connect
from ..muc.test_live import MUC_USER, ROOM, Inbox, close, iq, join

JITMEET = "http://jitsi.org/jitmeet"
BREAKOUT = "breakout.meet.jitsi"


def destroy_of(el):
    return el.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}destroy")


async def test_breakout_room_and_then_the_conference_go_once_empty(server, monkeypatch):
    # Upstream waits 5 s; short here, the test still only waits for events, never for a time.
    monkeypatch.setattr(breakout_rooms, "EMPTY_ROOM_TTL", 0.3)
    monkeypatch.setattr(breakout_rooms, "ROOMS_TTL_IF_ALL_LEFT", 2.0)  # outlasts a move
    focus = await connect(server, "focus@auth.meet.jitsi", "focus-secret")
    alice = await connect(server, "meet.jitsi", mechanism="ANONYMOUS")
    inbox = {c: Inbox(c) for c in (focus, alice)}
    try:
        # the main domain names the conference duration component, as clients before 2024 need
        info = await iq(alice, '<iq type="get" to="meet.jitsi"><query xmlns="http://jabber.org/protocol/disco#info"/>'
                               '</iq>')
        identities = {(i.get("type"), i.get("name")) for i in info.xml.iter(
            "{http://jabber.org/protocol/disco#info}identity")}
        assert ("conference_duration", "conferenceduration.meet.jitsi") in identities
        focus.send_presence()
        focus.register_handler(Callback("conference", MatchXPath(
            "{jabber:client}iq/{http://jitsi.org/protocol/focus}conference"), lambda stanza: stanza.reply().send()))
        join(focus, "focus")
        await inbox[focus].presence_from(f"{ROOM}/focus")
        join(alice, "aa11")
        await inbox[alice].presence_from(f"{ROOM}/aa11")
        await iq(focus, f'<iq type="set" to="{ROOM}"><query xmlns="http://jabber.org/protocol/muc#admin">'
                        f'<item affiliation="owner" jid="{alice.boundjid.bare}"/></query></iq>')
        alice.send_raw(f'<message to="{BREAKOUT}"><breakout_rooms xmlns="jabber:client" '
                       f'type="features/breakout-rooms/add" subject="Side"/></message>')
        update = await inbox[alice].wait(lambda el: el.get("from") == BREAKOUT)
        rooms = json.loads(update.findtext(f"{{{JITMEET}}}json-message"))["rooms"]
        [side] = [jid for jid, r in rooms.items() if not r.get("isMainRoom")]

        # alice goes to the breakout room (the focus there too) and back: it goes by itself
        await iq(alice, f'<iq type="set" to="focus.meet.jitsi"><conference '
                        f'xmlns="http://jitsi.org/protocol/focus" room="{side}"/></iq>')
        alice.send_raw(f'<presence type="unavailable" to="{ROOM}/aa11"/>')
        join(focus, "focus", room=side)
        join(alice, "aa11", room=side)
        await inbox[alice].presence_from(f"{side}/aa11")
        alice.send_raw(f'<presence type="unavailable" to="{side}/aa11"/>')
        join(alice, "aa11")
        await inbox[alice].presence_from(f"{ROOM}/aa11")
        gone = await inbox[focus].presence_from(f"{side}/focus", "unavailable")
        assert destroy_of(gone).get("jid") == ROOM
        assert server.router.components[BREAKOUT].get_room(side) is None

        # alice leaves for good: the conference closes, the focus is told
        alice.send_raw(f'<presence type="unavailable" to="{ROOM}/aa11"/>')
        ended = await inbox[focus].presence_from(f"{ROOM}/focus", "unavailable")
        assert destroy_of(ended).findtext(f"{{{MUC_USER}}}reason") == "All occupants left."
        assert server.router.components["muc.meet.jitsi"].get_room(ROOM) is None
    finally:
        close(focus, alice)
