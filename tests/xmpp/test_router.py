"""Addressing at the router, the one place every stanza's ``to`` is read: a bad JID is refused at once."""

from __future__ import annotations

import asyncio
import time

import pytest

from .test_http_transports import ws_login

MUC = "muc.meet.jitsi"


@pytest.mark.parametrize("stanza", [
    f"<presence to='{'x' * 3000}@{MUC}/nick'><x xmlns='http://jabber.org/protocol/muc'/></presence>",
    f"<iq type='get' id='q1' to='{'é' * 600}@{MUC}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
    f"<message type='chat' id='m1' to='room@{MUC}/{'€' * 400}'><body>hi</body></message>",
    f"<message type='chat' id='m2' to='room@{MUC}/'><body>hi</body></message>",
    "<iq type='get' id='q2' to='@meet.jitsi'><ping xmlns='urn:xmpp:ping'/></iq>",
    f"<message type='chat' id='m3' to='a b@{MUC}'><body>hi</body></message>",
], ids=["3000-octet room", "1200-octet localpart", "1200-octet resource", "empty resource", "empty localpart",
        "space in localpart"])
async def test_a_malformed_to_gets_jid_malformed_at_once(server, stanza):
    ws, jid = await ws_login(server)
    try:
        began = time.monotonic()
        await ws.send(stanza.replace("<presence ", "<presence xmlns='jabber:client' ", 1)
                      .replace("<iq ", "<iq xmlns='jabber:client' ", 1)
                      .replace("<message ", "<message xmlns='jabber:client' ", 1))
        reply = await asyncio.wait_for(ws.recv(), 5)
        assert time.monotonic() - began < 1.0
        assert 'type="error"' in reply and "<jid-malformed" in reply, reply[:300]
        assert f'to="{jid}"' in reply
        assert len(reply) < len(stanza) + 600, "the error text does not echo the address again"
        # The session is unharmed: it still talks to the server.
        await ws.send("<iq xmlns='jabber:client' type='get' id='p1' to='meet.jitsi'><ping xmlns='urn:xmpp:ping'/></iq>")
        assert 'type="result"' in await asyncio.wait_for(ws.recv(), 5)
    finally:
        await ws.close()
