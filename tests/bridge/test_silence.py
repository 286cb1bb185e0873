"""Silent audio is not forwarded after a few packets, as jitsi-videobridge's discard-silence, and
the packets after a discarded run are renumbered so that no receiver counts the run as lost."""

from __future__ import annotations

import struct

import pytest

from .memory import AUDIO_LEVEL_ID, AUDIO_PT, bridge_in_memory

LOUD, SILENT = 30, 127


TELEPHONE_EVENT_PT = 126


def audio(seq: int, level: int | None, pt: int = AUDIO_PT) -> bytes:
    if level is None:
        return struct.pack("!BBHII", 0x80, pt, seq, seq * 960, 11) + bytes(40)
    extension = bytes((0xBE, 0xDE, 0, 1, AUDIO_LEVEL_ID << 4, 0x80 | level, 0, 0))
    return struct.pack("!BBHII", 0x90, pt, seq, seq * 960, 11) + extension + bytes(40)


@pytest.fixture
def memory():
    m = bridge_in_memory()
    m.bob.receiver.ready = True
    m.to_bob, m.to_relay = [], []
    m.bob.receiver.deliver = lambda packet, ssrc: m.to_bob.append(bytes(packet))
    m.relay.deliver = lambda packet, ssrc: m.to_relay.append(bytes(packet))
    yield m
    m.close()


def send(m, levels: list[int | None], first: int = 65530, pt: int = AUDIO_PT) -> None:
    for i, level in enumerate(levels):
        m.alice.receive_rtp(audio((first + i) & 0xFFFF, level, pt))


def seqs(packets: list[bytes]) -> list[int]:
    return [struct.unpack_from("!H", p, 2)[0] for p in packets]


def test_a_silent_run_is_cut_after_three_packets_and_the_numbers_close_up(memory):
    before = memory.bridge.counters.silence_discarded
    send(memory, [LOUD, LOUD] + [SILENT] * 6 + [LOUD, LOUD] + [SILENT] * 4 + [LOUD])
    expected = [(65530 + i) & 0xFFFF for i in range(2 + 3 + 2 + 3 + 1)]
    assert seqs(memory.to_bob) == expected, "contiguous across the wrap, 4 packets fewer"
    assert seqs(memory.to_relay) == expected, "the other bridges get the same numbering"
    assert memory.bridge.counters.silence_discarded - before == 4
    last = memory.to_bob[-1]
    assert last[12:] == audio(0, LOUD)[12:] and struct.unpack_from("!I", last, 4)[0] == ((65530 + 14) & 0xFFFF) * 960, \
        "only the sequence number changes: the timestamp keeps the gap"


def test_with_discard_off_every_packet_goes(memory):
    memory.alice._forwarded_silence = None
    send(memory, [LOUD] + [SILENT] * 6 + [LOUD], first=10)
    assert seqs(memory.to_bob) == list(range(10, 18))


def test_audio_without_a_level_or_a_dtmf_digit_is_never_taken_for_silence(memory):
    send(memory, [None] * 8, first=100)
    memory.alice.audio_pts.add(TELEPHONE_EVENT_PT)
    memory.alice.audio_names[TELEPHONE_EVENT_PT] = "telephone-event"
    send(memory, [SILENT] * 8, first=108, pt=TELEPHONE_EVENT_PT)
    assert seqs(memory.to_bob) == list(range(100, 116))
