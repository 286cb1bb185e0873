"""token_verification: a session's JWT must name the room it creates or joins (AUTH_TYPE=jwt).

The rule itself is the JWT backend's :class:`~..auth.jwt.RoomCheck`; admins (the focus) skip it.
"""

from __future__ import annotations

from ...common.errors import StanzaError
from ...settings import Settings
from ..auth.jwt import ROOM_MISMATCH, RoomCheck
from ..muc.hooks import Hook
from ..muc.presence import Join
from . import RoomContext


def enabled(settings: Settings) -> bool:
    # docker loads it for both token types (JWT_TOKEN_AUTH_MODULE).
    return settings.common.auth.enabled and settings.xmpp.auth_backends.type in ("jwt", "hybrid_matrix_token")


def attach(ctx: RoomContext) -> None:
    check = RoomCheck.from_settings(ctx.settings)

    def pre_join(join: Join) -> None:
        if join.admin or join.origin is None:
            return
        if not check.allows(join.origin.claims, join.room.jid):
            raise StanzaError("cancel", "not-allowed", ROOM_MISMATCH)

    ctx.conference.hooks.on(Hook.PRE_JOIN, pre_join)
