"""Guests (ENABLE_AUTH with ENABLE_GUESTS): a guest's join waits until an authenticated user is in.

Guests log in anonymously on the guest domain; they may join a conference only once a user of
the main domain (or a service account) has started it. Until then their join is held, as a join
waiting for the focus is, and released when such a host enters.
"""

from __future__ import annotations

from ...settings import Settings
from ..muc.room import Occupant, Room
from ..muc.service import HoldJoin, Join
from . import RoomContext


def enabled(settings: Settings) -> bool:
    return settings.common.auth.enabled and settings.common.auth.guests


def attach(ctx: RoomContext) -> None:
    guest_domain = ctx.settings.common.domains.guest

    def is_host(occupant: Occupant) -> bool:
        origin = occupant.origin
        return origin is not None and not origin.service_account and origin.domain != guest_domain \
            and not ctx.conference.is_focus(occupant)

    def pre_join(join: Join) -> None:
        if join.origin is None or join.origin.domain != guest_domain:
            return
        if not any(is_host(o) for o in join.room.occupants.values()):
            raise HoldJoin()

    def joined(room: Room, occupant: Occupant) -> None:
        if is_host(occupant):
            ctx.conference.release_held(room.jid)

    ctx.conference.hooks.on("pre-join", pre_join)
    ctx.conference.hooks.on("occupant-joined", joined)
