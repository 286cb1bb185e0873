"""Fuzzing SASL as the server runs it: the base64 text of <auth/> and <response/>, PLAIN, and the
SCRAM-SHA-1/256 client-first and client-final messages, valid ones mutated (the final message
carries a correct proof for the server's nonce before it is mutated, so the proof check itself is
exercised). The contract (sasl.py): each step gives a challenge, a success, a refusal
(:class:`AuthFailure`, returned) or a question for the backend; nothing else, and a wrong proof
never succeeds."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import example, given, strategies as st

from jitsi_py.xmpp.auth.base import (
    Anonymous,
    AuthFailure,
    BackendAnswer,
    BackendRequest,
    CheckPassword,
    Identity,
)
from jitsi_py.xmpp.sasl import (
    MECHANISM_STEPS,
    SCRAM_HASHES,
    Challenge,
    SaslExchange,
    Success,
    decode_payload,
    scram_credentials,
)
from tests.support.fuzz import mutated

pytestmark = pytest.mark.fuzz

PASSWORD = "pencil"
CREDENTIALS = {h: scram_credentials(PASSWORD, h, b"salt-0123456789a", 64) for h in SCRAM_HASHES.values()}


def backend(request: BackendRequest) -> BackendAnswer:
    """The answers of a backend with one account, ``user``, as the internal backend stores it."""
    if isinstance(request, Anonymous):
        return Identity(None, anonymous=True)
    if isinstance(request, CheckPassword):
        if (request.username, request.password) != ("user", PASSWORD):
            return AuthFailure("not-authorized", "unknown user or wrong password")
        return Identity(request.username)
    return CREDENTIALS[request.hash_name] if request.username == "user" else None


def step(sasl: SaslExchange, message: bytes | None):
    """One client message in, the backend's answers fed back until the exchange answers the client."""
    result = sasl.respond(message)
    while isinstance(result, BackendRequest):
        result = sasl.answer(backend(result))
    assert isinstance(result, (Challenge, Success, AuthFailure)), result
    return result


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


def exchange(mechanism: str, first: bytes | None, edits, wire_text: str | None) -> None:
    try:
        if wire_text is not None:
            first = decode_payload(wire_text)
        sasl = SaslExchange(mechanism)
    except AuthFailure as failure:
        assert failure.condition in ("malformed-request", "invalid-mechanism")
        return
    result = step(sasl, first)
    if mechanism in SCRAM_HASHES and isinstance(result, Challenge) and result.data:
        valid = client_final(result.data, first, SCRAM_HASHES[mechanism])
        final = edits.draw(mutated([valid], max_edits=3)) if edits else valid
        result = step(sasl, final)  # any change to the signed message breaks the proof
        if isinstance(result, Success):
            assert result.data.startswith(b"v=") and final == valid
    if isinstance(result, AuthFailure):
        assert result.condition in ("malformed-request", "not-authorized", "invalid-authzid", "invalid-mechanism")


@given(mechanism=st.sampled_from((*MECHANISM_STEPS, "DIGEST-MD5")),
       first=st.one_of(mutated(CLIENT_FIRSTS + PLAINS, max_edits=3), st.binary(max_size=64), st.none()),
       wire=st.none() | st.text(max_size=40) | mutated([base64.b64encode(m) for m in CLIENT_FIRSTS]).map(
           lambda b: b.decode("latin-1")),
       edits=st.data())
@example(mechanism="SCRAM-SHA-256", first=CLIENT_FIRSTS[0], wire=None, edits=None)
@example(mechanism="SCRAM-SHA-1", first=CLIENT_FIRSTS[3], wire=None, edits=None)
@example(mechanism="PLAIN", first=None, wire="=", edits=None)
def test_any_sasl_exchange_succeeds_challenges_or_fails_with_auth_failure(mechanism, first, wire, edits):
    exchange(mechanism, first, edits, wire)
