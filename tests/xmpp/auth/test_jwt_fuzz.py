"""Fuzzing token authentication (``AUTH_TYPE=jwt``): the token of a connection URL or an
``Authorization: Bearer`` header, through PyJWT's parsing, upstream's claim checks and the room
rule. The contract: a token logs in or is refused with :class:`AuthFailure`; nothing else is
raised (the SASL exchange turns only AuthFailure into a <failure/>). Tokens are valid ones
mutated, and tokens signed with the right secret around arbitrary headers and claims, so the
checks after the signature are reached too."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json

import pytest
from hypothesis import example, given, strategies as st

from jitsi_py.xmpp.auth.base import AuthFailure
from tests.support.fuzz import mutated

from .test_jwt import SECRET, attempt, backend, claims, hs256

pytestmark = pytest.mark.fuzz

BACKEND = backend()
VERIFYING = backend(JWT_ENABLE_DOMAIN_VERIFICATION="true")


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def signed(header: bytes, payload: bytes, secret: str = SECRET) -> str:
    """A token over any header and payload bytes, with a valid HS256 signature."""
    signing_input = b64(header) + b"." + b64(payload)
    return (signing_input + b"." + b64(hmac.new(secret.encode(), signing_input, hashlib.sha256).digest())).decode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.sampled_from(["*", "standup", "my_app", "jitsi", "meet.jitsi", "HS256", "none", "RS256"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["iss", "aud", "sub", "room", "exp", "nbf", "iat", "context", "user", "alg", "typ", "kid", "crit",
         "moderator"]),
        inner, max_size=6), max_leaves=20)
claim_sets = st.fixed_dictionaries({}, optional={
    "iss": json_values, "aud": json_values, "sub": json_values, "room": json_values, "exp": json_values,
    "nbf": json_values, "iat": json_values, "context": json_values}).map(lambda extra: {**claims(), **extra})
headers = st.fixed_dictionaries({"alg": st.just("HS256")}, optional={"typ": json_values, "kid": json_values,
                                                                      "crit": json_values, "b64": json_values})

VALID = [hs256(claims()).encode(), hs256(claims(room="*", aud=["a", "jitsi"])).encode(),
         hs256(claims(), headers={"kid": "k1"}).encode()]


@st.composite
def tokens(draw):
    kind = draw(st.sampled_from(["mutated", "signed", "raw-json"]))
    if kind == "mutated":
        return draw(mutated(VALID, max_edits=3)).decode("latin-1")
    if kind == "signed":
        return signed(json.dumps(draw(headers)).encode(), json.dumps(draw(claim_sets)).encode())
    return signed(draw(st.binary(max_size=40) | json_values.map(lambda v: json.dumps(v).encode())),
                  draw(st.binary(max_size=60) | claim_sets.map(lambda v: json.dumps(v).encode())))


async def log_in(back, token: str, room: str | None) -> None:
    try:
        await back.anonymous(attempt(token, **({"room": room} if room else {})))
    except AuthFailure as failure:
        assert failure.condition == "not-authorized"


@given(token=tokens(), room=st.sampled_from([None, "standup", "[tenant]standup", "other"]),
       verifying=st.booleans())
@example(token=VALID[0].decode(), room="standup", verifying=False)
@example(token=signed(b'{"alg":"HS256","x":' + b"[" * 3000 + b"]" * 3000 + b"}", b"{}"), room=None, verifying=False)
@example(token=signed(b'{"alg":"HS256"}', json.dumps({**claims(), "room": ["standup"], "sub": {}}).encode()),
         room="standup", verifying=True)
def test_any_token_logs_in_or_is_refused_with_auth_failure(token, room, verifying):
    asyncio.run(log_in(VERIFYING if verifying else BACKEND, token, room))
