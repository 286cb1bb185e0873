"""Both bridge channels: colibri-ws and the SCTP data channel, with real clients."""

import asyncio
import json
from types import SimpleNamespace

import aiohttp
import pytest

from jitsi_py.bridge.channel import ChannelError, SctpChannel, parse_message
from jitsi_py.bridge.conference import Counters

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


class _Wire:
    """Half of two SctpChannels joined back to back: what one's association sends is the
    other's received packet, as if our DTLS had carried it."""

    def __init__(self, name: str) -> None:
        self.id = name
        self.conference = SimpleNamespace(bridge=SimpleNamespace(counters=Counters()))
        self.channel = None
        self.dtls = self
        self.peer: SctpChannel | None = None
        self.connected = asyncio.Event()
        self.received: asyncio.Queue = asyncio.Queue()

    def send(self, packet: bytes) -> None:  # DtlsSession.send
        self.peer.receive(packet, 0.0)

    def flush(self) -> None:
        pass


class _Inbox:
    def __init__(self, wire: _Wire) -> None:
        self.wire = wire

    def connected(self, *, hello: bool) -> None:
        self.wire.connected.set()

    def receive(self, text) -> None:
        self.wire.received.put_nowait(text)


async def test_the_aiortc_sctp_association_runs_over_our_dtls_stand_in():
    """Pins the private interface channel._DtlsShim speaks with the installed aiortc (no public API
    runs its SCTP over another DTLS): an association opens, the client's channel carries a message
    each way, and the per-packet tasks are all done and released."""
    server, client = _Wire("server"), _Wire("client")
    server_channel = SctpChannel(server, _Inbox(server))
    client_channel = SctpChannel(client, _Inbox(client), client=True)
    server.peer, client.peer = client_channel, server_channel
    await asyncio.wait_for(asyncio.gather(server.connected.wait(), client.connected.wait()), 10)
    client.channel({"colibriClass": "ClientHello"})
    server.channel({"colibriClass": "ServerHello"})
    assert await asyncio.wait_for(server.received.get(), 10) == '{"colibriClass":"ClientHello"}'
    assert await asyncio.wait_for(client.received.get(), 10) == '{"colibriClass":"ServerHello"}'
    assert (server.conference.bridge.counters.data_channel_messages_received,
            client.conference.bridge.counters.data_channel_messages_sent) == (1, 1)
    for channel in (server_channel, client_channel):
        channel.close()
    for _ in range(100):
        if not server_channel._tasks._running and not client_channel._tasks._running:
            break
        await asyncio.sleep(0.02)
    assert not server_channel._tasks._running and not client_channel._tasks._running
    assert server.channel is None and client.channel is None
