"""muc_allowners: everyone who joins the conference is an owner (so a moderator), or, with
``JWT_ACCEPTED_ALLOWNER_ISSUERS``, everyone whose token was issued by one of those issuers.

docker-jitsi-meet loads upstream's module only when ``XMPP_MUC_MODULES`` names it, and hands the
issuers to it as ``allowner_issuers``; so here: on when the operator names ``muc_allowners``.
Server admins and service accounts (focus, bridge, recorder) are left to their own rules. The
ownership is the occupant's only while it is there: the last session of a bare JID to leave takes
it away, so a later visitor of the room does not inherit it.
"""

from __future__ import annotations

from ...settings import Settings
from ..muc.hooks import Hook
from ..muc.presence import Join
from ..muc.room import Occupant, Room
from . import RoomContext

NAME = "muc_allowners"


def enabled(settings: Settings) -> bool:
    return NAME in settings.xmpp.plugins.muc_modules


def attach(ctx: RoomContext) -> None:
    issuers = ctx.settings.xmpp.allowner_issuers(ctx.settings.common.auth.enabled)
    service = ctx.conference
    granted: dict[str, set[str]] = {}  # room JID -> bare JIDs made owner here

    def pre_join(join: Join) -> None:
        origin = join.origin
        if join.admin or join.affiliation in ("owner", "outcast") or (origin is not None and origin.service_account):
            return
        if issuers and (origin is None or not origin.claims or origin.claims.get("iss") not in issuers):
            return
        join.affiliation = "owner"
        granted.setdefault(join.room.jid, set()).add(join.bare)

    def left(room: Room, occupant: Occupant) -> None:
        owners = granted.get(room.jid)
        if owners is None or occupant.bare not in owners or room.occupants_of(occupant.bare):
            return
        owners.discard(occupant.bare)
        if not owners:
            del granted[room.jid]
        service.set_affiliation(room, occupant.bare, "none")

    def destroyed(room: Room) -> None:
        granted.pop(room.jid, None)

    service.hooks.on(Hook.PRE_JOIN, pre_join)
    service.hooks.on(Hook.OCCUPANT_LEFT, left)
    service.hooks.on(Hook.ROOM_DESTROYED, destroyed)
