"""The images and compose files on a real Docker engine: `docker/test-compose.sh`, end to end.

The script installs Debian's docker.io and docker-compose when missing, starts its own dockerd on a
private socket, builds every image from a local Debian base, brings the stack up on free ports,
waits for every healthcheck, joins a meeting from this host through the published ports, and puts
the host's network back as it found it. It needs root, as CI has.
"""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docker" / "test-compose.sh"

pytestmark = [pytest.mark.system, pytest.mark.docker]


@pytest.mark.timeout(1080)
def test_stack_builds_starts_and_hosts_meetings():
    assert os.geteuid() == 0, "docker/test-compose.sh needs root (apt, dockerd, iptables); CI runs as root"
    proc = subprocess.run([str(SCRIPT)], cwd=ROOT, capture_output=True, text=True, timeout=1020)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-8000:]
    for line in (
        "the overlays resolve: jigasi.yml gives service jigasi every variable, UDP 20100-20103 and CONFIG/jigasi",
        "every service healthy: prosody jicofo jvb jvb2 web",
        "published ports answer",
        "prosodyctl register/unregister change the XMPP server's account store",
        "the focus answered the conference request",
        "ICE and DTLS established with the bridge through 127.0.0.1:",
        "ServerHello",
        "SRTP audio packets",
        "2 conferences spread over the bridges",
        "test-compose: OK",
    ):
        assert line in output, f"missing {line!r} in:\n{output[-8000:]}"
