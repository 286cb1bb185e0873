"""LDAP (``AUTH_TYPE=ldap``): SASL PLAIN checked against a directory, as docker's saslauthd does.

docker-jitsi-meet hands the ``LDAP_*`` variables to saslauthd (``saslauthd.conf``); this backend
reads the same variables with the same meaning:

- ``LDAP_AUTH_METHOD=bind`` (default): bind as ``LDAP_BINDDN``/``LDAP_BINDPW`` (anonymously when
  no DN is set), search ``LDAP_BASE`` for ``LDAP_FILTER`` (``%u`` the login name), then bind as
  the one entry found with the user's password. ``fastbind``: ``LDAP_FILTER`` is the user's DN
  template (``uid=%u,ou=people,dc=example,dc=org``), bound to directly. saslauthd's ``custom``
  (reading ``userPassword``) is not offered: it needs the hashes readable by the service.
- ``LDAP_URL``: ``ldap://`` or ``ldaps://``, several separated by spaces, tried in order.
  ``LDAP_START_TLS`` upgrades ``ldap://``. As in docker's template, the certificate is checked
  only when ``LDAP_USE_TLS`` and ``LDAP_TLS_CHECK_PEER`` are both on, against
  ``LDAP_TLS_CACERT_FILE`` / ``LDAP_TLS_CACERT_DIR``; ``LDAP_TLS_CIPHERS`` is an OpenSSL list.

Login names go into the filter escaped (RFC 4515) and into a DN escaped (RFC 4514), so ``*``,
``)`` or ``,`` in a name cannot widen the search. An empty password is refused before any bind:
LDAP treats it as an unauthenticated bind, which many servers accept.

ldap3 is blocking: each login runs in one of the backend's ``JITSI_PY_LDAP_MAX_CONCURRENT``
threads, every socket operation bounded by ``JITSI_PY_LDAP_TIMEOUT``. A directory that is down
or unreachable refuses the login with ``temporary-auth-failure`` within that time.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from ...settings import Settings, SettingsError
from ...settings.auth import Ldap
from .base import Attempt, AuthFailure, Identity, ScramCredentials

log = logging.getLogger(__name__)

AUTH_METHODS = ("bind", "fastbind")


class DirectoryDown(Exception):
    """No configured server could be reached, or the service's own bind was refused."""


@dataclass(frozen=True)
class LoginName:
    """saslauthd's expansions of one login name."""

    user: str  # %u
    realm: str  # %r: the XMPP domain

    def expand(self, template: str, escape) -> str:
        local, _, domain = self.user.partition("@")
        values = {"u": self.user, "U": local, "d": domain or self.realm, "r": self.realm}
        out: list[str] = []
        i = 0
        while i < len(template):
            char = template[i]
            if char == "%" and i + 1 < len(template):
                key = template[i + 1]
                if key == "%":
                    out.append("%")
                elif key in values:
                    out.append(escape(values[key]))
                else:
                    out.append(template[i:i + 2])
                i += 2
                continue
            out.append(char)
            i += 1
        return "".join(out)


