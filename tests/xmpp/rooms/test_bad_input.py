"""Hostile and malformed stanzas to every hosted component: an error answer or silence, never an
exception, and the conference keeps working."""

import pytest

from ..muc.harness import q
from .stack import FOCUS, ROOM, Stack, presences

ALICE, EVE = "alice@meet.jitsi/a", "eve@meet.jitsi/e"
BAD = [
    '<presence to="{room}/"/>',
    '<presence to="{room}/x" type="error"/>',
    '<presence to="muc.meet.jitsi"/>',
    '<presence to="{room}/aa11"/>',  # eve takes alice's nick
    '<iq type="set" id="1" to="{room}"/>',
    '<iq type="set" id="2" to="{room}"><query xmlns="http://jabber.org/protocol/muc#admin"/></iq>',
    '<iq type="set" id="3" to="{room}"><query xmlns="http://jabber.org/protocol/muc#admin">'
    '<item role="god" nick="aa11"/></query></iq>',
    '<iq type="set" id="4" to="{room}"><query xmlns="http://jabber.org/protocol/muc#owner">'
    '<x xmlns="jabber:x:data" type="submit"/></query></iq>',
    '<iq type="get" id="5" to="{room}/nobody"><ping xmlns="urn:xmpp:ping"/></iq>',
    '<iq type="result" id="6" to="{room}/aa11"/>',
    '<iq type="get" id="7" to="nosuch@muc.meet.jitsi"><query xmlns="http://jabber.org/protocol/disco#info"/></iq>',
    '<iq type="get" id="8" to="muc.meet.jitsi"><query xmlns="http://jabber.org/protocol/disco#info" node="x"/></iq>',
    '<message to="{room}"><x xmlns="http://jabber.org/protocol/muc#user"><invite/></x></message>',
    '<message to="{room}" type="groupchat"><subject>hijack</subject></message>',
    '<message to="{room}/focus" type="groupchat"><body>x</body></message>',
    '<message to="nosuch@muc.meet.jitsi" type="groupchat"><body>x</body></message>',
    '<message to="polls.meet.jitsi"><json-message xmlns="http://jitsi.org/jitmeet">not json</json-message></message>',
    '<message to="polls.meet.jitsi"><json-message xmlns="http://jitsi.org/jitmeet">[1,2]</json-message></message>',
    '<message to="polls.meet.jitsi"><json-message xmlns="http://jitsi.org/jitmeet">{{"type":"polls","command":"answer-poll","pollId":"zz","answers":[1]}}</json-message></message>',
    '<message to="polls.meet.jitsi"><json-message xmlns="http://jitsi.org/jitmeet">{{"type":"polls","command":"new-poll","pollId":5,"question":"?","answers":"no"}}</json-message></message>',
    '<message to="polls.meet.jitsi"><json-message xmlns="http://jitsi.org/jitmeet">'
    '{{"type":"polls","command":"answer-poll","pollId":["p"],"answers":[true]}}</json-message></message>',
    '<message to="avmoderation.meet.jitsi"><av_moderation enable="true" mediaType="smell"/></message>',
    '<message to="avmoderation.meet.jitsi"><av_moderation/></message>',
    '<message to="metadata.meet.jitsi"><room_metadata xmlns="http://jitsi.org/jitmeet" room="{room}">'
    '{{"key":1}}</room_metadata></message>',
    '<message to="breakout.meet.jitsi">'
    '<breakout_rooms type="features/breakout-rooms/remove" breakoutRoomJid="x"/></message>',
    '<message to="breakout.meet.jitsi"><breakout_rooms type="nonsense"/></message>',
    '<message to="speakerstats.meet.jitsi"><speakerstats xmlns="http://jitsi.org/jitmeet" room="nowhere"/></message>',
    '<iq type="set" id="9" to="speakerstats.meet.jitsi"><query xmlns="urn:x"/></iq>',
    '<iq type="get" id="10" to="focus.meet.jitsi"/>',
    '<presence to="focus.meet.jitsi"/>',
    '<message to="endconference.meet.jitsi"><end_conference/></message>',
]


@pytest.mark.parametrize("sender", [ALICE, EVE])
def test_bad_input_gets_errors_and_the_room_keeps_working(sender):
    s = Stack()
    s.focus_joins()
    s.join(ALICE, "aa11")
    s.take()
    for text in BAD:
        s.send(sender, text.format(room=ROOM))  # must not raise
    s.take()
    s.join("bob@meet.jitsi/b", "bb22")
    assert any(p.get("from") == f"{ROOM}/bb22" for p in presences(s.take("bob@meet.jitsi/b")))
    s.send(ALICE, f'<message to="{ROOM}" type="groupchat"><body>still here</body></message>')
    assert [m.findtext(q("body")) for m in s.take(FOCUS) if m.tag == q("message")] == ["still here"]
