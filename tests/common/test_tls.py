"""Server TLS contexts: TLS 1.2 with AEAD suites only (Mozilla "intermediate"), TLS 1.3 as it comes."""

from __future__ import annotations

import ssl

import pytest

from jitsi_py.common.tls import ensure_self_signed, server_context


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
