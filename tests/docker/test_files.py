"""The compose-side files a docker-jitsi-meet user types against, checked without an engine."""

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"

# Every variable of docker-jitsi-meet's env.example, with its value there (commented or not).
UPSTREAM_ENV_EXAMPLE = {
    "CONFIG": "~/.jitsi-meet-cfg", "HTTP_PORT": "8000", "HTTPS_PORT": "8443", "TZ": "UTC",
    "PUBLIC_URL": "https://meet.example.com:${HTTPS_PORT}",
    "JVB_ADVERTISE_IPS": "192.168.1.1,1.2.3.4,192.168.178.1#12000,fe80::1#12000",
    "JICOFO_MAX_MEMORY": "3072m", "VIDEOBRIDGE_MAX_MEMORY": "3072m", "ENABLE_JAAS_COMPONENTS": "0",
    "ENABLE_LETSENCRYPT": "1", "LETSENCRYPT_DOMAIN": "meet.example.com", "LETSENCRYPT_EMAIL": "alice@atlanta.net",
    "LETSENCRYPT_USE_STAGING": "1", "LETSENCRYPT_ACME_SERVER": '"letsencrypt"',
    "ETHERPAD_URL_BASE": "http://etherpad.meet.jitsi:9001", "ETHERPAD_PUBLIC_URL": "https://etherpad.my.domain/p/",
    "RTCSTATS_ENABLED": "true", "RTCSTATS_STORE_LOGS": "true", "RTCSTATS_POLL_INTERVAL": "10000",
    "RTCSTATS_SEND_SDP": "true", "WHITEBOARD_COLLAB_SERVER_URL_BASE": "http://whiteboard.meet.jitsi",
    "WHITEBOARD_COLLAB_SERVER_PUBLIC_URL": "https://whiteboard.meet.my.domain",
    "JIGASI_SIP_URI": "test@sip2sip.info", "JIGASI_SIP_PASSWORD": "", "JIGASI_SIP_SERVER": "sip2sip.info",
    "JIGASI_SIP_PORT": "5060", "JIGASI_SIP_TRANSPORT": "UDP", "ENABLE_AUTH": "1", "ENABLE_GUESTS": "1",
    "AUTH_TYPE": "internal", "JWT_APP_ID": "my_jitsi_app_id", "JWT_APP_SECRET": "my_jitsi_app_secret",
    "JWT_ACCEPTED_ISSUERS": "my_web_client,my_app_client", "JWT_ACCEPTED_AUDIENCES": "my_server1,my_server2",
    "LDAP_URL": "ldaps://ldap.domain.com/", "LDAP_BASE": "DC=example,DC=domain,DC=com",
    "LDAP_BINDDN": "CN=binduser,OU=users,DC=example,DC=domain,DC=com", "LDAP_BINDPW": "LdapUserPassw0rd",
    "LDAP_FILTER": "(sAMAccountName=%u)", "LDAP_AUTH_METHOD": "bind", "LDAP_VERSION": "3", "LDAP_USE_TLS": "1",
    "LDAP_TLS_CIPHERS": "SECURE256:SECURE128:!AES-128-CBC:!ARCFOUR-128:!CAMELLIA-128-CBC:!3DES-CBC:!CAMELLIA-128-CBC",
    "LDAP_TLS_CHECK_PEER": "1", "LDAP_TLS_CACERT_FILE": "/etc/ssl/certs/ca-certificates.crt",
    "LDAP_TLS_CACERT_DIR": "/etc/ssl/certs", "LDAP_START_TLS": "1",
    "JICOFO_AUTH_PASSWORD": "", "JVB_AUTH_PASSWORD": "", "JIGASI_XMPP_PASSWORD": "",
    "JIGASI_TRANSCRIBER_PASSWORD": "", "JIBRI_RECORDER_PASSWORD": "", "JIBRI_XMPP_PASSWORD": "",
    "RESTART_POLICY": "unless-stopped", "JITSI_IMAGE_VERSION": "latest",
}
SET_IN_ENV_EXAMPLE = {"CONFIG", "HTTP_PORT", "HTTPS_PORT", "TZ", "JICOFO_AUTH_PASSWORD", "JVB_AUTH_PASSWORD",
                      "JIGASI_XMPP_PASSWORD", "JIGASI_TRANSCRIBER_PASSWORD", "JIBRI_RECORDER_PASSWORD",
                      "JIBRI_XMPP_PASSWORD"}