class Directory:
    """One verification against the directory, blocking; run it in a thread."""

    def __init__(self, config: Ldap) -> None:
        if not config.url:
            raise SettingsError("LDAP_URL", None, "required with AUTH_TYPE=ldap")
        if config.auth_method not in AUTH_METHODS:
            raise SettingsError("LDAP_AUTH_METHOD", config.auth_method, "expected bind or fastbind")
        if config.auth_method == "bind" and not config.base:
            raise SettingsError("LDAP_BASE", None, "required with LDAP_AUTH_METHOD=bind")
        self.config = config
        self.servers = [self._server(url) for url in config.url.split()]

    def _server(self, url: str) -> ldap3.Server:
        config = self.config
        check = config.use_tls and config.tls_check_peer
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED if check else ssl.CERT_NONE,
            ca_certs_file=str(config.tls_cacert_file) if check and config.tls_cacert_file.is_file() else None,
            ca_certs_path=str(config.tls_cacert_dir) if check and config.tls_cacert_dir.is_dir() else None,
            ciphers=config.tls_ciphers if config.use_tls else None,
        )
        return ldap3.Server(url, get_info=ldap3.NONE, tls=tls, connect_timeout=config.timeout)

    def verify(self, login: LoginName, password: str) -> str | None:
        """The user's DN when the password is right, None when it is not; DirectoryDown else."""
        try:
            return self._verify(login, password)
        except (LDAPException, OSError) as exc:  # OSError covers socket timeouts
            raise DirectoryDown(f"{type(exc).__name__}: {exc}") from None

    def _verify(self, login: LoginName, password: str) -> str | None:
        if self.config.auth_method == "fastbind":
            dn = login.expand(self.config.filter, escape_rdn)
            return dn if self._bind_as(dn, password) else None
        dn = self._find(login)
        if dn is None:
            return None
        return dn if self._bind_as(dn, password) else None

    def _open(self, user: str | None, password: str | None) -> ldap3.Connection:
        """A connection to the first server that answers, upgraded with STARTTLS if asked."""
        last: Exception | None = None
        for server in self.servers:
            conn = ldap3.Connection(
                server, user=user, password=password, version=self.config.version,
                authentication=ldap3.SIMPLE if user else ldap3.ANONYMOUS,
                # ldap3 packs the receive timeout into a socket option as a whole number.
                receive_timeout=math.ceil(self.config.timeout), raise_exceptions=False, read_only=True,
            )
            try:
                conn.open()
                if self.config.start_tls and not server.ssl and not conn.start_tls():
                    conn.unbind()
                    raise DirectoryDown(f"STARTTLS refused by {server.host}: {conn.result}")
                return conn
            except (LDAPException, OSError) as exc:
                last = exc
                conn.unbind()
        raise DirectoryDown(f"no LDAP server reachable ({last})")

    def _find(self, login: LoginName) -> str | None:
        config = self.config
        conn = self._open(config.bind_dn, config.bind_password)
        try:
            if not conn.bind():
                raise DirectoryDown(f"the search bind as {config.bind_dn or 'anonymous'} was refused: "
                                    f"{conn.result.get('description')}")
            query = login.expand(config.filter, escape_filter_chars)
            if not query.startswith("("):
                query = f"({query})"
            if not conn.search(config.base, query, ldap3.SUBTREE, attributes=[], size_limit=2):
                result = conn.result.get("description")
                if result not in ("success", "noSuchObject", "sizeLimitExceeded"):
                    raise DirectoryDown(f"search failed: {result}")
            entries = [e for e in conn.response or () if e.get("type") == "searchResEntry"]
            if len(entries) != 1:
                return None  # unknown, or ambiguous: never guess which entry is meant
            return entries[0]["dn"]
        finally:
            conn.unbind()

    def _bind_as(self, dn: str, password: str) -> bool:
        conn = self._open(dn, password)
        try:
            if conn.bind():
                return True
            if conn.result.get("description") in ("invalidCredentials", "invalidDNSyntax", "noSuchObject",
                                                   "inappropriateAuthentication"):
                return False
            raise DirectoryDown(f"bind failed: {conn.result.get('description')}")
        finally:
            conn.unbind()


class LdapBackend:
    name = "ldap"
    mechanisms = ("PLAIN",)  # the directory checks the password itself; no SCRAM material here

    def __init__(self, settings: Settings, domain: str) -> None:
        config = settings.xmpp.auth_backends.ldap
        self.domain = domain
        self.directory = Directory(config)
        self.timeout = config.timeout
        # Its own threads: a directory that hangs must not take the loop's default executor
        # (name resolution and others' blocking calls) with it.
        self.threads = ThreadPoolExecutor(config.max_concurrent, thread_name_prefix="ldap")

    async def anonymous(self, attempt: Attempt) -> Identity:
        raise AuthFailure("invalid-mechanism", f"{self.domain} needs a username and password")

    async def plain(self, attempt: Attempt, username: str, password: str) -> Identity:
        if not username or not password:
            raise AuthFailure("not-authorized", "unknown user or wrong password")
        login = LoginName(username, attempt.domain)
        # Each step is bounded by the socket timeouts; this outer bound covers the whole login
        # (waiting for a thread, service bind, search, user bind) in case a server trickles.
        deadline = 4 * self.timeout + 1
        work = asyncio.get_running_loop().run_in_executor(self.threads, self.directory.verify, login, password)
        try:
            dn = await asyncio.wait_for(work, deadline)
        except DirectoryDown as exc:
            log.warning("LDAP login of %r failed: %s", username, exc)
            raise AuthFailure("temporary-auth-failure", "the LDAP directory is unavailable") from None
        except TimeoutError:
            log.warning("LDAP login of %r took longer than %.0f s", username, deadline)
            raise AuthFailure("temporary-auth-failure", "the LDAP directory is unavailable") from None
        if dn is None:
            raise AuthFailure("not-authorized", "unknown user or wrong password")
        return Identity(username.lower())

    async def scram_credentials(self, attempt: Attempt, username: str, hash_name: str) -> ScramCredentials | None:
        return None


__all__ = ["LdapBackend", "Directory", "LoginName", "DirectoryDown"]
