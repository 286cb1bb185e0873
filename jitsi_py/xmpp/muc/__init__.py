"""Multi-user chat (XEP-0045) and the Jitsi room hosts; see ``build_components``.

The server core calls :func:`build_components` once at start and routes every stanza addressed
to one of the returned components' ``domain`` (or a JID on it) to its ``receive``; it calls
``session_closed`` on each of them when a local session ends without leaving its rooms. A
component's ``disco_type`` (``speakerstats``, ``lobbyrooms``...; None for plain MUC hosts and the
focus proxy) is the identity type the server advertises for its domain on the main domain. A
component with ``accepts(domain)`` also serves the domains it accepts (the conference MUC serves
the tenant domains ``muc.<tenant>.<domain>``): the router asks it for a domain it does not know.
A component with ``deadline()`` and ``handle_timer(now)`` (every MUC host) has timers: the router
keeps one event-loop timer per such component at its deadline, re-armed after each input.
Deadlines are on ``clock``, which must be the event loop's clock (both are the monotonic clock).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from ...settings import Settings
from ..auth import prosody_authentication
from ..component import Component, Host
from .service import MucOptions, MucService

if TYPE_CHECKING:
    from ..plugins import ServerIqRegistry


def build_components(settings: Settings, host: Host, clock: Callable[[], float] = time.monotonic,
                     server_iq: ServerIqRegistry | None = None) -> list[Component]:
    """Every hosted service the XMPP server runs beside its sessions (MUC hosts, Jitsi components),
    with the room modules and the operator's plugins attached; ``server_iq`` registers the server's
    own IQ handlers for the server-wide plugins (``Router.handle_server_iq``)."""
    from ..plugins import load_plugins  # noqa: PLC0415 - the plugins and room modules import the MUC service
    from ..rooms import RoomContext, module_list  # noqa: PLC0415

    d = settings.common.domains
    rooms = settings.xmpp.rooms
    focus = f"focus@{d.auth}"
    admins = frozenset({focus, f"{settings.xmpp.accounts.jvb_user}@{d.auth}",
                        *(a.lower() for a in settings.xmpp.admins)})

    def muc(domain: str, **options: Any) -> MucService:
        return MucService(MucOptions(domain=domain.lower(), focus_jid=focus, admins=admins,
                                     presence_rate=rooms.presence_rate, presence_burst=rooms.presence_burst,
                                     max_held_joins=rooms.max_held_joins, clock=clock, **options), host)

    conference = muc(d.muc, wait_for_focus=rooms.wait_for_focus, tenants=rooms.subdomains,
                     validate_nick=settings.xmpp.resource_validate.enabled,
                     strict_nick_domains=strict_nick_domains(settings),
                     restrict_room_creation=rooms.wait_for_focus)
    internal = muc(d.internal_muc, allowed_domains=frozenset({d.auth.lower()}), hide_all=False)
    lobby = muc(d.lobby, create_on_join=False) if rooms.lobby else None
    breakout = muc(d.breakout, wait_for_focus=rooms.wait_for_focus,
                   restrict_room_creation=rooms.wait_for_focus) if rooms.breakout_rooms else None
    ctx = RoomContext(settings=settings, host=host, conference=conference, internal=internal,
                      lobby=lobby, breakout=breakout)
    for module in module_list():
        if module.enabled(settings):
            module.attach(ctx)
    load_plugins(ctx, server_iq)
    return [conference, internal, *(s for s in (lobby, breakout) if s is not None), *ctx.components]


def strict_nick_domains(settings: Settings) -> frozenset[str]:
    """muc_resource_validate's anonymous_strict: the virtual hosts whose Prosody authentication
    provider is one of PROSODY_MUC_RESOURCE_VALIDATE_ANON_METHODS."""
    rules = settings.xmpp.resource_validate
    if not rules.enabled or not rules.anonymous_strict:
        return frozenset()
    return frozenset(domain.lower() for domain, method in prosody_authentication(settings).items()
                     if method in rules.anonymous_methods)