SECRETS = ("JICOFO_AUTH_PASSWORD", "JVB_AUTH_PASSWORD", "JIGASI_XMPP_PASSWORD", "JIBRI_RECORDER_PASSWORD",
           "JIBRI_XMPP_PASSWORD", "JIGASI_TRANSCRIBER_PASSWORD")


def env_lines(text: str) -> dict[str, tuple[bool, str]]:
    """NAME -> (set, value) for `NAME=value` and `#NAME=value` lines."""
    found = {}
    for match in re.finditer(r"^(#\s?)?([A-Z][A-Z0-9_]+)=(.*)$", text, re.M):
        found.setdefault(match.group(2), (match.group(1) is None, match.group(3)))
    return found


def test_env_example_has_every_upstream_variable_with_its_value():
    ours = env_lines((DOCKER / "env.example").read_text())
    for name, value in UPSTREAM_ENV_EXAMPLE.items():
        assert name in ours, name
        assert ours[name] == (name in SET_IN_ENV_EXAMPLE, value), name


def test_gen_passwords_fills_the_six_secrets_and_keeps_a_backup(tmp_path):
    shutil.copy(DOCKER / "gen-passwords.sh", tmp_path)
    shutil.copy(DOCKER / "env.example", tmp_path / ".env")
    subprocess.run([str(tmp_path / "gen-passwords.sh")], check=True, cwd="/")
    assert (tmp_path / ".env.bak").read_text() == (DOCKER / "env.example").read_text()
    filled = env_lines((tmp_path / ".env").read_text())
    values = [filled[name][1] for name in SECRETS]
    assert all(re.fullmatch(r"[0-9a-f]{32}", v) for v in values), values
    assert len(set(values)) == len(SECRETS)
    before, after = (DOCKER / "env.example").read_text().splitlines(), (tmp_path / ".env").read_text().splitlines()
    assert [a for a, b in zip(before, after) if a != b] == [f"{name}=" for name in
                                                           sorted(SECRETS, key=lambda n: before.index(f"{n}="))]


