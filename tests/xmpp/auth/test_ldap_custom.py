"""``LDAP_AUTH_METHOD=custom``: the search bind reads ``userPassword`` and this side compares it.

The stored values are made by ``slappasswd`` (OpenLDAP's tool), one user per scheme saslauthd's
``lak.c`` knows; the directory is a real slapd (conftest.py).
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from jitsi_py.settings import Settings
from jitsi_py.xmpp.auth.base import Attempt, AuthFailure, Identity
from jitsi_py.xmpp.auth.ldap import LdapBackend, check_user_password

from .conftest import READER, READER_PW, SCHEMED_PASSWORD, SCHEMES, SUFFIX, slappasswd

ATTEMPT = Attempt(domain="meet.jitsi", transport="tcp")


def custom(url: str, **values: str) -> LdapBackend:
    base = {"LDAP_URL": url, "LDAP_BASE": f"ou=people,{SUFFIX}", "LDAP_AUTH_METHOD": "custom",
            "LDAP_BINDDN": READER, "LDAP_BINDPW": READER_PW, "JITSI_PY_LDAP_TIMEOUT": "3"}
    return LdapBackend(Settings.from_values({**base, **values}), "meet.jitsi")


async def refused(back: LdapBackend, user: str, password: str, condition: str = "not-authorized") -> None:
    with pytest.raises(AuthFailure) as info:
        await back.plain(ATTEMPT, user, password)
    assert info.value.condition == condition


@pytest.mark.system
@pytest.mark.parametrize("uid", sorted(SCHEMES))
async def test_each_scheme_accepts_its_password_and_nothing_else(slapd, uid):
    back = custom(slapd["plain"])
    assert await back.plain(ATTEMPT, uid, SCHEMED_PASSWORD) == Identity(uid)
    await refused(back, uid, SCHEMED_PASSWORD + "x")
    await refused(back, uid, SCHEMED_PASSWORD[:-1])
    await refused(back, uid, SCHEMED_PASSWORD.upper())


@pytest.mark.system
async def test_the_stored_hash_is_not_a_password(slapd):
    back = custom(slapd["plain"])
    for uid in ("ssha", "md5"):
        await refused(back, uid, slappasswd(SCHEMES[uid], SCHEMED_PASSWORD))


@pytest.mark.system
async def test_user_without_password_and_unknown_user_are_refused(slapd):
    back = custom(slapd["plain"])
    await refused(back, "nopass", "")
    await refused(back, "nopass", "anything")
    await refused(back, "nobody", SCHEMED_PASSWORD)
    await refused(back, "twin", "twin-pass")  # two entries match: never guess


@pytest.mark.system
async def test_search_bind_that_may_not_read_passwords_lets_nobody_in(slapd):
    back = custom(slapd["plain"], LDAP_BINDDN="", LDAP_BINDPW="")  # anonymous: 'auth' access only
    await refused(back, "ssha", SCHEMED_PASSWORD)
    await refused(back, "mireille", "correct horse")


@pytest.mark.system
async def test_the_last_value_is_the_one_compared(slapd):
    back = custom(slapd["plain"])
    assert await back.plain(ATTEMPT, "rotated", "new-pass") == Identity("rotated")
    await refused(back, "rotated", "old-pass")


@pytest.mark.system
async def test_cleartext_users_of_the_first_directory_and_injection(slapd):
    back = custom(slapd["plain"])
    assert await back.plain(ATTEMPT, "mireille", "correct horse") == Identity("mireille")
    for name in ("*", "mire*", "mireille)(uid=*"):
        await refused(back, name, "correct horse")


@pytest.mark.system
async def test_wrong_search_password_and_directory_down_are_temporary(slapd):
    await refused(custom(slapd["plain"], LDAP_BINDPW="not-it"), "ssha", SCHEMED_PASSWORD, "temporary-auth-failure")
    await refused(custom("ldap://127.0.0.1:1"), "ssha", SCHEMED_PASSWORD, "temporary-auth-failure")


@pytest.mark.system
async def test_custom_over_ldaps_and_start_tls(slapd):
    assert await custom(slapd["tls"]).plain(ATTEMPT, "smd5", SCHEMED_PASSWORD) == Identity("smd5")
    start_tls = custom(slapd["plain"], LDAP_START_TLS="1", LDAP_USE_TLS="1", LDAP_TLS_CHECK_PEER="1",
                       LDAP_TLS_CACERT_FILE=str(slapd["cert"]), LDAP_TLS_CACERT_DIR="/nonexistent")
    assert await start_tls.plain(ATTEMPT, "crypt", SCHEMED_PASSWORD) == Identity("crypt")


def test_method_name_is_read_as_saslauthd_reads_it():
    assert Settings.from_values({"LDAP_AUTH_METHOD": "Custom"}).xmpp.auth_backends.ldap.auth_method == "custom"


def ssha(password: bytes, salt: bytes) -> bytes:
    return b"{SSHA}" + base64.b64encode(hashlib.sha1(password + salt).digest() + salt)


def test_scheme_rules_in_memory():
    stored = ssha(b"secret", b"saltsalt")
    assert check_user_password(stored, b"secret")
    assert check_user_password(b"{ssha}" + stored[6:], b"secret")  # the tag in any case
    assert not check_user_password(stored, b"Secret")
    # A scheme saslauthd does not know is compared as cleartext, tag and all.
    unknown = b"{SSHA512}" + base64.b64encode(hashlib.sha512(b"secret").digest())
    assert not check_user_password(unknown, b"secret")
    assert check_user_password(unknown, unknown)
    # Empty sides, truncated digests and broken base64 never match.
    assert not check_user_password(b"", b"")
    assert not check_user_password(b"secret", b"")
    assert not check_user_password(b"{SHA}" + base64.b64encode(b"short"), b"secret")
    assert not check_user_password(b"{SMD5}not base64!", b"secret")
    assert not check_user_password(b"{CRYPT}x", b"secret")
    # The unsalted digests ignore trailing bytes after the digest, as lak.c compares only its length.
    md5 = base64.b64encode(hashlib.md5(b"secret").digest() + b"trailing")
    assert check_user_password(b"{MD5}" + md5, b"secret")
    # DES crypt, as old directories still hold it.
    assert check_user_password(slappasswd("{CRYPT}", "secret").encode(), b"secret")
