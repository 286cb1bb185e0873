"""Hypothesis strategies shared by the fuzz tests: valid samples, mutated.

Random bytes alone stop at a parser's first check (a version bit, a start tag); mutating a real
packet or stanza a few bytes at a time keeps most of it valid, so the parser's deeper branches see
the broken part. ``mutated(samples)`` draws a sample and applies up to ``max_edits`` edits: flip a
byte, overwrite with an interesting value, insert, delete, duplicate a slice, truncate, or splice in
part of another sample.
"""

from __future__ import annotations

from hypothesis import strategies as st

# Byte values that sit on boundaries parsers test for: zero, sign bits, all-ones, ASCII syntax.
INTERESTING = [0x00, 0x01, 0x02, 0x03, 0x04, 0x0F, 0x10, 0x1F, 0x20, 0x3C, 0x3E, 0x22, 0x26, 0x2C, 0x3D,
               0x3A, 0x7F, 0x80, 0x81, 0xBE, 0xDE, 0xC0, 0xC8, 0xC9, 0xCD, 0xCE, 0xFE, 0xFF]


@st.composite
def _edit(draw, data: bytearray, samples: list[bytes]) -> bytearray:
    n = len(data)
    kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "duplicate", "truncate", "splice"]))
    at = draw(st.integers(0, n)) if n else 0
    if kind == "flip" and n:
        i = min(at, n - 1)
        data[i] ^= 1 << draw(st.integers(0, 7))
    elif kind == "set" and n:
        data[min(at, n - 1)] = draw(st.sampled_from(INTERESTING) | st.integers(0, 255))
    elif kind == "insert":
        data[at:at] = draw(st.binary(min_size=1, max_size=16))
    elif kind == "delete" and n:
        del data[at:at + draw(st.integers(1, 16))]
    elif kind == "duplicate" and n:
        start = draw(st.integers(0, n - 1))
        piece = data[start:start + draw(st.integers(1, 64))]
        data[at:at] = piece * draw(st.integers(1, 4))
    elif kind == "truncate":
        del data[at:]
    elif kind == "splice":
        other = draw(st.sampled_from(samples))
        start = draw(st.integers(0, len(other)))
        data[at:at] = other[start:start + draw(st.integers(0, 64))]
    return data


@st.composite
def _mutate(draw, samples: list[bytes], max_edits: int) -> bytes:
    data = bytearray(draw(st.sampled_from(samples)))
    for _ in range(draw(st.integers(0, max_edits))):
        data = draw(_edit(data, samples))
    return bytes(data)


def mutated(samples: list[bytes], max_edits: int = 4) -> st.SearchStrategy[bytes]:
    """A sample with up to ``max_edits`` random edits (zero edits: the sample itself)."""
    return _mutate(list(samples), max_edits)


def inputs(samples: list[bytes], max_size: int = 2048) -> st.SearchStrategy[bytes]:
    """Mostly mutated samples, some plain random bytes (the shallow checks)."""
    return st.one_of(mutated(samples), st.binary(max_size=max_size))


def chunked(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """``data`` cut at random points, as a stream reader would get it."""
    return st.lists(st.integers(0, len(data)), max_size=8).map(
        lambda cuts: [data[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(data)])])
