"""matrix_lobby_bypass (``hybrid_matrix_token`` with ``MATRIX_LOBBY_BYPASS``): members of a Matrix
room skip the lobby and the password of that room's call.

A call started from Element's widget is named after the Matrix room (see
:func:`~..auth.matrix.is_matrix_room`); its token holders were already proven members of that room
by the UVS at login, so they enter as members, as upstream's module lets them.
"""

from __future__ import annotations

from ...settings import Settings
from ..auth.matrix import is_matrix_room
from ..muc.hooks import Hook
from ..muc.presence import Join
from ..muc.room import AFFILIATION_RANK
from . import RoomContext


def enabled(settings: Settings) -> bool:
    backends = settings.xmpp.auth_backends
    return settings.common.auth.enabled and backends.type == "hybrid_matrix_token" and backends.matrix.lobby_bypass


def attach(ctx: RoomContext) -> None:
    def pre_join(join: Join) -> None:
        if join.admin or join.origin is None or not join.origin.claims:
            return
        if not is_matrix_room(join.room.jid.split("@", 1)[0]):
            return
        join.skip_password = True
        if AFFILIATION_RANK[join.affiliation] < AFFILIATION_RANK["member"]:
            join.affiliation = "member"

    ctx.conference.hooks.on(Hook.PRE_JOIN, pre_join)
