"""Token authentication (``AUTH_TYPE=jwt``), checked as upstream's token module checks it.

Login is SASL ANONYMOUS; the JWT comes from the ``?token=`` query of the WebSocket/BOSH URL
(``Attempt.query``) or, when the URL has none, from the request's ``Authorization: Bearer``
header (``Attempt.bearer``), as upstream's current token module reads it. Checks, in upstream's
order (docs/client-xmpp.md §2.2):

1. no token: refused ("token required") unless ``JWT_ALLOW_EMPTY``, which lets the session in as
   an anonymous one;
2. the signature, with exactly one algorithm (``JWT_SIGN_TYPE``, else HS256 with
   ``JWT_APP_SECRET``, RS256 with ``JWT_ASAP_KEYSERVER``): ``alg: none``, an HMAC made with a
   public key and any other algorithm swap are refused by construction. With a key server, the
   key is fetched by the header's ``kid`` from ``<JWT_ASAP_KEYSERVER>/<hex sha256(kid)>.pem``, as
   upstream does: hashing the ``kid`` keeps path characters out of the URL;
3. ``exp`` / ``nbf`` (when present, as upstream) with ``JITSI_PY_JWT_LEEWAY`` seconds of leeway;
4. ``iss`` present and in ``JWT_ACCEPTED_ISSUERS`` (default: the app id; ``*`` any);
5. ``room`` present;
6. ``aud`` present and in ``JWT_ACCEPTED_AUDIENCES`` (default ``*``; a list ``aud`` passes when
   one of its members does);
7. when the URL names the room (``?room=``, with ``?prefix=`` for a tenant), the token must be
   valid for that room, by the same rule the MUC applies on join (:class:`RoomCheck`): a token
   for room A cannot even log in on a connection opened for room B.

Every refusal is SASL ``not-authorized`` with upstream's reason as text, except a key server
that cannot be reached (``temporary-auth-failure``). Upstream sends ``not-allowed``, which RFC 6120
§6.5 does not list; clients treat both as an authentication failure.

A successful login is ``Identity(None, claims)``: the server picks the random node, and
``claims`` is the verified payload. Room plugins read ``claims["context"]["user"]`` (``id``,
``name``, ``email``, ``avatar``, ``moderator``), ``["context"]["group"]``,
``["context"]["features"]`` (upstream's ``jitsi_meet_context_*``), ``claims["room"]`` and
``claims["sub"]``; and they call :class:`RoomCheck` on every join (``token_verification``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import aiohttp
import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.warnings import InsecureKeyLengthWarning

from ...settings import Settings, SettingsError
from ...settings.auth import Jwt
from .base import Attempt, AuthFailure, Identity, ScramCredentials

log = logging.getLogger(__name__)

ROOM_MISMATCH = "Room and token mismatched"  # the MUC's presence error text, as upstream's
MAX_KEY_BYTES = 64 * 1024  # a PEM public key or certificate is a few KiB at most
MAX_KID_CHARS = 1024
_TENANT_ROOM = re.compile(r"^\[([^\]]+)\](.+)$")


class KeyServer:
    """Public keys by ``kid`` from ``JWT_ASAP_KEYSERVER``, LRU-cached like upstream (128 keys).

    Concurrent logins with the same uncached ``kid`` share one fetch. Failures are not cached, as
    upstream: a key published after a first failed login works at the next one.
    """

    def __init__(self, base_url: str, timeout: float, cache_size: int) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._fetching: dict[str, asyncio.Task] = {}

    def url_for(self, kid: str) -> str:
        return f"{self.base_url}/{hashlib.sha256(kid.encode()).hexdigest()}.pem"

    async def key(self, kid: str) -> Any:
        cached = self._cache.get(kid)
        if cached is not None:
            self._cache.move_to_end(kid)
            return cached
        task = self._fetching.get(kid)
        if task is None:
            task = asyncio.ensure_future(self._fetch(kid))
            self._fetching[kid] = task
            task.add_done_callback(lambda done, kid=kid: self._fetched(kid, done))
        # One waiter giving up (its stream closed) must not cancel the fetch others wait for.
        key = await asyncio.shield(task)
        self._cache[kid] = key
        self._cache.move_to_end(kid)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return key

    def _fetched(self, kid: str, task: asyncio.Task) -> None:
        self._fetching.pop(kid, None)
        if not task.cancelled():
            task.exception()  # retrieved here too, in case every waiter gave up

    async def _fetch(self, kid: str) -> Any:
        url = self.url_for(kid)
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as http:
                async with http.get(url, allow_redirects=False) as response:
                    if response.status != 200:
                        log.warning("key server answered %s for %s", response.status, url)
                        raise AuthFailure("not-authorized", "could not obtain public key")
                    body = await read_body(response, MAX_KEY_BYTES)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning("key server unreachable at %s: %s", url, exc or type(exc).__name__)
            raise AuthFailure("temporary-auth-failure", "could not obtain public key") from None
        if body is None:
            raise AuthFailure("not-authorized", "could not obtain public key")
        return parse_public_key(body)


async def read_body(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or None past ``limit`` bytes (read no further: the peer may be hostile)."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(16384):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def parse_public_key(pem: bytes) -> Any:
    """A PEM public key or a PEM certificate (key servers publish either)."""
    try:
        return load_pem_public_key(pem)
    except ValueError:
        pass
    try:
        return x509.load_pem_x509_certificate(pem).public_key()
    except ValueError:
        raise AuthFailure("not-authorized", "could not obtain public key") from None


class TokenVerifier:
    """Steps 2 to 6 of the module docstring; :class:`RoomCheck` does step 7."""

    def __init__(self, config: Jwt) -> None:
        if not config.app_id:
            raise SettingsError("JWT_APP_ID", None, "required with AUTH_TYPE=jwt")
        if not config.app_secret and not config.asap_key_server:
            raise SettingsError("JWT_APP_SECRET", None, "JWT_APP_SECRET or JWT_ASAP_KEYSERVER is required")
        self.config = config
        self.keys = (
            KeyServer(config.asap_key_server, config.key_fetch_timeout, config.key_cache_size)
            if config.asap_key_server else None
        )
        default_alg = "RS256" if self.keys else "HS256"
        self.algorithm = (config.sign_type or default_alg).upper()
        if self.keys is None and not self.algorithm.startswith("HS"):
            raise SettingsError("JWT_SIGN_TYPE", config.sign_type, "needs JWT_ASAP_KEYSERVER for public keys")
        if self.keys is not None and self.algorithm.startswith("HS"):
            raise SettingsError("JWT_SIGN_TYPE", config.sign_type, "an HMAC algorithm cannot use JWT_ASAP_KEYSERVER")
        self.issuers = config.accepted_issuers or (config.app_id,)
        if self.keys is None and len(config.app_secret.encode()) < 32:
            log.warning("JWT_APP_SECRET is shorter than 32 bytes; RFC 7518 §3.2 asks for at least 32")

    async def verify(self, token: str, issuers: Iterable[str] | None = None,
                     session_key: str | None = None) -> dict[str, Any]:
        """The verified payload, or AuthFailure with upstream's reason.

        ``session_key`` is upstream's ``session.public_key``: with a key server, it is the HS256
        secret used instead of fetching a key; with an app secret, it is ignored, as upstream does.
        """
        if self.keys is None:
            claims = self._decode(token, self.config.app_secret)
        elif session_key is not None:
            claims = self._decode(token, session_key, "HS256")
        else:
            claims = self._decode(token, await self._fetch_key(token, self.keys))
        _check_claims(claims, tuple(issuers or self.issuers), self.config.accepted_audiences)
        return claims

    @staticmethod
    async def _fetch_key(token: str, keys: KeyServer) -> Any:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise AuthFailure("not-authorized", "bad token format") from None
        kid = header.get("kid")
        if kid is None:
            raise AuthFailure("not-authorized", "'kid' claim is missing")
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_CHARS:
            raise AuthFailure("not-authorized", "bad token format")
        return await keys.key(kid)

    def _decode(self, token: str, key: Any, algorithm: str | None = None) -> dict[str, Any]:
        try:
            with warnings.catch_warnings():
                # Upstream's examples use short secrets; the constructor warned once already.
                warnings.simplefilter("ignore", InsecureKeyLengthWarning)
                return jwt.decode(
                    token, key, algorithms=[algorithm or self.algorithm], leeway=self.config.leeway,
                    # iss and aud are checked below, with upstream's "*" wildcard.
                    options={"verify_aud": False, "verify_iss": False, "require": []},
                )
        except jwt.ExpiredSignatureError:
            raise AuthFailure("not-authorized", "token expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthFailure("not-authorized", "token not yet valid") from None
        except jwt.InvalidAlgorithmError:
            raise AuthFailure("not-authorized", "'alg' not accepted") from None
        except jwt.InvalidSignatureError:
            raise AuthFailure("not-authorized", "invalid signature") from None
        except (jwt.InvalidTokenError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            raise AuthFailure("not-authorized", f"invalid token: {exc}") from None


def _check_claims(claims: Mapping[str, Any], issuers: tuple[str, ...], audiences: tuple[str, ...]) -> None:
    iss = claims.get("iss")
    if iss is None:
        raise AuthFailure("not-authorized", "'iss' claim is missing")
    if "*" not in issuers and iss not in issuers:
        raise AuthFailure("not-authorized", "Invalid issuer ('iss' claim)")
    if claims.get("room") is None:
        raise AuthFailure("not-authorized", "'room' claim is missing")
    aud = claims.get("aud")
    if aud is None:
        raise AuthFailure("not-authorized", "'aud' claim is missing")
    if "*" not in audiences:
        offered = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(a, str) and a in audiences for a in offered):
            raise AuthFailure("not-authorized", "Invalid audience ('aud' claim)")


@dataclass(frozen=True)
class RoomCheck:
    """Is a session's token valid for a room? Upstream's ``token_verification`` rule.

    The MUC calls :meth:`allows` before creating a room and before every join of a session on
    the main virtual host (admins such as the focus skip it), and refuses a join it denies with
    a presence error ``cancel`` / ``not-allowed`` and the text :data:`ROOM_MISMATCH`.

    - A session without token claims (``JWT_ALLOW_EMPTY``, guests) passes.
    - The ``room`` claim must equal the room's node, case-insensitively, or be ``*``. Without
      ``JWT_ENABLE_DOMAIN_VERIFICATION`` the whole node is compared, so a tenant room
      ``[tenant]standup`` needs ``room: "*"`` or ``"[tenant]standup"``.
    - With it, ``sub`` is checked too: a tenant room ``[tenant]room@<muc>`` needs ``sub`` equal
      to the tenant (or ``*``); any other room needs ``sub`` equal to the base domain
      (``XMPP_DOMAIN``) or ``*``.
    """

    muc_prefix: str  # "muc" of muc.meet.jitsi, as docker's muc_mapper_domain_prefix
    base_domain: str  # XMPP_DOMAIN, docker's muc_mapper_domain_base
    domain_verification: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> "RoomCheck":
        domains = settings.common.domains
        return cls(
            muc_prefix=domains.muc.split(".", 1)[0],
            base_domain=domains.domain.lower(),
            domain_verification=settings.xmpp.auth_backends.jwt.enable_domain_verification,
        )

    @property
    def muc_domain(self) -> str:
        return f"{self.muc_prefix}.{self.base_domain}".lower()

    def allows(self, claims: Mapping[str, Any] | None, room_jid: str) -> bool:
        if not claims:
            return True
        bare = room_jid.split("/", 1)[0]
        if "@" not in bare:
            return True  # not a room address; nothing to compare, as upstream
        node, domain = bare.rsplit("@", 1)
        node, domain = node.lower(), domain.lower()
        auth_room = claims.get("room")
        if not isinstance(auth_room, str):
            return False
        if not self.domain_verification:
            return auth_room == "*" or node == auth_room.lower()
        auth_sub = claims.get("sub")
        if not isinstance(auth_sub, str):
            return False
        tenant = _TENANT_ROOM.match(node)
        if tenant:
            target_tenant, target_room = tenant.groups()
            room = target_room if auth_room == "*" else auth_room.lower()
            sub = target_tenant if auth_sub == "*" else auth_sub.lower()
            return (node, domain) == (f"[{sub}]{room}", self.muc_domain)
        room = node if auth_room == "*" else auth_room.lower()
        muc = self.muc_domain if auth_sub == "*" else f"{self.muc_prefix}.{auth_sub}".lower()
        return (node, domain) == (room, muc)

    def room_of(self, query: Mapping[str, str]) -> str | None:
        """The room JID a connection's URL names (``?room=`` and tenant ``?prefix=``), if any."""
        room = query.get("room")
        if not room:
            return None
        prefix = query.get("prefix")
        node = f"[{prefix}]{room}" if prefix else room
        return f"{node}@{self.muc_domain}"


