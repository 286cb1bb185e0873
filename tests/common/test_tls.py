"""Server TLS: the pair made once when absent, an operator's half pair refused (never replaced), a pair
that cannot be used named in one line, file by file; TLS 1.2 with AEAD suites only (Mozilla
"intermediate"), TLS 1.3 as it comes."""

from __future__ import annotations

import ssl

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


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> ssl.SSLObject:
    """Both ends over memory BIOs; the client's SSLObject once done, or the SSLError either end raised."""
    s_in, s_out, c_in, c_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    srv = server.wrap_bio(s_in, s_out, server_side=True)
    cli = client.wrap_bio(c_in, c_out, server_side=False, server_hostname="localhost")
    done = {"server": False, "client": False}
    for _ in range(10):
        for name, end in (("client", cli), ("server", srv)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return cli
    raise AssertionError("handshake did not finish")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> ssl.SSLContext:
    keys = tmp_path_factory.mktemp("keys")
    ensure_self_signed(keys / "cert.crt", keys / "cert.key", ["localhost"])
    return server_context(keys / "cert.crt", keys / "cert.key")


def _client(ciphers: str | None = None, version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2) -> ssl.SSLContext:
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    client.minimum_version = client.maximum_version = version
    if ciphers:
        client.set_ciphers(ciphers)
    return client


@pytest.mark.parametrize("suite", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256"])
def test_a_client_offering_only_cbc_is_refused(server, suite):
    with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE|NO_SHARED_CIPHER|no shared cipher"):
        _handshake(server, _client(suite + ":@SECLEVEL=0"))


@pytest.mark.parametrize("suite", ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                                   "ECDHE-ECDSA-CHACHA20-POLY1305"])
def test_tls12_aead_suites_are_accepted(server, suite):
    assert _handshake(server, _client(suite)).cipher()[0] == suite


def test_tls13_is_accepted(server):
    assert _handshake(server, _client(version=ssl.TLSVersion.TLSv1_3)).version() == "TLSv1.3"
