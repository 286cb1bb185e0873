"""Password guessing: the throttle's rules with a clock we move, then hammered over every transport."""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
import time

import aiohttp
import pytest
import websockets
from aiohttp.test_utils import make_mocked_request

from jitsi_py.common.addresses import Networks
from jitsi_py.common.xmlstream import StreamOpen
from jitsi_py.settings import Settings, SettingsError
from jitsi_py.settings.fields import networks
from jitsi_py.xmpp.auth.base import AuthFailure
from jitsi_py.xmpp.auth.internal import InternalBackend
from jitsi_py.xmpp.c2s import C2SSession, SessionLimits
from jitsi_py.xmpp.login_throttle import LoginThrottle, ThrottleLimits
from jitsi_py.xmpp.server import XmppServer
from jitsi_py.xmpp.websocket import client_address

from .conftest import make_settings
from .test_c2s_core import MemoryLink, feed

ACCOUNT = "focus@auth.meet.jitsi"


def refused(throttle: LoginThrottle, ip: str, now: float) -> bool:
    try:
        throttle.start(ip, now)
    except AuthFailure as failure:
        assert failure.condition == "temporary-auth-failure" and "try again in" in failure.text
        return True
    return False


def fail(throttle: LoginThrottle, ip: str, now: float, account: str = ACCOUNT) -> float:
    """One wrong password; returns how long its verdict was held."""
    guess = throttle.start(ip, now)
    delay = throttle.delay(guess, account, now)
    throttle.failed(guess, now + delay)
    return delay


# --- the rules, without I/O ----------------------------------------------------------------------

def test_an_address_is_refused_past_its_failures_until_the_window_moves_on():
    throttle = LoginThrottle(ThrottleLimits(per_address=3, window=60))
    for t in (0.0, 10.0, 20.0):
        assert fail(throttle, "192.0.2.1", t) == 0.0
    assert refused(throttle, "192.0.2.1", 30.0)
    assert not refused(throttle, "192.0.2.2", 30.0), "another address is not concerned"
    assert refused(throttle, "192.0.2.1", 59.9)
    assert not refused(throttle, "192.0.2.1", 60.1), "the failure at 0 left the window"


def test_logins_in_progress_count_so_parallel_connections_get_no_more_tries():
    throttle = LoginThrottle(ThrottleLimits(per_address=3))
    pending = [throttle.start("192.0.2.1", 0.0) for _ in range(3)]
    assert refused(throttle, "192.0.2.1", 0.0)
    throttle.delay(pending[0], ACCOUNT, 0.0)
    throttle.succeeded(pending[0])
    assert not refused(throttle, "192.0.2.1", 0.0), "a success frees its own place"


def test_a_login_the_backend_could_not_judge_does_not_count():
    throttle = LoginThrottle(ThrottleLimits(per_address=1))
    guess = throttle.start("192.0.2.1", 0.0)
    throttle.delay(guess, ACCOUNT, 0.0)
    throttle.withdraw(guess)
    fail(throttle, "192.0.2.1", 1.0)
    assert refused(throttle, "192.0.2.1", 2.0)


def test_a_success_forgives_the_address_its_failures_on_that_account_only():
    throttle = LoginThrottle(ThrottleLimits(per_address=3))
    fail(throttle, "192.0.2.1", 0.0, "alice@meet.jitsi")
    fail(throttle, "192.0.2.1", 1.0, "alice@meet.jitsi")
    fail(throttle, "192.0.2.1", 2.0, "bob@meet.jitsi")
    assert refused(throttle, "192.0.2.1", 3.0)
    throttle2 = LoginThrottle(ThrottleLimits(per_address=3))
    fail(throttle2, "192.0.2.1", 0.0, "alice@meet.jitsi")
    fail(throttle2, "192.0.2.1", 1.0, "bob@meet.jitsi")
    login = throttle2.start("192.0.2.1", 2.0)
    throttle2.delay(login, "Alice@meet.jitsi", 2.0)
    throttle2.succeeded(login)
    # alice's mistype is forgiven; the guess at bob still counts, so two more tries, not three.
    fail(throttle2, "192.0.2.1", 3.0, "bob@meet.jitsi")
    fail(throttle2, "192.0.2.1", 4.0, "bob@meet.jitsi")
    assert refused(throttle2, "192.0.2.1", 5.0)


