"""The MUC and room modules inside the real server, driven by several slixmpp clients over TCP."""

from __future__ import annotations

import asyncio
import json
from xml.etree.ElementTree import Element, fromstring, tostring

from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from ..conftest import connect

MUC = "muc.meet.jitsi"
ROOM = f"standup@{MUC}"
MUC_USER = "http://jabber.org/protocol/muc#user"
JITMEET = "http://jitsi.org/jitmeet"


def close(*clients) -> None:
    """Drop the connections at once (the server must clean up as for a lost connection)."""
    for client in clients:
        client.abort()


class Inbox:
    """Every presence, message and IQ a client receives, awaited by predicate."""

    def __init__(self, client) -> None:
        self.client = client
        self.seen: list[Element] = []
        self.changed = asyncio.Event()
        client.add_event_handler("presence", self._add)
        # slixmpp's own "message" event needs a <body>; component JSON messages have none.
        client.register_handler(Callback("inbox", MatchXPath("{jabber:client}message"), self._add))

    def _add(self, stanza) -> None:
        self.seen.append(stanza.xml)
        self.changed.set()

    async def wait(self, predicate, timeout: float = 10.0) -> Element:
        async def scan() -> Element:
            start = 0
            while True:
                for el in self.seen[start:]:
                    if predicate(el):
                        self.seen.remove(el)
                        return el
                start = 0
                self.changed.clear()
                await self.changed.wait()
        try:
            return await asyncio.wait_for(scan(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError("not received; got: " + " ".join(tostring(el, encoding="unicode")
                                                                   for el in self.seen)) from None

    async def presence_from(self, jid: str, type_: str | None = None) -> Element:
        return await self.wait(lambda el: el.tag == "{jabber:client}presence" and el.get("from") == jid
                               and el.get("type") == type_)


def codes(el: Element) -> set[str]:
    return {s.get("code") for s in el.iter(f"{{{MUC_USER}}}status")}


def item(el: Element) -> Element:
    return el.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}item")


def join(client, nick: str, room: str = ROOM, extra: str = "") -> None:
    client.send_raw(f'<presence to="{room}/{nick}"><x xmlns="http://jabber.org/protocol/muc"/>'
                    f'<nick xmlns="http://jabber.org/protocol/nick">{nick.upper()}</nick>{extra}</presence>')


async def iq(client, xml: str):
    stanza = client.make_iq()
    el = fromstring(xml)
    stanza["type"] = el.get("type")
    stanza["to"] = el.get("to")
    for child in el:
        stanza.xml.append(child)
    return await stanza.send(timeout=10)


async def test_conference_with_focus_participants_iq_forwarding_and_kick(server):
    focus = await connect(server, "focus@auth.meet.jitsi", "focus-secret", plugins=("xep_0199",))
    alice = await connect(server, "meet.jitsi", mechanism="ANONYMOUS", plugins=("xep_0199",))
    bob = await connect(server, "meet.jitsi", mechanism="ANONYMOUS")
    inbox = {c: Inbox(c) for c in (focus, alice, bob)}
    try:
        # a join to a room nobody asked the focus for is refused as Prosody does (the client retries)
        join(bob, "bb22", room=f"elsewhere@{MUC}")
        refused = await inbox[bob].presence_from(f"elsewhere@{MUC}/bb22", "error")
        assert refused.findtext("{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}text") \
            == "Room creation is restricted"
        # alice asks the focus for the conference, then comes first: her join waits for the focus
        focus.send_presence()  # available: the proxy learns the focus's resource
        focus.register_handler(Callback("conference", MatchXPath(
            "{jabber:client}iq/{http://jitsi.org/protocol/focus}conference"), lambda stanza: stanza.reply().send()))
        await iq(alice, f'<iq type="set" to="focus.meet.jitsi"><conference '
                        f'xmlns="http://jitsi.org/protocol/focus" room="{ROOM}"/></iq>')
        join(alice, "aa11")
        await asyncio.sleep(0.2)
        assert not [el for el in inbox[alice].seen if el.tag.endswith("presence")]
        join(focus, "focus")
        own = await inbox[focus].presence_from(f"{ROOM}/focus")
        assert {"110", "201"} <= codes(own)
        seen_focus = await inbox[alice].presence_from(f"{ROOM}/focus")
        assert item(seen_focus).get("jid") == focus.boundjid.full
        assert "110" in codes(await inbox[alice].presence_from(f"{ROOM}/aa11"))
        join(bob, "bb22", extra="<stats-id>bobby</stats-id>")
        seen_bob = await inbox[alice].presence_from(f"{ROOM}/bb22")
        assert seen_bob.findtext("{jabber:client}stats-id") == "bobby"
        assert item(seen_bob).get("jid") == bob.boundjid.full

        # the focus reaches alice through the room, and her answer comes back
        await focus.plugin["xep_0199"].send_ping(f"{ROOM}/aa11", timeout=5)
        # owner to alice (moderator), then she kicks bob
        await iq(focus, f'<iq type="set" to="{ROOM}"><query xmlns="http://jabber.org/protocol/muc#admin">'
                        f'<item affiliation="owner" jid="{alice.boundjid.bare}"/></query></iq>')
        mine = await inbox[alice].wait(lambda el: el.get("from") == f"{ROOM}/aa11" and item(el) is not None
                                       and item(el).get("role") == "moderator")
        assert "110" in codes(mine)
        await iq(alice, f'<iq type="set" to="{ROOM}"><query xmlns="http://jabber.org/protocol/muc#admin">'
                        f'<item nick="bb22" role="none"/></query></iq>')
        kicked = await inbox[bob].presence_from(f"{ROOM}/bb22", "unavailable")
        assert codes(kicked) == {"110", "307"}
        assert codes(await inbox[focus].presence_from(f"{ROOM}/bb22", "unavailable")) == {"307"}

        # groupchat reaches everyone from the sender's occupant JID
        alice.send_raw(f'<message type="groupchat" to="{ROOM}"><body>hello</body></message>')
        said = await inbox[focus].wait(lambda el: el.tag.endswith("message") and el.get("type") == "groupchat"
                                       and el.findtext("{jabber:client}body") is not None)
        assert said.get("from") == f"{ROOM}/aa11"

        # alice's connection drops: the room sees her leave
    finally:
        close(alice)
    try:
        await inbox[focus].presence_from(f"{ROOM}/aa11", "unavailable")
    finally:
        close(focus, bob)


async def test_brewery_refuses_main_domain_users(server):
    jvb = await connect(server, "jvb@auth.meet.jitsi", "jvb-secret")
    eve = await connect(server, "meet.jitsi", mechanism="ANONYMOUS")
    inbox = {c: Inbox(c) for c in (jvb, eve)}
    brewery = "jvbbrewery@internal-muc.meet.jitsi"
    try:
        join(jvb, "jvb1", brewery)
        assert "110" in codes(await inbox[jvb].presence_from(f"{brewery}/jvb1"))
        join(eve, "eve", brewery)
        err = await inbox[eve].presence_from(f"{brewery}/eve", "error")
        assert err.find("{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}not-allowed") is not None
    finally:
        close(jvb, eve)


async def test_polls_through_the_component_use_the_session_identity(server):
    focus = await connect(server, "focus@auth.meet.jitsi", "focus-secret")
    alice = await connect(server, "meet.jitsi", mechanism="ANONYMOUS")
    bob = await connect(server, "meet.jitsi", mechanism="ANONYMOUS")
    inbox = {c: Inbox(c) for c in (focus, alice, bob)}
    try:
        join(focus, "focus")
        await inbox[focus].presence_from(f"{ROOM}/focus")
        join(alice, "aa11")
        join(bob, "bb22")
        await inbox[alice].presence_from(f"{ROOM}/aa11")
        await inbox[bob].presence_from(f"{ROOM}/bb22")
        lie = {"type": "polls", "command": "new-poll", "pollId": "p1", "question": "Lunch?",
               "answers": [{"name": "yes"}, {"name": "no"}], "senderId": "aa11", "senderName": "AA11"}
        bob.send_raw(f'<message type="chat" to="polls.meet.jitsi"><json-message xmlns="{JITMEET}">'
                     f'{json.dumps(lie)}</json-message></message>')
        got = await inbox[alice].wait(lambda el: el.get("from") == "polls.meet.jitsi")
        poll = json.loads(got.findtext(f"{{{JITMEET}}}json-message"))
        assert poll["senderId"] == "bb22" and poll["senderName"] == "BB22"
    finally:
        close(focus, alice, bob)


async def test_conference_request_through_the_focus_proxy(server):
    focus = await connect(server, "focus@auth.meet.jitsi", "focus-secret")
    alice = await connect(server, "meet.jitsi", mechanism="ANONYMOUS")
    try:
        focus.send_presence()  # available: the proxy learns the focus's resource

        def answer(stanza) -> None:
            reply = stanza.reply()
            reply.xml.append(Element("{http://jitsi.org/protocol/focus}conference",
                                     {"room": ROOM, "ready": "true", "focusjid": "focus@auth.meet.jitsi"}))
            reply.send()

        focus.register_handler(Callback("conference", MatchXPath(
            "{jabber:client}iq/{http://jitsi.org/protocol/focus}conference"), answer))
        reply = await iq(alice, f'<iq type="set" to="focus.meet.jitsi"><conference '
                                f'xmlns="http://jitsi.org/protocol/focus" room="{ROOM}" machine-uid="m1"/></iq>')
        assert reply["from"] == "focus.meet.jitsi"
        assert reply.xml.find("{http://jitsi.org/protocol/focus}conference").get("ready") == "true"
    finally:
        close(focus, alice)


async def test_tenant_room_through_the_router(server):
    focus = await connect(server, "focus@auth.meet.jitsi", "focus-secret")
    alice = await connect(server, "meet.jitsi", mechanism="ANONYMOUS")
    inbox = {c: Inbox(c) for c in (focus, alice)}
    internal, external = f"[acme]standup@{MUC}", "standup@muc.acme.meet.jitsi"
    try:
        join(focus, "focus", internal)
        await inbox[focus].presence_from(f"{internal}/focus")
        join(alice, "aa11", external)
        assert "110" in codes(await inbox[alice].presence_from(f"{external}/aa11"))
        await inbox[alice].presence_from(f"{external}/focus")
        await inbox[focus].presence_from(f"{internal}/aa11")
    finally:
        close(focus, alice)
