"""SDES-SRTP: the answer to offered crypto lines, and media protected one way and unprotected the other."""

import pytest

from jitsi_py.sip import rtp, sdes
from jitsi_py.sip.sdp import Crypto


def test_both_sides_protect_with_their_own_key_and_unprotect_with_the_others():
    offered, offer_key = sdes.offer_crypto()
    answered, answer_key, seen = sdes.accept([Crypto(9, "F8_128_HMAC_SHA1_80", "inline:x"), offered])
    assert (answered.tag, answered.suite, seen) == (offered.tag, offered.suite, offer_key)
    caller = sdes.Protection(offered.suite, offer_key, sdes.Protection.their_key(answered))
    callee = sdes.Protection(answered.suite, answer_key, offer_key)
    packet = rtp.write(0, True, 7, 160, 0x1234, bytes(160))
    protected = caller.protect(packet)
    assert protected != packet and callee.unprotect(protected) == packet
    with pytest.raises(sdes.SrtpError):
        callee.unprotect(protected[:-1] + bytes([protected[-1] ^ 1]))  # a forged tag


@pytest.mark.parametrize("params", ["inline:not*base64", "inline:c2hvcnQ=", "uri:https://keys.example"])
def test_lines_we_cannot_use_are_passed_over(params):
    assert sdes.accept([Crypto(1, "AES_CM_128_HMAC_SHA1_80", params)]) is None
