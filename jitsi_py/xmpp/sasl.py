"""SASL (RFC 4422) as the server runs it: ANONYMOUS, PLAIN (RFC 4616), SCRAM-SHA-1/256 (RFC 5802/7677).

First the pure pieces (PLAIN parsing, SCRAM arithmetic and messages), then :class:`SaslExchange`,
which runs one mechanism against an auth backend: each client message in, a challenge or a
success out, an :class:`AuthFailure` on refusal.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from .auth.base import Attempt, AuthBackend, AuthFailure, Identity, ScramCredentials

SCRAM_HASHES = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "ANONYMOUS")
SCRAM_ITERATIONS = 4096  # RFC 7677's minimum; what Prosody stores too
MAX_MESSAGE = 4096  # bytes of one decoded SASL message; anything longer is hostile


def malformed(text: str) -> AuthFailure:
    return AuthFailure("malformed-request", text)


def decode_payload(text: str | None) -> bytes | None:
    """The base64 text of <auth/>/<response/>: None when absent, b"" for "=" (empty response)."""
    if text is None:
        return None
    text = text.strip()
    if text in ("", "="):
        return b""
    if len(text) > MAX_MESSAGE * 4 // 3 + 4:
        raise malformed("SASL message too long")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise malformed("invalid base64") from None


def encode_payload(data: bytes) -> str:
    return base64.b64encode(data).decode() if data else "="


def parse_plain(message: bytes) -> tuple[str, str, str]:
    """``authzid NUL authcid NUL passwd`` -> (authzid, username, password)."""
    parts = message.split(b"\x00")
    if len(parts) != 3 or not parts[1]:
        raise malformed("PLAIN needs authzid\\0username\\0password")
    try:
        authzid, username, password = (p.decode() for p in parts)
    except UnicodeDecodeError:
        raise malformed("PLAIN message is not UTF-8") from None
    return authzid, username, password


def scram_credentials(password: str, hash_name: str, salt: bytes | None = None,
                      iterations: int = SCRAM_ITERATIONS) -> ScramCredentials:
    """The stored form of a password for one hash; the password itself is not kept."""
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hash_name).digest()
    return ScramCredentials(
        salt=salt,
        iterations=iterations,
        stored_key=hashlib.new(hash_name, client_key).digest(),
        server_key=hmac.new(salted, b"Server Key", hash_name).digest(),
    )


def password_matches(password: str, hash_name: str, stored: ScramCredentials) -> bool:
    """PLAIN against SCRAM-stored credentials."""
    candidate = scram_credentials(password, hash_name, stored.salt, stored.iterations)
    return hmac.compare_digest(candidate.stored_key, stored.stored_key)


def _attributes(message: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for part in message.split(","):
        key, eq, value = part.partition("=")
        if not eq or len(key) != 1:
            raise malformed(f"bad SCRAM attribute {part[:20]!r}")
        attrs.setdefault(key, value)
    return attrs


def _saslname(value: str) -> str:
    if "=" in value.replace("=2C", "").replace("=3D", ""):
        raise malformed("bad escaping in SCRAM username")
    return value.replace("=2C", ",").replace("=3D", "=")


@dataclass
class ScramServer:
    """One SCRAM exchange, server side; ``hash_name`` is "sha1" or "sha256"."""

    hash_name: str
    username: str = ""
    _gs2_header: str = ""
    _client_first_bare: str = ""
    _nonce: str = ""
    _server_first: str = ""
    _credentials: ScramCredentials | None = None

    def client_first(self, message: bytes) -> str:
        """Parse client-first-message; returns the username whose credentials are needed."""
        try:
            text = message.decode()
        except UnicodeDecodeError:
            raise malformed("SCRAM message is not UTF-8") from None
        cbind, _, rest = text.partition(",")
        authzid, _, bare = rest.partition(",")
        if cbind not in ("n", "y"):
            # "p=..." asks for channel binding, which we do not offer (no -PLUS mechanism).
            raise malformed("channel binding is not supported")
        if authzid and not authzid.startswith("a="):
            raise malformed("bad SCRAM authzid")
        attrs = _attributes(bare)
        if "m" in attrs or not attrs.get("n") or not attrs.get("r"):
            raise malformed("SCRAM client-first needs n= and r=")
        self._gs2_header = f"{cbind},{authzid},"
        self._client_first_bare = bare
        self._nonce = attrs["r"] + base64.b64encode(os.urandom(18)).decode()
        self.username = _saslname(attrs["n"])
        return self.username

    def server_first(self, credentials: ScramCredentials) -> bytes:
        self._credentials = credentials
        salt = base64.b64encode(credentials.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={credentials.iterations}"
        return self._server_first.encode()

    def client_final(self, message: bytes) -> bytes:
        """Check the proof; returns server-final-message (``v=...``) or raises not-authorized."""
        assert self._credentials is not None, "server_first() first"
        try:
            text = message.decode()
        except UnicodeDecodeError:
            raise malformed("SCRAM message is not UTF-8") from None
        without_proof, sep, proof_b64 = text.rpartition(",p=")
        if not sep:
            raise malformed("SCRAM client-final needs p=")
        attrs = _attributes(without_proof)
        expected_cbind = base64.b64encode(self._gs2_header.encode()).decode()
        if attrs.get("c") != expected_cbind:
            raise malformed("SCRAM channel binding data does not match")
        if attrs.get("r") != self._nonce:
            raise malformed("SCRAM nonce does not match")
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except ValueError:
            raise malformed("invalid base64 in SCRAM proof") from None
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        creds, h = self._credentials, self.hash_name
        signature = hmac.new(creds.stored_key, auth_message, h).digest()
        if len(proof) != len(signature):
            raise AuthFailure("not-authorized", "wrong password")
        client_key = bytes(a ^ b for a, b in zip(proof, signature))
        if not hmac.compare_digest(hashlib.new(h, client_key).digest(), creds.stored_key):
            raise AuthFailure("not-authorized", "wrong password")
        server_signature = hmac.new(creds.server_key, auth_message, h).digest()
        return b"v=" + base64.b64encode(server_signature)


@dataclass(frozen=True)
class Challenge:
    data: bytes


@dataclass(frozen=True)
class Success:
    identity: Identity
    data: bytes = b""


class SaslExchange:
    """One mechanism run against one backend; ``step`` takes each client message in turn."""

    def __init__(self, backend: AuthBackend, attempt: Attempt, mechanism: str) -> None:
        if mechanism not in backend.mechanisms:
            raise AuthFailure("invalid-mechanism", f"{mechanism} is not offered here")
        self.backend = backend
        self.attempt = attempt
        self.mechanism = mechanism
        self.username: str | None = None  # whose password is checked, once the client said it
        self._scram: ScramServer | None = None
        self._done = False

    @property
    def checks_password(self) -> bool:
        return self.mechanism != "ANONYMOUS"

    async def step(self, message: bytes | None) -> Challenge | Success:
        if self._done:
            raise malformed("the exchange is over")
        mech = self.mechanism
        if mech == "ANONYMOUS":
            self._done = True
            return Success(await self.backend.anonymous(self.attempt))
        if message is None:
            return Challenge(b"")  # RFC 6120 §6.4.2: no initial response, ask for it
        if mech == "PLAIN":
            self._done = True
            authzid, username, password = parse_plain(message)
            self.username = username
            if authzid and authzid.split("@", 1)[0].lower() != username.lower():
                raise AuthFailure("invalid-authzid", "authorization identity differs from username")
            return Success(await self.backend.plain(self.attempt, username, password))
        if self._scram is None:
            self._scram = ScramServer(SCRAM_HASHES[mech])
            username = self.username = self._scram.client_first(message)
            creds = await self.backend.scram_credentials(self.attempt, username, self._scram.hash_name)
            if creds is None:
                raise AuthFailure("not-authorized", "unknown user or wrong password")
            return Challenge(self._scram.server_first(creds))
        self._done = True
        final = self._scram.client_final(message)
        return Success(Identity(self._scram.username), final)
