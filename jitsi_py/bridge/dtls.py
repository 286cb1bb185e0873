"""A sans-I/O DTLS 1.2 session (RFC 6347) over an OpenSSL memory BIO, with DTLS-SRTP (RFC 5764).

The bridge is the DTLS server (browsers answer ``setup="active"``). Records go in with
:meth:`DtlsSession.receive`; records to send and the next retransmission deadline come out. After
the handshake the peer certificate is checked against the fingerprints signalled over Colibri2,
and :meth:`srtp_keys` gives the keys for ``srtp.py``. Application data (SCTP over DTLS, RFC 8261)
comes out of :meth:`receive` and goes in with :meth:`send`.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from OpenSSL import SSL

MTU = 1200
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha-1": hashes.SHA1, "sha-224": hashes.SHA224, "sha-256": hashes.SHA256, "sha-384": hashes.SHA384,
    "sha-512": hashes.SHA512}
CIPHERS = (b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
           b"ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA")


@dataclass(frozen=True)
class SrtpProfile:
    """An SRTP protection profile: its OpenSSL name, libsrtp number, key and salt lengths."""

    openssl_name: bytes
    libsrtp: int
    key_length: int
    salt_length: int


# Preference order of the real bridge (docs/bridge-media.md §3.1); numbers are libsrtp's.
SRTP_AEAD_AES_128_GCM = SrtpProfile(b"SRTP_AEAD_AES_128_GCM", 7, 16, 12)
SRTP_AES128_CM_SHA1_80 = SrtpProfile(b"SRTP_AES128_CM_SHA1_80", 1, 16, 14)
SRTP_PROFILES = (SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_SHA1_80)


class DtlsError(Exception):
    """The handshake failed or the peer is not who Colibri2 said; the endpoint's DTLS is dead."""


class Certificate:
    """The bridge's self-signed ECDSA certificate, shared by all endpoints, and its fingerprint.

    ``now`` is the wall-clock time (UTC) it is issued at; it is valid from a day before, for a year.
    """

    def __init__(self, now: datetime.datetime) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, os.urandom(8).hex())])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
        self.fingerprint = fingerprint(cert, "sha-256")
        self.context = SSL.Context(SSL.DTLS_METHOD)
        self.context.set_options(SSL.OP_NO_TICKET | SSL.OP_NO_QUERY_MTU)
        # Any certificate is accepted here; it is checked against the signalled fingerprint after.
        self.context.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *args: True)
        self.context.use_certificate(cert)
        self.context.use_privatekey(key)
        self.context.set_cipher_list(CIPHERS)
        self.context.set_tlsext_use_srtp(b":".join(p.openssl_name for p in SRTP_PROFILES))


def fingerprint(cert: x509.Certificate, algorithm: str) -> str:
    digest = cert.fingerprint(HASHES[algorithm]()).hex().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


class DtlsSession:
    """One endpoint's DTLS association; server role unless ``client=True``."""

    def __init__(self, certificate: Certificate, *, client: bool = False) -> None:
        self._ssl = SSL.Connection(certificate.context, None)
        # A memory BIO has no path MTU to query: records must fit one datagram on any path.
        self._ssl.set_ciphertext_mtu(MTU)
        if client:
            self._ssl.set_connect_state()
        else:
            self._ssl.set_accept_state()
        self.client = client
        self.remote_fingerprints: list[tuple[str, str]] = []  # (hash, value) from Colibri2
        self.connected = False
        self.failed: str | None = None
        self._handshake_done = False
        self._started = client
        self._timer: float | None = None

    def start(self, now: float) -> None:
        """A client sends its ClientHello now; a server waits for one."""
        if self.client:
            self._handshake(now)

    def receive(self, data: bytes, now: float) -> list[bytes]:
        """Feed one datagram of DTLS records; returns application data (SCTP packets)."""
        if self.failed:
            return []
        if data:
            self._ssl.bio_write(data)
        if not self.connected:
            if not self._handshake_done:
                self._handshake(now)
            if self._handshake_done and not self.failed:
                self._check_fingerprint()
            if not self.connected:
                return []
        received = []
        while True:
            try:
                received.append(self._ssl.recv(65536))
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                self.failed = "closed by peer"
                break
            except SSL.Error as exc:
                self.failed = f"DTLS error: {exc}"
                break
        return received

    def send(self, data: bytes) -> None:
        if self.connected and not self.failed:
            self._ssl.send(data)

    def datagrams_to_send(self) -> list[bytes]:
        out = []
        while True:
            try:
                out.append(self._ssl.bio_read(65536))
            except SSL.WantReadError:
                return out

    def get_timer(self) -> float | None:
        return None if self.connected or self.failed else self._timer

    def handle_timer(self, now: float) -> None:
        if self._timer is not None and now >= self._timer and not self.connected and not self.failed:
            self._ssl.DTLSv1_handle_timeout()
            self._arm(now)

    def srtp_keys(self) -> tuple[SrtpProfile, bytes, bytes]:
        """(profile, our key+salt, the peer's key+salt) from the exporter (RFC 5764 §4.2)."""
        name = self._ssl.get_selected_srtp_profile()
        profile = next((p for p in SRTP_PROFILES if p.openssl_name == name), None)
        if profile is None:
            raise DtlsError("no SRTP protection profile was negotiated")
        k, s = profile.key_length, profile.salt_length
        material = self._ssl.export_keying_material(b"EXTRACTOR-dtls_srtp", 2 * (k + s))
        client = material[:k] + material[2 * k:2 * k + s]
        server = material[k:2 * k] + material[2 * k + s:]
        return (profile, client, server) if self.client else (profile, server, client)

    def _handshake(self, now: float) -> None:
        try:
            self._ssl.do_handshake()
        except SSL.WantReadError:
            self._arm(now)
            return
        except SSL.Error as exc:
            self.failed = f"DTLS handshake failed: {exc}"
            return
        self._handshake_done = True

    @property
    def awaiting_fingerprint(self) -> bool:
        """Handshake done before the focus relayed the peer's fingerprint: browsers start DTLS
        as soon as they answer, so their ClientHello often beats the Colibri2 update."""
        return self._handshake_done and not self.connected and not self.failed

    def _check_fingerprint(self) -> None:
        """Connect once the certificate matches a signalled fingerprint; until one is signalled,
        nothing passes (application records stay buffered in OpenSSL, no SRTP keys are used)."""
        if not self.remote_fingerprints:
            return
        cert = self._ssl.get_peer_certificate(as_cryptography=True)
        if cert is None:
            self.failed = "the peer sent no certificate"
            return
        known = [(h.lower(), v.upper()) for h, v in self.remote_fingerprints if h.lower() in HASHES]
        if not known:
            self.failed = "no usable fingerprint was signalled for the peer"
        elif not any(fingerprint(cert, h) == v for h, v in known):
            self.failed = "the peer's certificate does not match the signalled fingerprint"
        else:
            self.connected = True

    def _arm(self, now: float) -> None:
        timeout = self._ssl.DTLSv1_get_timeout()
        self._timer = now + timeout if timeout is not None else None
