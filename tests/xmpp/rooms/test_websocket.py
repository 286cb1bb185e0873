"""Room modules through the real server for WebSocket (RFC 7395) clients, as the browser connects:
the components find the conference from the connection URL's ?room=."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

import aiohttp

from ..conftest import connect

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
MUC_USER = "http://jabber.org/protocol/muc#user"
JITMEET = "http://jitsi.org/jitmeet"
ROOM = "standup@muc.meet.jitsi"


class WsClient:
    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http, self.ws, self.jid = http, ws, ""

    @classmethod
    async def login(cls, server, **query: str) -> "WsClient":
        http = aiohttp.ClientSession()
        url = f"ws://127.0.0.1:{server.listening.http_port}/xmpp-websocket?{urlencode(query)}"
        client = cls(http, await http.ws_connect(url, protocols=("xmpp",)))
        await client.open()
        await client.send(f'<auth xmlns="{SASL}" mechanism="ANONYMOUS"/>')
        assert (await client.next()).tag == f"{{{SASL}}}success"
        await client.open()
        await client.send(f'<iq xmlns="jabber:client" type="set" id="b1"><bind xmlns="{BIND}"/></iq>')
        client.jid = (await client.next()).find(f".//{{{BIND}}}jid").text
        return client

    async def open(self) -> None:
        await self.send(f'<open xmlns="{FRAMING}" to="meet.jitsi" version="1.0"/>')
        assert (await self.next()).tag == f"{{{FRAMING}}}open"
        await self.next()  # features

    async def send(self, xml: str) -> None:
        await self.ws.send_str(xml)

    async def next(self) -> ET.Element:
        message = await self.ws.receive(timeout=10)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        return ET.fromstring(message.data)

    async def until(self, predicate) -> ET.Element:
        while True:
            el = await self.next()
            if predicate(el):
                return el

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()


def own_presence(nick: str):
    return lambda el: el.tag == "{jabber:client}presence" and el.get("from") == f"{ROOM}/{nick}"


async def test_websocket_moderator_uses_components_found_by_room_query(server):
    focus = await connect(server, "focus@auth.meet.jitsi", "focus-secret")
    alice = await WsClient.login(server, room="standup")
    bob = await WsClient.login(server, room="standup")
    try:
        await alice.send(f'<presence xmlns="jabber:client" to="{ROOM}/aa11"><x xmlns="http://jabber.org/protocol/muc"/>'
                         f'<nick xmlns="http://jabber.org/protocol/nick">Alice</nick></presence>')
        focus.send_raw(f'<presence to="{ROOM}/focus"><x xmlns="http://jabber.org/protocol/muc"/></presence>')
        await alice.until(own_presence("aa11"))
        await bob.send(f'<presence xmlns="jabber:client" to="{ROOM}/bb22"><x xmlns="http://jabber.org/protocol/muc"/>'
                       f'</presence>')
        await bob.until(own_presence("bb22"))
        focus.send_raw(f'<iq type="set" id="own" to="{ROOM}"><query xmlns="http://jabber.org/protocol/muc#admin">'
                       f'<item affiliation="owner" jid="{alice.jid.split("/")[0]}"/></query></iq>')
        await alice.until(lambda el: own_presence("aa11")(el) and el.find(
            f"{{{MUC_USER}}}x/{{{MUC_USER}}}item").get("role") == "moderator")

        # breakout management: the component finds the room from alice's ?room=
        await alice.send('<message xmlns="jabber:client" to="breakout.meet.jitsi"><breakout_rooms '
                         'type="features/breakout-rooms/add" subject="Side"/></message>')
        update = await bob.until(lambda el: el.get("from") == "breakout.meet.jitsi")
        payload = json.loads(update.findtext(f"{{{JITMEET}}}json-message"))
        assert [r["name"] for r in payload["rooms"].values()] == ["standup", "Side"]

        # end the meeting for everyone
        await alice.send('<message xmlns="jabber:client" to="endconference.meet.jitsi"><end_conference/></message>')
        gone = await bob.until(lambda el: el.get("type") == "unavailable" and el.get("from") == f"{ROOM}/bb22")
        assert gone.find(f"{{{MUC_USER}}}x/{{{MUC_USER}}}destroy") is not None
        assert ROOM not in server.router.components["muc.meet.jitsi"].rooms
    finally:
        focus.abort()
        await alice.close()
        await bob.close()
        await asyncio.sleep(0)
