"""python -m jitsi_py: starts every service, answers on its ports, stops on SIGTERM, keeps its secrets."""

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from jitsi_py.settings import SECRETS_FILE

ROOT = Path(__file__).resolve().parents[1]
START_BOUND = 60.0  # seconds; a bound for a loaded CI machine, not a performance target
STOP_BOUND = 10.0


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tcp_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _udp_bound(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def _get(url: str) -> tuple[int, bytes]:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(url, timeout=5, context=context) as response:
        return response.status, response.read()


@pytest.fixture
def stack_env(tmp_path):
    ports = {
        "HTTP_PORT": _free_port(), "HTTPS_PORT": _free_port(), "XMPP_PORT": _free_port(),
        "PROSODY_HTTP_PORT": _free_port(), "PROSODY_COMPONENT_PORT": _free_port(),
        "JICOFO_REST_PORT": _free_port(), "JVB_COLIBRI_PORT": _free_port(),
        "JVB_PORT": _free_port(socket.SOCK_DGRAM),
    }
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update({k: str(v) for k, v in ports.items()})
    env.update({
        "CONFIG": str(tmp_path / "cfg"),
        "PYTHONPATH": str(ROOT),
        "XMPP_BOSH_URL_BASE": f"http://127.0.0.1:{ports['PROSODY_HTTP_PORT']}",
        "JICOFO_ENABLE_HEALTH_CHECKS": "1",
    })
    return env, ports, tmp_path


def _start(env, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "jitsi_py"], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_serving(proc: subprocess.Popen, ports: dict) -> None:
    deadline = time.monotonic() + START_BOUND
    tcp = [p for name, p in ports.items() if name != "JVB_PORT"]
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jitsi_py exited with {proc.returncode}:\n{proc.stdout.read()}")
        if all(_tcp_open(p) for p in tcp) and _udp_bound(ports["JVB_PORT"]):
            return
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"not serving within {START_BOUND} s:\n{proc.stdout.read()}")


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + START_BOUND
    last = None
    while time.monotonic() < deadline:
        try:
            status, _ = _get(url)
            if status == 200:
                return
        except OSError as exc:
            last = exc
        time.sleep(0.3)
    pytest.fail(f"{url} never healthy: {last}")


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=STOP_BOUND)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("jitsi_py did not stop on SIGTERM")
    assert proc.returncode == 0, out
    return out


def test_starts_serves_stops_and_reuses_its_secrets(stack_env):
    env, ports, tmp_path = stack_env
    proc = _start(env, tmp_path)
    try:
        _wait_serving(proc, ports)
        status, body = _get(f"https://127.0.0.1:{ports['HTTPS_PORT']}/")
        assert status == 200 and b"<html" in body.lower()
        status, body = _get(f"https://127.0.0.1:{ports['HTTPS_PORT']}/config.js")
        assert status == 200 and b"meet.jitsi" in body
        assert _get(f"http://127.0.0.1:{ports['PROSODY_HTTP_PORT']}/health")[0] == 200
        _wait_healthy(f"http://127.0.0.1:{ports['JVB_COLIBRI_PORT']}/about/health")
        _wait_healthy(f"http://127.0.0.1:{ports['JICOFO_REST_PORT']}/about/health")
        # Loopback services stay on 127.0.0.1, the bridge's REST as the XMPP server's 5280.
        for port in (ports["JVB_COLIBRI_PORT"], ports["PROSODY_HTTP_PORT"]):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.2", int(port)), timeout=2).close()
    finally:
        if proc.poll() is None:
            _stop(proc)
    config = tmp_path / "cfg"
    assert (config / "web" / "keys" / "cert.crt").is_file()
    secrets = (config / SECRETS_FILE).read_text()

    # Second start: the same secrets, and the service accounts made with them still log in.
    proc = _start(env, tmp_path)
    try:
        _wait_serving(proc, ports)
        _wait_healthy(f"http://127.0.0.1:{ports['JICOFO_REST_PORT']}/about/health")
        _wait_healthy(f"http://127.0.0.1:{ports['JVB_COLIBRI_PORT']}/about/health")
    finally:
        if proc.poll() is None:
            _stop(proc)
    assert (config / SECRETS_FILE).read_text() == secrets
