"""Hypothesis strategies shared by the fuzz tests: valid samples, mutated.

Random bytes alone stop at a parser's first check (a version bit, a start tag); mutating a real
packet or stanza a few bytes at a time keeps most of it valid, so the parser's deeper branches see
the broken part. ``mutated(samples)`` draws a sample and applies up to ``max_edits`` edits: flip a
byte, overwrite with an interesting value, insert, delete, duplicate a slice, truncate, or splice in
part of another sample.
"""

from __future__ import annotations

import copy
import random
from xml.etree.ElementTree import Element

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


def mutate_seeded(data: bytes, seed: int, max_edits: int = 3) -> bytes:
    """``data`` with up to ``max_edits`` edits chosen by ``seed``: for data only known while the test
    runs and not the same on every run (a DTLS flight: its random and signature lengths vary),
    where drawing the edits from Hypothesis would make the generation itself inconsistent."""
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(rng.randint(1, max_edits)):
        at = rng.randint(0, len(out))
        kind = rng.choice(["flip", "set", "insert", "delete", "truncate"])
        if kind == "flip" and at < len(out):
            out[at] ^= 1 << rng.randrange(8)
        elif kind == "set" and at < len(out):
            out[at] = rng.choice(INTERESTING)
        elif kind == "insert":
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind == "delete":
            del out[at:at + rng.randint(1, 16)]
        elif kind == "truncate":
            del out[at:]
    return bytes(out)


def inputs(samples: list[bytes], max_size: int = 2048) -> st.SearchStrategy[bytes]:
    """Mostly mutated samples, some plain random bytes (the shallow checks)."""
    return st.one_of(mutated(samples), st.binary(max_size=max_size))


def chunked(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """``data`` cut at random points, as a stream reader would get it."""
    return st.lists(st.integers(0, len(data)), max_size=8).map(
        lambda cuts: [data[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(data)])])


# --- stanzas ---------------------------------------------------------------------------------

# Attribute and text values that sit on a codec's edges: empty, signs, bounds, what int() also
# accepts (spaces, underscores, other scripts' digits), non-numbers, markup characters.
EDGE_VALUES = ["", " ", "0", "-1", "1", "65535", "65536", "4294967295", "4294967296", "99999999999999999999",
               " 7 ", "1_000", "\u0663", "\uff11", "0x10", "1e3", "nan", "true", "false", "TRUE", "<&>",
               "audio", "video", "application", "desktop", "camera", "sha-256", "actpass", "\U0001f600", "a" * 300]


def _elements(tree: Element) -> list[Element]:
    return list(tree.iter())


@st.composite
def _tree_edit(draw, tree: Element, donors: list[Element]) -> None:
    nodes = _elements(tree)
    node = draw(st.sampled_from(nodes))
    kind = draw(st.sampled_from(["attribute", "drop-attribute", "text", "drop-child", "duplicate-child",
                                 "graft", "rename"]))
    if kind == "attribute" and node.attrib:
        key = draw(st.sampled_from(sorted(node.attrib)))
        node.set(key, draw(st.sampled_from(EDGE_VALUES) | st.text(max_size=12)))
    elif kind == "attribute":
        node.set(draw(st.sampled_from(["id", "name", "type", "ssrc", "port", "media", "xmlns"])),
                 draw(st.sampled_from(EDGE_VALUES)))
    elif kind == "drop-attribute" and node.attrib:
        del node.attrib[draw(st.sampled_from(sorted(node.attrib)))]
    elif kind == "text":
        node.text = draw(st.sampled_from(EDGE_VALUES) | st.text(max_size=40))
    elif kind == "drop-child" and len(node):
        node.remove(node[draw(st.integers(0, len(node) - 1))])
    elif kind == "duplicate-child" and len(node):
        node.append(copy.deepcopy(node[draw(st.integers(0, len(node) - 1))]))
    elif kind == "graft":
        donor = draw(st.sampled_from([e for d in donors for e in d.iter()]))
        node.append(copy.deepcopy(donor))
    elif kind == "rename":
        other = draw(st.sampled_from([e.tag for d in donors for e in d.iter()]))
        node.tag = other


@st.composite
def _mutate_tree(draw, samples: list[Element], max_edits: int) -> Element:
    tree = copy.deepcopy(draw(st.sampled_from(samples)))
    for _ in range(draw(st.integers(0, max_edits))):
        draw(_tree_edit(tree, samples))
    return tree


def mutated_tree(samples: list[Element], max_edits: int = 4) -> st.SearchStrategy[Element]:
    """An element tree from ``samples`` with up to ``max_edits`` structural edits: attribute values
    set to edge values or dropped, text replaced, children dropped, duplicated or grafted from
    another sample, tags renamed to another sample's. The XML stays well-formed, so what is
    exercised is the codec behind the XML parser."""
    return _mutate_tree(list(samples), max_edits)
