"""The media port's batch (sendmmsg.py): partial sends, a full send buffer, other errors, a full
batch, IPv6, the sendto fallback, and an endpoint's copies in one batch across an address change,
on real loopback sockets."""

from __future__ import annotations

import errno
import socket

import pytest
from pylibsrtp import Policy, Session

from jitsi_py.bridge import sendmmsg
from jitsi_py.bridge.conference import Counters
from jitsi_py.bridge.sendmmsg import Batch, ffi

from .test_hotpath import AUDIO_PT, HEADER, PROFILE, Load, _packet, bound_bridge, media_received

needs_sendmmsg = pytest.mark.skipif(not sendmmsg.AVAILABLE, reason="libc has no sendmmsg (Linux only)")
SLOT = 2048


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


def _fill(batch: Batch, data: bytes, name) -> None:
    """What Endpoint.deliver does to a slot, with ``data`` as the protected datagram."""
    view, length, _, header = batch.slots[batch.count]
    view[:len(data)] = data
    length[0] = len(data)
    header.msg_name = name
    batch.count += 1
    if batch.count == batch.limit:
        batch.flush()


class Five:
    """A held batch of five datagrams (100..104 bytes) for five sinks."""

    def __init__(self, use_sendmmsg: bool = True) -> None:
        self.sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sender.setblocking(False)
        self.sinks = [_sink() for _ in range(5)]
        self.blocked: list[tuple[bytes, tuple]] = []
        self.counters = Counters()
        self.batch = Batch(self.sender, SLOT, self.counters, lambda data, addr: self.blocked.append((data, addr)),
                           use_sendmmsg=use_sendmmsg)
        self.names = [self.batch.sockaddr(sink.getsockname()) for sink in self.sinks]
        self.batch.hold()
        for k, name in enumerate(self.names):
            _fill(self.batch, bytes([k]) * (100 + k), name)

    def close(self) -> None:
        self.sender.close()
        for sink in self.sinks:
            sink.close()


@pytest.fixture
def five():
    batch = Five()
    yield batch
    batch.close()


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


@needs_sendmmsg
def test_a_partial_send_goes_on_from_the_first_datagram_the_kernel_did_not_take(five, monkeypatch):
    calls = _fake(monkeypatch, [2, 2])
    assert five.batch.count == 5, "held: nothing sent yet"
    five.batch.release()
    assert calls == [5, 3, 1]
    assert [_drain(sink) for sink in five.sinks] == [[bytes([k]) * (100 + k)] for k in range(5)]
    assert (five.counters.packets_sent, five.counters.bytes_sent) == (5, sum(100 + k for k in range(5)))
    assert five.blocked == []
    assert five.batch.count == 0


@needs_sendmmsg
def test_a_full_send_buffer_hands_copies_of_what_is_left_to_the_transport(five, monkeypatch):
    _fake(monkeypatch, [2, -errno.EAGAIN])
    five.batch.release()
    assert [len(_drain(sink)) for sink in five.sinks] == [1, 1, 0, 0, 0]
    assert five.blocked == [(bytes([k]) * (100 + k), five.sinks[k].getsockname()) for k in (2, 3, 4)]
    assert all(type(data) is bytes for data, _ in five.blocked)
    assert (five.counters.packets_sent, five.counters.bytes_sent) == (2, 201)


@needs_sendmmsg
def test_any_other_error_drops_only_the_datagram_it_was_for(five, monkeypatch):
    _fake(monkeypatch, [1, -errno.ENETUNREACH, -errno.EINTR])
    five.batch.release()
    assert [len(_drain(sink)) for sink in five.sinks] == [1, 0, 1, 1, 1]
    assert (five.counters.send_errors, five.counters.packets_sent, five.counters.bytes_sent, five.blocked) == (
        1, 4, 100 + 102 + 103 + 104, [])


