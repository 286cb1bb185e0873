"""muc_password_whitelist: the focus, the recorder and the transcriber enter locked rooms."""

from __future__ import annotations

from ...settings import Settings
from ..muc.hooks import Hook
from ..muc.presence import Join
from . import RoomContext


def enabled(settings: Settings) -> bool:
    return True


def attach(ctx: RoomContext) -> None:
    d = ctx.settings.common.domains
    accounts = ctx.settings.xmpp.accounts
    whitelist = {f"focus@{d.auth}", f"{accounts.recorder_user}@{d.hidden}", f"{accounts.transcriber_user}@{d.hidden}"}

    def pre_join(join: Join) -> None:
        if join.bare in whitelist:
            join.skip_password = True

    for service in ctx.rooms_services():
        service.hooks.on(Hook.PRE_JOIN, pre_join)
