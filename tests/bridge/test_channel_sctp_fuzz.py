"""Fuzzing the SCTP carrier of the bridge channel (RFC 8261/8831/8832 over the endpoint's DTLS):
a real association between our server side and our client side (the relay's), in memory, with
the client's packets mutated (the CRC32c put right after, so aiortc's chunk parsers see the
mutation), and bridge-channel messages over the data channel. The contract: whatever arrives, no
exception escapes into the event loop (aiortc handles each packet in a task of its own: an
exception there is logged per packet) and a well-formed message still reaches the handler."""

from __future__ import annotations

import asyncio
import struct

import pytest
from aiortc.rtcsctptransport import crc32c
from hypothesis import example, given, strategies as st

from jitsi_py.bridge.channel import SctpChannel
from tests.support.fuzz import mutate_seeded

from .memory import bridge_in_memory

pytestmark = pytest.mark.fuzz


class Wire:
    """An endpoint's DTLS as the SCTP association uses it: what it sends, kept for the test."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def datagrams_to_send(self) -> list[bytes]:
        return []  # what send() got is not encrypted here: the test carries it


def fix_checksum(packet: bytes) -> bytes:
    if len(packet) < 12:
        return packet
    return packet[:8] + struct.pack("<L", crc32c(packet[:8] + bytes(4) + packet[12:])) + packet[12:]


async def pump(server_wire: Wire, client_wire: Wire, server: SctpChannel, client: SctpChannel, tamper) -> None:
    for _ in range(12):
        await asyncio.sleep(0)
        for packet, client_sent in [(p, True) for p in client_wire.sent] + [(p, False) for p in server_wire.sent]:
            if client_sent:
                server_wire_packets = tamper(packet)
                for p in server_wire_packets:
                    server.receive(p, 0.0)
            else:
                client.receive(packet, 0.0)
        client_wire.sent.clear()
        server_wire.sent.clear()


async def association(plan: list[tuple[str, int]], messages: list[str]) -> list:
    errors: list = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    memory = bridge_in_memory()
    alice, bob = memory.alice, memory.bob
    received: list = []
    try:
        alice.dtls, bob.dtls = Wire(), Wire()
        server = SctpChannel(alice)
        server.handler.receive = received.append  # what reaches the bridge channel's handler
        client = SctpChannel(bob, client=True)
        steps = iter(plan)

        def tamper(packet: bytes) -> list[bytes]:
            step, seed = next(steps, ("pass", 0))
            if step == "mutate":
                return [fix_checksum(mutate_seeded(packet, seed))]
            if step == "raw":
                return [mutate_seeded(packet, seed, max_edits=2)]
            if step == "drop":
                return []
            return [packet, packet] if step == "repeat" else [packet]

        await pump(alice.dtls, bob.dtls, server, client, tamper)
        if client._channel is not None and client._channel.readyState == "open":
            for text in messages:
                client._channel.send(text)
            await pump(alice.dtls, bob.dtls, server, client, tamper)
        server.close()
        client.close()
        await asyncio.sleep(0)
    finally:
        memory.close()
    return [errors, received]


# Each packet the client sends: passed, mutated with the CRC put right, mutated raw, dropped or
# repeated; edits chosen by a seed, as the packets carry random tags and TSNs.
@given(plan=st.lists(st.tuples(st.sampled_from(["pass", "pass", "mutate", "raw", "drop", "repeat"]),
                               st.integers(0, 2**32)), max_size=12),
       messages=st.lists(st.text(max_size=20), max_size=3))
@example(plan=[], messages=['{"colibriClass":"ClientHello"}'])
def test_any_sctp_packet_is_handled_without_an_exception_in_the_event_loop(plan, messages):
    errors, received = asyncio.run(association(plan, messages))
    assert errors == []
    if not plan:  # untouched: the association comes up and carries the messages, after the
        # client side's own initial messages (its handler is a bridge channel's too)
        assert received[len(received) - len(messages):] == messages and len(received) > len(messages)


def sctp_packet(*chunks: tuple[int, bytes], tag: int = 0) -> bytes:
    data = b""
    for chunk_type, body in chunks:
        chunk = struct.pack("!BBH", chunk_type, 0, 4 + len(body)) + body
        data += chunk + bytes(-len(chunk) % 4)
    return fix_checksum(struct.pack("!HHL", 5000, 5000, tag) + bytes(4) + data)


async def receive_alone(packet: bytes) -> tuple[list, int]:
    errors: list = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
    memory = bridge_in_memory()
    try:
        before = memory.bridge.counters.sctp_malformed
        memory.alice.dtls = Wire()
        channel = SctpChannel(memory.alice)
        channel.receive(packet, 0.0)
        for _ in range(3):
            await asyncio.sleep(0)
        channel.close()
        return errors, memory.bridge.counters.sctp_malformed - before
    finally:
        memory.close()


INIT = struct.pack("!LLHHL", 1, 65536, 1, 1, 7)


# Found by fuzzing: aiortc raises on a chunk body cut short (struct.error: a DATA chunk of 5 bytes,
# an INIT of 9, whose fixed parts are 12 and 16) and on an INIT bundled with another chunk
# (AssertionError); the task it handles each packet in logged the exception, per packet.
@pytest.mark.parametrize("packet", [sctp_packet((0, bytes(5))), sctp_packet((1, bytes(9))),
                                    sctp_packet((1, INIT), (11, b"")),
                                    # aiortc's decode_params loops forever on a parameter of length 0,
                                    # appending until memory runs out (found by fuzzing: 3 GB, 50 s)
                                    sctp_packet((2, INIT + struct.pack("!HH", 0x8008, 0))),
                                    sctp_packet((6, struct.pack("!HH", 1, 8) + bytes(4) + struct.pack("!HH", 9, 0)),
                                                tag=1)],
                         ids=["data-cut-short", "init-cut-short", "init-bundled", "init-ack-endless-parameter",
                              "abort-endless-parameter"])
def test_a_packet_aiortc_cannot_handle_is_counted_not_raised_into_the_event_loop(packet):
    errors, malformed = asyncio.run(receive_alone(packet))
    assert errors == [] and malformed == 1
