"""Matrix power levels as room affiliations (``MATRIX_UVS_SYNC_POWER_LEVELS``).

Upstream: ``matrix_power_sync`` (``AUTH_TYPE=matrix``) and ``matrix_affiliation``
(``hybrid_matrix_token``). At login the UVS told whether the user's power level in the Matrix
room reaches its ``state_default``; the Matrix backends put that in the session's claims as
``matrix_affiliation`` (``owner`` or ``member``, see :mod:`..auth.matrix`). Here:

- a Matrix session joins with that affiliation;
- a later grant of owner (or admin) to a session whose Matrix affiliation is ``member`` (the
  focus makes every authenticated user an owner) is turned back into ``member``.

With ``matrix`` every token session is concerned; with ``hybrid_matrix_token`` only token
sessions in a Matrix room's call (:func:`~..auth.matrix.is_matrix_room`), where a token without
Matrix owner rights counts as ``member``, as upstream's module downgrades it.
"""

from __future__ import annotations

from ...settings import Settings
from ..auth.matrix import is_matrix_room
from ..component import Origin
from ..muc.hooks import Hook
from ..muc.presence import Join
from ..muc.room import AFFILIATION_RANK, Occupant, Room
from . import RoomContext


def enabled(settings: Settings) -> bool:
    backends = settings.xmpp.auth_backends
    return settings.common.auth.enabled and backends.type in ("matrix", "hybrid_matrix_token") \
        and backends.matrix.sync_power_levels


def attach(ctx: RoomContext) -> None:
    every_room = ctx.settings.xmpp.auth_backends.type == "matrix"
    service = ctx.conference

    def wanted(room: Room, origin: Origin | None) -> str | None:
        """The affiliation Matrix gives this session in this room; None: not Matrix's business."""
        if origin is None or not origin.claims or origin.service_account:
            return None
        if not every_room and not is_matrix_room(room.jid.split("@", 1)[0]):
            return None
        return "owner" if origin.claims.get("matrix_affiliation") == "owner" else "member"

    def pre_join(join: Join) -> None:
        if join.admin:
            return
        affiliation = wanted(join.room, join.origin)
        if affiliation is not None and join.affiliation != "outcast":
            join.affiliation = affiliation

    def changed(room: Room, bare: str, affiliation: str, actor: Occupant | None) -> None:
        if AFFILIATION_RANK[affiliation] <= AFFILIATION_RANK["member"]:
            return
        if any(wanted(room, occupant.origin) == "member" for occupant in room.occupants_of(bare)):
            service.set_affiliation(room, bare, "member")

    service.hooks.on(Hook.PRE_JOIN, pre_join)
    service.hooks.on(Hook.AFFILIATION_CHANGED, changed)
