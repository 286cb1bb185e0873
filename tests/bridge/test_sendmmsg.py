"""The batched send (sendmmsg.py): partial sends, a full send buffer, other errors, a context queued
twice in one batch and a changed address, on real loopback sockets."""

from __future__ import annotations

import errno
import socket

import pytest
from pylibsrtp import Policy, Session

from jitsi_py.bridge import sendmmsg
from jitsi_py.bridge.conference import Counters
from jitsi_py.bridge.sendmmsg import BatchSender, ffi, iovec

from .test_hotpath import AUDIO_PT, HEADER, PROFILE, Load, _packet, bound_bridge

pytestmark = pytest.mark.skipif(not sendmmsg.AVAILABLE, reason="libc has no sendmmsg (Linux only)")


class Owner:
    """What a batch needs of an SRTP context: a buffer as ``iov`` and ``pending``."""

    def __init__(self, data: bytes) -> None:
        self.buffer = ffi.new("char[]", data)
        self.iov = iovec(self.buffer)
        self.length = len(data)
        self.pending = None


def _sink(family=socket.AF_INET, host="127.0.0.1") -> socket.socket:
    sink = socket.socket(family, socket.SOCK_DGRAM)
    sink.bind((host, 0))
    sink.setblocking(False)
    return sink


def _drain(sink: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sink.recv(2048))
        except BlockingIOError:
            return out


@pytest.fixture
def five():
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setblocking(False)
    sinks = [_sink() for _ in range(5)]
    blocked = []
    counters = Counters()
    batch = BatchSender(sender.fileno(), socket.AF_INET, counters, lambda data, addr: blocked.append((data, addr)))
    owners = [Owner(bytes([k]) * (100 + k)) for k in range(5)]
    for owner, sink in zip(owners, sinks):
        batch.add(batch.route(sink.getsockname(), owner), owner.length)
    yield batch, owners, sinks, blocked, counters
    sender.close()
    for sink in sinks:
        sink.close()


def _fake(monkeypatch, answers):
    """sendmmsg answering from ``answers``: a count (the real call, limited to it) or an errno."""
    real = sendmmsg._sendmmsg
    calls = []

    def fake(fd, msgs, vlen, flags):
        calls.append(vlen)
        answer = answers.pop(0) if answers else vlen
        if answer < 0:
            ffi.errno = -answer
            return -1
        return real(fd, msgs, min(vlen, answer), flags)

    monkeypatch.setattr(sendmmsg, "_sendmmsg", fake)
    return calls


def test_a_partial_send_goes_on_from_the_first_datagram_the_kernel_did_not_take(five, monkeypatch):
    batch, owners, sinks, blocked, counters = five
    calls = _fake(monkeypatch, [2, 2])
    assert all(owner.pending is not None for owner in owners)
    batch.flush()
    assert calls == [5, 3, 1]
    assert [_drain(sink) for sink in sinks] == [[bytes([k]) * (100 + k)] for k in range(5)]
    assert (counters.packets_sent, counters.bytes_sent, blocked) == (5, sum(100 + k for k in range(5)), [])
    assert all(owner.pending is None for owner in owners) and batch.count == 0


def test_a_full_send_buffer_hands_copies_of_what_is_left_to_the_transport(five, monkeypatch):
    batch, owners, sinks, blocked, counters = five
    _fake(monkeypatch, [2, -errno.EAGAIN])
    batch.flush()
    assert [len(_drain(sink)) for sink in sinks] == [1, 1, 0, 0, 0]
    assert blocked == [(bytes([k]) * (100 + k), sinks[k].getsockname()) for k in (2, 3, 4)]
    assert all(type(data) is bytes for data, _ in blocked)
    assert (counters.packets_sent, counters.bytes_sent) == (2, 201)
    assert all(owner.pending is None for owner in owners)


def test_any_other_error_drops_only_the_datagram_it_was_for(five, monkeypatch):
    batch, owners, sinks, blocked, counters = five
    _fake(monkeypatch, [1, -errno.ENETUNREACH, -errno.EINTR])
    batch.flush()
    assert [len(_drain(sink)) for sink in sinks] == [1, 0, 1, 1, 1]
    assert (counters.send_errors, counters.packets_sent, counters.bytes_sent, blocked) == (1, 4, 100 + 102 + 103 + 104, [])


def test_the_batch_sends_itself_when_full():
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink = _sink()
    counters = Counters()
    batch = BatchSender(sender.fileno(), socket.AF_INET, counters, None)
    try:
        owners = [Owner(bytes([k % 256]) * 20) for k in range(sendmmsg.CAPACITY + 1)]
        for owner in owners:
            batch.add(batch.route(sink.getsockname(), owner), owner.length)
        assert (batch.count, counters.packets_sent) == (1, sendmmsg.CAPACITY)
        batch.flush()
        assert [data[0] for data in _drain(sink)] == [k % 256 for k in range(sendmmsg.CAPACITY + 1)]
    finally:
        sender.close()
        sink.close()


def test_ipv6_and_ipv4_mapped_addresses_on_a_dual_stack_socket():
    sender = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sender.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sinks = [_sink(socket.AF_INET6, "::1"), _sink()]
    counters = Counters()
    batch = BatchSender(sender.fileno(), socket.AF_INET6, counters, None)
    try:
        owners = [Owner(b"six"), Owner(b"four")]
        addresses = [sinks[0].getsockname()[:2], ("::ffff:127.0.0.1", sinks[1].getsockname()[1])]
        for owner, addr in zip(owners, addresses):
            batch.add(batch.route(addr, owner), owner.length)
        batch.flush()
        assert [_drain(sink) for sink in sinks] == [[b"six"], [b"four"]]
        assert counters.send_errors == 0
    finally:
        sender.close()
        for sink in sinks:
            sink.close()


def _received(load: Load, p: int) -> list[tuple[int, int]]:
    rx = Session(Policy(key=load.keys[p][0], ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=PROFILE.libsrtp))
    return [HEADER.unpack_from(rx.unprotect(data))[2::2] for data in _drain(load.sinks[p])]


async def test_an_endpoint_given_two_packets_in_one_batch_and_a_new_address_gets_each_intact():
    bridge, transport = await bound_bridge()
    load = Load(bridge, participants=2, seconds=0.1, max_height=None)
    port = bridge.port
    moved = _sink()
    try:
        load.fresh_sessions()
        endpoint = load.endpoints[0]
        port.batch = batch = port._batch
        for seq in (1, 2):  # e.g. a NACK answered with two retransmissions
            endpoint.deliver(bytearray(_packet(AUDIO_PT, seq, 0, 99, 10, False)))
        endpoint.ice.selected = moved.getsockname()
        endpoint.deliver(bytearray(_packet(AUDIO_PT, 3, 0, 99, 10, False)))
        port.batch = None
        batch.flush()
        assert _received(load, 0) == [(1, 99), (2, 99)]
        load.sinks[0].close()
        load.sinks[0] = moved
        assert _received(load, 0) == [(3, 99)]
        assert bridge.counters.packets_sent == 3
    finally:
        port.batch = None
        load.close()
        transport.close()
