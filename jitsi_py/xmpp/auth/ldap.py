"""LDAP (``AUTH_TYPE=ldap``): SASL PLAIN checked against a directory, as docker's saslauthd does.

docker-jitsi-meet hands the ``LDAP_*`` variables to saslauthd (``saslauthd.conf``); this backend
reads the same variables with the same meaning. ``LDAP_AUTH_METHOD`` picks one of saslauthd's
three methods (``lak.c``):

- ``bind`` (default): bind as ``LDAP_BINDDN``/``LDAP_BINDPW`` (anonymously when no DN is set),
  search ``LDAP_BASE`` for ``LDAP_FILTER`` (``%u`` the login name), then bind as the one entry
  found with the user's password.
- ``fastbind``: no search; ``LDAP_FILTER`` is the user's DN template
  (``uid=%u,ou=people,dc=example,dc=org``), bound to directly.
- ``custom``: the same search as ``bind``, asking for ``userPassword``, which this side compares
  with the given password (:func:`check_user_password`): ``{SSHA}``, ``{SHA}``, ``{SMD5}``,
  ``{MD5}``, ``{CRYPT}``/``{UNIX}`` (the system's crypt(3)), anything else as cleartext. The
  search bind needs read access to ``userPassword``; an entry without one readable is refused.
  As saslauthd, only the last value the directory returns is compared.

``LDAP_BASE`` takes the same ``%`` expansions as the filter. Exactly one entry must match the
search; none or several refuse the login.

- ``LDAP_URL``: ``ldap://`` or ``ldaps://``, several separated by spaces, tried in order.
  ``LDAP_START_TLS`` upgrades ``ldap://``. As in docker's template, the certificate is checked
  only when ``LDAP_USE_TLS`` and ``LDAP_TLS_CHECK_PEER`` are both on, against
  ``LDAP_TLS_CACERT_FILE`` / ``LDAP_TLS_CACERT_DIR``; ``LDAP_TLS_CIPHERS`` is an OpenSSL list or,
  as upstream's example, a GnuTLS priority string (see ``tls_cipher_list``).
- ``JITSI_PY_LDAP_TLS_CERT`` / ``JITSI_PY_LDAP_TLS_KEY`` (saslauthd's ``ldap_tls_cert`` /
  ``ldap_tls_key``): a client certificate, offered on every TLS connection to the directory, for
  servers that demand one. docker has no variable for it (its template always names the XMPP
  domain's own, usually self-signed, certificate); unset, none is offered.

Login names go into the filter escaped (RFC 4515) and into a DN escaped (RFC 4514), so ``*``,
``)`` or ``,`` in a name cannot widen the search. An empty password is refused before any bind:
LDAP treats it as an unauthenticated bind, which many servers accept.

ldap3 is blocking: each login runs in one of the backend's ``JITSI_PY_LDAP_MAX_CONCURRENT``
threads, every socket operation bounded by ``JITSI_PY_LDAP_TIMEOUT``. A directory that is down
or unreachable refuses the login with ``temporary-auth-failure`` within that time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ctypes
import ctypes.util
import hashlib
import hmac
import logging
import math
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import ldap3
from ldap3.core.exceptions import LDAPCommunicationError, LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from ...settings import Settings, SettingsError
from ...settings.auth import Ldap
from .base import Attempt, AuthFailure, Identity, ScramCredentials

log = logging.getLogger(__name__)

PASSWORD_ATTRIBUTE = "userPassword"


class DirectoryDown(Exception):
    """No configured server could be reached, or the service's own bind was refused."""


# ---- userPassword schemes: what saslauthd's custom method accepts (RFC 2307 style) ----

# Scheme -> (digest, salted). The stored value is base64 of the digest of password + salt,
# followed by the salt itself.
_DIGESTS = {b"{MD5}": ("md5", False), b"{SMD5}": ("md5", True), b"{SHA}": ("sha1", False), b"{SSHA}": ("sha1", True)}
_CRYPT_SCHEMES = (b"{CRYPT}", b"{UNIX}")


