"""SRTP/SRTCP contexts (RFC 3711, RFC 7714) for one endpoint, on libsrtp through pylibsrtp's binding.

One inbound session (the endpoint's keys: unprotect, replay and auth checks) and outbound
sessions with our keys: one per SSRC we forward to the endpoint, and one for our RTCP. libsrtp
finds a packet's stream by walking a linked list of its session's streams; a receiver gets one
stream per forwarded source, and that walk, a cache miss per node, was a quarter of the bridge's
CPU at 40 participants. With a session per outgoing SSRC the walk ends at its first node.

pylibsrtp's ``Session`` takes and returns ``bytes`` and allocates per call; the forwarding path
instead calls libsrtp through the same cffi binding on one preallocated buffer per context: a
forwarded packet is copied in once, protected in place and sent from that buffer (a view of it,
or its ``iov`` in a batched send, sendmmsg.py). A failure (a replay, a bad tag, a packet too long
for the buffer) raises ``SrtpError``; the caller drops the packet and counts it.
"""

from __future__ import annotations

import struct

from pylibsrtp import Error as SrtpError
from pylibsrtp._binding import ffi, lib

from .dtls import SrtpProfile
from .sendmmsg import iovec

__all__ = ["SrtpContext", "SrtpError"]

REPLAY_WINDOW = 1024  # inbound: how far back a late packet is still accepted
# Outbound, libsrtp keeps the same window over what it protected (shifted per packet): it only has
# to reach as far back as a retransmission may, the forwarder's NACK history (256 per stream).
RETRANSMIT_WINDOW = 256
BUFFER_SIZE = 2048  # past any datagram a browser sends over a 1500-byte MTU
# What libsrtp may append: the auth tag and MKI (RTP), plus the SRTCP index (RTCP).
RTP_TRAILER = 16 + 128
RTCP_TRAILER = 4 + 16 + 128
MAX_RTP = BUFFER_SIZE - RTP_TRAILER
# Outgoing SSRCs with a session of their own (about 4 KB each); any further ones share the RTCP
# session: still correct (an SSRC keeps the session it started with), only slower.
MAX_OWN_SESSIONS = 256
SSRC = struct.Struct("!I")
STATUS = {7: "authentication failure", 9: "replay check failed (bad index)",
          10: "replay check failed (index too old)", 2: "unsupported parameter"}


def _fail(status: int) -> SrtpError:
    return SrtpError(STATUS.get(status, f"libsrtp status {status}"))


def _session(profile: SrtpProfile, key: bytes, ssrc_type: int, window: int, repeat_tx: bool):
    """A libsrtp session (``srtp_t *``, freed with the returned object) for one direction."""
    if len(key) != profile.key_length + profile.salt_length:
        raise ValueError(f"{profile.openssl_name.decode()} needs {profile.key_length + profile.salt_length} "
                         f"bytes of key and salt, got {len(key)}")
    policy = ffi.new("srtp_policy_t *")
    for crypto, setter in ((policy.rtp, lib.srtp_crypto_policy_set_from_profile_for_rtp),
                           (policy.rtcp, lib.srtp_crypto_policy_set_from_profile_for_rtcp)):
        status = setter(ffi.addressof(crypto), profile.libsrtp)
        if status:
            raise _fail(status)
    key_buffer = ffi.new("unsigned char[]", key)
    policy.key = key_buffer
    policy.ssrc.type = ssrc_type
    policy.window_size = window
    # Retransmissions for NACKs re-protect a packet with an index already used.
    policy.allow_repeat_tx = 1 if repeat_tx else 0
    session = ffi.new("srtp_t *")
    status = lib.srtp_create(session, policy)  # copies what it needs from the policy and key
    if status:
        raise _fail(status)
    return ffi.gc(session, lambda s: lib.srtp_dealloc(s[0]))


