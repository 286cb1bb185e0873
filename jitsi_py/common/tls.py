"""TLS material: a self-signed certificate made on first start, and server/client contexts."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .startup import StartupError


def ensure_self_signed(cert_path: Path, key_path: Path, names: list[str], days: int = 3650) -> bool:
    """Write a self-signed certificate for ``names`` unless both files exist; True when made.

    One file of the pair without the other is an operator's certificate half put in place: it is
    refused, never replaced."""
    if cert_path.is_file() and key_path.is_file():
        return False
    for present, missing in ((cert_path, key_path), (key_path, cert_path)):
        if present.exists():
            raise StartupError(f"{missing}: no such file, but {present} is there: put its pair beside it "
                               f"(or remove {present.name} to get a self-signed certificate)")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return True


# TLS 1.2 suites offered, as Mozilla's "intermediate" profile: forward secrecy and AEAD only, no CBC
# (TLS 1.3 has only AEAD suites and ignores this list).
TLS12_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
))


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A server context with the pair; a pair that cannot be used is one line naming the file."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    cert_pem, key_pem = _read(cert_path), _read(key_path)
    try:
        # A password callback that refuses: an encrypted key must not prompt on the terminal.
        context.load_cert_chain(cert_path, key_path, password=_no_password)
    except (ssl.SSLError, TypeError):
        raise StartupError(_unusable(cert_path, cert_pem, key_path, key_pem)) from None
    return context


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StartupError(f"{path}: cannot read it: {exc.strerror or exc}") from None


def _no_password() -> bytes:
    raise TypeError("an encrypted private key")


def _unusable(cert_path: Path, cert_pem: bytes, key_path: Path, key_pem: bytes) -> str:
    """Which of the two files is wrong, for the line the operator reads."""
    try:
        x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return f"{cert_path}: not a PEM certificate"
    try:
        serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        return f"{key_path}: the private key is encrypted; give it without a passphrase"
    except (ValueError, UnsupportedAlgorithm):
        return f"{key_path}: not a PEM private key"
    return f"{key_path}: not the private key of {cert_path}"
