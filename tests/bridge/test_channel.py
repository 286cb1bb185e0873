"""Both bridge channels: colibri-ws and the SCTP data channel, with real clients."""

import asyncio
import json

import aiohttp
import pytest

from jitsi_py.bridge.channel import ChannelError, parse_message

from .peers import Peer


def test_duplicate_keys_are_refused():
    with pytest.raises(ChannelError, match="duplicate JSON key 'to'"):
        parse_message('{"colibriClass":"EndpointMessage","to":"a","to":"b"}')
    with pytest.raises(ChannelError, match="colibriClass"):
        parse_message('[1, 2]')
    with pytest.raises(ChannelError, match="invalid JSON"):
        parse_message('{"colibriClass":')


async def _next(ws, kind):
    while True:
        msg = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
        if msg["colibriClass"] == kind:
            return msg


async def test_colibri_ws(bridge):
    alice = Peer(bridge, "meeting-ws", "alice", publish=False)
    bob = Peer(bridge, "meeting-ws", "bob", publish=False)
    alice.allocate(create_conference=True)
    bob.allocate(create_conference=False)
    url_a, url_b = alice.transport.web_sockets[0], bob.transport.web_sockets[0]
    assert "/colibri-ws/jvb/" in url_a and "?pwd=" in url_a
    async with aiohttp.ClientSession() as session:
        async with session.get(url_a.split("?")[0] + "?pwd=wrong") as response:
            assert response.status == 403
        async with session.get(url_a.replace("/alice?", "/nobody?")) as response:
            assert response.status == 404
        async with session.ws_connect(url_a) as ws_a, session.ws_connect(url_b) as ws_b:
            assert (await _next(ws_a, "ServerHello")) == {"colibriClass": "ServerHello"}
            await _next(ws_b, "ServerHello")
            # "from" is forged: the bridge sets it from the channel it came in on.
            await ws_a.send_str(json.dumps({"colibriClass": "EndpointMessage", "to": "bob", "from": "bob",
                                            "msgPayload": {"type": "hi"}}))
            relayed = await _next(ws_b, "EndpointMessage")
            assert relayed["from"] == "alice" and relayed["msgPayload"] == {"type": "hi"}
            await ws_b.send_str('{"colibriClass":"EndpointMessage","to":"","to":"alice"}')
            await ws_b.send_str(json.dumps({"colibriClass": "EndpointStats", "from": "alice", "bitrate": 1}))
            stats = await _next(ws_a, "EndpointStats")
            assert stats["from"] == "bob"
            assert bridge.counters.channel_messages_rejected == 1
            await ws_a.send_str(json.dumps({"colibriClass": "ClientHello"}))
            await _next(ws_a, "ServerHello")
            await ws_a.send_str(json.dumps({"colibriClass": "ReceiverVideoConstraints", "lastN": 0}))
            await ws_a.send_str(json.dumps({"colibriClass": "ClientHello"}))
            await _next(ws_a, "ServerHello")
            assert bridge.conferences["meeting-ws"].endpoints["alice"].receiver.last_n == 0


async def test_sctp_data_channel(bridge):
    alice = Peer(bridge, "meeting-sctp", "alice", publish=True, sctp=True)
    bob = Peer(bridge, "meeting-sctp", "bob", publish=False, sctp=True)
    alice.allocate(create_conference=True)
    bob.allocate(create_conference=False)
    try:
        channels = {}
        inbox = {"alice": asyncio.Queue(), "bob": asyncio.Queue()}
        for peer in (alice, bob):
            channel = peer.pc.createDataChannel("JVB data channel", protocol="http://jitsi.org/protocols/colibri")
            channel.on("message", lambda m, name=peer.id: inbox[name].put_nowait(json.loads(m)))
            channels[peer.id] = channel
        await alice.connect([])
        await bob.connect([(alice.video_ssrc, "alice-v0")])

        async def receive(name, kind):
            while True:
                message = await asyncio.wait_for(inbox[name].get(), 15)
                if message["colibriClass"] == kind:
                    return message

        for name in ("alice", "bob"):
            while channels[name].readyState != "open":
                await asyncio.sleep(0.05)
        # Initial state on open: alice learns what bob wants of her source, bob what he gets.
        assert (await receive("bob", "ForwardedSources"))["forwardedSources"] == ["alice-v0"]
        assert (await receive("alice", "SenderSourceConstraints")) == {
            "colibriClass": "SenderSourceConstraints", "sourceName": "alice-v0", "maxHeight": 180}
        channels["alice"].send(json.dumps({"colibriClass": "ClientHello"}))
        await receive("alice", "ServerHello")
        channels["bob"].send(json.dumps({"colibriClass": "EndpointMessage", "to": "", "from": "alice",
                                         "msgPayload": {"n": 1}}))
        relayed = await receive("alice", "EndpointMessage")
        assert relayed["from"] == "bob"
        channels["bob"].send(json.dumps({"colibriClass": "ReceiverVideoConstraints",
                                         "defaultConstraints": {"maxHeight": 0}}))
        assert (await receive("bob", "ForwardedSources"))["forwardedSources"] == []
        assert (await receive("alice", "SenderSourceConstraints"))["maxHeight"] == 0
        assert bridge.counters.data_channel_messages_received >= 3
    finally:
        await alice.close()
        await bob.close()
