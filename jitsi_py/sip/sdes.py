"""SDES-SRTP (RFC 4568): keys exchanged in the SDP's ``a=crypto`` lines, media protected with pylibsrtp.

Each side sends with its own key and receives with the other's. The suites are the two every SIP phone
has: AES_CM_128_HMAC_SHA1_80 (preferred) and _32, with the 30-byte key and salt inline in base64.
"""

from __future__ import annotations

import base64
import secrets

from pylibsrtp import Error as SrtpError, Policy, Session

from .sdp import Crypto

SUITES = {
    "AES_CM_128_HMAC_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}
KEY_SALT = 30

__all__ = ["SUITES", "Protection", "SrtpError", "accept", "offer_crypto"]


def _key_of(crypto: Crypto) -> bytes:
    params = crypto.key_params.split("|", 1)[0]
    if not params.startswith("inline:"):
        raise ValueError(f"crypto {crypto.tag}: key method {params.split(':', 1)[0]!r} is not inline")
    try:
        key = base64.b64decode(params[len("inline:"):], validate=True)
    except ValueError:
        raise ValueError(f"crypto {crypto.tag}: the key is not base64") from None
    if len(key) != KEY_SALT:
        raise ValueError(f"crypto {crypto.tag}: a {len(key)}-byte key and salt (expected {KEY_SALT})")
    return key


def _ours(tag: int, suite: str) -> tuple[Crypto, bytes]:
    key = secrets.token_bytes(KEY_SALT)
    return Crypto(tag, suite, "inline:" + base64.b64encode(key).decode()), key


def offer_crypto() -> tuple[Crypto, bytes]:
    """Our crypto line for an offer, and its key."""
    return _ours(1, "AES_CM_128_HMAC_SHA1_80")


def accept(offered: list[Crypto]) -> tuple[Crypto, bytes, bytes] | None:
    """Our answer to the first offered line we can do: (our line, our key, their key); None if none."""
    for crypto in offered:
        if crypto.suite in SUITES:
            try:
                theirs = _key_of(crypto)
            except ValueError:
                continue
            ours, key = _ours(crypto.tag, crypto.suite)
            return ours, key, theirs
    return None


class Protection:
    """One call's SRTP contexts: ``protect`` what we send, ``unprotect`` what comes (SrtpError if forged)."""

    def __init__(self, suite: str, ours: bytes, theirs: bytes) -> None:
        profile = SUITES[suite]
        self._out = Session(Policy(ours, Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
        self._in = Session(Policy(theirs, Policy.SSRC_ANY_INBOUND, srtp_profile=profile))

    def protect(self, packet: bytes) -> bytes:
        return self._out.protect(packet)

    def protect_rtcp(self, packet: bytes) -> bytes:
        return self._out.protect_rtcp(packet)

    def unprotect(self, packet: bytes) -> bytes:
        return self._in.unprotect(packet)

    @staticmethod
    def their_key(crypto: Crypto) -> bytes:
        return _key_of(crypto)
