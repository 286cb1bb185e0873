"""Meeting participants against our whole stack, in the test's loop."""

from __future__ import annotations

import contextlib

from jitsi_py.common.meeting import Meeting, XmppServer


def server_of(stack) -> XmppServer:
    return XmppServer.of(stack.settings.common.domains, "127.0.0.1", stack.settings.xmpp.c2s_port)


@contextlib.asynccontextmanager
async def meetings(*made: Meeting):
    """Leaves every meeting at the end, whatever happened."""
    try:
        yield made
    finally:
        for meeting in made:
            await meeting.leave()
