"""The contract of an authentication backend; one backend per file, chosen by name from settings.

SASL itself (mechanism negotiation, SCRAM arithmetic) lives in ``xmpp/sasl.py``; a backend only
answers "who is this?" for the mechanisms it offers:

- ANONYMOUS: ``anonymous(attempt)``. Token auth (``AUTH_TYPE=jwt``) is ANONYMOUS plus a check of
  the ``?token=`` query value, as upstream's token module does.
- PLAIN: ``plain(attempt, username, password)`` (internal, ldap, matrix...).
- SCRAM-SHA-1/256: only a backend holding SCRAM credentials offers them (``scram_credentials``).

The SASL core never calls a backend: it asks with one of the requests below (:data:`BackendRequest`),
and the glue (``auth/__init__.py`` :func:`~jitsi_py.xmpp.auth.ask`) calls the matching method.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Attempt:
    """What is known of the session trying to log in."""

    domain: str  # the virtual host of the stream's to=
    transport: str  # "tcp", "websocket", "bosh"
    query: Mapping[str, str] = field(default_factory=dict)  # ?room=, ?token=, prefix
    remote_ip: str | None = None
    # The token of the WebSocket/BOSH request's Authorization header (websocket.bearer_token);
    # only the backends whose upstream module reads that header look at it.
    bearer: str | None = None


@dataclass(frozen=True)
class Identity:
    """A successful login: the node part to bind (None: the server picks a random one)."""

    username: str | None
    claims: Mapping[str, Any] | None = None  # verified token claims, for the room plugins
    anonymous: bool = False


class AuthFailure(Exception):
    """Login refused; ``condition`` is the SASL failure element (RFC 6120 §6.5)."""

    def __init__(self, condition: str = "not-authorized", text: str = "") -> None:
        super().__init__(text or condition)
        self.condition = condition
        self.text = text


@dataclass(frozen=True)
class ScramCredentials:
    """RFC 5802 stored form; the password itself is never kept."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


@dataclass(frozen=True)
class Anonymous:
    """Who is this login without a password (ANONYMOUS, tokens)? Answered with an :class:`Identity`."""


@dataclass(frozen=True)
class CheckPassword:
    """Is this the password of ``username`` (PLAIN)? Answered with an :class:`Identity`."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class GetScramCredentials:
    """The stored SCRAM form of ``username``'s password for ``hash_name``; None if there is none."""

    username: str
    hash_name: str


BackendRequest = Anonymous | CheckPassword | GetScramCredentials
# What comes back: the backend's return value, or the AuthFailure it raised (or the glue made of its crash).
BackendAnswer = Identity | ScramCredentials | None | AuthFailure


class AuthBackend(Protocol):
    name: str
    mechanisms: tuple[str, ...]  # in preference order, e.g. ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN")

    async def anonymous(self, attempt: Attempt) -> Identity: ...

    async def plain(self, attempt: Attempt, username: str, password: str) -> Identity: ...

    async def scram_credentials(self, attempt: Attempt, username: str, hash_name: str) -> ScramCredentials | None: ...
