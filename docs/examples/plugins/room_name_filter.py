"""An example jitsi-py plugin: conference rooms whose name matches a pattern cannot be joined.

Copy it to ``$CONFIG/prosody/prosody-plugins-custom/room_name_filter.py`` and name it in the
conference MUC's list: ``XMPP_MUC_MODULES=room_name_filter``. The joiner gets a ``not-allowed``
error presence; everyone else is unaffected. See docs/plugins.md.
"""

import re

from jitsi_py.common.errors import StanzaError
from jitsi_py.xmpp.muc.hooks import Hook
from jitsi_py.xmpp.plugins import PluginContext

REFUSED = re.compile(r"^(admin|root|test)(-.*)?$")


def setup(ctx: PluginContext) -> None:
    def pre_join(join) -> None:
        name = join.room.node
        if REFUSED.match(name):
            ctx.log.info("%s may not join %s", join.jid, name)
            raise StanzaError("cancel", "not-allowed", f"rooms named {name!r} are not open on this server")

    ctx.on(Hook.PRE_JOIN, pre_join)
