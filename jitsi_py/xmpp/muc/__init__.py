"""Multi-user chat (XEP-0045) and the Jitsi room hosts; see ``build_components``."""

from __future__ import annotations

from ...settings import Settings
from ..component import Component, Host


def build_components(settings: Settings, host: Host) -> list[Component]:
    """Every hosted service the XMPP server runs beside its sessions (MUC hosts, Jitsi components).

    The MUC of issue 4 has not landed: no room host is served yet, so joins get
    remote-server-not-found from the router.
    """
    return []
