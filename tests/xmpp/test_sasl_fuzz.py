"""Fuzzing SASL as the server runs it: the base64 text of <auth/> and <response/>, PLAIN, and the
SCRAM-SHA-1/256 client-first and client-final messages, valid ones mutated (the final message
carries a correct proof for the server's nonce before it is mutated, so the proof check itself is
exercised). The contract (sasl.py): each step gives a challenge or a success, or raises
:class:`AuthFailure`; nothing else, and a wrong proof never succeeds."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac

import pytest
from hypothesis import example, given, strategies as st

from jitsi_py.xmpp.auth.base import Attempt, AuthFailure, Identity
from jitsi_py.xmpp.sasl import MECHANISMS, SCRAM_HASHES, SaslExchange, Success, decode_payload, scram_credentials

from tests.support.fuzz import mutated

pytestmark = pytest.mark.fuzz

PASSWORD = "pencil"
CREDENTIALS = {h: scram_credentials(PASSWORD, h, b"salt-0123456789a", 64) for h in SCRAM_HASHES.values()}


class Accounts:
    """An auth backend with one account, ``user``, as the internal backend stores it."""

    name = "fuzz"
    mechanisms = MECHANISMS

    async def anonymous(self, attempt):
        return Identity(None, anonymous=True)

    async def plain(self, attempt, username, password):
        if (username, password) != ("user", PASSWORD):
            raise AuthFailure("not-authorized", "unknown user or wrong password")
        return Identity(username)

    async def scram_credentials(self, attempt, username, hash_name):
        return CREDENTIALS[hash_name] if username == "user" else None


ATTEMPT = Attempt(domain="meet.jitsi", transport="tcp")
CLIENT_FIRSTS = [b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", b"y,,n=user,r=abc", b"n,a=user,n=user,r=x",
                 b"n,,n=us=3Der=2C,r=x,ext=1"]
PLAINS = [b"\x00user\x00pencil", b"user@meet.jitsi\x00user\x00pencil", b"\x00user\x00wrong"]


def client_final(server_first: bytes, client_first: bytes, hash_name: str, password: str = PASSWORD) -> bytes:
    """RFC 5802 §3, the client's side."""
    attrs = dict(part.split("=", 1) for part in server_first.decode().split(","))
    salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    gs2, bare = client_first.split(b",", 2)[:2], client_first.split(b",", 2)[2]
    without_proof = b"c=" + base64.b64encode(b",".join(gs2) + b",") + b",r=" + attrs["r"].encode()
    auth_message = bare + b"," + server_first + b"," + without_proof
    client_key = hmac.new(salted, b"Client Key", hash_name).digest()
    signature = hmac.new(hashlib.new(hash_name, client_key).digest(), auth_message, hash_name).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    return without_proof + b",p=" + base64.b64encode(proof)


async def exchange(mechanism: str, first: bytes | None, edits, wire_text: str | None) -> None:
    try:
        if wire_text is not None:
            first = decode_payload(wire_text)
        sasl = SaslExchange(Accounts(), ATTEMPT, mechanism)
        result = await sasl.step(first)
        if mechanism in SCRAM_HASHES and not isinstance(result, Success) and result.data:
            valid = client_final(result.data, first, SCRAM_HASHES[mechanism])
            final = edits.draw(mutated([valid], max_edits=3)) if edits else valid
            result = await sasl.step(final)  # any change to the signed message breaks the proof
            assert isinstance(result, Success) and result.data.startswith(b"v=") and final == valid
    except AuthFailure as failure:
        assert failure.condition in ("malformed-request", "not-authorized", "invalid-authzid", "invalid-mechanism")


@given(mechanism=st.sampled_from(MECHANISMS + ("DIGEST-MD5",)),
       first=st.one_of(mutated(CLIENT_FIRSTS + PLAINS, max_edits=3), st.binary(max_size=64), st.none()),
       wire=st.none() | st.text(max_size=40) | mutated([base64.b64encode(m) for m in CLIENT_FIRSTS]).map(
           lambda b: b.decode("latin-1")),
       edits=st.data())
@example(mechanism="SCRAM-SHA-256", first=CLIENT_FIRSTS[0], wire=None, edits=None)
@example(mechanism="SCRAM-SHA-1", first=CLIENT_FIRSTS[3], wire=None, edits=None)
@example(mechanism="PLAIN", first=None, wire="=", edits=None)
def test_any_sasl_exchange_succeeds_challenges_or_fails_with_auth_failure(mechanism, first, wire, edits):
    asyncio.run(exchange(mechanism, first, edits, wire))
