"""python -m jitsi_py: the whole stack in one process on one machine, with zero configuration."""

from __future__ import annotations

import asyncio
import sys
from typing import Sequence

from .bridge import run as run_bridge
from .common.runner import main
from .common.startup import Ready
from .focus import run as run_focus
from .recorder import run as run_recorder
from .settings import Settings
from .sip import run as run_sip
from .transcriber import run as run_transcriber
from .web import run as run_web
from .xmpp import run as run_xmpp

# On one machine the services find each other on loopback, where docker's service names do not
# resolve, and there is no internet for STUN. The .env file and the environment still win.
SINGLE_MACHINE = {
    "XMPP_SERVER": "127.0.0.1",
    "XMPP_BOSH_URL_BASE": "http://127.0.0.1:5280",
    "PROSODY_INTERFACES": "127.0.0.1",
    "JITSI_PY_JVB_HTTP_INTERFACES": "127.0.0.1",
    "JITSI_PY_RECORDER_HTTP_INTERFACES": "127.0.0.1",
    "JITSI_PY_SIP_HTTP_INTERFACES": "127.0.0.1",
    "JITSI_PY_SIP_CONFCODE_VERIFY_TLS": "0",  # the web service's self-signed certificate
    "JITSI_PY_TRANSCRIBER_EXPORT_INTERFACES": "127.0.0.1",
    "JVB_DISABLE_STUN": "1",
}

CLIENTS = {"focus": run_focus, "bridge": run_bridge, "web": run_web}  # of the XMPP server, or behind it
OPTIONAL = {  # run when their switch is on
    "recorder": (run_recorder, lambda s: s.recorder.enabled),
    "sip": (run_sip, lambda s: s.sip.enabled),
    "transcriber": (run_transcriber, lambda s: s.transcriber.enabled),
}


async def run_all(settings: Settings, ready: Ready) -> None:
    """Ready when every service is: the URL is worth opening only then. On stop the clients go first,
    each saying goodbye to a server still there, then the XMPP server."""
    clients = {**CLIENTS, **{name: run for name, (run, on) in OPTIONAL.items() if on(settings)}}
    waiting = {"xmpp", *clients}

    def service_ready(name: str) -> Ready:
        def one_ready(_summary: str) -> None:
            waiting.discard(name)
            if not waiting:
                ready(f"open {settings.common.public_url}")
        return one_ready

    async with asyncio.TaskGroup() as server:
        server.create_task(run_xmpp(settings, service_ready("xmpp")))
        async with asyncio.TaskGroup() as group:
            for name, run in clients.items():
                group.create_task(run(settings, service_ready(name)))


def cli(argv: Sequence[str] | None = None) -> int:
    return main("jitsi_py", __doc__.split(": ", 1)[1], run_all, argv,
                base=SINGLE_MACHINE, generate_secrets=True)


if __name__ == "__main__":
    sys.exit(cli())
