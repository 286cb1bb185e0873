"""jitsi-py's own services, each `python -m jitsi_py.<service>` with a generated environment."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from .base import DOMAIN, MUC, Process, Server, free_port

SERVICES = ("xmpp", "focus", "bridge", "web")
REPO = Path(__file__).resolve().parents[2]


class Ours(Server):
    """`services` chooses which of ours run; `wait_for_focus=False` gives plain MUC semantics."""

    name = "ours"

    def __init__(self, workdir: Path, services: tuple[str, ...] = ("xmpp",), wait_for_focus: bool = False,
                 extra_env: dict[str, str] | None = None):
        super().__init__(workdir)
        unknown = set(services) - set(SERVICES)
        if unknown:
            raise ValueError(f"unknown services {sorted(unknown)}")
        self.services = services
        self.wait_for_focus = wait_for_focus
        self.component_port = free_port()
        self.jvb_port = free_port()
        self.colibri_port = free_port()
        self.web_http_port = free_port()
        self.web_https_port = free_port()
        self.focus_rest_port = free_port()
        self.colibri_ws_port = free_port()
        self.extra_env = extra_env or {}
        self.focus_password = secrets.token_hex(12)
        self.jvb_password = secrets.token_hex(12)

    def environment(self) -> dict[str, str]:
        keep = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL") if name in os.environ}
        # the services of this checkout (the one version() names), not whichever jitsi_py the
        # interpreter would find from the work directory
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        return {
            **keep,
            "PYTHONPATH": path,
            "HOME": str(self.workdir),
            "CONFIG": str(self.workdir / "config"),
            "LOG_LEVEL": "warn",
            "XMPP_DOMAIN": DOMAIN,
            "XMPP_MUC_DOMAIN": MUC,
            "XMPP_SERVER": "127.0.0.1",
            "XMPP_PORT": str(self.c2s_port),
            "PROSODY_HTTP_PORT": str(self.http_port),
            "PROSODY_COMPONENT_PORT": str(self.component_port),
            "PROSODY_INTERFACES": "127.0.0.1",
            "PROSODY_C2S_REQUIRE_ENCRYPTION": "0",
            "PROSODY_DISABLE_C2S_LIMIT": "1",
            "ENABLE_XMPP_WEBSOCKET": "1",
            "ENABLE_AUTH": "0",
            "JITSI_PY_MUC_WAIT_FOR_FOCUS": "1" if self.wait_for_focus else "0",
            "JICOFO_AUTH_PASSWORD": self.focus_password,
            "JVB_AUTH_PASSWORD": self.jvb_password,
            "JICOFO_COMPONENT_SECRET": secrets.token_hex(12),
            "JVB_PORT": str(self.jvb_port),
            "JVB_COLIBRI_PORT": str(self.colibri_port),
            "JICOFO_REST_PORT": str(self.focus_rest_port),
            "JVB_DISABLE_STUN": "1",
            "JVB_ADVERTISE_IPS": "127.0.0.1",
            "JVB_ADVERTISE_PRIVATE_CANDIDATES": "0",
            "COLIBRI_WEBSOCKET_PORT": str(self.colibri_ws_port),
            "JVB_MUC_NICKNAME": "bench-jvb",
            "JITSI_PY_BRIDGE_WORKERS": "1",  # one bridge process unless a workload asks for workers
            "XMPP_BOSH_URL_BASE": f"http://127.0.0.1:{self.http_port}",
            "HTTP_PORT": str(self.web_http_port),
            "HTTPS_PORT": str(self.web_https_port),
            "PUBLIC_URL": f"https://127.0.0.1:{self.web_https_port}",
            **self.extra_env,
        }

    def plan(self) -> list[Process]:
        env = self.environment()
        (self.workdir / "config").mkdir(parents=True, exist_ok=True)
        return [Process(service, [sys.executable, "-m", f"jitsi_py.{service}"], env, self.workdir)
                for service in self.services]

    @property
    def public_url(self) -> str:
        return f"https://127.0.0.1:{self.web_https_port}"

    def process(self, service: str) -> Process:
        for process in self.processes:
            if process.name == service:
                return process
        raise KeyError(service)

    def version(self) -> str:
        try:
            return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                  capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "unknown"
