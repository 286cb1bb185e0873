"""LDAP logins against a real slapd (Debian's; conftest.py starts it on ephemeral loopback ports)."""

from __future__ import annotations

import socket
import ssl
import time

import pytest

from jitsi_py.common.tls import ensure_self_signed
from jitsi_py.settings import Settings, SettingsError
from jitsi_py.xmpp.auth.base import Attempt, AuthFailure, Identity
from jitsi_py.xmpp.auth.ldap import LdapBackend, LoginName, tls_cipher_list

from .conftest import READER, READER_PW, SUFFIX, free_port

pytestmark = pytest.mark.system


def backend(url: str, **values: str) -> LdapBackend:
    base = {"LDAP_URL": url, "LDAP_BASE": f"ou=people,{SUFFIX}", "JITSI_PY_LDAP_TIMEOUT": "3"}
    return LdapBackend(Settings.from_values({**base, **values}), "meet.jitsi")


ATTEMPT = Attempt(domain="meet.jitsi", transport="tcp")


async def refused(back: LdapBackend, user: str, password: str, condition: str = "not-authorized") -> AuthFailure:
    with pytest.raises(AuthFailure) as info:
        await back.plain(ATTEMPT, user, password)
    assert info.value.condition == condition
    return info.value


async def test_anonymous_search_then_user_bind(slapd):
    back = backend(slapd["plain"])
    assert await back.plain(ATTEMPT, "mireille", "correct horse") == Identity("mireille")
    assert await back.plain(ATTEMPT, "Bob", "bob-pass") == Identity("bob")


async def test_wrong_password_and_unknown_user(slapd):
    back = backend(slapd["plain"])
    await refused(back, "mireille", "wrong")
    await refused(back, "nobody", "correct horse")


async def test_empty_password_is_never_an_unauthenticated_bind(slapd):
    await refused(backend(slapd["plain"]), "mireille", "")
    await refused(backend(slapd["plain"], LDAP_AUTH_METHOD="fastbind",
                          LDAP_FILTER=f"uid=%u,ou=people,{SUFFIX}"), "mireille", "")


async def test_filter_injection_cannot_widen_the_search(slapd):
    back = backend(slapd["plain"])
    for name in ("*", "mire*", "mireille)(uid=*", "*)(|(uid=*"):
        await refused(back, name, "correct horse")


async def test_ambiguous_match_is_refused(slapd):
    await refused(backend(slapd["plain"]), "twin", "twin-pass")


async def test_service_bind_and_custom_filter(slapd):
    back = backend(slapd["plain"], LDAP_BINDDN=READER, LDAP_BINDPW=READER_PW,
                   LDAP_FILTER="(&(objectClass=inetOrgPerson)(mail=%U@example.com))")
    assert await back.plain(ATTEMPT, "m", "correct horse") == Identity("m")
    await refused(back, "m", "nope")


async def test_wrong_service_password_is_a_directory_problem(slapd):
    back = backend(slapd["plain"], LDAP_BINDDN=READER, LDAP_BINDPW="not-it")
    await refused(back, "mireille", "correct horse", "temporary-auth-failure")


async def test_fastbind_binds_the_templated_dn(slapd):
    back = backend(slapd["plain"], LDAP_AUTH_METHOD="fastbind", LDAP_FILTER=f"uid=%u,ou=people,{SUFFIX}")
    assert await back.plain(ATTEMPT, "mireille", "correct horse") == Identity("mireille")
    await refused(back, "mireille", "wrong")
    await refused(back, "mireille,ou=people", "correct horse")


async def test_ldaps_with_peer_check_against_our_ca(slapd):
    back = backend(slapd["tls"], LDAP_USE_TLS="1", LDAP_TLS_CHECK_PEER="1",
                   LDAP_TLS_CACERT_FILE=str(slapd["cert"]), LDAP_TLS_CACERT_DIR="/nonexistent")
    assert await back.plain(ATTEMPT, "mireille", "correct horse") == Identity("mireille")


async def test_ldaps_peer_check_refuses_an_unknown_certificate(slapd, tmp_path):
    other, other_key = tmp_path / "other.pem", tmp_path / "other.key"
    ensure_self_signed(other, other_key, ["127.0.0.1"])
    back = backend(slapd["tls"], LDAP_USE_TLS="1", LDAP_TLS_CHECK_PEER="1",
                   LDAP_TLS_CACERT_FILE=str(other), LDAP_TLS_CACERT_DIR="/nonexistent")
    await refused(back, "mireille", "correct horse", "temporary-auth-failure")


async def test_ldaps_without_peer_check_accepts_self_signed(slapd):
    assert await backend(slapd["tls"]).plain(ATTEMPT, "mireille", "correct horse") == Identity("mireille")


async def test_start_tls(slapd):
    back = backend(slapd["plain"], LDAP_START_TLS="1", LDAP_USE_TLS="1", LDAP_TLS_CHECK_PEER="1",
                   LDAP_TLS_CACERT_FILE=str(slapd["cert"]), LDAP_TLS_CACERT_DIR="/nonexistent")
    assert await back.plain(ATTEMPT, "mireille", "correct horse") == Identity("mireille")
    # LDAP_VERSION=2 with STARTTLS speaks version 3, as saslauthd does.
    assert await backend(slapd["plain"], LDAP_START_TLS="1", LDAP_VERSION="2").plain(
        ATTEMPT, "mireille", "correct horse") == Identity("mireille")


async def test_second_url_used_when_the_first_is_down(slapd):
    back = backend(f"ldap://127.0.0.1:{free_port()} {slapd['plain']}")
    assert await back.plain(ATTEMPT, "bob", "bob-pass") == Identity("bob")