class SrtpContext:
    def __init__(self, profile: SrtpProfile, local_key: bytes, remote_key: bytes) -> None:
        self._rx_session = _session(profile, remote_key, lib.ssrc_any_inbound, REPLAY_WINDOW, repeat_tx=False)
        self._tx_session = _session(profile, local_key, lib.ssrc_any_outbound, RETRANSMIT_WINDOW, repeat_tx=True)
        self._rx = self._rx_session[0]
        self._tx = self._tx_session[0]
        self._profile = profile
        self._local_key = local_key
        self._tx_by_ssrc: dict[int, object] = {}  # SSRC -> its own srtp_t
        self._owners: list[object] = []  # what frees those sessions
        self._buffer = ffi.new("unsigned char[]", BUFFER_SIZE)
        self._bytes = ffi.buffer(self._buffer)  # slicing copies out as bytes
        self._view = memoryview(self._bytes)  # slicing is a view
        self._length = ffi.new("int *")
        # The buffer as a ``struct iovec *`` for a batched send (sendmmsg.py), and what must run
        # before the buffer is written again while a batch still holds it (its flush), else None.
        self.iov = iovec(self._buffer)
        self.pending = None

    def protect(self, packet) -> memoryview:
        """SRTP for one plain RTP packet (any bytes-like object): a view of the result in this
        context's buffer, valid until the next call on this context, so the caller sends it at once."""
        return self._view[:self.protect_in_place(packet)]

    def protect_in_place(self, packet) -> int:
        """SRTP for one plain RTP packet into this context's buffer (``iov``); returns its length."""
        if self.pending is not None:
            self.pending()
        size = len(packet)
        if not 12 <= size <= MAX_RTP:
            raise SrtpError(f"no RTP packet fits {size} bytes")
        ssrc = SSRC.unpack_from(packet, 8)[0]
        session = self._tx_by_ssrc.get(ssrc)
        if session is None:
            session = self._own_session(ssrc)
        buffer = self._buffer
        ffi.memmove(buffer, packet, size)
        length = self._length
        length[0] = size
        status = lib.srtp_protect(session, buffer, length)
        if status:
            raise _fail(status)
        return length[0]

    def _own_session(self, ssrc: int):
        if len(self._tx_by_ssrc) >= MAX_OWN_SESSIONS:
            return self._tx
        owner = _session(self._profile, self._local_key, lib.ssrc_any_outbound, RETRANSMIT_WINDOW,
                         repeat_tx=True)
        self._owners.append(owner)
        session = self._tx_by_ssrc[ssrc] = owner[0]
        return session

    def unprotect(self, data: bytes) -> bytes:
        """The plain RTP packet inside one SRTP datagram, as a new ``bytes``."""
        if self.pending is not None:
            self.pending()
        size = len(data)
        if size > BUFFER_SIZE:
            raise SrtpError(f"packet too long ({size} bytes)")
        buffer = self._buffer
        ffi.memmove(buffer, data, size)
        length = self._length
        length[0] = size
        status = lib.srtp_unprotect(self._rx, buffer, length)
        if status:
            raise _fail(status)
        return self._bytes[0:length[0]]

    def protect_rtcp(self, packet: bytes) -> bytes:
        return self._rtcp(lib.srtp_protect_rtcp, self._tx, packet, RTCP_TRAILER)

    def unprotect_rtcp(self, data: bytes) -> bytes:
        return self._rtcp(lib.srtp_unprotect_rtcp, self._rx, data, 0)

    def _rtcp(self, function, session, data: bytes, trailer: int) -> bytes:
        if self.pending is not None:
            self.pending()
        size = len(data)
        if size > BUFFER_SIZE - trailer:
            raise SrtpError(f"packet too long ({size} bytes)")
        ffi.memmove(self._buffer, data, size)
        self._length[0] = size
        status = function(session, self._buffer, self._length)
        if status:
            raise _fail(status)
        return self._bytes[0:self._length[0]]