def test_without_sendmmsg_each_slot_goes_out_with_sendto_and_errors_are_handled_alike(monkeypatch):
    sent = Five(use_sendmmsg=False)
    try:
        sent.batch.release()
        assert [_drain(sink) for sink in sent.sinks] == [[bytes([k]) * (100 + k)] for k in range(5)]
        assert (sent.counters.packets_sent, sent.counters.send_errors) == (5, 0)
    finally:
        sent.close()
    refused = Five(use_sendmmsg=False)
    unreachable, full = OSError(errno.ENETUNREACH, "unreachable"), BlockingIOError(errno.EAGAIN, "full")
    # per sendto call: a failing slot is tried again by the next call, as sendmmsg's caller does
    answers = [None, unreachable, unreachable, None, full, full]
    real = refused.sender.sendto

    class Sender:
        def fileno(self):
            return refused.sender.fileno()

        def sendto(self, data, addr):
            answer = answers.pop(0) if answers else None
            if answer is not None:
                raise answer
            return real(data, addr)

    refused.batch._sock = Sender()
    try:
        refused.batch.release()
        assert [len(_drain(sink)) for sink in refused.sinks] == [1, 0, 1, 0, 0]
        assert [addr for _, addr in refused.blocked] == [refused.sinks[k].getsockname() for k in (3, 4)]
        assert (refused.counters.packets_sent, refused.counters.send_errors) == (2, 1)
    finally:
        refused.close()


@needs_sendmmsg
def test_a_held_batch_sends_itself_when_full_and_a_released_one_at_once():
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink = _sink()
    counters = Counters()
    batch = Batch(sender, SLOT, counters, None)
    name = batch.sockaddr(sink.getsockname())
    try:
        batch.hold()
        for k in range(sendmmsg.CAPACITY + 1):
            _fill(batch, bytes([k % 256]) * 20, name)
        assert (batch.count, counters.packets_sent) == (1, sendmmsg.CAPACITY)
        batch.release()
        _fill(batch, b"alone", name)
        assert (batch.count, counters.packets_sent) == (0, sendmmsg.CAPACITY + 2)
        assert [data[0] for data in _drain(sink)] == [k % 256 for k in range(sendmmsg.CAPACITY + 1)] + [ord("a")]
    finally:
        sender.close()
        sink.close()


@needs_sendmmsg
def test_ipv6_and_ipv4_mapped_addresses_on_a_dual_stack_socket():
    sender = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sender.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sinks = [_sink(socket.AF_INET6, "::1"), _sink()]
    counters = Counters()
    batch = Batch(sender, SLOT, counters, None)
    try:
        batch.hold()
        addresses = [sinks[0].getsockname()[:2], ("::ffff:127.0.0.1", sinks[1].getsockname()[1])]
        names = [batch.sockaddr(addr) for addr in addresses]
        for data, name in zip((b"six", b"four"), names):
            _fill(batch, data, name)
        batch.release()
        assert [_drain(sink) for sink in sinks] == [[b"six"], [b"four"]]
        assert counters.send_errors == 0
    finally:
        sender.close()
        for sink in sinks:
            sink.close()


def _received(load: Load, p: int) -> list[tuple[int, int]]:
    rx = Session(Policy(key=load.keys[p][0], ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=PROFILE.libsrtp))
    return [HEADER.unpack_from(rx.unprotect(data))[2::2] for data in media_received(load.sinks[p])]


async def test_an_endpoint_given_two_packets_in_one_batch_and_a_new_address_gets_each_intact():
    bridge, transport = await bound_bridge()
    load = Load(bridge, participants=2, seconds=0.1, max_height=None)
    batch = bridge.port.batch
    moved = _sink()
    try:
        load.fresh_sessions()
        endpoint = load.endpoints[0]
        batch.hold()
        for seq in (1, 2):  # e.g. a NACK answered with two retransmissions
            endpoint.deliver(bytearray(_packet(AUDIO_PT, seq, 0, 99, 10, False)), 99)
        endpoint.ice.selected = moved.getsockname()
        endpoint.deliver(bytearray(_packet(AUDIO_PT, 3, 0, 99, 10, False)), 99)
        batch.release()
        assert _received(load, 0) == [(1, 99), (2, 99)]
        load.sinks[0].close()
        load.sinks[0] = moved
        assert _received(load, 0) == [(3, 99)]
        assert bridge.counters.packets_sent == 3
    finally:
        load.close()
        transport.close()
