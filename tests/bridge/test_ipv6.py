"""IPv6 media: one dual-stack socket serves an IPv6 peer and an IPv4 peer on the same port, and
names IPv4 addresses its own way only inside the bridge."""

import asyncio
import socket

import aioice.ice
import pytest
from aioice import stun

from jitsi_py.bridge.conference import Counters
from jitsi_py.bridge.ice import IceAgent, reflexive_address
from jitsi_py.bridge.stun import discover_mapped_address
from jitsi_py.bridge.udp import MediaPort, open_media_socket

from .conftest import running
from .peers import Peer


@pytest.fixture
async def dual_stack_bridge():
    async with running(host=None, hosts=["127.0.0.1", "::1"]) as bridge:
        yield bridge


async def test_an_ipv6_peer_and_an_ipv4_peer_exchange_video_on_one_port(dual_stack_bridge, monkeypatch):
    bridge = dual_stack_bridge
    assert bridge.port.ipv6 and bridge.port.dual_stack
    assert {c.ip for c in bridge.candidates} == {"127.0.0.1", "::1"}
    alice = Peer(bridge, "meeting-v6", "alice", publish=True)
    bob = Peer(bridge, "meeting-v6", "bob", publish=True)
    alice.allocate(create_conference=True)
    bob.allocate(create_conference=False)
    try:
        # Each peer gathers one loopback address, so ICE can only succeed on that family.
        monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
        await alice.connect([])
        monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["::1"])
        await bob.connect([(alice.video_ssrc, "alice-v0")])
        track = await asyncio.wait_for(bob.track_future, 20)
        for _ in range(3):
            frame = await asyncio.wait_for(track.recv(), 20)
        assert frame.width == 320
        endpoints = bridge.conferences["meeting-v6"].endpoints
        assert endpoints["alice"].ice.selected[0] == "::ffff:127.0.0.1"
        assert endpoints["bob"].ice.selected[0] == "::1"
        sources = bridge.conferences["meeting-v6"].forwarder.sources
        assert sources["bob-v0"].packets[0] > 0  # and bob's own video reached the bridge over IPv6
        assert bridge.counters.srtp_rejected == 0
    finally:
        await alice.close()
        await bob.close()


class _Transport:
    def __init__(self, sock):
        self.sock = sock

    def get_extra_info(self, name):
        return self.sock if name == "socket" else None

    def sendto(self, data, addr):
        pass


@pytest.mark.parametrize("bind, checks", [
    (None, {"192.0.2.9": "::ffff:192.0.2.9", "2001:db8::1": "2001:db8::1", "2001:DB8:0::1": "2001:db8::1",
            "::ffff:192.0.2.9": "::ffff:192.0.2.9", "fe80::1": None}),
    ("127.0.0.1", {"192.0.2.9": "192.0.2.9", "2001:db8::1": None}),
    ("::1", {"192.0.2.9": None, "::1": "::1"}),
])
async def test_remote_candidates_are_named_as_the_socket_names_its_peers(bind, checks):
    port = MediaPort(None)
    with open_media_socket(0, bind) as sock:
        port.connection_made(_Transport(sock))
        for host, expected in {**checks, "abcd.local": None}.items():
            assert port.peer_address(host) == expected


def test_an_ipv4_peer_on_the_dual_stack_socket_learns_its_ipv4_address():
    agent = IceAgent("bridge01", "p" * 24)
    request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST,
                           attributes={"USERNAME": "bridge01:peer", "ICE-CONTROLLED": 1, "PRIORITY": 1})
    request.add_message_integrity(b"p" * 24)
    agent.handle_stun(bytes(request), ("::ffff:192.0.2.9", 5000), 0.0)
    [(data, addr), *_] = agent.datagrams_to_send()
    assert addr == ("::ffff:192.0.2.9", 5000)
    assert stun.parse_message(data).attributes["XOR-MAPPED-ADDRESS"] == ("192.0.2.9", 5000)
    assert reflexive_address(("2001:db8::1", 5)) == ("2001:db8::1", 5)


def test_without_ipv6_the_media_socket_is_ipv4(monkeypatch):
    real = socket.socket

    def no_ipv6(family=socket.AF_INET, *args, **kwargs):
        if family == socket.AF_INET6:
            raise OSError(97, "Address family not supported by protocol")
        return real(family, *args, **kwargs)
    monkeypatch.setattr(socket, "socket", no_ipv6)
    with open_media_socket(0) as sock:
        assert sock.family == socket.AF_INET and sock.getsockname()[0] == "0.0.0.0"


class _StunServer(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        request = stun.parse_message(data)
        response = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, request.transaction_id,
                                {"XOR-MAPPED-ADDRESS": addr[:2]})
        self.transport.sendto(bytes(response), addr)


async def test_stun_discovery_from_the_dual_stack_socket_reaches_an_ipv4_server():
    loop = asyncio.get_running_loop()
    server, _ = await loop.create_datagram_endpoint(_StunServer, local_addr=("127.0.0.1", 0))
    port = MediaPort(Counters())
    media, _ = await loop.create_datagram_endpoint(lambda: port, sock=open_media_socket(0))
    try:
        assert port.dual_stack
        mapped = await discover_mapped_address(port, (f"127.0.0.1:{server.get_extra_info('sockname')[1]}",), 3.0)
        assert mapped == ("127.0.0.1", media.get_extra_info("sockname")[1])
    finally:
        media.close()
        server.close()
