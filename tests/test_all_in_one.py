"""python -m jitsi_py: starts every service, says when it is ready, answers on its ports, stops on SIGTERM
with a clean log, keeps its secrets, and refuses a taken port or a bad certificate in one line."""

import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from jitsi_py.common.tls import ensure_self_signed
from jitsi_py.settings import SECRETS_FILE

ROOT = Path(__file__).resolve().parents[1]
START_BOUND = 60.0  # seconds; a bound for a loaded CI machine, not a performance target
STOP_BOUND = 10.0


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A free port below Linux's ephemeral range (32768-60999): the stack's own outgoing connections
    (and every other process's) take ports from that range, and one could take ours before we bind."""
    for _ in range(100):
        port = random.randrange(20000, 32000)
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")


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


class Output:
    """The lines a child writes, read as they come so a test can wait for one."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, proc: subprocess.Popen, text: str) -> int:
        """Index of the first line holding ``text``; fails if the child exits or the bound passes."""
        deadline = time.monotonic() + START_BOUND
        while time.monotonic() < deadline:
            for index, line in enumerate(self.lines):
                if text in line:
                    return index
            if proc.poll() is not None:
                self._reader.join(5)
                pytest.fail(f"exited with {proc.returncode} before {text!r}:\n" + "\n".join(self.lines))
            time.sleep(0.1)
        proc.kill()
        pytest.fail(f"no {text!r} within {START_BOUND} s:\n" + "\n".join(self.lines))

    def finish(self) -> list[str]:
        self._reader.join(STOP_BOUND)
        return self.lines


def _start(env, cwd, module: str = "jitsi_py") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _serving(ports: dict) -> bool:
    tcp = [p for name, p in ports.items() if name != "JVB_PORT"]
    return all(_tcp_open(p) for p in tcp) and _udp_bound(ports["JVB_PORT"])


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


def _stop(proc: subprocess.Popen, output: Output) -> list[str]:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_BOUND)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("jitsi_py did not stop on SIGTERM")
    lines = output.finish()
    assert proc.returncode == 0, "\n".join(lines)
    return lines


def _after(lines: list[str], text: str) -> list[str]:
    return lines[next(i for i, line in enumerate(lines) if text in line) + 1:]


def test_starts_serves_stops_and_reuses_its_secrets(stack_env):
    env, ports, tmp_path = stack_env
    proc = _start(env, tmp_path)
    output = Output(proc)
    try:
        ready = output.wait_for(proc, "ready: open ")
        # Said once, when every service listens and the focus and the bridge have logged in.
        assert _serving(ports)
        assert output.lines[ready].endswith(f"INFO    jitsi_py: ready: open https://localhost:{ports['HTTPS_PORT']}")
        assert any("focus: logged in" in line for line in output.lines[:ready])
        assert any("bridge: logged in" in line for line in output.lines[:ready])
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
            lines = _stop(proc, output)
    assert sum("ready:" in line for line in lines) == 1
    stopping = [line for line in lines if "stopping" in line]
    assert len(stopping) == 1 and stopping[0].endswith("INFO    jitsi_py: stopping"), stopping
    assert not [line for line in lines if " ERROR " in line or "Traceback" in line]
    assert _after(lines, "jitsi_py: stopping") == []
    config = tmp_path / "cfg"
    assert (config / "web" / "keys" / "cert.crt").is_file()
    secrets = (config / SECRETS_FILE).read_text()

    # Second start: the same secrets, and the service accounts made with them still log in.
    proc = _start(env, tmp_path)
    output = Output(proc)
    try:
        output.wait_for(proc, "ready: open ")
        _wait_healthy(f"http://127.0.0.1:{ports['JICOFO_REST_PORT']}/about/health")
        _wait_healthy(f"http://127.0.0.1:{ports['JVB_COLIBRI_PORT']}/about/health")
    finally:
        if proc.poll() is None:
            _stop(proc, output)
    assert (config / SECRETS_FILE).read_text() == secrets


def test_a_stop_while_logging_in_logs_nothing_after_stopping(stack_env):
    """SIGTERM as soon as the XMPP server listens, while the focus and the bridge log in."""
    env, _ports, tmp_path = stack_env
    proc = _start(env, tmp_path)
    output = Output(proc)
    try:
        output.wait_for(proc, "listening: c2s on")
    finally:
        lines = _stop(proc, output)
    assert [line for line in _after(lines, "jitsi_py: stopping") if "logged in" in line or "ready" in line] == []


def _refused(env, cwd, module: str = "jitsi_py") -> list[str]:
    proc = subprocess.run([sys.executable, "-m", module], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=START_BOUND)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "ready:" not in proc.stdout
    return proc.stderr.strip().splitlines()


def test_a_port_in_use_is_one_line_naming_its_variable(stack_env):
    env, ports, tmp_path = stack_env
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", ports["HTTPS_PORT"]))
        taken.listen()
        assert _refused(env, tmp_path) == [f"jitsi_py: HTTPS_PORT='{ports['HTTPS_PORT']}': address already in use"]


@pytest.mark.parametrize("damage,line", [
    ("garbage_cert", "{keys}/cert.crt: not a PEM certificate"),
    ("garbage_key", "{keys}/cert.key: not a PEM private key"),
    ("missing_key", "{keys}/cert.key: no such file, but {keys}/cert.crt is there: put its pair beside it "
                    "(or remove cert.crt to get a self-signed certificate)"),
])
def test_a_bad_certificate_is_one_line_naming_the_file(stack_env, damage, line):
    env, _ports, tmp_path = stack_env
    keys = tmp_path / "cfg" / "web" / "keys"
    keys.mkdir(parents=True)
    if damage == "garbage_cert":
        (keys / "cert.crt").write_text("not a certificate\n")
    else:
        ensure_self_signed(keys / "cert.crt", tmp_path / "elsewhere.key", ["localhost"])
    if damage != "missing_key":
        (keys / "cert.key").write_text("not a key\n")
    assert _refused(env, tmp_path) == ["jitsi_py: " + line.format(keys=keys)]
    assert not (keys / "cert.key").exists() or (keys / "cert.key").read_text() == "not a key\n"  # never replaced


def test_config_that_is_a_file_is_one_line(stack_env):
    env, _ports, tmp_path = stack_env
    (tmp_path / "cfg").write_text("")
    assert _refused({**env, "CONFIG": str(tmp_path / "cfg")}, tmp_path) == [
        f"jitsi_py: CONFIG={str(tmp_path / 'cfg')!r}: not a directory"]


def test_a_service_alone_says_it_is_ready(stack_env):
    env, ports, tmp_path = stack_env
    proc = _start(env, tmp_path, "jitsi_py.web")
    output = Output(proc)
    try:
        ready = output.wait_for(proc, "ready:")
    finally:
        lines = _stop(proc, output)
    assert lines[ready].endswith(f"INFO    jitsi_py.web: ready: open https://localhost:{ports['HTTPS_PORT']} "
                                 f"(http on {ports['HTTP_PORT']}, https on {ports['HTTPS_PORT']})")
    assert lines[-1].endswith("INFO    jitsi_py.web: stopping")


@pytest.mark.parametrize("module,variable,kind", [
    ("jitsi_py.xmpp", "XMPP_PORT", socket.SOCK_STREAM),
    ("jitsi_py.xmpp", "PROSODY_HTTP_PORT", socket.SOCK_STREAM),
    ("jitsi_py.focus", "JICOFO_REST_PORT", socket.SOCK_STREAM),
    ("jitsi_py.bridge", "JVB_PORT", socket.SOCK_DGRAM),
    ("jitsi_py.bridge", "JVB_COLIBRI_PORT", socket.SOCK_STREAM),
    ("jitsi_py.web", "HTTP_PORT", socket.SOCK_STREAM),
])
def test_a_service_alone_names_its_taken_port(stack_env, module, variable, kind):
    env, ports, tmp_path = stack_env
    env = {**env, "JICOFO_AUTH_PASSWORD": "focus-secret", "JVB_AUTH_PASSWORD": "jvb-secret",
           "XMPP_SERVER": "127.0.0.1", "JVB_DISABLE_STUN": "1"}
    with socket.socket(socket.AF_INET6, kind) as taken:  # both families, as the services listen
        taken.bind(("::", ports[variable]))
        if kind == socket.SOCK_STREAM:
            taken.listen()
        assert _refused(env, tmp_path, module) == [f"{module}: {variable}='{ports[variable]}': address already in use"]


def test_enable_recording_runs_the_recorder_with_a_generated_password(stack_env):
    env, ports, tmp_path = stack_env
    recorder_port = _free_port()
    env = {**env, "ENABLE_RECORDING": "1", "JIBRI_HTTP_API_EXTERNAL_PORT": str(recorder_port)}
    proc = _start(env, tmp_path)
    output = Output(proc)
    try:
        ready = output.wait_for(proc, "ready: open ")
        assert any("recorder: logged in as jibri@auth.meet.jitsi" in line for line in output.lines[:ready])
        status, body = _get(f"http://127.0.0.1:{recorder_port}/jibri/api/v1.0/health")
        assert status == 200 and b'"busyStatus": "IDLE"' in body
        with pytest.raises(ConnectionRefusedError):  # loopback only in the all-in-one
            socket.create_connection(("127.0.0.2", recorder_port), timeout=2).close()
    finally:
        if proc.poll() is None:
            lines = _stop(proc, output)
    assert not [line for line in lines if " ERROR " in line or "Traceback" in line]
    secrets = (tmp_path / "cfg" / SECRETS_FILE).read_text()
    assert "JIBRI_XMPP_PASSWORD=" in secrets and "JIBRI_RECORDER_PASSWORD=" in secrets


def test_with_a_sip_uri_it_runs_the_sip_gateway_too(stack_env):
    env, ports, tmp_path = stack_env
    sip_port, sip_http = _free_port(socket.SOCK_DGRAM), _free_port()
    env.update({"JIGASI_SIP_URI": "jigasi@127.0.0.1", "JITSI_PY_SIP_PORT": str(sip_port),
                "JITSI_PY_SIP_HTTP_PORT": str(sip_http), "JITSI_PY_SIP_HOST": "127.0.0.1"})
    proc = _start(env, tmp_path)
    output = Output(proc)
    try:
        ready = output.wait_for(proc, "ready: open ")
        assert any("sip: logged in" in line for line in output.lines[:ready])
        _wait_healthy(f"http://127.0.0.1:{sip_http}/about/health")  # in the brewery (no SIP server to register)
        assert _udp_bound(sip_port)
        status, body = _get(f"https://127.0.0.1:{ports['HTTPS_PORT']}/config.js")
        assert b"/conference-mapper" in body and b"/dialin-numbers" in body
        status, body = _get(f"https://127.0.0.1:{ports['HTTPS_PORT']}/conference-mapper?conference=a@muc.meet.jitsi")
        assert status == 200 and b'"id"' in body
    finally:
        if proc.poll() is None:
            lines = _stop(proc, output)
    assert not [line for line in lines if " ERROR " in line or "Traceback" in line]


def test_enable_transcriptions_runs_the_transcriber_in_the_gateway_brewery(stack_env):
    env, _ports, tmp_path = stack_env
    proc = _start({**env, "ENABLE_TRANSCRIPTIONS": "1"}, tmp_path)
    output = Output(proc)
    try:
        ready = output.wait_for(proc, "ready: open ")
        assert any("transcriber: logged in as jigasi@auth.meet.jitsi" in line for line in output.lines[:ready])
        assert any("focus: gateway transcriber-" in line and "joined the brewery" in line
                   for line in output.lines[:ready])
    finally:
        if proc.poll() is None:
            lines = _stop(proc, output)
    assert not [line for line in lines if " ERROR " in line or "Traceback" in line]
    secrets = (tmp_path / "cfg" / SECRETS_FILE).read_text()
    assert "JIGASI_XMPP_PASSWORD=" in secrets and "JIGASI_TRANSCRIBER_PASSWORD=" in secrets
