"""Authentication backends of the XMPP server's main virtual host: JWT, LDAP, Matrix.

Names and defaults are docker-jitsi-meet's (prosody's ``jitsi-meet.cfg.lua`` and
``saslauthd.conf`` templates). ``ENABLE_AUTH``, ``ENABLE_GUESTS`` and ``AUTH_TYPE`` live in
``common.Auth`` because every service reads them; ``TOKEN_AUTH_URL`` belongs to the web client's
config.js (``web.py``); ``ENABLE_AUTO_LOGIN`` and ``JICOFO_AUTH_LIFETIME`` to the focus.
Variables prefixed ``JITSI_PY_`` are ours: limits upstream hard-codes or leaves to its libraries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .common import AUTH_TYPES
from .fields import boolean, bounded, choice, csv, duration, env, nested, path, secret, text, url

_ldap_url = url("ldap", "ldaps")


def ldap_urls(raw: str) -> str:
    """saslauthd's ldap_servers: one LDAP URL or several separated by spaces."""
    for item in raw.split():
        _ldap_url(item)
    return raw


@dataclass(frozen=True)
class Jwt:
    """Token authentication (``AUTH_TYPE=jwt``; also the token half of ``hybrid_matrix_token``)."""

    app_id: str | None = env("JWT_APP_ID", None, text)
    app_secret: str | None = env("JWT_APP_SECRET", None, secret)
    asap_key_server: str | None = env("JWT_ASAP_KEYSERVER", None, url())
    # Upstream's default is the app id alone; "*" accepts any issuer.
    accepted_issuers: tuple[str, ...] | None = env(
        "JWT_ACCEPTED_ISSUERS", lambda v: v.get("JWT_APP_ID") or None, csv
    )
    accepted_audiences: tuple[str, ...] = env("JWT_ACCEPTED_AUDIENCES", "*", csv)
    allow_empty: bool = env("JWT_ALLOW_EMPTY", "0", boolean)
    # Prosody's auth module name; only upstream's own "token" exists here.
    auth_type: str = env("JWT_AUTH_TYPE", "token", text)
    enable_domain_verification: bool = env("JWT_ENABLE_DOMAIN_VERIFICATION", "false", boolean)
    # The one algorithm accepted; unset: HS256 with the app secret, RS256 with the key server.
    sign_type: str | None = env(
        "JWT_SIGN_TYPE", None, choice("hs256", "hs384", "hs512", "rs256", "rs384", "rs512",
                                      "es256", "es384", "es512", "ps256", "ps384", "ps512")
    )
    # The room-side module; only upstream's "token_verification" exists here.
    token_auth_module: str = env("JWT_TOKEN_AUTH_MODULE", "token_verification", text)
    # Upstream parity, 2026: docker writes it as Prosody's allowner_issuers, the issuers whose
    # tokens muc_allowners makes owners (xmpp/rooms/allowners.py).
    allowner_issuers: tuple[str, ...] = env("JWT_ACCEPTED_ALLOWNER_ISSUERS", "", csv)
    leeway: float = env("JITSI_PY_JWT_LEEWAY", "30", duration)
    key_fetch_timeout: float = env("JITSI_PY_JWT_KEY_FETCH_TIMEOUT", "10", duration)
    key_cache_size: int = env("JITSI_PY_JWT_KEY_CACHE_SIZE", "128", bounded(1, 100000))


@dataclass(frozen=True)
class Ldap:
    """LDAP (``AUTH_TYPE=ldap``), the settings docker hands to saslauthd."""

    # One URL or several separated by spaces, tried in order (saslauthd's ldap_servers).
    url: str | None = env("LDAP_URL", None, ldap_urls)
    base: str | None = env("LDAP_BASE", None, text)
    bind_dn: str | None = env("LDAP_BINDDN", None, text)
    bind_password: str | None = env("LDAP_BINDPW", None, secret)
    # %u is the login name; also %U (before "@"), %d (after "@", else the XMPP domain), %r, %%.
    filter: str = env("LDAP_FILTER", "uid=%u", text)
    version: int = env("LDAP_VERSION", "3", bounded(2, 3))
    # saslauthd's three: bind (search the user's DN, then bind as it), fastbind (the filter is
    # the DN template, bound to directly), custom (search, then compare userPassword here).
    auth_method: str = env("LDAP_AUTH_METHOD", "bind", choice("bind", "fastbind", "custom"))
    use_tls: bool = env("LDAP_USE_TLS", "0", boolean)
    tls_ciphers: str | None = env("LDAP_TLS_CIPHERS", None, text)
    tls_check_peer: bool = env("LDAP_TLS_CHECK_PEER", "0", boolean)
    tls_cacert_file: Path = env("LDAP_TLS_CACERT_FILE", "/etc/ssl/certs/ca-certificates.crt", path)
    tls_cacert_dir: Path = env("LDAP_TLS_CACERT_DIR", "/etc/ssl/certs", path)
    start_tls: bool = env("LDAP_START_TLS", "0", boolean)
    # saslauthd's ldap_tls_cert / ldap_tls_key: the client certificate offered to a directory that
    # asks for one. docker has no variable (its template names the XMPP domain's own certificate),
    # hence our prefix; set both or neither.
    tls_cert: Path | None = env("JITSI_PY_LDAP_TLS_CERT", None, path)
    tls_key: Path | None = env("JITSI_PY_LDAP_TLS_KEY", None, path)
    timeout: float = env("JITSI_PY_LDAP_TIMEOUT", "5", duration)
    max_concurrent: int = env("JITSI_PY_LDAP_MAX_CONCURRENT", "8", bounded(1, 256))


@dataclass(frozen=True)
class Matrix:
    """Matrix User Verification Service (``AUTH_TYPE=matrix`` and ``hybrid_matrix_token``)."""

    uvs_url: str | None = env("MATRIX_UVS_URL", None, url())
    # matrix: unused, as upstream; hybrid_matrix_token: the accepted issuer of Matrix tokens
    # (unset: any).
    uvs_issuer: str | None = env("MATRIX_UVS_ISSUER", None, text)
    uvs_auth_token: str | None = env("MATRIX_UVS_AUTH_TOKEN", None, secret)
    sync_power_levels: bool = env("MATRIX_UVS_SYNC_POWER_LEVELS", "0", boolean)
    lobby_bypass: bool = env("MATRIX_LOBBY_BYPASS", "0", boolean)
    timeout: float = env("JITSI_PY_MATRIX_UVS_TIMEOUT", "10", duration)


@dataclass(frozen=True)
class AuthBackends:
    """Which backend the main virtual host and the guest host use, and each backend's settings."""

    type: str = env("PROSODY_AUTH_TYPE", lambda v: v.get("AUTH_TYPE") or "internal", choice(*AUTH_TYPES))
    jwt: Jwt = nested(Jwt)
    ldap: Ldap = nested(Ldap)
    matrix: Matrix = nested(Matrix)


__all__ = ["Jwt", "Ldap", "Matrix", "AuthBackends"]