def test_an_account_under_attack_slows_down_but_never_refuses():
    throttle = LoginThrottle(ThrottleLimits(per_address=2, per_account=4, max_delay=5, window=60))
    delays = [fail(throttle, f"198.51.100.{i}", float(i)) for i in range(8)]  # one guess per address
    assert delays == [0, 0, 0, 0, 1, 2, 4, 5]
    # The owner, from an address of its own: not refused, answered after the capped delay.
    owner = throttle.start("203.0.113.9", 9.0)
    assert throttle.delay(owner, ACCOUNT, 9.0) == 5
    throttle.succeeded(owner)
    assert throttle.delay(throttle.start("203.0.113.9", 9.0), "other@auth.meet.jitsi", 9.0) == 0
    # Failures went out at 0, 1, 2, 3, 5, 7, 10 and 12: at 62.5 the first three left the window.
    assert throttle.delay(throttle.start("203.0.113.10", 62.5), ACCOUNT, 62.5) == 2
    assert throttle.delay(throttle.start("203.0.113.11", 200.0), ACCOUNT, 200.0) == 0


def test_the_trusted_proxies_own_addresses_are_never_refused_but_still_slowed():
    throttle = LoginThrottle(ThrottleLimits(per_address=1, per_account=2, exempt=Networks(networks("127.0.0.1,::1"))))
    assert [fail(throttle, "127.0.0.1", 0.0) for _ in range(4)] == [0, 0, 1, 2]
    assert not refused(throttle, "::1", 0.0) and not refused(throttle, "::ffff:127.0.0.1", 0.0)
    assert refused(throttle, "127.0.0.2", 0.0) is False and refused(throttle, "127.0.0.2", 0.0)


def test_zero_disables_a_limit():
    throttle = LoginThrottle(ThrottleLimits(per_address=0, per_account=0))
    assert [fail(throttle, "192.0.2.1", 0.0) for _ in range(100)] == [0.0] * 100
    assert len(throttle) == 0


