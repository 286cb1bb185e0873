"""Fuzzing STUN as the bridge's ICE agent meets it: aioice's parser under ``IceAgent.handle_stun``,
and ``stun_local_ufrag``, which the media port runs on every STUN datagram from an unknown address
before any parse. The contract: any datagram is answered, acted on or counted in
``stun_rejected``; nothing raises. Messages carry valid integrity with arbitrary attribute
values, so the checks behind the integrity check are reached, not just the parser."""

from __future__ import annotations

import pytest
from aioice import stun
from hypothesis import example, given, strategies as st

from jitsi_py.bridge.ice import IceAgent, stun_local_ufrag
from tests.support.fuzz import inputs

pytestmark = pytest.mark.fuzz

LOCAL_UFRAG, LOCAL_PWD = "bridge", "bridge-password-0123456789"
REMOTE_UFRAG, REMOTE_PWD = "peer", "peer-password-0123456789"
ADDR = ("192.0.2.1", 5000)


def message(cls, attributes: dict, pwd: str = LOCAL_PWD, transaction_id: bytes | None = None) -> bytes:
    msg = stun.Message(stun.Method.BINDING, cls, transaction_id=transaction_id, attributes=attributes)
    msg.add_message_integrity(pwd.encode())
    msg.add_fingerprint()
    return bytes(msg)


def raw_attribute(attr_type: int, value: bytes) -> bytes:
    return attr_type.to_bytes(2, "big") + len(value).to_bytes(2, "big") + value + bytes(-len(value) % 4)


def with_integrity(cls: int, body: bytes, pwd: str = LOCAL_PWD) -> bytes:
    """A message around raw attributes (any length, any bytes), then a valid MESSAGE-INTEGRITY:
    what aioice cannot build but an attacker can."""
    import hmac
    tid = b"fuzz-tid-123"
    head = (stun.Method.BINDING | cls).to_bytes(2, "big") + (len(body) + 24).to_bytes(2, "big") + \
        stun.COOKIE.to_bytes(4, "big") + tid
    digest = hmac.new(pwd.encode(), head + body, "sha1").digest()
    return head + body + raw_attribute(0x0008, digest)


USERNAME = f"{LOCAL_UFRAG}:{REMOTE_UFRAG}"
SAMPLES = [
    message(stun.Class.REQUEST, {"USERNAME": USERNAME, "PRIORITY": 1853824767, "ICE-CONTROLLED": 42}),
    message(stun.Class.REQUEST, {"USERNAME": USERNAME, "PRIORITY": 1, "ICE-CONTROLLING": 1 << 63,
                                 "USE-CANDIDATE": None}),
    message(stun.Class.RESPONSE, {"XOR-MAPPED-ADDRESS": ("198.51.100.1", 4000)}, REMOTE_PWD),
    message(stun.Class.ERROR, {"ERROR-CODE": (487, "Role Conflict")}, REMOTE_PWD),
    bytes(stun.Message(stun.Method.BINDING, stun.Class.INDICATION)),
]
ATTRIBUTE_TYPES = [t for t in stun.ATTRIBUTES_BY_TYPE] + [0x0000, 0x7FFF, 0xFFFF]

raw_attributes = st.lists(st.tuples(st.sampled_from(ATTRIBUTE_TYPES), st.binary(max_size=40)), max_size=6).map(
    lambda attrs: raw_attribute(0x0006, USERNAME.encode()) + b"".join(raw_attribute(t, v) for t, v in attrs))
classes = st.sampled_from([stun.Class.REQUEST, stun.Class.RESPONSE, stun.Class.ERROR, stun.Class.INDICATION])


@st.composite
def datagrams(draw):
    kind = draw(st.sampled_from(["mutated", "attributes"]))
    if kind == "mutated":
        return draw(inputs(SAMPLES, max_size=128))
    cls = draw(classes)
    return with_integrity(cls, draw(raw_attributes), REMOTE_PWD if cls in (0x100, 0x110) else LOCAL_PWD)


def agent(controlling: bool) -> IceAgent:
    ice = IceAgent(LOCAL_UFRAG, LOCAL_PWD, controlling=controlling)
    ice.set_remote_credentials(REMOTE_UFRAG, REMOTE_PWD, 0.0)
    ice.add_remote_candidate(*ADDR, 0.0)
    return ice


@given(received=st.lists(datagrams(), min_size=1, max_size=8), controlling=st.booleans())
@example(received=SAMPLES, controlling=True)
# PRIORITY three bytes long: aioice's struct.unpack raised struct.error, not ValueError.
@example(received=[with_integrity(stun.Class.REQUEST, raw_attribute(0x0006, USERNAME.encode())
                                  + raw_attribute(0x0024, b"\x00\x00\x01"))], controlling=True)
def test_any_stun_datagram_is_answered_acted_on_or_counted(received, controlling):
    ice = agent(controlling)
    for i, data in enumerate(received):
        before = ice.stun_rejected
        ice.handle_stun(data, ADDR, float(i))
        assert ice.stun_rejected in (before, before + 1)
        for out, addr in ice.datagrams_to_send():
            stun.parse_message(out)  # what we answer is well-formed
            assert addr == ADDR
        ice.handle_timer(float(i) + 0.5)


@given(data=inputs(SAMPLES, max_size=128))
def test_the_ufrag_peek_stays_inside_the_datagram(data):
    ufrag = stun_local_ufrag(data)
    assert ufrag is None or len(ufrag) <= len(data)
