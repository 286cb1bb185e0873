"""python -m jitsi_py: the whole stack in one process on one machine, with zero configuration."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Sequence

from .bridge import run as run_bridge
from .common.runner import main
from .focus import run as run_focus
from .settings import Settings
from .web import run as run_web
from .xmpp import run as run_xmpp

# On one machine the services find each other on loopback, where docker's service names do not
# resolve, and there is no internet for STUN. The .env file and the environment still win.
SINGLE_MACHINE = {
    "XMPP_SERVER": "127.0.0.1",
    "XMPP_BOSH_URL_BASE": "http://127.0.0.1:5280",
    "PROSODY_INTERFACES": "127.0.0.1",
    "JITSI_PY_JVB_HTTP_INTERFACES": "127.0.0.1",
    "JVB_DISABLE_STUN": "1",
}

logger = logging.getLogger("jitsi_py")


async def run_all(settings: Settings) -> None:
    async with asyncio.TaskGroup() as services:
        for run in (run_xmpp, run_focus, run_bridge, run_web):
            services.create_task(run(settings))
        logger.info("jitsi-py is starting: open %s", settings.common.public_url)


def cli(argv: Sequence[str] | None = None) -> int:
    return main("jitsi_py", __doc__.split(": ", 1)[1], run_all, argv,
                base=SINGLE_MACHINE, generate_secrets=True)


if __name__ == "__main__":
    sys.exit(cli())