def test_tables_are_bounded_and_expire():
    throttle = LoginThrottle(ThrottleLimits(per_address=5, per_account=5, table_size=100, window=60))
    for i in range(10_000):
        fail(throttle, f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", i / 1000, f"user{i}@meet.jitsi")
    assert len(throttle) == 200
    fail(throttle, "192.0.2.1", 1000.0, "late@meet.jitsi")
    assert len(throttle) == 2, "everything older than the window went when the tables were next written"
    # No such account can exist past RFC 7622's lengths: it takes no place in the table.
    guess = throttle.start("192.0.2.2", 1000.0)
    assert throttle.delay(guess, "x" * 3000 + "@meet.jitsi", 1000.0) == 0
    throttle.failed(guess, 1000.0)
    assert len(throttle._accounts.entries) == 1


def test_addresses_are_counted_per_ipv6_subscriber():
    throttle = LoginThrottle(ThrottleLimits(per_address=1))
    fail(throttle, "2001:db8::1", 0.0)
    assert refused(throttle, "2001:db8::ffff", 1.0)


@pytest.mark.parametrize("peer,forwarded,expected", [
    ("203.0.113.5", "192.0.2.1", "203.0.113.5"),  # not a proxy: its header means nothing
    ("127.0.0.1", "192.0.2.1", "192.0.2.1"),
    ("127.0.0.1", "6.6.6.6, 192.0.2.1", "192.0.2.1"),  # the client wrote 6.6.6.6; nginx appended
    ("127.0.0.1", "192.0.2.1, ::1", "192.0.2.1"),  # two proxies
    ("172.18.0.5", "192.0.2.1", "192.0.2.1"),  # a proxy inside a trusted network (a container)
    ("::ffff:172.18.0.5", "2001:db8::7", "2001:db8::7"),
    ("127.0.0.1", "172.18.0.1", "127.0.0.1"),  # only proxies: the nearest one
    ("127.0.0.1", None, "127.0.0.1"),
])
def test_the_client_address_is_the_last_hop_no_trusted_proxy_wrote(peer, forwarded, expected):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    request = make_mocked_request("GET", "/xmpp-websocket", headers=headers).clone(remote=peer)
    assert client_address(request, Networks(networks("127.0.0.1,::1,172.16.0.0/12"))) == expected


def test_trusted_proxies_are_addresses_or_networks():
    with pytest.raises(SettingsError, match="PROSODY_TRUSTED_PROXIES"):
        Settings.from_values({"PROSODY_TRUSTED_PROXIES": "web.meet.jitsi"})
    proxies = Settings.from_values({"PROSODY_TRUSTED_PROXIES": "10.0.0.0/8, ::1 "}).xmpp.trusted_proxies
    assert "10.1.2.3" in Networks(proxies) and "::1" in Networks(proxies) and "11.0.0.1" not in Networks(proxies)


# --- in the session -------------------------------------------------------------------------------

async def test_a_refused_login_never_reaches_the_auth_backend(tmp_path):
    router = XmppServer(make_settings(tmp_path, JITSI_PY_XMPP_LOGIN_FAILURES_PER_ADDRESS="2")).router
    backend = router.backends["auth.meet.jitsi"]
    checked = []

    async def plain(attempt, username, password):
        checked.append(password)
        return await InternalBackend.plain(backend, attempt, username, password)

    backend.plain = plain
    answers = []
    for guess in ("a", "b", "c", "d"):
        link = MemoryLink()
        link.remote_ip = "192.0.2.1"
        session = C2SSession(router, link, 0.0, SessionLimits())
        session.receive(StreamOpen("open", {"to": "auth.meet.jitsi"}), 0.0)
        link.take()
        await feed(session, plain_auth(guess).encode())
        answers.append(link.take())
    assert checked == ["a", "b"]
    assert [b"<not-authorized/>" in a for a in answers] == [True, True, False, False]
    assert all(b"<temporary-auth-failure/>" in a and b"try again in 60 s" in a for a in answers[2:])


# --- hammered over the wire ----------------------------------------------------------------------

WINDOW, PER_ADDRESS = 1.0, 5
ATTACKER = "127.0.0.3"  # not 127.0.0.1: loopback is a trusted proxy, whose own logins are never refused


@pytest.fixture
def settings_values() -> dict[str, str]:
    return {"JITSI_PY_XMPP_LOGIN_FAILURES_PER_ADDRESS": str(PER_ADDRESS),
            "JITSI_PY_XMPP_LOGIN_FAILURE_WINDOW": str(WINDOW),
            "JITSI_PY_XMPP_LOGIN_FAILURES_PER_ACCOUNT": "30", "JITSI_PY_XMPP_LOGIN_MAX_DELAY": "0.5",
            "PROSODY_DISABLE_C2S_LIMIT": "1"}


def plain_auth(password: str) -> str:
    payload = base64.b64encode(f"\0focus\0{password}".encode()).decode()
    return f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{payload}</auth>"


def verdict(text: str) -> str:
    found = re.search(r"<success|<(not-authorized|temporary-auth-failure)/>", text)
    return (found.group(1) or "success") if found else ""


CLIENT_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # once: loading CA files takes longer than a login
CLIENT_TLS.check_hostname, CLIENT_TLS.verify_mode = False, ssl.CERT_NONE


async def login_tcp(server, source: str, password: str) -> str:
    """A fresh TCP connection from ``source``: STARTTLS, then PLAIN; the SASL verdict."""
    header = (b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
              b"to='auth.meet.jitsi' version='1.0'>")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.listening.c2s_port, local_addr=(source, 0))
    try:
        async def until(marker: bytes) -> bytes:
            data = b""
            while marker not in data and not re.search(rb"<success|failure>", data):
                chunk = await reader.read(4096)
                if not chunk:
                    break
                data += chunk
            return data

        writer.write(header)
        await until(b"</stream:features>")
        writer.write(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        await until(b"<proceed")
        await writer.start_tls(CLIENT_TLS)
        writer.write(header)
        await until(b"</stream:features>")
        writer.write(plain_auth(password).encode())
        return verdict((await until(b"</failure>")).decode())
    finally:
        writer.close()


async def login_websocket(server, source: str, password: str) -> str:
    url = f"ws://127.0.0.1:{server.listening.http_port}/xmpp-websocket"
    async with websockets.connect(url, subprotocols=["xmpp"], local_addr=(source, 0)) as ws:
        await ws.send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='auth.meet.jitsi' version='1.0'/>")
        await ws.recv()
        await ws.recv()
        await ws.send(plain_auth(password))
        return verdict(await ws.recv())


async def anonymous_websocket(server, source: str) -> str:
    url = f"ws://127.0.0.1:{server.listening.http_port}/xmpp-websocket"
    async with websockets.connect(url, subprotocols=["xmpp"], local_addr=(source, 0)) as ws:
        await ws.send("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='meet.jitsi' version='1.0'/>")
        await ws.recv()
        await ws.recv()
        await ws.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>")
        return verdict(await ws.recv())


async def login_bosh(server, source: str, password: str) -> str:
    url = f"http://127.0.0.1:{server.listening.http_port}/http-bind"
    body = "<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' {}>{}</body>"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(source, 0))) as http:
        async with http.post(url, data=body.format("rid='1' to='auth.meet.jitsi' wait='5' hold='1' "
                                                   "xmpp:version='1.0'", "")) as response:
            sid = re.search(r'sid="([^"]+)"', await response.text()).group(1)
        async with http.post(url, data=body.format(f"rid='2' sid='{sid}'", plain_auth(password))) as response:
            return verdict(await response.text())