def session_token(attempt: Attempt) -> str | None:
    """The token as upstream's token modules take it: ``?token=`` of the URL, else the
    ``Authorization: Bearer`` header of the WebSocket/BOSH request. An empty one counts as none."""
    token = attempt.query.get("token")
    return token if token is not None else attempt.bearer


class JwtBackend:
    """``AUTH_TYPE=jwt``: SASL ANONYMOUS with the URL's token."""

    name = "jwt"
    mechanisms = ("ANONYMOUS",)

    def __init__(self, settings: Settings, domain: str) -> None:
        config = settings.xmpp.auth_backends.jwt
        if config.auth_type != "token":
            raise SettingsError("JWT_AUTH_TYPE", config.auth_type, "only upstream's 'token' module exists here")
        if config.token_auth_module != "token_verification":
            raise SettingsError("JWT_TOKEN_AUTH_MODULE", config.token_auth_module,
                                "only upstream's 'token_verification' room module exists here")
        self.domain = domain
        self.verifier = TokenVerifier(config)
        self.allow_empty = config.allow_empty
        self.rooms = RoomCheck.from_settings(settings)

    async def anonymous(self, attempt: Attempt) -> Identity:
        token = session_token(attempt)
        if not token:
            if self.allow_empty:
                return Identity(None, None, anonymous=True)
            raise AuthFailure("not-authorized", "token required")
        return self.admit(await self.verifier.verify(token), attempt)

    def admit(self, claims: dict, attempt: Attempt) -> Identity:
        """Verified claims let in only for the room of the connection URL, when it names one."""
        room = self.rooms.room_of(attempt.query)
        if room is not None and not self.rooms.allows(claims, room):
            raise AuthFailure("not-authorized", ROOM_MISMATCH)
        return Identity(None, claims)

    async def plain(self, attempt: Attempt, username: str, password: str) -> Identity:
        raise AuthFailure("invalid-mechanism", f"{self.domain} logs in with a token (SASL ANONYMOUS)")

    async def scram_credentials(self, attempt: Attempt, username: str, hash_name: str) -> ScramCredentials | None:
        return None


__all__ = ["JwtBackend", "session_token", "TokenVerifier", "KeyServer", "RoomCheck", "ROOM_MISMATCH",
           "parse_public_key", "read_body"]
