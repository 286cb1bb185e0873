"""Which backend each virtual host gets, as docker's Prosody config assigns them."""

from __future__ import annotations

from jitsi_py.settings import Settings
from jitsi_py.xmpp.auth import backend_names, build_backends
from jitsi_py.xmpp.auth.jwt import JwtBackend
from jitsi_py.xmpp.auth.ldap import LdapBackend
from jitsi_py.xmpp.auth.matrix import HybridMatrixTokenBackend, MatrixBackend
from jitsi_py.xmpp.rooms import token_verification

JWT = {"JWT_APP_ID": "my_app", "JWT_APP_SECRET": "s" * 32}


def names(**values: str) -> dict[str, str]:
    return backend_names(Settings.from_values(values))


def test_main_host_follows_auth_type_and_prosody_auth_type_overrides_it():
    assert names()["meet.jitsi"] == "anonymous"
    assert names(ENABLE_AUTH="1")["meet.jitsi"] == "internal"
    assert names(ENABLE_AUTH="1", AUTH_TYPE="ldap")["meet.jitsi"] == "ldap"
    assert names(ENABLE_AUTH="1", AUTH_TYPE="jwt", PROSODY_AUTH_TYPE="ldap")["meet.jitsi"] == "ldap"
    guests = names(ENABLE_AUTH="1", ENABLE_GUESTS="1", AUTH_TYPE="jwt")
    assert guests["guest.meet.jitsi"] == "jitsi-anonymous" and guests["auth.meet.jitsi"] == "internal"


def test_each_auth_type_builds_its_backend(tmp_path):
    cases = {
        "jwt": (JwtBackend, JWT),
        "ldap": (LdapBackend, {"LDAP_URL": "ldap://127.0.0.1:1", "LDAP_BASE": "dc=example,dc=org"}),
        "matrix": (MatrixBackend, {"MATRIX_UVS_URL": "http://127.0.0.1:1"}),
        "hybrid_matrix_token": (HybridMatrixTokenBackend, {**JWT, "MATRIX_UVS_URL": "http://127.0.0.1:1"}),
    }
    for auth_type, (cls, values) in cases.items():
        settings = Settings.from_values({"CONFIG": str(tmp_path), "ENABLE_AUTH": "1", "AUTH_TYPE": auth_type, **values})
        assert isinstance(build_backends(settings)["meet.jitsi"], cls)


def test_room_token_rule_is_on_for_both_token_types():
    for auth_type, on in (("jwt", True), ("hybrid_matrix_token", True), ("internal", False), ("matrix", False)):
        settings = Settings.from_values({"ENABLE_AUTH": "1", "AUTH_TYPE": auth_type})
        assert token_verification.enabled(settings) is on
    assert not token_verification.enabled(Settings.from_values({"AUTH_TYPE": "jwt"}))


def test_a_misconfigured_backend_stops_the_service_with_one_clear_line(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "LDAP_", "MATRIX_", "AUTH_", "ENABLE_"))}
    env.update({"CONFIG": str(tmp_path), "ENABLE_AUTH": "1", "AUTH_TYPE": "jwt", "JWT_APP_SECRET": "s" * 32,
                "JICOFO_AUTH_PASSWORD": "f", "JVB_AUTH_PASSWORD": "j"})
    done = subprocess.run([sys.executable, "-m", "jitsi_py.xmpp"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith("JWT_APP_ID is not set: required with AUTH_TYPE=jwt")
