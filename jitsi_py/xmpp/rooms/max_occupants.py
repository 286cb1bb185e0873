"""muc_max_occupants (MAX_PARTICIPANTS): a full conference refuses joins with service-unavailable.

Service accounts (focus, recorder, transcriber) neither count nor are refused.
"""

from __future__ import annotations

from ...common.errors import StanzaError
from ...settings import Settings
from ..muc.hooks import Hook
from ..muc.presence import Join, counted_occupants
from . import RoomContext


def enabled(settings: Settings) -> bool:
    return settings.xmpp.rooms.max_participants is not None


def attach(ctx: RoomContext) -> None:
    limit = ctx.settings.xmpp.rooms.max_participants
    assert limit is not None  # enabled

    def pre_join(join: Join) -> None:
        if join.admin or (join.origin is not None and join.origin.service_account):
            return
        if counted_occupants(join.room) >= limit:
            raise StanzaError("cancel", "service-unavailable", "The conference is full")

    ctx.conference.hooks.on(Hook.PRE_JOIN, pre_join)
    if ctx.lobby is not None:
        ctx.lobby.hooks.on(Hook.PRE_JOIN, pre_join)
