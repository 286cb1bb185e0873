"""Debian's Janus WebRTC Server (C, libnice, libsrtp) with its VideoRoom SFU plugin: the compiled
anchor `bench media --against janus` runs beside our bridge.

Only what the bench uses is loaded: the VideoRoom plugin and the HTTP transport on loopback. ICE
gathers on the loopback interface only, over the port range the configuration gives.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from .base import Process, Server, free_port

JANUS = "janus"
LIBRARIES = Path("/usr/lib/x86_64-linux-gnu/janus")

CORE = """\
general: {{
	configs_folder = "{dir}"
	plugins_folder = "{lib}/plugins"
	transports_folder = "{lib}/transports"
	events_folder = "{lib}/events"
	loggers_folder = "{lib}/loggers"
	log_to_stdout = true
	debug_level = 3
	session_timeout = 120
}}
media: {{
	rtp_port_range = "{rtp_min}-{rtp_max}"
}}
nat: {{
	ice_enforce_list = "{interface}"
	nice_debug = false
}}
plugins: {{
	disable = "{plugins_off}"
}}
transports: {{
	disable = "{transports_off}"
}}
events: {{
	broadcast = false
}}
loggers: {{
	disable = "libjanus_jsonlog.so"
}}
"""

HTTP = """\
general: {{
	json = "compact"
	base_path = "/janus"
	http = true
	port = {port}
	interface = "lo"
}}
admin: {{
	admin_http = false
}}
"""

PLUGINS_OFF = ("audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip", "streaming", "textroom",
               "videocall", "voicemail")
TRANSPORTS_OFF = ("websockets", "mqtt", "nanomsg", "pfunix", "rabbitmq")


class Janus(Server):
    name = "janus"

    def __init__(self, workdir: Path, interface: str, rtp_ports: tuple[int, int] = (42000, 42999)):
        super().__init__(workdir)
        self.interface = interface
        self.rtp_ports = rtp_ports
        self.api_port = free_port()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/janus"

    def plan(self) -> list[Process]:
        config = self.workdir / "janus-config"
        config.mkdir(parents=True, exist_ok=True)
        libraries = LIBRARIES if LIBRARIES.is_dir() else next(Path("/usr/lib").glob("*/janus"), LIBRARIES)
        (config / "janus.jcfg").write_text(CORE.format(
            dir=config, lib=libraries, interface=self.interface, rtp_min=self.rtp_ports[0], rtp_max=self.rtp_ports[1],
            plugins_off=",".join(f"libjanus_{p}.so" for p in PLUGINS_OFF),
            transports_off=",".join(f"libjanus_{t}.so" for t in TRANSPORTS_OFF)))
        (config / "janus.transport.http.jcfg").write_text(HTTP.format(port=self.api_port))
        (config / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.workdir)}
        return [Process(JANUS, [JANUS, "-F", str(config), "-C", str(config / "janus.jcfg")], env, self.workdir)]

    def version(self) -> str:
        try:
            out = subprocess.run([JANUS, "--version"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return "unknown"
        for line in out.splitlines():
            if line.startswith("Janus version:"):
                return line.split("(", 1)[-1].rstrip(")")
        return "unknown"
