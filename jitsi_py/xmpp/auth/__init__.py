"""Authentication backends, one per file, chosen by name (``AUTH_TYPE`` and the domain's role).

A new backend joins with one line in :data:`BACKENDS`: ``"name": "module:Class"``, where the class
(in ``jitsi_py/xmpp/auth/module.py``) is built as ``Class(settings, domain)`` and follows
:class:`~.base.AuthBackend`. Modules are imported only when a domain uses them, so an LDAP or
Matrix library is needed only where that backend is configured.

The SASL core asks its questions as data (``base.BackendRequest``); :func:`ask` puts them to a backend.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib import import_module
from typing import Any

from ...settings import Settings
from .base import (
    Anonymous,
    Attempt,
    AuthBackend,
    AuthFailure,
    BackendAnswer,
    BackendRequest,
    CheckPassword,
    GetScramCredentials,
)

logger = logging.getLogger(__name__)

BACKENDS: dict[str, str] = {
    "anonymous": "anonymous:AnonymousBackend",
    "jitsi-anonymous": "anonymous:AnonymousBackend",  # docker's name for the guest/anonymous vhost
    "internal": "internal:InternalBackend",
    "internal_hashed": "internal:InternalBackend",  # Prosody's name for the same storage
    "jwt": "jwt:JwtBackend",
    "ldap": "ldap:LdapBackend",
    "matrix": "matrix:MatrixBackend",
    "hybrid_matrix_token": "matrix:HybridMatrixTokenBackend",
}


def build_backend(name: str, settings: Settings, domain: str) -> AuthBackend:
    try:
        target = BACKENDS[name]
    except KeyError:
        raise LookupError(f"no auth backend named {name!r} (known: {', '.join(sorted(BACKENDS))})") from None
    module_name, _, class_name = target.partition(":")
    module = import_module(f"{__name__}.{module_name}")
    return getattr(module, class_name)(settings, domain)


def backend_names(settings: Settings) -> dict[str, str]:
    """Which backend serves each virtual host, as docker's Prosody config assigns them."""
    domains, auth = settings.common.domains, settings.common.auth
    names = {
        # PROSODY_AUTH_TYPE (default AUTH_TYPE) lets the XMPP server differ from the focus's type.
        domains.domain: settings.xmpp.auth_backends.type if auth.enabled else "anonymous",
        domains.auth: "internal",
        domains.hidden: "internal",
    }
    if auth.enabled and auth.guests:
        names[domains.guest] = settings.xmpp.guest_auth_type
    return names


def prosody_authentication(settings: Settings) -> dict[str, str]:
    """Each virtual host's ``authentication`` as docker's Prosody config names it (what Prosody
    modules such as muc_resource_validate compare against)."""
    names = {"anonymous": "jitsi-anonymous", "internal": "internal_hashed", "ldap": "cyrus",
             "matrix": "matrix_user_verification", "jwt": settings.xmpp.auth_backends.jwt.auth_type}
    return {domain: names.get(name, name) for domain, name in backend_names(settings).items()}


def build_backends(settings: Settings) -> dict[str, AuthBackend]:
    return {domain: build_backend(name, settings, domain) for domain, name in backend_names(settings).items()}


# Each request of the SASL core, as a call of the backend's method that answers it.
CALLS: dict[type, Callable[[AuthBackend, Attempt, Any], Awaitable[BackendAnswer]]] = {
    Anonymous: lambda backend, attempt, request: backend.anonymous(attempt),
    CheckPassword: lambda backend, attempt, request: backend.plain(attempt, request.username, request.password),
    GetScramCredentials: lambda backend, attempt, request: backend.scram_credentials(
        attempt, request.username, request.hash_name),
}


async def ask(backend: AuthBackend, attempt: Attempt, request: BackendRequest) -> BackendAnswer:
    """The backend's answer to ``request``; a refusal is returned, and so is a crash, as a
    ``temporary-auth-failure``: a backend bug must not take the server down, the login just fails."""
    try:
        return await CALLS[type(request)](backend, attempt, request)
    except AuthFailure as failure:
        return failure
    except Exception:
        logger.exception("auth backend %s failed", backend.name)
        return AuthFailure("temporary-auth-failure", "authentication backend error")
