"""The TLS pair: made once when absent, an operator's half pair refused (never replaced), and a pair
that cannot be used named in one line, file by file."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from jitsi_py.common.startup import StartupError
from jitsi_py.common.tls import ensure_self_signed, server_context


@pytest.fixture
def pair(tmp_path):
    cert, key = tmp_path / "keys" / "cert.crt", tmp_path / "keys" / "cert.key"
    assert ensure_self_signed(cert, key, ["meet.example.com", "127.0.0.1"])
    return cert, key


def test_made_once_then_kept(pair):
    cert, key = pair
    before = cert.read_bytes(), key.read_bytes()
    assert not ensure_self_signed(cert, key, ["other.example.com"])
    assert (cert.read_bytes(), key.read_bytes()) == before
    assert server_context(cert, key)


@pytest.mark.parametrize("removed", ["cert.key", "cert.crt"])
def test_half_a_pair_is_refused_and_left_alone(pair, removed):
    cert, key = pair
    kept = key if removed == "cert.crt" else cert
    (cert.parent / removed).unlink()
    before = kept.read_bytes()
    with pytest.raises(StartupError) as caught:
        ensure_self_signed(cert, key, ["localhost"])
    assert str(caught.value).startswith(f"{cert.parent / removed}: no such file, but {kept} is there")
    assert kept.read_bytes() == before
    assert not (cert.parent / removed).exists()


def test_garbage_certificate_is_named(pair):
    cert, key = pair
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(StartupError, match=f"^{cert}: not a PEM certificate$"):
        server_context(cert, key)


def test_garbage_key_is_named(pair):
    cert, key = pair
    key.write_text("hello\n")
    with pytest.raises(StartupError, match=f"^{key}: not a PEM private key$"):
        server_context(cert, key)


def test_a_key_of_another_certificate_is_named(pair, tmp_path):
    cert, key = pair
    ensure_self_signed(tmp_path / "other.crt", tmp_path / "other.key", ["localhost"])
    key.write_bytes((tmp_path / "other.key").read_bytes())
    with pytest.raises(StartupError, match=f"^{key}: not the private key of {cert}$"):
        server_context(cert, key)


def test_an_encrypted_key_is_refused_without_a_prompt(pair):
    cert, key = pair
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.BestAvailableEncryption(b"passphrase")))
    with pytest.raises(StartupError, match="encrypted"):
        server_context(cert, key)


def test_an_unreadable_file_is_named(pair):
    cert, key = pair
    key.unlink()
    key.mkdir()  # unreadable even for root, unlike a chmod
    with pytest.raises(StartupError, match=f"^{key}: cannot read it: Is a directory$"):
        server_context(cert, key)