def check_user_password(stored: bytes, password: bytes) -> bool:
    """Does ``password`` match one ``userPassword`` value? saslauthd's rules, scheme by scheme.

    The scheme tag is matched without regard to case. A value whose tag is none of the known
    ones is compared as cleartext, tag included, as saslauthd does: ``{SSHA512}...`` matches only
    itself, never a password that hashes to it. Empty values and passwords never match.
    """
    if not stored or not password:
        return False
    head = stored[:8].upper()
    for scheme in _CRYPT_SCHEMES:
        if head.startswith(scheme):
            return _check_crypt(stored[len(scheme):], password)
    for scheme, (digest, salted) in _DIGESTS.items():
        if head.startswith(scheme):
            return _check_digest(stored[len(scheme):], password, digest, salted)
    return hmac.compare_digest(stored, password)


def _check_digest(encoded: bytes, password: bytes, digest: str, salted: bool) -> bool:
    try:
        raw = base64.b64decode(encoded)
    except (binascii.Error, ValueError):
        return False
    size = hashlib.new(digest).digest_size
    if len(raw) < size:
        return False
    salt = raw[size:] if salted else b""
    return hmac.compare_digest(raw[:size], hashlib.new(digest, password + salt).digest())


class _LibCrypt:
    """crypt(3) from the system's libcrypt, as saslauthd calls it for ``{CRYPT}`` values.

    Python's own ``crypt`` module is gone from 3.13. crypt() answers in static storage, so one
    call at a time; logins are rare enough that the lock costs nothing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._crypt: Callable[[bytes, bytes], bytes | None] | None = None

    def __call__(self, password: bytes, setting: bytes) -> bytes | None:
        with self._lock:
            if self._crypt is None:
                name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
                try:
                    function = ctypes.CDLL(name).crypt
                except (OSError, AttributeError) as exc:
                    raise DirectoryDown(f"{{CRYPT}} passwords need the system's libcrypt: {exc}") from None
                function.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
                function.restype = ctypes.c_char_p
                self._crypt = function
            return self._crypt(password, setting)


_crypt = _LibCrypt()


def _check_crypt(hashed: bytes, password: bytes) -> bool:
    if len(hashed) < 2:
        return False
    result = _crypt(password, hashed)
    if not result:
        return False
    return hmac.compare_digest(result, hashed)


# ---- LDAP_TLS_CIPHERS: docker's saslauthd reaches the directory through a libldap linked with
# GnuTLS, so upstream's example value is a GnuTLS priority string. OpenSSL selects no cipher from
# it, and ldap3 then silently keeps its defaults: the operator's restriction would be lost. Its
# security levels and cipher names are put in OpenSSL's cipher-list terms; a value that is not one
# is taken as an OpenSSL list, and one that selects nothing stops the start with a clear error. ----

# Broadest first: several levels in one string mean their union, which here is the broadest of
# them (OpenSSL's "!" removes for good, so two levels cannot simply be listed one after another).
_GNUTLS_LEVELS = {
    "NORMAL": "DEFAULT", "PERFORMANCE": "DEFAULT", "LEGACY": "DEFAULT", "PFS": "DEFAULT:!kRSA",
    "SECURE128": "HIGH", "SECURE192": "HIGH:!AES128:!CAMELLIA128:!ARIA128",
    "SECURE256": "HIGH:!AES128:!CAMELLIA128:!ARIA128",  # an alias of SECURE192 in GnuTLS
    "SUITEB128": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
    "SUITEB192": "ECDHE-ECDSA-AES256-GCM-SHA384",
}
_BREADTH = list(_GNUTLS_LEVELS)
_GNUTLS_CIPHERS = {
    "AES-128-CBC": ("AES128+SHA1", "AES128+SHA256"), "AES-256-CBC": ("AES256+SHA1", "AES256+SHA256", "AES256+SHA384"),
    "AES-128-GCM": ("AES128+AESGCM",), "AES-256-GCM": ("AES256+AESGCM",), "AES-128-CCM": ("AES128+AESCCM",),
    "AES-256-CCM": ("AES256+AESCCM",), "CAMELLIA-128-CBC": ("CAMELLIA128",), "CAMELLIA-256-CBC": ("CAMELLIA256",),
    "3DES-CBC": ("3DES",), "ARCFOUR-128": ("RC4",), "CHACHA20-POLY1305": ("CHACHA20",),
}


def tls_cipher_list(value: str) -> str:
    """``LDAP_TLS_CIPHERS`` as an OpenSSL cipher list; SettingsError when nothing can be made of it.
    GnuTLS parts with no cipher-list counterpart (protocol versions, curves, signatures...) are
    logged as ignored: OpenSSL's defaults apply to those."""
    parts = [p for p in value.strip().split(":") if p]
    if parts and parts[0].upper() in _GNUTLS_LEVELS:
        levels: list[str] = []
        include: list[str] = []
        exclude: list[str] = []
        ignored: list[str] = []
        for part in parts:
            name = part.lstrip("+-!").upper()
            if name in _GNUTLS_LEVELS:
                levels.append(name)
            elif name in _GNUTLS_CIPHERS:
                (exclude if part[0] in "-!" else include).extend(_GNUTLS_CIPHERS[name])
            else:
                ignored.append(part)
        if ignored:
            log.warning("LDAP_TLS_CIPHERS: GnuTLS priority parts without an OpenSSL cipher-list "
                        "counterpart, ignored: %s", ":".join(ignored))
        # GnuTLS levels never offer anonymous, PSK or SRP suites; OpenSSL's HIGH includes them.
        broadest = _GNUTLS_LEVELS[min(levels, key=_BREADTH.index)]
        value = ":".join([broadest] + include + [f"!{c}" for c in exclude] + ["!aNULL", "!eNULL", "!PSK", "!SRP"])
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).set_ciphers(value)
    except ssl.SSLError:
        raise SettingsError("LDAP_TLS_CIPHERS", value, "selects no cipher (an OpenSSL cipher list, "
                            "or a GnuTLS priority string such as SECURE256:SECURE128:!AES-128-CBC)") from None
    return value


