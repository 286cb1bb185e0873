"""Matrix logins through the Matrix User Verification Service (UVS).

``AUTH_TYPE=matrix`` (upstream: matrix-org's ``mod_auth_matrix_user_verification``): Element's
Jitsi widget connects with ``?room=<base32 of the Matrix room ID, unpadded>`` and a JWT in
``?token=`` whose ``context.matrix`` carries an OpenID token (``token``), the Matrix ``room_id``
and optionally ``server_name``. The JWT's signature proves nothing (Element signs it with a fixed
public string), so it is decoded, not verified; ``exp``/``nbf`` are still honoured when present.
What proves the user is the UVS: ``POST <MATRIX_UVS_URL>/verify/user_in_room`` with
``{"token", "room_id"[, "matrix_server_name"]}`` (``Authorization: Bearer
<MATRIX_UVS_AUTH_TOKEN>`` when set) must answer ``results.user`` and ``results.room_membership``
true. The Jitsi room must be the base32 form of the token's ``room_id``.

``AUTH_TYPE=hybrid_matrix_token`` (upstream: jitsi-contrib's ``mod_auth_hybrid_matrix_token``):
the token is the URL's ``?token=``, else the ``Authorization: Bearer`` header of the WebSocket
upgrade or of the request creating the BOSH session (:func:`.jwt.session_token`; ``matrix`` reads
the URL only, as its upstream module does). A token with ``context.matrix`` takes the Matrix path
above, but its signature and claims are verified like any Jitsi token (:mod:`.jwt`): with the
app secret, or, when ``JWT_ASAP_KEYSERVER`` is set, with Element's placeholder secret, as
upstream does. Any other token, or none, is an ordinary ``AUTH_TYPE=jwt`` login. Both kinds accept the issuers
``JWT_APP_ID`` and ``MATRIX_UVS_ISSUER`` (unset: any issuer), as upstream's module sets them.

With ``MATRIX_UVS_SYNC_POWER_LEVELS``, ``claims["matrix_affiliation"]`` is ``"owner"`` when the
user's power level in the Matrix room is at least the room's ``state_default``, else
``"member"``; ``rooms/matrix_affiliation.py`` makes it the room affiliation. With
``MATRIX_LOBBY_BYPASS`` (hybrid), ``rooms/matrix_lobby_bypass.py`` lets token holders into a room
for which :func:`is_matrix_room` is true past its lobby and password.

Refusals are ``not-authorized`` with upstream's reason; a UVS that cannot be reached or answers
with a server error is ``temporary-auth-failure``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
from typing import Any, Mapping

import aiohttp
import jwt

from ...settings import Settings, SettingsError
from ...settings.auth import Matrix
from .base import Attempt, AuthFailure, Identity, ScramCredentials
from .jwt import JwtBackend, read_body, session_token

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024
ELEMENT_PLACEHOLDER_KEY = "notused"  # what Element's widget signs its token with
_MATRIX_ROOM_ID = re.compile(r"^!.*:.*[.].*$", re.DOTALL)


def room_id_of(jitsi_room: str | None) -> str | None:
    """The Matrix room ID a Jitsi room name stands for (unpadded base32, any case), if any."""
    if not jitsi_room:
        return None
    text = jitsi_room.upper()
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8)).decode()
    except (binascii.Error, ValueError):
        return None


def jitsi_room_of(room_id: str) -> str:
    """The Jitsi room name Element's widget uses for a Matrix room (lower case, as the MUC stores it)."""
    return base64.b32encode(room_id.encode()).decode().rstrip("=").lower()


def is_matrix_room(room_node: str) -> bool:
    """Is this room a Matrix room's call (``MATRIX_LOBBY_BYPASS`` applies to it)?"""
    room_id = room_id_of(room_node)
    return room_id is not None and bool(_MATRIX_ROOM_ID.match(room_id))


