"""Fuzzing the media port's demultiplexer (RFC 7983) and what it hands datagrams to: STUN (aioice's
parser, then ``IceAgent``), DTLS records (OpenSSL through ``DtlsSession``) and SRTP/SRTCP (libsrtp,
then the RTP and RTCP paths). The contract: whatever arrives from any address is handled,
dropped or counted; ``datagram_received`` never raises (an exception there is logged per datagram
by asyncio, a lever for flooding the log)."""

from __future__ import annotations

import os

import pytest
from aioice import stun
from hypothesis import example, given, strategies as st
from pylibsrtp import Error as PeerSrtpError, Policy, Session

from jitsi_py.bridge.dtls import SRTP_AES128_CM_SHA1_80, DtlsSession
from jitsi_py.bridge.srtp import SrtpContext
from tests.support.fuzz import inputs, mutated

from .memory import bridge_in_memory
from .test_rtcp_fuzz import SAMPLES as RTCP_SAMPLES
from .test_rtp_fuzz import SAMPLES as RTP_SAMPLES

pytestmark = pytest.mark.fuzz

PEER = ("127.0.0.1", 40000)
STRANGER = ("127.0.0.1", 40001)
REMOTE_UFRAG, REMOTE_PWD = "peer", "peer-password-0123456789"
PROFILE = SRTP_AES128_CM_SHA1_80
OURS, THEIRS = os.urandom(30), os.urandom(30)


def binding(ufrag: str, pwd: str, cls=stun.Class.REQUEST, **attributes) -> bytes:
    message = stun.Message(stun.Method.BINDING, cls, attributes=attributes)
    message.add_message_integrity(pwd.encode())
    message.add_fingerprint()
    return bytes(message)


def client_hello(certificate) -> bytes:
    session = DtlsSession(certificate, client=True)
    session.start(0.0)
    return b"".join(session.datagrams_to_send())


def stun_samples(ufrag: str, pwd: str) -> list[bytes]:
    username = f"{ufrag}:{REMOTE_UFRAG}"
    return [
        binding(ufrag, pwd, USERNAME=username, PRIORITY=1853824767, **{"ICE-CONTROLLED": 42}),
        binding(ufrag, pwd, USERNAME=username, PRIORITY=1, **{"ICE-CONTROLLING": 1 << 63, "USE-CANDIDATE": None}),
        binding(ufrag, REMOTE_PWD, stun.Class.RESPONSE, **{"XOR-MAPPED-ADDRESS": ("127.0.0.1", 5000)}),
        binding(ufrag, REMOTE_PWD, stun.Class.ERROR, **{"ERROR-CODE": (487, "Role Conflict")}),
        bytes(stun.Message(stun.Method.BINDING, stun.Class.INDICATION)),
    ]


class Peer:
    """The other end of alice's SRTP: protects what the test sends (mutated before protection, so
    it passes authentication and reaches the parsers behind libsrtp)."""

    def __init__(self) -> None:
        self.session = Session(Policy(key=THEIRS, ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                                      srtp_profile=PROFILE.libsrtp))

    def protect(self, plain: bytes) -> bytes | None:
        try:
            if len(plain) > 1 and 192 <= plain[1] <= 223:
                return self.session.protect_rtcp(plain)
            return self.session.protect(plain)
        except PeerSrtpError:
            return None  # too short or too broken for libsrtp to protect: sent raw below anyway


@st.composite
def datagrams(draw):
    """(kind, bytes, from the peer): raw STUN/DTLS-shaped bytes or plain media to protect."""
    kind = draw(st.sampled_from(["stun", "dtls", "srtp", "raw"]))
    if kind == "srtp":
        data = draw(inputs(RTP_SAMPLES + RTCP_SAMPLES))
    elif kind == "raw":
        data = draw(st.binary(max_size=64))
    else:
        data = b""  # drawn in the test: the samples need the endpoint's credentials
    return kind, data, draw(st.booleans()) or kind == "srtp"


@given(sent=st.lists(datagrams(), min_size=1, max_size=10), edits=st.data())
# A one-byte datagram from a validated address read data[1] (IndexError) before the fix.
@example(sent=[("raw", b"\x80", True), ("raw", b"", True), ("raw", b"\x00", True)], edits=None)
@example(sent=[("stun", b"", True), ("dtls", b"", True), ("srtp", RTP_SAMPLES[0], True),
               ("srtp", RTCP_SAMPLES[-1], True)], edits=None)
def test_any_datagram_from_any_address_is_handled_or_dropped(sent, edits):
    memory = bridge_in_memory()
    port, alice = memory.bridge.port, memory.alice
    try:
        alice.ice.set_remote_credentials(REMOTE_UFRAG, REMOTE_PWD, 0.0)
        stuns = stun_samples(alice.ice.local_ufrag, alice.ice.local_pwd)
        port.datagram_received(stuns[0], PEER)  # a valid check: PEER's address now routes to alice
        assert PEER in alice.ice.validated
        alice.srtp = SrtpContext(PROFILE, OURS, THEIRS)
        peer = Peer()
        for kind, data, from_peer in sent:
            if kind == "stun":
                data = edits.draw(mutated(stuns)) if edits else stuns[1]
            elif kind == "dtls":
                hello = client_hello(memory.bridge.certificate)
                data = edits.draw(mutated([hello])) if edits else hello
            elif kind == "srtp":
                data = peer.protect(data) or data
            port.datagram_received(data, PEER if from_peer else STRANGER)
    finally:
        memory.close()
