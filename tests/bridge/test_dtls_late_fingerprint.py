"""A browser starts DTLS as soon as it answers the offer, so its handshake often completes before
the focus relays its fingerprint to the bridge over Colibri2: nothing may pass until it arrives."""

from jitsi_py.bridge.dtls import Certificate, DtlsSession

from .test_cores import ISSUED, handshake


def _early_handshake():
    server_cert, client_cert = Certificate(ISSUED), Certificate(ISSUED)
    server, client = DtlsSession(server_cert), DtlsSession(client_cert, client=True)
    client.remote_fingerprints = [("sha-256", server_cert.fingerprint)]
    handshake(server, client)
    return server, client, client_cert


def test_handshake_waits_for_the_signalled_fingerprint():
    server, client, client_cert = _early_handshake()
    assert client.connected
    assert server.awaiting_fingerprint and not server.connected and server.failed is None
    client.send(b"sctp init")
    for data in client.datagrams_to_send():
        assert server.receive(data, 1.0) == []  # held, not delivered unverified

    server.remote_fingerprints = [("sha-256", client_cert.fingerprint)]
    assert server.receive(b"", 2.0) == [b"sctp init"]  # the held record comes out once verified
    assert server.connected and not server.awaiting_fingerprint
    assert server.srtp_keys()[1] == client.srtp_keys()[2]


def test_a_late_wrong_fingerprint_fails_the_session():
    server, _, _ = _early_handshake()
    server.remote_fingerprints = [("sha-256", Certificate(ISSUED).fingerprint)]
    assert server.receive(b"", 2.0) == []
    assert not server.connected and "does not match" in server.failed


def test_a_late_fingerprint_with_an_unknown_hash_fails_the_session():
    server, _, _ = _early_handshake()
    server.remote_fingerprints = [("md2", "00:11")]
    server.receive(b"", 2.0)
    assert server.failed == "no usable fingerprint was signalled for the peer"
