"""SRTP/SRTCP contexts (RFC 3711, RFC 7714) for one endpoint, on pylibsrtp.

One inbound session (the endpoint's keys: unprotect, replay and auth checks) and one outbound
session (ours: protect what we forward to it). pylibsrtp raises ``pylibsrtp.Error`` on a replay or
a bad tag; the caller drops the packet and counts it.
"""

from __future__ import annotations

from pylibsrtp import Policy, Session

from .dtls import SrtpProfile

REPLAY_WINDOW = 1024


class SrtpContext:
    def __init__(self, profile: SrtpProfile, local_key: bytes, remote_key: bytes) -> None:
        rx = Policy(key=remote_key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile.libsrtp)
        rx.window_size = REPLAY_WINDOW
        tx = Policy(key=local_key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile.libsrtp)
        # Retransmissions for NACKs re-protect a packet with an index already used.
        tx.allow_repeat_tx = True
        tx.window_size = REPLAY_WINDOW
        self.rx = Session(policy=rx)
        self.tx = Session(policy=tx)
        self.unprotect = self.rx.unprotect
        self.unprotect_rtcp = self.rx.unprotect_rtcp
        self.protect = self.tx.protect
        self.protect_rtcp = self.tx.protect_rtcp