async def test_server_down_is_a_clear_temporary_failure():
    back = backend(f"ldap://127.0.0.1:{free_port()}")
    started = time.monotonic()
    failure = await refused(back, "mireille", "correct horse", "temporary-auth-failure")
    assert failure.text == "the LDAP directory is unavailable"
    assert time.monotonic() - started < 30  # bounded, not a hang


async def test_server_that_accepts_but_never_answers_is_bounded():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        back = backend(f"ldap://127.0.0.1:{silent.getsockname()[1]}", JITSI_PY_LDAP_TIMEOUT="1")
        await refused(back, "mireille", "correct horse", "temporary-auth-failure")


async def test_only_plain_is_offered():
    back = backend("ldap://127.0.0.1:1")
    assert back.mechanisms == ("PLAIN",)
    with pytest.raises(AuthFailure) as info:
        await back.anonymous(ATTEMPT)
    assert info.value.condition == "invalid-mechanism"
    assert await back.scram_credentials(ATTEMPT, "mireille", "sha256") is None


# docker-jitsi-meet's env.example value: a GnuTLS priority string (saslauthd's libldap uses GnuTLS)
UPSTREAM_CIPHERS = "SECURE256:SECURE128:!AES-128-CBC:!ARCFOUR-128:!CAMELLIA-128-CBC:!3DES-CBC:!CAMELLIA-128-CBC"


def openssl_names(cipher_list: str) -> set[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers(cipher_list)
    return {c["name"] for c in context.get_ciphers()}


def test_gnutls_priority_strings_become_openssl_cipher_lists():
    names = openssl_names(tls_cipher_list(UPSTREAM_CIPHERS))
    assert "ECDHE-RSA-AES128-GCM-SHA256" in names and "ECDHE-RSA-AES256-GCM-SHA384" in names
    assert not {"AES128-SHA", "ECDHE-RSA-AES128-SHA", "DES-CBC3-SHA"} & names, "the example's removals"
    assert not [n for n in names if "PSK" in n or "SRP" in n], "no suite a GnuTLS level lacks"
    only_256 = openssl_names(tls_cipher_list("SECURE256"))
    assert "ECDHE-RSA-AES256-GCM-SHA384" in only_256 and "ECDHE-RSA-AES128-GCM-SHA256" not in only_256
    assert tls_cipher_list("ECDHE+AESGCM") == "ECDHE+AESGCM", "an OpenSSL list is used as it is"
    with pytest.raises(SettingsError, match="LDAP_TLS_CIPHERS"):
        tls_cipher_list("NOTHING-AT-ALL")


async def test_upstreams_example_cipher_string_still_reaches_the_directory(slapd):
    back = backend(slapd["tls"], LDAP_USE_TLS="1", LDAP_TLS_CIPHERS=UPSTREAM_CIPHERS)
    assert await back.plain(ATTEMPT, "mireille", "correct horse") == Identity("mireille")


def test_configuration_errors_are_clear():
    with pytest.raises(SettingsError, match="LDAP_URL"):
        LdapBackend(Settings.from_values({}), "meet.jitsi")
    with pytest.raises(SettingsError, match="LDAP_BASE"):
        LdapBackend(Settings.from_values({"LDAP_URL": "ldap://x"}), "meet.jitsi")
    with pytest.raises(SettingsError, match="LDAP_AUTH_METHOD"):
        backend("ldap://x", LDAP_AUTH_METHOD="sasl")
    with pytest.raises(SettingsError, match="LDAP_TLS_CIPHERS"):  # ldap3 alone would ignore it silently
        backend("ldaps://x", LDAP_USE_TLS="1", LDAP_TLS_CIPHERS="NOTHING-AT-ALL")
    with pytest.raises(SettingsError, match="LDAP_BASE"):
        LdapBackend(Settings.from_values({"LDAP_URL": "ldap://x", "LDAP_AUTH_METHOD": "custom"}), "meet.jitsi")


def test_login_name_expansions():
    name = LoginName("ann@corp.example", "meet.jitsi")
    assert name.expand("(|(uid=%u)(uid=%U)(dc=%d)(o=%r)(x=%%u)(y=%z))", str) == \
        "(|(uid=ann@corp.example)(uid=ann)(dc=corp.example)(o=meet.jitsi)(x=%u)(y=))"
    assert LoginName("ann", "meet.jitsi").expand("%d", str) == "meet.jitsi"
    assert name.expand("uid=%U,dc=%2,dc=%1,o=%3,service=%s,x=%u%R,end%", str) == \
        "uid=ann,dc=corp,dc=example,o=,service=xmpp,x=ann@corp.example@meet.jitsi,end%"
    assert LoginName("bob", "meet.jitsi").expand("dc=%2,dc=%1", str) == "dc=meet,dc=jitsi"


async def test_many_concurrent_logins_share_the_bounded_threads(slapd):
    import asyncio

    back = backend(slapd["plain"], JITSI_PY_LDAP_MAX_CONCURRENT="2")
    results = await asyncio.gather(*(back.plain(ATTEMPT, "bob", "bob-pass") for _ in range(20)),
                                   back.plain(ATTEMPT, "bob", "wrong"), return_exceptions=True)
    assert results[:20] == [Identity("bob")] * 20
    assert isinstance(results[20], AuthFailure) and results[20].condition == "not-authorized"


async def test_search_base_takes_the_expansions_too(slapd):
    back = backend(slapd["plain"], LDAP_BASE="ou=people,dc=%2,dc=%1", LDAP_FILTER="uid=%U")
    assert await back.plain(ATTEMPT, "mireille@example.org", "correct horse") == Identity("mireille@example.org")
    await refused(back, "mireille@elsewhere.org", "correct horse")  # no such base: unknown user
