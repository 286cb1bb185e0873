"""Token authentication: upstream's checks, the attack list, the key server, the room rule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from jitsi_py.settings import Settings, SettingsError
from jitsi_py.xmpp.auth.base import Attempt, AuthFailure, Identity
from jitsi_py.xmpp.auth.jwt import ROOM_MISMATCH, JwtBackend, RoomCheck

from .conftest import public_pem, rsa_key, sha

SECRET = "a-test-secret-that-is-at-least-32-bytes-long"
USER = {"id": "u-17", "name": "Mireille", "email": "m@example.com", "avatar": "https://example.com/a.png"}


def settings(**values: str) -> Settings:
    return Settings.from_values({"JWT_APP_ID": "my_app", "JWT_APP_SECRET": SECRET, **values})


def backend(**values: str) -> JwtBackend:
    return JwtBackend(settings(**values), "meet.jitsi")


def claims(**overrides):
    now = int(time.time())
    body = {"iss": "my_app", "aud": "jitsi", "sub": "meet.jitsi", "room": "standup",
            "exp": now + 3600, "nbf": now - 10, "context": {"user": USER, "features": {"recording": True}}}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def hs256(body, secret=SECRET, headers=None) -> str:
    return pyjwt.encode(body, secret, algorithm="HS256", headers=headers)


def attempt(token: str | None = None, **query: str) -> Attempt:
    if token is not None:
        query["token"] = token
    return Attempt(domain="meet.jitsi", transport="websocket", query=query)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def refused(back: JwtBackend, att: Attempt, condition: str = "not-authorized") -> AuthFailure:
    with pytest.raises(AuthFailure) as info:
        await back.anonymous(att)
    assert info.value.condition == condition
    return info.value


# ---- valid tokens ----

async def test_valid_token_gives_random_node_and_the_claims():
    body = claims()
    identity = await backend().anonymous(attempt(hs256(body), room="standup"))
    assert identity == Identity(None, body)
    assert identity.claims["context"]["user"] == USER
    assert identity.anonymous is False


async def test_wildcard_room_is_valid_for_any_room():
    identity = await backend().anonymous(attempt(hs256(claims(room="*")), room="anything"))
    assert identity.claims["room"] == "*"


async def test_room_claim_matches_case_insensitively():
    await backend().anonymous(attempt(hs256(claims(room="StandUp")), room="standup"))


async def test_connection_without_room_is_checked_on_join_only():
    identity = await backend().anonymous(attempt(hs256(claims())))
    assert identity.claims["room"] == "standup"


async def test_audience_list_and_explicit_audiences():
    back = backend(JWT_ACCEPTED_AUDIENCES="my_server1,jitsi")
    await back.anonymous(attempt(hs256(claims(aud="jitsi"))))
    await back.anonymous(attempt(hs256(claims(aud=["other", "my_server1"]))))


async def test_accepted_issuers_replace_the_app_id():
    back = backend(JWT_ACCEPTED_ISSUERS="my_web_client,my_app_client")
    await back.anonymous(attempt(hs256(claims(iss="my_app_client"))))
    await refused(back, attempt(hs256(claims(iss="my_app"))))


async def test_small_clock_skew_is_tolerated():
    now = int(time.time())
    await backend().anonymous(attempt(hs256(claims(exp=now - 5, nbf=now + 5))))


async def test_empty_token_allowed_when_configured():
    identity = await backend(JWT_ALLOW_EMPTY="1").anonymous(attempt())
    assert identity == Identity(None, None, anonymous=True)


# ---- the attack list: each refused with not-authorized ----

async def test_no_token_is_refused():
    failure = await refused(backend(), attempt())
    assert failure.text == "token required"


async def test_alg_none_is_refused():
    token = pyjwt.encode(claims(), None, algorithm="none")
    await refused(backend(), attempt(token))
    unsigned = b64(b'{"alg":"none","typ":"JWT"}') + "." + b64(json.dumps(claims()).encode()) + "."
    await refused(backend(), attempt(unsigned))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_other_hmac_algorithm_is_refused():
    token = pyjwt.encode(claims(), SECRET, algorithm="HS512")
    await refused(backend(), attempt(token))


async def test_expired_token_is_refused():
    failure = await refused(backend(), attempt(hs256(claims(exp=int(time.time()) - 3600))))
    assert failure.text == "token expired"


async def test_not_yet_valid_token_is_refused():
    failure = await refused(backend(), attempt(hs256(claims(nbf=int(time.time()) + 3600))))
    assert failure.text == "token not yet valid"


async def test_wrong_audience_is_refused():
    back = backend(JWT_ACCEPTED_AUDIENCES="jitsi")
    failure = await refused(back, attempt(hs256(claims(aud="elsewhere"))))
    assert failure.text == "Invalid audience ('aud' claim)"
    await refused(back, attempt(hs256(claims(aud=["elsewhere"]))))


async def test_missing_claims_are_refused():
    for name in ("iss", "aud", "room"):
        failure = await refused(backend(), attempt(hs256(claims(**{name: None}))))
        assert failure.text == f"'{name}' claim is missing"


async def test_wrong_issuer_is_refused():
    failure = await refused(backend(), attempt(hs256(claims(iss="someone_else"))))
    assert failure.text == "Invalid issuer ('iss' claim)"


async def test_wrong_secret_is_refused():
    await refused(backend(), attempt(hs256(claims(), secret="another-secret-also-32-bytes-long!!")))


async def test_tampered_signature_is_refused():
    token = hs256(claims())
    head, payload, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    await refused(backend(), attempt(f"{head}.{payload}.{flipped}"))


async def test_tampered_payload_is_refused():
    head, _, signature = hs256(claims(room="standup")).split(".")
    forged = b64(json.dumps(claims(room="*")).encode())
    await refused(backend(), attempt(f"{head}.{forged}.{signature}"))


async def test_garbage_tokens_are_refused():
    for token in ("x", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9.e30", "é.é.é"):
        await refused(backend(), attempt(token))


async def test_token_for_room_a_cannot_log_in_for_room_b():
    failure = await refused(backend(), attempt(hs256(claims(room="a")), room="b"))
    assert failure.text == ROOM_MISMATCH


async def test_wrong_sub_is_refused_with_domain_verification():
    back = backend(JWT_ENABLE_DOMAIN_VERIFICATION="true")
    await back.anonymous(attempt(hs256(claims()), room="standup"))
    await refused(back, attempt(hs256(claims(sub="other.example")), room="standup"))
    # Tenant rooms: sub is the tenant.
    await back.anonymous(attempt(hs256(claims(sub="acme")), room="standup", prefix="acme"))
    await refused(back, attempt(hs256(claims(sub="globex")), room="standup", prefix="acme"))


async def test_password_mechanisms_are_not_offered():
    back = backend()
    assert back.mechanisms == ("ANONYMOUS",)
    with pytest.raises(AuthFailure) as info:
        await back.plain(attempt(), "user", "pass")
    assert info.value.condition == "invalid-mechanism"
    assert await back.scram_credentials(attempt(), "user", "sha256") is None


def test_configuration_errors_are_clear():
    with pytest.raises(SettingsError, match="JWT_APP_ID"):
        JwtBackend(Settings.from_values({"JWT_APP_SECRET": SECRET}), "meet.jitsi")
    with pytest.raises(SettingsError, match="JWT_APP_SECRET"):
        JwtBackend(Settings.from_values({"JWT_APP_ID": "my_app"}), "meet.jitsi")
    with pytest.raises(SettingsError, match="JWT_SIGN_TYPE"):
        backend(JWT_SIGN_TYPE="RS256")
    with pytest.raises(SettingsError, match="JWT_AUTH_TYPE"):
        backend(JWT_AUTH_TYPE="token_custom")
    with pytest.raises(SettingsError, match="JWT_TOKEN_AUTH_MODULE"):
        backend(JWT_TOKEN_AUTH_MODULE="token_verification_custom")


# ---- RS256 with a key server (ASAP) ----

def asap_backend(url: str, **values: str) -> JwtBackend:
    return JwtBackend(Settings.from_values({"JWT_APP_ID": "my_app", "JWT_ASAP_KEYSERVER": url, **values}), "meet.jitsi")


def rs256(body, key, kid="key-1") -> str:
    return pyjwt.encode(body, key, algorithm="RS256", headers={"kid": kid} if kid is not None else None)


async def test_rs256_token_verified_with_the_fetched_key_and_cached(key_server, signing_key):
    url, requests, _ = key_server
    back = asap_backend(url)
    body = claims()
    assert (await back.anonymous(attempt(rs256(body, signing_key), room="standup"))).claims == body
    assert (await back.anonymous(attempt(rs256(body, signing_key)))).claims == body
    assert requests == [f"/keys/{sha('key-1')}.pem"]


async def test_concurrent_logins_share_one_key_fetch(key_server, signing_key):
    import asyncio

    url, requests, _ = key_server
    back = asap_backend(url)
    token = rs256(claims(), signing_key)
    await asyncio.gather(*(back.anonymous(attempt(token)) for _ in range(5)))
    assert len(requests) == 1


async def test_hs256_signed_with_the_public_key_is_refused(key_server, signing_key):
    url, _, _ = key_server
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "key-1"}).encode())
    payload = b64(json.dumps(claims()).encode())
    mac = hmac.new(public_pem(signing_key), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    await refused(asap_backend(url), attempt(f"{header}.{payload}.{b64(mac)}"))


async def test_token_signed_by_another_key_is_refused(key_server):
    url, _, _ = key_server
    await refused(asap_backend(url), attempt(rs256(claims(), rsa_key())))


async def test_kid_with_path_characters_never_reaches_the_url(key_server, signing_key):
    url, requests, _ = key_server
    back = asap_backend(url)
    for kid in ("../../etc/passwd", "key-1/../key-1", "%2e%2e/x", "key-1?x=1#y", "a\\b"):
        failure = await refused(back, attempt(rs256(claims(), signing_key, kid=kid)))
        assert failure.text == "could not obtain public key"
    assert all(path == f"/keys/{sha(kid)}.pem" for path, kid in zip(requests, (
        "../../etc/passwd", "key-1/../key-1", "%2e%2e/x", "key-1?x=1#y", "a\\b")))
    assert len(requests) == 5


async def test_missing_or_odd_kid_is_refused(key_server, signing_key):
    url, requests, _ = key_server
    back = asap_backend(url)
    failure = await refused(back, attempt(rs256(claims(), signing_key, kid=None)))
    assert failure.text == "'kid' claim is missing"
    header = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": 7}).encode())
    signing_input = f"{header}.{b64(json.dumps(claims()).encode())}".encode()
    signature = RSAAlgorithm(RSAAlgorithm.SHA256).sign(signing_input, signing_key)
    await refused(back, attempt(f"{signing_input.decode()}.{b64(signature)}"))
    assert requests == []


async def test_key_published_as_a_certificate(key_server, signing_key):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    url, _, keys = key_server
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "asap")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(signing_key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(signing_key, hashes.SHA256()))
    keys[sha("cert-1")] = cert.public_bytes(serialization.Encoding.PEM)
    await asap_backend(url).anonymous(attempt(rs256(claims(), signing_key, kid="cert-1")))


async def test_key_server_down_is_a_temporary_failure(signing_key):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    back = asap_backend(f"http://127.0.0.1:{port}/", JITSI_PY_JWT_KEY_FETCH_TIMEOUT="2")
    await refused(back, attempt(rs256(claims(), signing_key)), "temporary-auth-failure")


# ---- the room rule the MUC applies on join (token_verification) ----

def room_check(**values: str) -> RoomCheck:
    return RoomCheck.from_settings(settings(**values))


@pytest.mark.parametrize("room, sub, jid, allowed", [
    ("standup", "meet.jitsi", "standup@muc.meet.jitsi", True),
    ("standup", "anything", "standup@muc.meet.jitsi", True),  # sub ignored without verification
    ("StandUp", "meet.jitsi", "standup@muc.meet.jitsi/nick", True),
    ("*", "meet.jitsi", "other@muc.meet.jitsi", True),
    ("standup", "meet.jitsi", "other@muc.meet.jitsi", False),
    ("standup", "acme", "[acme]standup@muc.meet.jitsi", False),  # the whole node is compared
    ("*", "acme", "[acme]standup@muc.meet.jitsi", True),
])
def test_room_rule_without_domain_verification(room, sub, jid, allowed):
    assert room_check().allows({"room": room, "sub": sub}, jid) is allowed


@pytest.mark.parametrize("room, sub, jid, allowed", [
    ("standup", "meet.jitsi", "standup@muc.meet.jitsi", True),
    ("standup", "*", "standup@muc.meet.jitsi", True),
    ("*", "meet.jitsi", "other@muc.meet.jitsi", True),
    ("standup", "other.example", "standup@muc.meet.jitsi", False),
    ("standup", "meet.jitsi", "standup@muc.elsewhere.example", False),
    ("standup", "acme", "[acme]standup@muc.meet.jitsi", True),
    ("standup", "ACME", "[acme]standup@muc.meet.jitsi", True),
    ("*", "acme", "[acme]anything@muc.meet.jitsi", True),
    ("standup", "*", "[acme]standup@muc.meet.jitsi", True),
    ("*", "*", "[acme]anything@muc.meet.jitsi", True),
    ("standup", "globex", "[acme]standup@muc.meet.jitsi", False),
    ("other", "acme", "[acme]standup@muc.meet.jitsi", False),
    ("standup", "meet.jitsi", "[acme]standup@muc.meet.jitsi", False),
])
def test_room_rule_with_domain_verification(room, sub, jid, allowed):
    check = room_check(JWT_ENABLE_DOMAIN_VERIFICATION="1")
    assert check.allows({"room": room, "sub": sub}, jid) is allowed


def test_sessions_without_token_pass_the_room_rule():
    assert room_check().allows(None, "standup@muc.meet.jitsi")
    assert room_check(JWT_ENABLE_DOMAIN_VERIFICATION="1").allows(None, "[acme]x@muc.meet.jitsi")


def test_room_of_a_connection_url():
    check = room_check()
    assert check.room_of({"room": "standup"}) == "standup@muc.meet.jitsi"
    assert check.room_of({"room": "standup", "prefix": "acme"}) == "[acme]standup@muc.meet.jitsi"
    assert check.room_of({}) is None