LOGINS = {"tcp": login_tcp, "websocket": login_websocket, "bosh": login_bosh}


@pytest.mark.parametrize("transport", LOGINS)
async def test_guessing_from_fresh_connections_is_held_to_the_bound(server, transport):
    login = LOGINS[transport]
    outcomes: list[str] = []
    started = time.monotonic()

    async def guesser() -> None:
        while time.monotonic() - started < 2.5:
            outcomes.append(await login(server, ATTACKER, "guess"))

    await asyncio.gather(*(guesser() for _ in range(8)))
    elapsed = time.monotonic() - started
    assert set(outcomes) == {"not-authorized", "temporary-auth-failure"}, "faster than the bound: refusals"
    checked = outcomes.count("not-authorized")
    # At most PER_ADDRESS passwords are checked in any window; without the throttle, every try is.
    assert checked <= PER_ADDRESS * (elapsed / WINDOW + 1), (checked, elapsed)
    print(f"{transport}: {len(outcomes) / elapsed:.0f} tries/s, {checked / elapsed:.1f} passwords checked/s "
          f"(bound {PER_ADDRESS / WINDOW:.0f}/s)")
    # Meanwhile the owner, from another address, logs in at once; and guests behind the guessing
    # address (one NAT) still join: anonymous logins have nothing to guess and are never refused.
    began = time.monotonic()
    assert await login(server, "127.0.0.2", "focus-secret") == "success"
    assert time.monotonic() - began < 1.0
    assert await anonymous_websocket(server, ATTACKER) == "success"


async def test_guessing_spread_over_addresses_slows_the_account_but_the_owner_gets_in(tmp_path):
    srv = XmppServer(make_settings(tmp_path, JITSI_PY_XMPP_LOGIN_FAILURES_PER_ACCOUNT="30",
                                   JITSI_PY_XMPP_LOGIN_MAX_DELAY="0.5"))
    srv.create_service_accounts()
    await srv.start("127.0.0.1", {"c2s": 0, "http": 0, "component": 0})
    try:
        # 40 addresses, each within its own limit: 40 failures on one account, past its 30.
        outcomes = await asyncio.gather(*(login_websocket(srv, f"127.0.1.{i}", "guess") for i in range(40)))
        assert outcomes == ["not-authorized"] * 40
        began = time.monotonic()
        assert await login_websocket(srv, "127.0.0.2", "focus-secret") == "success"
        assert 0.5 <= time.monotonic() - began < 3.0, "held for JITSI_PY_XMPP_LOGIN_MAX_DELAY, not refused"
    finally:
        await srv.stop()