def matrix_context(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    context = payload.get("context")
    matrix = context.get("matrix") if isinstance(context, Mapping) else None
    return matrix if isinstance(matrix, Mapping) else None


class UserVerification:
    """The UVS client and the Matrix checks both Matrix backends share."""

    def __init__(self, config: Matrix) -> None:
        if not config.uvs_url:
            raise SettingsError("MATRIX_UVS_URL", None, "required with AUTH_TYPE=matrix or hybrid_matrix_token")
        self.url = config.uvs_url.rstrip("/") + "/verify/user_in_room"
        self.auth_token = config.uvs_auth_token
        self.timeout = config.timeout
        self.sync_power_levels = config.sync_power_levels

    async def check(self, payload: Mapping[str, Any], jitsi_room: str | None) -> dict[str, Any]:
        """The claims of a verified Matrix token: its payload plus ``matrix_affiliation``."""
        matrix = matrix_context(payload)
        if matrix is None or not isinstance(matrix.get("room_id"), str):
            raise AuthFailure("not-authorized", "Matrix room ID must be given")
        if room_id_of(jitsi_room) != matrix["room_id"]:
            raise AuthFailure("not-authorized", "Jitsi room does not match Matrix room")
        answer = await self._ask(matrix)
        results = answer.get("results")
        if not isinstance(results, Mapping) or results.get("user") is not True \
                or results.get("room_membership") is not True:
            raise AuthFailure("not-authorized", "Matrix token invalid or not in room")
        claims = dict(payload)
        if self.sync_power_levels:
            claims["matrix_affiliation"] = "owner" if _is_owner(answer.get("power_levels")) else "member"
        return claims

    async def _ask(self, matrix: Mapping[str, Any]) -> Mapping[str, Any]:
        body = {"token": matrix.get("token"), "room_id": matrix["room_id"]}
        if matrix.get("server_name") is not None:
            body["matrix_server_name"] = matrix["server_name"]
        headers = {"Authorization": f"Bearer {self.auth_token}"} if self.auth_token else {}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as http:
                async with http.post(self.url, json=body, headers=headers, allow_redirects=False) as response:
                    status = response.status
                    raw = await read_body(response, MAX_RESPONSE_BYTES)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning("Matrix UVS unreachable at %s: %s", self.url, exc or type(exc).__name__)
            raise AuthFailure("temporary-auth-failure", "Matrix user verification is unavailable") from None
        if status >= 500:
            log.warning("Matrix UVS answered %s", status)
            raise AuthFailure("temporary-auth-failure", "Matrix user verification is unavailable")
        if status != 200 or raw is None:
            log.warning("Matrix UVS refused the request with %s", status)
            raise AuthFailure("not-authorized", "Matrix token invalid or not in room")
        try:
            answer = json.loads(raw)
        except ValueError:
            raise AuthFailure("not-authorized", "Matrix token invalid or not in room") from None
        return answer if isinstance(answer, Mapping) else {}


def _is_owner(power_levels: Any) -> bool:
    if not isinstance(power_levels, Mapping) or not isinstance(power_levels.get("room"), Mapping):
        return False
    user, needed = power_levels.get("user"), power_levels["room"].get("state_default")
    numbers = (int, float)
    return isinstance(user, numbers) and isinstance(needed, numbers) and user >= needed


def _unverified_payload(token: str) -> dict[str, Any] | None:
    try:
        payload = jwt.decode(token, options={"verify_signature": False, "verify_exp": True, "verify_nbf": True})
    except jwt.ExpiredSignatureError:
        raise AuthFailure("not-authorized", "token expired") from None
    except jwt.ImmatureSignatureError:
        raise AuthFailure("not-authorized", "token not yet valid") from None
    except jwt.InvalidTokenError:
        return None
    return payload if isinstance(payload, dict) else None


class MatrixBackend:
    """``AUTH_TYPE=matrix``: SASL ANONYMOUS, the URL's token proven by the UVS."""

    name = "matrix"
    mechanisms = ("ANONYMOUS",)

    def __init__(self, settings: Settings, domain: str) -> None:
        self.domain = domain
        self.uvs = UserVerification(settings.xmpp.auth_backends.matrix)

    async def anonymous(self, attempt: Attempt) -> Identity:
        token = attempt.query.get("token")
        if not token:
            raise AuthFailure("not-authorized", "JWT token must be provided with OpenID token and room ID")
        payload = _unverified_payload(token)
        if payload is None:
            raise AuthFailure("not-authorized", "JWT token cannot be decoded")
        return Identity(None, await self.uvs.check(payload, attempt.query.get("room")))

    async def plain(self, attempt: Attempt, username: str, password: str) -> Identity:
        raise AuthFailure("invalid-mechanism", f"{self.domain} logs in with a Matrix token (SASL ANONYMOUS)")

    async def scram_credentials(self, attempt: Attempt, username: str, hash_name: str) -> ScramCredentials | None:
        return None


class HybridMatrixTokenBackend(JwtBackend):
    """``AUTH_TYPE=hybrid_matrix_token``: Matrix tokens via the UVS, other tokens as ``jwt``."""

    name = "hybrid_matrix_token"

    def __init__(self, settings: Settings, domain: str) -> None:
        super().__init__(settings, domain)
        self.uvs = UserVerification(settings.xmpp.auth_backends.matrix)
        # Upstream's module replaces the accepted issuers of its token checks, for both kinds of
        # token, with the app id and the UVS issuer ("*", any, when unset): JWT_ACCEPTED_ISSUERS
        # has no say here.
        issuer = settings.xmpp.auth_backends.matrix.uvs_issuer
        self.verifier.issuers = (settings.xmpp.auth_backends.jwt.app_id, issuer or "*")

    async def anonymous(self, attempt: Attempt) -> Identity:
        token = session_token(attempt)
        try:
            payload = _unverified_payload(token) if token else None
        except AuthFailure:
            payload = None  # the verifying path below gives the precise reason
        if payload is None or matrix_context(payload) is None:
            return await super().anonymous(attempt)
        # Upstream hands its token check Element's placeholder secret as the session's key: with a
        # key server, the Matrix token is checked against that (so its signature proves nothing
        # and the UVS alone vouches for the user); with an app secret, against the app secret.
        verified = await self.verifier.verify(token, session_key=ELEMENT_PLACEHOLDER_KEY)
        return self.admit(await self.uvs.check(verified, attempt.query.get("room")), attempt)


__all__ = [
    "MatrixBackend", "HybridMatrixTokenBackend", "UserVerification",
    "room_id_of", "jitsi_room_of", "is_matrix_room", "matrix_context",
]
