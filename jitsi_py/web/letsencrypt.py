"""Let's Encrypt certificates through certbot's ``acme`` library, HTTP-01 on the HTTP port.

Upstream runs acme.sh in standalone mode on port 8000; here the web service's own HTTP listener
answers ``/.well-known/acme-challenge/<token>`` from :class:`Http01Responder`, and the ACME
exchange (blocking, ``requests`` based) runs in a worker thread. The certificate lands where
upstream's ssl.conf reads it: ``acme-certs/<domain>/fullchain.pem`` and ``key.pem``.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..settings.web import Tls

logger = logging.getLogger("jitsi_py.web.letsencrypt")

DIRECTORIES = {
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt_test": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
RENEW_BEFORE = datetime.timedelta(days=30)
CHECK_EVERY = 12 * 3600.0  # seconds between expiry checks
RETRY_AFTER = 3600.0  # seconds after a failed attempt
CHALLENGE_PREFIX = "/.well-known/acme-challenge/"


class AcmeConfigError(ValueError):
    """ENABLE_LETSENCRYPT without what it needs; the message names the variable."""


@dataclass(frozen=True)
class AcmePlan:
    domain: str
    email: str | None
    directory: str
    cert_dir: Path
    account_key: Path
    ca_bundle: Path | None = None  # trust for the directory's HTTPS; None: the system CAs

    @property
    def fullchain(self) -> Path:
        return self.cert_dir / "fullchain.pem"

    @property
    def key(self) -> Path:
        return self.cert_dir / "key.pem"


def plan(tls: Tls, web_config_dir: Path) -> AcmePlan:
    if not tls.letsencrypt_domain:
        raise AcmeConfigError("LETSENCRYPT_DOMAIN is required when ENABLE_LETSENCRYPT=1")
    server = tls.acme_server.strip()
    if tls.letsencrypt_staging:
        directory = DIRECTORIES["letsencrypt_test"]
    elif server.startswith("https://"):
        directory = server
    elif server.lower() in DIRECTORIES:
        directory = DIRECTORIES[server.lower()]
    else:
        raise AcmeConfigError(
            f"LETSENCRYPT_ACME_SERVER={server!r}: expected letsencrypt, letsencrypt_test or a directory "
            "URL (servers needing external account binding, such as zerossl, are not supported)")
    return AcmePlan(
        domain=tls.letsencrypt_domain,
        email=tls.letsencrypt_email,
        directory=directory,
        cert_dir=web_config_dir / "acme-certs" / tls.letsencrypt_domain,
        account_key=web_config_dir / "acme-account" / "account.key",
        ca_bundle=tls.acme_ca_bundle,
    )


class Http01Responder:
    """token -> key authorization, set while a challenge is pending; read by the HTTP route."""

    def __init__(self) -> None:
        self._pending: dict[str, str] = {}

    def add(self, token: str, key_authorization: str) -> None:
        self._pending[token] = key_authorization

    def remove(self, token: str) -> None:
        self._pending.pop(token, None)

    def answer(self, token: str) -> str | None:
        return self._pending.get(token)


def needs_certificate(acme: AcmePlan, now: datetime.datetime | None = None) -> bool:
    if not acme.fullchain.is_file() or not acme.key.is_file():
        return True
    cert = x509.load_pem_x509_certificate(acme.fullchain.read_bytes())
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return cert.not_valid_after_utc - now < RENEW_BEFORE


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def obtain(acme: AcmePlan, responder: Http01Responder, timeout: float = 90.0) -> None:
    """One full issuance (blocking): account, order, HTTP-01, finalize, write the files."""
    import josepy  # noqa: PLC0415 - only loaded when Let's Encrypt is on
    from acme import challenges, client, crypto_util, errors, messages  # noqa: PLC0415

    if acme.account_key.is_file():
        account_key = serialization.load_pem_private_key(acme.account_key.read_bytes(), None)
    else:
        account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_private(acme.account_key, _pem(account_key))
    jwk = josepy.JWKRSA(key=account_key)
    verify: bool | str = str(acme.ca_bundle) if acme.ca_bundle else True
    net = client.ClientNetwork(jwk, user_agent="jitsi-py-web", verify_ssl=verify)
    directory = client.ClientV2.get_directory(acme.directory, net)
    acme_client = client.ClientV2(directory, net=net)
    registration = messages.NewRegistration.from_data(email=acme.email, terms_of_service_agreed=True)
    try:
        acme_client.new_account(registration)
    except errors.ConflictError as exists:  # the key already has an account: look it up
        acme_client.query_registration(
            messages.RegistrationResource(uri=exists.location, body=messages.Registration()))

    cert_key = ec.generate_private_key(ec.SECP256R1())
    csr = crypto_util.make_csr(_pem(cert_key), [acme.domain])
    order = acme_client.new_order(csr)
    tokens: list[str] = []
    try:
        for authz in order.authorizations:
            if authz.body.status == messages.STATUS_VALID:  # reused from an earlier order: nothing to answer
                continue
            http01 = next((c for c in authz.body.challenges if isinstance(c.chall, challenges.HTTP01)), None)
            if http01 is None:
                raise RuntimeError(f"the ACME server offered no http-01 challenge for {acme.domain}")
            response, validation = http01.response_and_validation(jwk)
            token = http01.chall.encode("token")
            responder.add(token, validation)
            tokens.append(token)
            acme_client.answer_challenge(http01, response)
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=timeout)
        order = acme_client.poll_and_finalize(order, deadline=deadline)
    finally:
        for token in tokens:
            responder.remove(token)
    acme.cert_dir.mkdir(parents=True, exist_ok=True)
    _write_private(acme.key, _pem(cert_key))
    acme.fullchain.write_text(order.fullchain_pem)
    logger.info("obtained a certificate for %s from %s", acme.domain, acme.directory)


async def keep_certificate(acme: AcmePlan, responder: Http01Responder, on_new_certificate) -> None:
    """Obtain when missing or near expiry, then check twice a day; failures are retried hourly."""
    while True:
        delay = CHECK_EVERY
        if needs_certificate(acme):
            try:
                await asyncio.to_thread(obtain, acme, responder)
            except Exception as exc:  # noqa: BLE001 - any ACME/network failure: keep serving, retry
                logger.error("Let's Encrypt for %s failed (%s: %s); retrying in %d s",
                             acme.domain, type(exc).__name__, exc, RETRY_AFTER)
                delay = RETRY_AFTER
            else:
                on_new_certificate()
        await asyncio.sleep(delay)
