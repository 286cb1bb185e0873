"""SRTP/SRTCP contexts (RFC 3711, RFC 7714) for one endpoint, on libsrtp through pylibsrtp's binding.

One inbound session (the endpoint's keys: unprotect, replay and auth checks) and outbound
sessions with our keys: one per SSRC we forward to the endpoint, and one for our RTCP. libsrtp
finds a packet's stream by walking a linked list of its session's streams; a receiver gets one
stream per forwarded source, and that walk, a cache miss per node, was a quarter of the bridge's
CPU at 40 participants. With a session per outgoing SSRC the walk ends at its first node.

pylibsrtp's ``Session`` takes and returns ``bytes`` and allocates per call; the forwarding path
instead calls libsrtp through the same cffi binding: a forwarded packet is copied once into the
buffer it leaves from (a slot of the media port's batch, sendmmsg.py) and protected there in place
with :data:`srtp_protect` and the session :meth:`SrtpContext.tx_session` gives for its SSRC
(``Endpoint.deliver``). Inbound, a failure (a replay, a bad tag, a packet too long for the buffer)
raises ``SrtpError``; the caller drops the packet and counts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pylibsrtp import Error as SrtpError
from pylibsrtp._binding import ffi, lib

from .dtls import SrtpProfile

__all__ = ["SrtpContext", "SrtpError", "srtp_protect"]

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
srtp_protect = lib.srtp_protect  # (srtp_t, buffer, int *length in/out) -> status: 0 is success
STATUS = {7: "authentication failure", 9: "replay check failed (bad index)",
          10: "replay check failed (index too old)", 2: "unsupported parameter"}


def _fail(status: int) -> SrtpError:
    return SrtpError(STATUS.get(status, f"libsrtp status {status}"))


def _session(profile: SrtpProfile, key: bytes, ssrc_type: int, window: int, repeat_tx: bool) -> Any:
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
        self.tx_sessions: dict[int, object] = {}  # SSRC -> its own srtp_t
        self._owners: list[object] = []  # what frees those sessions
        self._buffer = ffi.new("unsigned char[]", BUFFER_SIZE)
        self._bytes = ffi.buffer(self._buffer)  # slicing copies out as bytes
        self._view = memoryview(self._bytes)  # slice assignment copies in (cheaper than ffi.memmove)
        self._length = ffi.new("int *")
        self._length_view = memoryview(ffi.buffer(self._length)).cast("i")  # the same int, cheaper to reach

    def tx_session(self, ssrc: int) -> Any:
        """The outbound libsrtp session for ``ssrc`` (``srtp_t``), made on first use; the forwarding
        path reads ``tx_sessions`` first and calls this only for an SSRC it has not sent yet."""
        session = self.tx_sessions.get(ssrc)
        if session is not None:
            return session
        if len(self.tx_sessions) >= MAX_OWN_SESSIONS:
            return self._tx
        owner = _session(self._profile, self._local_key, lib.ssrc_any_outbound, RETRANSMIT_WINDOW,
                         repeat_tx=True)
        self._owners.append(owner)
        session = self.tx_sessions[ssrc] = owner[0]
        return session

    def unprotect(self, data: bytes) -> bytes:
        """The plain RTP packet inside one SRTP datagram, as a new ``bytes``."""
        size = len(data)
        if size > BUFFER_SIZE:
            raise SrtpError(f"packet too long ({size} bytes)")
        self._view[:size] = data
        length = self._length_view
        length[0] = size
        status = lib.srtp_unprotect(self._rx, self._buffer, self._length)
        if status:
            raise _fail(status)
        plain: bytes = self._bytes[0:length[0]]
        return plain

    def protect_rtcp(self, packet: bytes) -> bytes:
        return self._rtcp(lib.srtp_protect_rtcp, self._tx, packet, RTCP_TRAILER)

    def unprotect_rtcp(self, data: bytes) -> bytes:
        return self._rtcp(lib.srtp_unprotect_rtcp, self._rx, data, 0)

    def _rtcp(self, function: Callable[[Any, Any, Any], int], session: Any, data: bytes, trailer: int) -> bytes:
        size = len(data)
        if size > BUFFER_SIZE - trailer:
            raise SrtpError(f"packet too long ({size} bytes)")
        self._view[:size] = data
        length = self._length_view
        length[0] = size
        status = function(session, self._buffer, self._length)
        if status:
            raise _fail(status)
        packet: bytes = self._bytes[0:length[0]]
        return packet