def test_gen_passwords_without_env_says_what_to_do(tmp_path):
    shutil.copy(DOCKER / "gen-passwords.sh", tmp_path)
    proc = subprocess.run([str(tmp_path / "gen-passwords.sh")], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "cp env.example .env" in proc.stderr


def run_prosodyctl(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The image's prosodyctl with a `python` on PATH that prints what it was asked to run."""
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    shim = DOCKER / "prosody" / "rootfs" / "usr" / "local" / "bin" / "prosodyctl"
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    return subprocess.run(["sh", str(shim), *args], capture_output=True, text=True, env=env)


def test_prosodyctl_register_and_unregister_map_onto_the_xmpp_cli(tmp_path):
    proc = run_prosodyctl(tmp_path, "--config", "/config/prosody.cfg.lua", "register", "alice", "meet.jitsi", "s3cret")
    assert (proc.returncode, proc.stdout) == (0, "-m jitsi_py.xmpp register alice meet.jitsi s3cret\n")
    proc = run_prosodyctl(tmp_path, "--config", "/config/prosody.cfg.lua", "unregister", "alice", "meet.jitsi")
    assert (proc.returncode, proc.stdout) == (0, "-m jitsi_py.xmpp unregister alice meet.jitsi\n")
    proc = run_prosodyctl(tmp_path, "deluser", "bob@meet.jitsi")
    assert (proc.returncode, proc.stdout) == (0, "-m jitsi_py.xmpp unregister bob meet.jitsi\n")


def test_prosodyctl_refuses_what_it_does_not_provide(tmp_path):
    proc = run_prosodyctl(tmp_path, "--config", "/config/prosody.cfg.lua", "mod_roster_command", "x")
    assert proc.returncode == 1 and "not provided by jitsi-py" in proc.stderr and proc.stdout == ""
    proc = run_prosodyctl(tmp_path, "register", "alice", "meet.jitsi")
    assert proc.returncode == 1 and "usage:" in proc.stderr and proc.stdout == ""


def test_compose_keeps_upstream_names_ports_and_aliases():
    text = (DOCKER / "docker-compose.yml").read_text()
    services = re.findall(r"^    ([a-z]+):\n", text, re.M)
    assert services == ["web", "prosody", "jicofo", "jvb"]
    for port in ("'${HTTP_PORT}:8000'", "'${HTTPS_PORT}:8443'", "'${JVB_PORT:-10000}:${JVB_PORT:-10000}/udp'",
                 "'127.0.0.1:${JICOFO_REST_PORT:-8888}:8888'", "'127.0.0.1:${JVB_COLIBRI_PORT:-8080}:8080'"):
        assert f"- {port}\n" in text, port
    assert "- ${XMPP_SERVER:-xmpp.meet.jitsi}\n" in text
    assert text.rstrip().endswith("networks:\n    meet.jitsi:")
    for volume in ("${CONFIG}/web:", "${CONFIG}/prosody/config:", "${CONFIG}/storage/prosody:",
                   "${CONFIG}/jicofo:", "${CONFIG}/jvb:"):
        assert volume in text, volume


def test_the_jigasi_overlay_runs_the_gateway_with_every_variable_it_reads():
    from jitsi_py.settings.common import HttpLimits
    from jitsi_py.settings.fields import env_names
    from jitsi_py.settings.sip import Sip

    text = (DOCKER / "jigasi.yml").read_text()
    assert "image: ${JITSI_IMAGE_REPO:-jitsi-py}/jigasi:" in text and "dockerfile: docker/jigasi/Dockerfile" in text
    assert "${JIGASI_PORT_MIN:-20000}-${JIGASI_PORT_MAX:-20050}/udp" in text, "upstream's RTP port range"
    assert "- ${CONFIG}/jigasi:/config/jigasi:Z" in text, "the SIP TLS certificate's home (JITSI_PY_SIP_TLS_KEYS)"
    passed = {entry.split("=", 1)[0] for entry in environment(text, "jigasi")}
    wanted = (set(env_names(Sip)) | set(env_names(HttpLimits))) - {"JITSI_PY_SIP_HTTP_INTERFACES"}
    assert wanted <= passed, f"jigasi never gets {sorted(wanted - passed)}"
    dockerfile = (DOCKER / "jigasi" / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "jitsi_py.sip"]' in dockerfile and "/about/health" in dockerfile


def test_the_jibri_overlay_runs_the_recorder_with_every_variable_it_reads():
    from jitsi_py.settings.common import HttpLimits
    from jitsi_py.settings.fields import env_names
    from jitsi_py.settings.recorder import Recorder

    text = (DOCKER / "jibri.yml").read_text()
    assert "image: ${JITSI_IMAGE_REPO:-jitsi-py}/jibri:" in text and "dockerfile: docker/jibri/Dockerfile" in text
    assert "- ${CONFIG}/jibri:/config:Z" in text, "upstream's volume: recordings in ${CONFIG}/jibri/recordings"
    passed = {entry.split("=", 1)[0] for entry in environment(text, "jibri")}
    wanted = (set(env_names(Recorder)) | set(env_names(HttpLimits))) - {"JITSI_PY_RECORDER_HTTP_INTERFACES"}
    assert wanted <= passed, f"jibri never gets {sorted(wanted - passed)}"
    assert "JIBRI_RECORDING_DIR=${JIBRI_RECORDING_DIR:-/config/recordings}" in environment(text, "jibri")
    dockerfile = (DOCKER / "jibri" / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "jitsi_py.recorder"]' in dockerfile and "/jibri/api/v1.0/health" in dockerfile
    assert "jibri" in re.search(r"^SERVICES := (.*)$", (DOCKER / "Makefile").read_text(), re.M).group(1).split()
    assert "image: etherpad/etherpad:2.0.3" in (DOCKER / "etherpad.yml").read_text()


def test_the_transcriber_overlay_runs_the_transcriber_with_every_variable_it_reads():
    from jitsi_py.settings.common import HttpLimits
    from jitsi_py.settings.fields import env_names
    from jitsi_py.settings.transcriber import Transcriber

    text = (DOCKER / "transcriber.yml").read_text()
    assert "\n    transcriber:\n" in text and "image: ${JITSI_IMAGE_REPO:-jitsi-py}/transcriber:" in text
    assert "dockerfile: docker/transcriber/Dockerfile" in text
    # upstream's volume, shared with the web container (label z): ${CONFIG}/storage/transcripts
    assert "- ${CONFIG}/storage/transcripts:/config/transcripts:z\n" in text
    assert "JITSI_PY_TRANSCRIBER_DIR=/config/transcripts" in environment(text, "transcriber")
    passed = {entry.split("=", 1)[0] for entry in environment(text, "transcriber")}
    wanted = (set(env_names(Transcriber)) | set(env_names(HttpLimits)) | {"JIGASI_BREWERY_MUC", "XMPP_HIDDEN_DOMAIN",
                                                                         "XMPP_AUTH_DOMAIN"})
    assert wanted <= passed, f"the transcriber never gets {sorted(wanted - passed)}"
    dockerfile = (DOCKER / "transcriber" / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "jitsi_py.transcriber"]' in dockerfile
    assert "transcriber" in re.search(r"^SERVICES := (.*)$", (DOCKER / "Makefile").read_text(), re.M).group(1).split()


def test_the_web_container_serves_the_transcripts_the_transcriber_writes():
    compose = (DOCKER / "docker-compose.yml").read_text()
    web = compose.split("\n    web:\n", 1)[1].split("\n    prosody:\n", 1)[0]
    assert "- ${CONFIG}/storage/transcripts:/config/transcripts:ro,z\n" in web, "upstream's: read-only, shared"
    assert "JITSI_PY_TRANSCRIBER_DIR=/config/transcripts" in environment(compose, "web")


def environment(text: str, service: str) -> list[str]:
    """The `environment:` entries of one service in a compose file written as ours are."""
    block = re.split(r"\n    [a-z0-9]+:\n", text.split(f"\n    {service}:\n", 1)[1], maxsplit=1)[0]
    env = block.split("        environment:\n", 1)[1]
    return re.findall(r"^            - (\S+)$", env.split("\n        depends_on:", 1)[0], re.M)


def test_second_bridge_gets_what_the_first_gets():
    jvb = environment((DOCKER / "docker-compose.yml").read_text(), "jvb")
    jvb2 = environment((DOCKER / "jvb2.yml").read_text(), "jvb2")
    assert "JVB_PORT=${JVB2_PORT:-10001}" in jvb2 and "JVB_WS_SERVER_ID=jvb2" in jvb2
    assert "JVB_OCTO_RELAY_ID=${JVB2_OCTO_RELAY_ID:-jvb2}" in jvb2, "two bridges of one .env need two relay ids"
    assert set(jvb) - {"JVB_PORT", "JVB_WS_SERVER_ID", "JVB_OCTO_RELAY_ID"} <= set(jvb2)


def test_our_own_variables_reach_the_container_that_reads_them():
    from jitsi_py.settings import Bridge, Focus, Web, XmppServer
    from jitsi_py.settings.common import HttpLimits
    from jitsi_py.settings.fields import env_names

    compose = (DOCKER / "docker-compose.yml").read_text()
    # Where a service listens is the container's business (every address), not the operator's.
    container_decides = {"JITSI_PY_WEB_INTERFACES", "JITSI_PY_JVB_HTTP_INTERFACES"}
    http = set(env_names(HttpLimits))  # every container with an HTTP listener
    for cls, service, shared in ((XmppServer, "prosody", http), (Focus, "jicofo", set()), (Bridge, "jvb", http),
                                 (Web, "web", http)):
        passed = {entry.split("=", 1)[0] for entry in environment(compose, service)}
        ours = {name for name in env_names(cls) if name.startswith("JITSI_PY_")} - container_decides | shared
        assert ours <= passed, f"{service} never gets {sorted(ours - passed)}"


def test_services_restart_per_restart_policy_and_report_to_their_sentry_dsn():
    for name in ("docker-compose.yml", "jvb2.yml", "etherpad.yml"):
        text = (DOCKER / name).read_text()
        blocks = [b for b in re.split(r"\n    [a-z0-9]+:\n", text.split("\nservices:", 1)[1])[1:]
                  if "\n        image:" in "\n" + b]  # a service of its own, not an override of one
        restart = "\n        restart: ${RESTART_POLICY:-unless-stopped}\n"
        assert blocks and all(restart in "\n" + b for b in blocks), name
    compose, jvb2 = (DOCKER / "docker-compose.yml").read_text(), (DOCKER / "jvb2.yml").read_text()
    # upstream's mapping, quotes included (our settings strip them, as its services' toBool does)
    assert 'SENTRY_DSN="${JICOFO_SENTRY_DSN:-0}"' in environment(compose, "jicofo")
    assert 'SENTRY_DSN="${JVB_SENTRY_DSN:-0}"' in environment(compose, "jvb")
    assert 'SENTRY_DSN="${JVB_SENTRY_DSN:-0}"' in environment(jvb2, "jvb2")
    assert "${CONFIG}/prosody/prosody-plugins-custom:/config/prosody/prosody-plugins-custom:Z" in compose


# --- upstream parity, 2026: each variable reaches the container whose settings read it ---------------
PARITY_VARIABLES = {
    "jvb": ("BWE_ESTIMATOR_ENGINE", "JVB_ADVERTISE_IPS", "DOCKER_HOST_ADDRESS", "ENABLE_COLIBRI_WEBSOCKET"),
    "jicofo": ("JICOFO_ENABLE_MID", "JICOFO_ENABLE_LOAD_REDISTRIBUTION", "JICOFO_ENABLE_ICE_FAILURE_DETECTION",
               "JICOFO_ICE_FAILURE_INTERVAL", "JICOFO_ICE_FAILURE_MIN_ENDPOINTS", "JICOFO_ICE_FAILURE_THRESHOLD",
               "JICOFO_RESTART_REQUEST_MAX", "JICOFO_RESTART_REQUEST_INTERVAL"),
    "prosody": ("PROSODY_ENABLE_MUC_RESOURCE_VALIDATE", "PROSODY_MUC_RESOURCE_VALIDATE_ANONYMOUS_STRICT",
                "PROSODY_MUC_RESOURCE_VALIDATE_ANON_METHODS", "JWT_ACCEPTED_ALLOWNER_ISSUERS"),
    "web": ("CSP_HEADER", "ENABLE_ICE_RESTART", "ENABLE_ICE_RESTART_ON_NETWORK_CHANGE", "LETSENCRYPT_ACME_SERVER",
            "JVB_PREFER_SCTP", "ENABLE_SUBDOMAINS"),
}


def test_upstream_parity_variables_reach_the_container_that_reads_them():
    from jitsi_py.settings import Bridge, Focus, Web, XmppServer
    from jitsi_py.settings.fields import env_names

    compose = (DOCKER / "docker-compose.yml").read_text()
    readers = {"jvb": Bridge, "jicofo": Focus, "prosody": XmppServer, "web": Web}
    for service, names in PARITY_VARIABLES.items():
        passed = {entry.split("=", 1)[0] for entry in environment(compose, service)}
        assert set(names) <= passed, f"{service} never gets {sorted(set(names) - passed)}"
        read = set(env_names(readers[service]))
        assert set(names) <= read, f"{service}'s settings do not read {sorted(set(names) - read)}"


def test_bridge_workers_publish_their_ports_only_with_the_overlay():
    """The base file publishes JVB_PORT alone, so its bridge is one process; jvb-workers.yml adds the
    other workers' ports and their count (docs/bridge-media.md §10)."""
    jvb = environment((DOCKER / "docker-compose.yml").read_text(), "jvb")
    assert "JITSI_PY_BRIDGE_WORKERS=1" in jvb
    overlay = (DOCKER / "jvb-workers.yml").read_text()
    assert "- JITSI_PY_BRIDGE_WORKERS=${JITSI_PY_BRIDGE_WORKERS:-4}" in overlay
    assert "'${JITSI_PY_JVB_WORKER_PORTS:-10001-10003}:${JITSI_PY_JVB_WORKER_PORTS:-10001-10003}/udp'" in overlay
