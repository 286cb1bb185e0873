"""A stand-in focus for client tests on a plain Prosody: it answers the conference request with
ready="true" and nothing else (no Jingle, no bridge), so the MUC side of the client can be tested
before our focus and bridge host meetings."""

from __future__ import annotations

import asyncio
import contextlib
import re
import xml.etree.ElementTree as ET

import websockets

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
FOCUS_NS = "{http://jitsi.org/protocol/focus}"


class FakeFocus:
    def __init__(self, ws_url: str, domain: str = "meet.jitsi") -> None:
        self.ws_url = ws_url
        self.domain = domain
        self.jid = ""
        self.requests: list[str] = []
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> "FakeFocus":
        self.ws = await websockets.connect(self.ws_url, subprotocols=["xmpp"])
        await self._open()
        await self._expect("mechanism")
        await self.ws.send('<auth xmlns="urn:ietf:params:xml:ns:xmpp-sasl" mechanism="ANONYMOUS">=</auth>')
        await self._expect("success")
        await self._open()
        await self._expect("bind")
        await self.ws.send('<iq xmlns="jabber:client" type="set" id="b1">'
                           '<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>')
        bound = await self._expect("<jid>")
        self.jid = re.search(r"<jid>([^<]+)</jid>", bound).group(1)
        self._task = asyncio.ensure_future(self._serve())
        return self

    async def __aexit__(self, *exc) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.ws.close()

    async def _open(self) -> None:
        await self.ws.send(f'<open xmlns="{FRAMING}" to="{self.domain}" version="1.0"/>')

    async def _expect(self, marker: str) -> str:
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), 10)
            if marker in frame:
                return frame

    async def _serve(self) -> None:
        async for frame in self.ws:
            iq = ET.fromstring(frame)
            conference = iq.find(f"{FOCUS_NS}conference")
            if iq.tag.endswith("iq") and iq.get("type") == "set" and conference is not None:
                room = conference.get("room")
                self.requests.append(room)
                await self.ws.send(
                    f'<iq xmlns="jabber:client" type="result" to="{iq.get("from")}" id="{iq.get("id")}">'
                    f'<conference xmlns="http://jitsi.org/protocol/focus" room="{room}" ready="true" '
                    f'focusjid="{self.jid.split("/")[0]}"/></iq>')