@dataclass(frozen=True)
class LoginName:
    """saslauthd's expansions of one login name (``ldap_filter`` in its LDAP_SASLAUTHD notes).

    ``%u`` the name, ``%U`` its part before ``@``, ``%d`` the part after (else the realm), ``%1``
    to ``%9`` that domain's labels counted from the right (``%1`` the top level), ``%r`` the
    realm, ``%R`` the realm after an ``@``, ``%s`` the service (Prosody asks saslauthd for
    ``xmpp``), ``%%`` a percent sign. As in saslauthd, an unknown token expands to nothing.
    """

    user: str  # %u
    realm: str  # %r: the XMPP domain

    SERVICE = "xmpp"

    def expand(self, template: str, escape) -> str:
        local, _, domain = self.user.partition("@")
        domain = domain or self.realm
        values = {"u": self.user, "U": local, "d": domain, "r": self.realm, "s": self.SERVICE}
        labels = domain.split(".")[::-1]
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
                elif key == "R":
                    out.append("@" + escape(self.realm))
                elif key in "123456789" and int(key) <= len(labels):
                    out.append(escape(labels[int(key) - 1]))
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
        if config.auth_method != "fastbind" and not config.base:
            raise SettingsError("LDAP_BASE", None, f"required with LDAP_AUTH_METHOD={config.auth_method}")
        if (config.tls_cert is None) != (config.tls_key is None):
            raise SettingsError("JITSI_PY_LDAP_TLS_KEY" if config.tls_key is None else "JITSI_PY_LDAP_TLS_CERT",
                                None, "the LDAP client certificate needs both its certificate and its key")
        for name, file in (("JITSI_PY_LDAP_TLS_CERT", config.tls_cert), ("JITSI_PY_LDAP_TLS_KEY", config.tls_key)):
            if file is not None and not file.is_file():
                raise SettingsError(name, str(file), "no such file")
        self.config = config
        self.ciphers = tls_cipher_list(config.tls_ciphers) if config.tls_ciphers else None
        self.servers = [self._server(url) for url in config.url.split()]
        self.uses_tls = config.start_tls or any(server.ssl for server in self.servers)
        # STARTTLS is an LDAPv3 extended operation; saslauthd raises the version for it likewise.
        self.version = 3 if config.start_tls else config.version

    def _server(self, url: str) -> ldap3.Server:
        config = self.config
        check = config.use_tls and config.tls_check_peer
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED if check else ssl.CERT_NONE,
            ca_certs_file=str(config.tls_cacert_file) if check and config.tls_cacert_file.is_file() else None,
            ca_certs_path=str(config.tls_cacert_dir) if check and config.tls_cacert_dir.is_dir() else None,
            ciphers=self.ciphers if config.use_tls else None,
            local_certificate_file=str(config.tls_cert) if config.tls_cert else None,
            local_private_key_file=str(config.tls_key) if config.tls_key else None,
        )
        return ldap3.Server(url, get_info=ldap3.NONE, tls=tls, connect_timeout=config.timeout)

    def verify(self, login: LoginName, password: str) -> str | None:
        """The user's DN when the password is right, None when it is not; DirectoryDown else."""
        try:
            return self._verify(login, password)
        except (LDAPException, OSError) as exc:  # OSError covers socket timeouts
            hint = ""
            if isinstance(exc, LDAPCommunicationError) and self.config.tls_cert is None and self.uses_tls:
                # With TLS 1.3 a refused client certificate shows only as a dropped session.
                hint = " (does the directory demand a client certificate? see JITSI_PY_LDAP_TLS_CERT)"
            raise DirectoryDown(f"{type(exc).__name__}: {exc}{hint}") from None

    def _verify(self, login: LoginName, password: str) -> str | None:
        method = self.config.auth_method
        if method == "fastbind":
            dn = login.expand(self.config.filter, escape_rdn)
            return dn if self._bind_as(dn, password) else None
        if method == "custom":
            found = self._find(login, PASSWORD_ATTRIBUTE)
            if found is None:
                return None
            dn, values = found
            if not values:
                log.info("LDAP entry %s has no %s the search bind may read", dn, PASSWORD_ATTRIBUTE)
                return None
            # saslauthd keeps the values in a list it prepends to, then checks the head: the last.
            return dn if check_user_password(values[-1], password.encode()) else None
        found = self._find(login)
        if found is None:
            return None
        return found[0] if self._bind_as(found[0], password) else None

    def _open(self, user: str | None, password: str | None) -> ldap3.Connection:
        """A connection to the first server that answers, upgraded with STARTTLS if asked."""
        last: Exception | None = None
        for server in self.servers:
            conn = ldap3.Connection(
                server, user=user, password=password, version=self.version,
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

    def _find(self, login: LoginName, attribute: str | None = None) -> tuple[str, list[bytes]] | None:
        """The DN of the one entry the filter matches, with the raw values of ``attribute``."""
        config = self.config
        conn = self._open(config.bind_dn, config.bind_password)
        try:
            if not conn.bind():
                raise DirectoryDown(f"the search bind as {config.bind_dn or 'anonymous'} was refused: "
                                    f"{conn.result.get('description')}")
            query = login.expand(config.filter, escape_filter_chars)
            if not query.startswith("("):
                query = f"({query})"
            assert config.base is not None  # required unless fastbind, which does not search (__init__)
            base = login.expand(config.base, escape_rdn)
            wanted = [attribute] if attribute else []
            if not conn.search(base, query, ldap3.SUBTREE, attributes=wanted, size_limit=2):
                result = conn.result.get("description")
                if result not in ("success", "noSuchObject", "sizeLimitExceeded"):
                    raise DirectoryDown(f"search failed: {result}")
            entries = [e for e in conn.response or () if e.get("type") == "searchResEntry"]
            if len(entries) != 1:
                return None  # unknown, or ambiguous: never guess which entry is meant
            raw = entries[0].get("raw_attributes") or {}
            values = next((list(v) for k, v in raw.items() if attribute and k.lower() == attribute.lower()), [])
            return entries[0]["dn"], values
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
    mechanisms = ("PLAIN",)  # the password is checked in clear (a bind, or userPassword); no SCRAM material

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


__all__ = ["LdapBackend", "Directory", "LoginName", "DirectoryDown", "check_user_password"]
