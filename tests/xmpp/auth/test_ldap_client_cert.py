"""A directory that demands a client certificate (slapd ``TLSVerifyClient demand``, a CA the test
makes): ``JITSI_PY_LDAP_TLS_CERT``/``_KEY`` over ldaps:// and STARTTLS."""

from __future__ import annotations

import pytest

from jitsi_py.settings import Settings, SettingsError
from jitsi_py.xmpp.auth.base import Attempt, AuthFailure, Identity
from jitsi_py.xmpp.auth.ldap import LdapBackend

from .conftest import SUFFIX, issue, write_pair

ATTEMPT = Attempt(domain="meet.jitsi", transport="tcp")


def backend(url: str, ca, pair=None, **values: str) -> LdapBackend:
    base = {"LDAP_URL": url, "LDAP_BASE": f"ou=people,{SUFFIX}", "JITSI_PY_LDAP_TIMEOUT": "3",
            "LDAP_USE_TLS": "1", "LDAP_TLS_CHECK_PEER": "1", "LDAP_TLS_CACERT_FILE": str(ca),
            "LDAP_TLS_CACERT_DIR": "/nonexistent"}
    if pair is not None:
        base.update(JITSI_PY_LDAP_TLS_CERT=str(pair[0]), JITSI_PY_LDAP_TLS_KEY=str(pair[1]))
    return LdapBackend(Settings.from_values({**base, **values}), "meet.jitsi")


async def outcome(back: LdapBackend, user: str = "mireille", password: str = "correct horse") -> str:
    try:
        assert await back.plain(ATTEMPT, user, password) == Identity(user)
    except AuthFailure as failure:
        return failure.condition
    return "ok"


@pytest.mark.system
@pytest.mark.parametrize("transport", ["ldaps", "starttls"])
async def test_only_a_certificate_from_the_directory_ca_gets_in(slapd_mtls, transport, caplog):
    url, extra = (slapd_mtls["tls"], {}) if transport == "ldaps" else (slapd_mtls["plain"], {"LDAP_START_TLS": "1"})
    ca = slapd_mtls["ca"]
    good = backend(url, ca, slapd_mtls["client"], **extra)
    assert await outcome(good) == "ok"
    assert await outcome(good, password="wrong") == "not-authorized"
    assert await outcome(backend(url, ca, slapd_mtls["client"], LDAP_AUTH_METHOD="fastbind",
                                 LDAP_FILTER=f"uid=%u,ou=people,{SUFFIX}", **extra)) == "ok"
    # Without a certificate, or with one the directory's CA did not sign, the handshake fails:
    # the directory is unusable, which is not the user's fault.
    assert await outcome(backend(url, ca, **extra)) == "temporary-auth-failure"
    assert "does the directory demand a client certificate?" in caplog.text  # the operator's hint
    assert await outcome(backend(url, ca, slapd_mtls["stranger"], **extra)) == "temporary-auth-failure"


@pytest.mark.system
async def test_the_certificate_is_offered_without_a_peer_check_too(slapd_mtls):
    back = backend(slapd_mtls["tls"], slapd_mtls["ca"], slapd_mtls["client"], LDAP_USE_TLS="0")
    assert await outcome(back) == "ok"


def test_certificate_settings_fail_clearly(tmp_path):
    cert, key = write_pair(tmp_path, "client", issue("meet.jitsi", None))
    with pytest.raises(SettingsError, match="JITSI_PY_LDAP_TLS_KEY"):
        LdapBackend(Settings.from_values({"LDAP_URL": "ldaps://x", "LDAP_BASE": SUFFIX,
                                          "JITSI_PY_LDAP_TLS_CERT": str(cert)}), "meet.jitsi")
    with pytest.raises(SettingsError, match="JITSI_PY_LDAP_TLS_CERT.*no such file"):
        LdapBackend(Settings.from_values({"LDAP_URL": "ldaps://x", "LDAP_BASE": SUFFIX,
                                          "JITSI_PY_LDAP_TLS_KEY": str(key),
                                          "JITSI_PY_LDAP_TLS_CERT": str(tmp_path / "missing.crt")}), "meet.jitsi")
