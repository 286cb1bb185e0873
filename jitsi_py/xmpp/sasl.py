"""SASL (RFC 4422) as the server runs it: ANONYMOUS, PLAIN (RFC 4616), SCRAM-SHA-1/256 (RFC 5802/7677).

First the pure pieces (PLAIN parsing, SCRAM arithmetic and messages), then each mechanism as pure
steps, and :class:`SaslExchange`, which runs one of them: each client message in, a challenge, a
success, an :class:`AuthFailure`, or a request for the auth backend (``auth/base.py``) out. The
backend is never called here: whoever runs the exchange asks it and feeds its answer back in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from .auth.base import (
    Anonymous,
    AuthFailure,
    BackendAnswer,
    BackendRequest,
    CheckPassword,
    GetScramCredentials,
    Identity,
    ScramCredentials,
)

SCRAM_HASHES = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}
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


# One step's outcome: send a challenge, log in, refuse, or ask the backend and feed its answer back.
Step = Challenge | Success | AuthFailure | BackendRequest


class AnonymousSteps:
    """ANONYMOUS (RFC 4505): any trace the client sends is ignored; the backend names the user."""

    checks_password = False
    username: str | None = None

    def respond(self, message: bytes | None) -> Step:
        return Anonymous()

    def answer(self, answer: BackendAnswer) -> Step:
        assert isinstance(answer, Identity)
        return Success(answer)


class PlainSteps:
    """PLAIN (RFC 4616): one message with the password, checked by the backend."""

    checks_password = True

    def __init__(self) -> None:
        self.username: str | None = None

    def respond(self, message: bytes | None) -> Step:
        if message is None:
            return Challenge(b"")  # RFC 6120 §6.4.2: no initial response, ask for it
        authzid, username, password = parse_plain(message)
        self.username = username
        if authzid and authzid.split("@", 1)[0].lower() != username.lower():
            raise AuthFailure("invalid-authzid", "authorization identity differs from username")
        return CheckPassword(username, password)

    def answer(self, answer: BackendAnswer) -> Step:
        assert isinstance(answer, Identity)
        return Success(answer)


class ScramSteps:
    """SCRAM (RFC 5802): client-first, the backend's stored credentials, then the proof, checked here."""

    checks_password = True

    def __init__(self, hash_name: str) -> None:
        self._server = ScramServer(hash_name)
        self._started = False

    @property
    def username(self) -> str | None:
        return self._server.username or None

    def respond(self, message: bytes | None) -> Step:
        if message is None:
            return Challenge(b"")  # RFC 6120 §6.4.2: no initial response, ask for it
        server = self._server
        if not self._started:
            self._started = True
            return GetScramCredentials(server.client_first(message), server.hash_name)
        return Success(Identity(server.username), server.client_final(message))

    def answer(self, answer: BackendAnswer) -> Step:
        if answer is None:
            raise AuthFailure("not-authorized", "unknown user or wrong password")
        assert isinstance(answer, ScramCredentials)
        return Challenge(self._server.server_first(answer))


MECHANISM_STEPS: dict[str, Callable[[], AnonymousSteps | PlainSteps | ScramSteps]] = {
    "ANONYMOUS": AnonymousSteps,
    "PLAIN": PlainSteps,
    **{name: partial(ScramSteps, hash_name) for name, hash_name in SCRAM_HASHES.items()},
}


class SaslExchange:
    """One mechanism's run: each client message in with :meth:`respond`, each backend answer in with
    :meth:`answer`; each returns the next :data:`Step`, a refusal too (returned, never raised).

    A mechanism that asked the backend takes no client message until the answer is in, and once it
    returned a Success or an AuthFailure the exchange is over.
    """

    def __init__(self, mechanism: str) -> None:
        steps = MECHANISM_STEPS.get(mechanism)
        if steps is None:
            raise AuthFailure("invalid-mechanism", f"{mechanism} is not offered here")
        self.mechanism = mechanism
        self._steps = steps()
        self._asking = False  # a BackendRequest is out, unanswered
        self._done = False

    @property
    def checks_password(self) -> bool:
        return self._steps.checks_password

    @property
    def username(self) -> str | None:
        """Whose password is checked, once the client said it."""
        return self._steps.username

    def respond(self, message: bytes | None) -> Step:
        if self._done or self._asking:
            return malformed("the exchange is over" if self._done else "the server is still checking")
        return self._next(self._steps.respond, message)

    def answer(self, answer: BackendAnswer) -> Step:
        if not self._asking:
            raise RuntimeError("no backend request is out")  # the glue's bug, not the client's
        self._asking = False
        if isinstance(answer, AuthFailure):
            self._done = True
            return answer
        return self._next(self._steps.answer, answer)

    def _next(self, step: Callable[[Any], Step], value: Any) -> Step:
        try:
            result = step(value)
        except AuthFailure as failure:
            result = failure
        if isinstance(result, (Success, AuthFailure)):
            self._done = True
        elif not isinstance(result, Challenge):
            self._asking = True
        return result
