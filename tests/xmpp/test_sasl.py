"""SASL mechanisms against the RFC test vectors, the stored-credential form, and each mechanism's pure steps."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from jitsi_py.xmpp.auth.base import (
    Anonymous,
    AuthFailure,
    CheckPassword,
    GetScramCredentials,
    Identity,
    ScramCredentials,
)
from jitsi_py.xmpp.sasl import (
    Challenge,
    SaslExchange,
    ScramServer,
    Success,
    parse_plain,
    password_matches,
    scram_credentials,
)

VECTORS = {
    # RFC 5802 §5
    "sha1": dict(client_nonce="fyko+d2lbbFgONRv9qkxdawL", nonce="fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
                 salt="QSXCR+Q6sek8bf92", proof="v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
                 verifier="rmF9pqV8S7suAoZWja4dJRkFsKQ="),
    # RFC 7677 §3
    "sha256": dict(client_nonce="rOprNGfwEbeRWgbNEkqO", nonce="rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                   salt="W22ZaJ0SNY7soEsUEjb6gQ==", proof="dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                   verifier="6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
}


@pytest.mark.parametrize("hash_name", ["sha1", "sha256"])
def test_scram_rfc_vectors(hash_name):
    v = VECTORS[hash_name]
    creds = scram_credentials("pencil", hash_name, base64.b64decode(v["salt"]), 4096)
    server = ScramServer(hash_name)
    assert server.client_first(f"n,,n=user,r={v['client_nonce']}".encode()) == "user"
    server._nonce = v["nonce"]  # the RFC's server nonce instead of a random one
    first = server.server_first(creds).decode()
    assert first == f"r={v['nonce']},s={v['salt']},i=4096"
    final = server.client_final(f"c=biws,r={v['nonce']},p={v['proof']}".encode())
    assert final == b"v=" + v["verifier"].encode()


def test_scram_wrong_proof_and_tampering():
    creds = scram_credentials("pencil", "sha1")
    server = ScramServer("sha1")
    server.client_first(b"n,,n=user,r=abc")
    server.server_first(creds)
    nonce = server._nonce
    with pytest.raises(AuthFailure) as err:
        server.client_final(f"c=biws,r={nonce},p={base64.b64encode(b'x' * 20).decode()}".encode())
    assert err.value.condition == "not-authorized"
    with pytest.raises(AuthFailure) as err:
        server.client_final(f"c=biws,r=other,p={base64.b64encode(b'x' * 20).decode()}".encode())
    assert err.value.condition == "malformed-request"


@pytest.mark.parametrize("message", [b"p=tls-unique,,n=u,r=x", b"n,,r=x", b"n,,n=u", b"x", b"n,,n=a=b,r=x"])
def test_scram_client_first_refusals(message):
    with pytest.raises(AuthFailure) as err:
        ScramServer("sha1").client_first(message)
    assert err.value.condition == "malformed-request"


def test_plain_parsing_and_stored_form():
    assert parse_plain(b"\x00focus\x00secret") == ("", "focus", "secret")
    with pytest.raises(AuthFailure):
        parse_plain(b"focus\x00secret")
    creds = scram_credentials("secret", "sha256")
    assert isinstance(creds, ScramCredentials) and b"secret" not in creds.stored_key + creds.server_key
    assert password_matches("secret", "sha256", creds) and not password_matches("Secret", "sha256", creds)


# --- the mechanisms as pure steps: client messages and backend answers in, the next step out ---------

def test_plain_asks_the_backend_then_succeeds_and_is_over():
    exchange = SaslExchange("PLAIN")
    assert exchange.checks_password and exchange.username is None
    assert exchange.respond(None) == Challenge(b"")  # no initial response: ask for it
    request = exchange.respond(b"\x00focus\x00secret")
    assert request == CheckPassword("focus", "secret") and "secret" not in repr(request)
    assert exchange.username == "focus"
    assert exchange.answer(Identity("focus")) == Success(Identity("focus"))
    over = exchange.respond(b"\x00focus\x00secret")
    assert isinstance(over, AuthFailure) and over.condition == "malformed-request"


def test_plain_refusals_are_returned_not_raised():
    wrong_authzid = SaslExchange("PLAIN").respond(b"admin\x00focus\x00secret")
    assert isinstance(wrong_authzid, AuthFailure) and wrong_authzid.condition == "invalid-authzid"
    malformed_plain = SaslExchange("PLAIN").respond(b"focus\x00secret")
    assert isinstance(malformed_plain, AuthFailure) and malformed_plain.condition == "malformed-request"
    exchange = SaslExchange("PLAIN")
    exchange.respond(b"\x00focus\x00guess")
    refused = AuthFailure("not-authorized", "wrong password")
    assert exchange.answer(refused) is refused
    assert isinstance(exchange.respond(b"\x00focus\x00again"), AuthFailure)


def test_anonymous_asks_who_whatever_the_client_sent():
    exchange = SaslExchange("ANONYMOUS")
    assert not exchange.checks_password
    assert exchange.respond(b"trace") == Anonymous()
    guest = Identity(None, anonymous=True)
    assert exchange.answer(guest) == Success(guest)


def _client_final(password: str, hash_name: str, client_first_bare: str, server_first: str) -> bytes:
    """What a SCRAM client answers to ``server_first`` (RFC 5802 §3), computed independently."""
    attrs = dict(part.split("=", 1) for part in server_first.split(","))
    salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hash_name).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(hashlib.new(hash_name, client_key).digest(), auth_message, hash_name).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


@pytest.mark.parametrize("mechanism, hash_name", [("SCRAM-SHA-1", "sha1"), ("SCRAM-SHA-256", "sha256")])
def test_scram_asks_for_credentials_then_checks_the_proof_itself(mechanism, hash_name):
    exchange = SaslExchange(mechanism)
    assert exchange.respond(b"n,,n=focus,r=abc") == GetScramCredentials("focus", hash_name)
    assert exchange.username == "focus"
    challenge = exchange.answer(scram_credentials("secret", hash_name))
    assert isinstance(challenge, Challenge) and challenge.data.startswith(b"r=abc")
    success = exchange.respond(_client_final("secret", hash_name, "n=focus,r=abc", challenge.data.decode()))
    assert isinstance(success, Success) and success.identity == Identity("focus")
    assert success.data.startswith(b"v=")

    wrong = SaslExchange(mechanism)
    wrong.respond(b"n,,n=focus,r=abc")
    challenge = wrong.answer(scram_credentials("secret", hash_name))
    refused = wrong.respond(_client_final("guess", hash_name, "n=focus,r=abc", challenge.data.decode()))
    assert isinstance(refused, AuthFailure) and refused.condition == "not-authorized"


def test_scram_unknown_user_is_refused_like_a_wrong_password():
    exchange = SaslExchange("SCRAM-SHA-256")
    exchange.respond(b"n,,n=nobody,r=abc")
    refused = exchange.answer(None)
    assert isinstance(refused, AuthFailure) and refused.condition == "not-authorized"
    assert exchange.username == "nobody"  # the throttle still counts the guess on that account


def test_the_order_of_inputs_is_enforced():
    with pytest.raises(AuthFailure) as err:
        SaslExchange("DIGEST-MD5")
    assert err.value.condition == "invalid-mechanism"
    exchange = SaslExchange("SCRAM-SHA-1")
    exchange.respond(b"n,,n=focus,r=abc")
    early = exchange.respond(b"c=biws,r=abc,p=AAAA")  # the client may not speak before the backend answered
    assert isinstance(early, AuthFailure) and early.condition == "malformed-request"
    with pytest.raises(RuntimeError):
        SaslExchange("PLAIN").answer(Identity("focus"))  # an answer nobody asked for is the glue's bug
