"""The SRTP context on libsrtp's binding, against pylibsrtp's own Session as the peer."""

import os
import struct

import pytest
from pylibsrtp import Policy, Session

from jitsi_py.bridge import srtp
from jitsi_py.bridge.dtls import SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_SHA1_80
from jitsi_py.bridge.forwarder import HISTORY
from jitsi_py.bridge.srtp import BUFFER_SIZE, MAX_RTP, SrtpContext, SrtpError, ffi, srtp_protect


def rtp(seq, payload=b"payload"):
    return struct.pack("!BBHII", 0x80, 100, seq, seq * 3000, 1234) + payload


def protect(context: SrtpContext, packet: bytes) -> bytes:
    """What Endpoint.deliver does to a forwarded packet, in a buffer of our own."""
    buffer, length = ffi.new("unsigned char[]", BUFFER_SIZE), ffi.new("int *", len(packet))
    ffi.memmove(buffer, packet, len(packet))
    status = srtp_protect(context.tx_session(struct.unpack_from("!I", packet, 8)[0]), buffer, length)
    if status:
        raise srtp._fail(status)
    return ffi.buffer(buffer, length[0])[:]


def pair(profile):
    ours, theirs = os.urandom(profile.key_length + profile.salt_length), os.urandom(
        profile.key_length + profile.salt_length)
    context = SrtpContext(profile, ours, theirs)
    peer_tx = Session(Policy(key=theirs, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile.libsrtp))
    peer_rx = Session(Policy(key=ours, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile.libsrtp))
    return context, peer_tx, peer_rx


@pytest.mark.parametrize("profile", [SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_SHA1_80])
def test_both_directions_interoperate_with_pylibsrtp(profile):
    context, peer_tx, peer_rx = pair(profile)
    assert context.unprotect(peer_tx.protect(rtp(1))) == rtp(1)
    assert peer_rx.unprotect(protect(context, rtp(2))) == rtp(2)
    report = b"\x80\xc9\x00\x01" + struct.pack("!I", 99)
    assert context.unprotect_rtcp(peer_tx.protect_rtcp(report)) == report
    assert peer_rx.unprotect_rtcp(context.protect_rtcp(report)) == report


def test_replays_bad_tags_and_oversized_packets_raise_srtp_error_and_the_largest_packet_fits():
    context, peer_tx, _ = pair(SRTP_AEAD_AES_128_GCM)
    packet = peer_tx.protect(rtp(1))
    context.unprotect(packet)
    with pytest.raises(SrtpError, match="replay"):
        context.unprotect(packet)
    tampered = bytearray(peer_tx.protect(rtp(2)))
    tampered[-1] ^= 1
    with pytest.raises(SrtpError, match="authentication"):
        context.unprotect(bytes(tampered))
    assert context.unprotect(peer_tx.protect(rtp(3))) == rtp(3)  # a failure costs nothing else
    with pytest.raises(SrtpError, match="too long"):
        context.unprotect(bytes(4096))
    assert len(protect(context, rtp(5, bytes(MAX_RTP - 12)))) == MAX_RTP + 16 <= BUFFER_SIZE


def test_retransmissions_may_repeat_an_index_and_keys_must_fit_the_profile():
    context, _, peer_rx = pair(SRTP_AES128_CM_SHA1_80)
    first = protect(context, rtp(7))
    assert protect(context, rtp(7)) == first  # a NACK answer re-protects the same packet
    assert peer_rx.unprotect(first) == rtp(7)
    with pytest.raises(ValueError, match="30 bytes"):
        SrtpContext(SRTP_AES128_CM_SHA1_80, bytes(16), bytes(30))


def test_each_outgoing_ssrc_has_a_session_of_its_own_up_to_a_cap_and_the_peer_sees_one_context(monkeypatch):
    monkeypatch.setattr(srtp, "MAX_OWN_SESSIONS", 2)
    context, _, peer_rx = pair(SRTP_AEAD_AES_128_GCM)
    for seq in range(3):
        for ssrc in (1, 2, 3, 4):  # 3 and 4 share the RTCP session
            packet = struct.pack("!BBHII", 0x80, 100, seq, 0, ssrc) + b"x"
            assert peer_rx.unprotect(protect(context, packet)) == packet
    assert sorted(context.tx_sessions) == [1, 2]


def test_a_retransmission_reaches_as_far_back_as_the_forwarders_nack_history():
    assert srtp.RETRANSMIT_WINDOW >= HISTORY
    context, _, _ = pair(SRTP_AEAD_AES_128_GCM)
    latest = 2 * HISTORY
    for seq in range(latest + 1):
        protect(context, rtp(seq))
    protect(context, rtp(latest - HISTORY + 1))  # the oldest a NACK can still find in the ring
    with pytest.raises(SrtpError, match="too old"):
        protect(context, rtp(latest - srtp.RETRANSMIT_WINDOW))
