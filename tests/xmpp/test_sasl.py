"""SASL mechanisms against the RFC test vectors, and the stored-credential form."""

from __future__ import annotations

import base64

import pytest

from jitsi_py.xmpp.auth.base import AuthFailure, ScramCredentials
from jitsi_py.xmpp.sasl import ScramServer, parse_plain, password_matches, scram_credentials

VECTORS = {
    # RFC 5802 §5
    "sha1": dict(client_nonce="fyko+d2lbbFgONRv9qkxdawL", nonce="fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
                 salt="QSXCR+Q6sek8bf92", proof="v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", verifier="rmF9pqV8S7suAoZWja4dJRkFsKQ="),
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
