"""The HTTP listener guard: header and keep-alive timeouts, connection caps, quiet logs, Server header."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest
from aiohttp import web

from jitsi_py.common.httpserver import SERVER, HttpListener
from jitsi_py.settings.common import HttpLimits
from jitsi_py.settings.fields import build

from ..support.slowhttp import idle_flood, lifetime_idle, lifetime_slowloris

HEADER_TIMEOUT = 0.6
KEEPALIVE_TIMEOUT = 1.2


def limits(**env: str) -> HttpLimits:
    return build(HttpLimits, {"JITSI_PY_HTTP_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
                              "JITSI_PY_HTTP_KEEPALIVE_TIMEOUT": str(KEEPALIVE_TIMEOUT), **env})


@pytest.fixture
async def serve():
    runners: list[web.AppRunner] = []

    async def start(**env: str) -> tuple[HttpListener, int]:
        app = web.Application()

        async def health(request):
            return web.Response(text="OK\n")

        async def slow(request):
            await asyncio.sleep(float(request.query["s"]))
            return web.Response(text="late\n")

        async def websocket(request):
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for msg in ws:
                await ws.send_str(msg.data)
            return ws

        async def echo(request):
            return web.Response(body=await request.read())

        app.router.add_get("/health", health)
        app.router.add_post("/echo", echo)
        app.router.add_get("/slow", slow)
        app.router.add_get("/ws", websocket)
        listener = HttpListener("test", limits(**env))
        runner = listener.runner(app, shutdown_timeout=0.1)
        await runner.setup()
        runners.append(runner)
        site = await listener.listen(runner, "127.0.0.1", 0)
        return listener, site.port

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_slowloris_and_idle_connections_are_closed_after_the_header_timeout(serve):
    listener, port = await serve()
    slow, idle = await asyncio.gather(lifetime_slowloris(port, interval=0.1, limit=5),
                                      lifetime_idle(port, limit=5))
    assert HEADER_TIMEOUT - 0.05 < slow < HEADER_TIMEOUT + 0.5
    assert HEADER_TIMEOUT - 0.05 < idle < HEADER_TIMEOUT + 0.5
    assert listener.timed_out == 2 and listener.connections == 0


async def test_keepalive_timeout_between_requests_and_header_clock_per_request(serve):
    _, port = await serve()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    for _ in range(3):  # each request well within its own header clock: more in total than one allows
        await asyncio.sleep(HEADER_TIMEOUT * 0.6)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await reader.readuntil(b"OK\n")
        assert head.startswith(b"HTTP/1.1 200")
    assert time.monotonic() - start > HEADER_TIMEOUT
    answered = time.monotonic()
    assert await reader.read() == b""  # idle after a response: closed at the keep-alive timeout
    assert KEEPALIVE_TIMEOUT - 0.1 < time.monotonic() - answered < KEEPALIVE_TIMEOUT + 1
    writer.close()


async def test_a_request_body_is_on_the_header_clock_too(serve):
    _, port = await serve()
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + b"0123456789")  # half the body, then nothing
    start = time.monotonic()
    assert await reader.read() == b""
    assert HEADER_TIMEOUT - 0.1 < time.monotonic() - start < HEADER_TIMEOUT + 0.5
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + b"0123456789")
    await asyncio.sleep(HEADER_TIMEOUT / 2)
    writer.write(b"abcdefghij")  # the rest in time: answered, and the answer is not cut
    assert (await reader.readuntil(b"0123456789abcdefghij")).startswith(b"HTTP/1.1 200")
    await asyncio.sleep(HEADER_TIMEOUT)
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")  # the connection lives on to keep-alive
    assert (await reader.readuntil(b"OK\n")).startswith(b"HTTP/1.1 200")
    writer.close()


async def test_a_long_request_and_a_websocket_outlive_both_timeouts(serve):
    _, port = await serve()
    async with aiohttp.ClientSession() as session:
        slow = asyncio.ensure_future(session.get(f"http://127.0.0.1:{port}/slow?s={KEEPALIVE_TIMEOUT * 1.5}"))
        async with session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
            for i in range(3):
                await asyncio.sleep(KEEPALIVE_TIMEOUT * 0.7)
                await ws.send_str(f"ping {i}")
                assert await ws.receive_str() == f"ping {i}"
        response = await slow
        assert await response.text() == "late\n"


async def test_per_address_and_listener_caps_refuse_the_excess_at_once(serve):
    listener, port = await serve(JITSI_PY_HTTP_MAX_CONNECTIONS_PER_IP="5")
    flood = await idle_flood(port, 8, limit=10)
    try:
        assert (len(flood.held), flood.refused) == (5, 3)
        assert listener.per_address == {"127.0.0.2": 5}
        async with aiohttp.ClientSession() as session:  # another address is not held back
            async with session.get(f"http://127.0.0.1:{port}/health") as response:
                assert response.status == 200
    finally:
        flood.close()
    await asyncio.sleep(0.1)
    assert listener.connections == 0 and listener.per_address == {}
    # A trusted proxy's address is not capped on its own; the listener's cap still holds.
    listener, port = await serve(JITSI_PY_HTTP_MAX_CONNECTIONS_PER_IP="2", JITSI_PY_HTTP_MAX_CONNECTIONS="6",
                                 JITSI_PY_HTTP_TRUSTED_PROXIES="127.0.0.0/8")
    flood = await idle_flood(port, 9, limit=10)
    try:
        assert (len(flood.held), flood.refused) == (6, 3)
        assert listener.per_address == {}
    finally:
        flood.close()


async def test_a_full_listener_still_serves_once_the_idle_are_gone(serve):
    listener, port = await serve(JITSI_PY_HTTP_MAX_CONNECTIONS="4")
    flood = await idle_flood(port, 4, limit=10)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            await session.get(f"http://127.0.0.1:{port}/health")
        await asyncio.sleep(HEADER_TIMEOUT + 0.2)  # the idle ones time out
        async with session.get(f"http://127.0.0.1:{port}/health") as response:
            assert response.status == 200
    flood.close()
    assert listener.refused >= 1  # (the client retries a GET once)


async def test_malformed_requests_log_one_throttled_warning_line_each(serve, caplog):
    _, port = await serve()
    caplog.set_level(logging.DEBUG, logger="jitsi_py.http")
    answers = []
    for _ in range(15):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        answers.append(await reader.read())
        writer.close()
    assert all(a.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request") for a in answers)
    assert all(f"\r\nServer: {SERVER}\r\n".encode() in a for a in answers)
    records = [r for r in caplog.records if r.name == "jitsi_py.http"]
    assert len(records) == 10  # the throttle's burst; the other five are counted, not written
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in records)
    assert "bad request from 127.0.0.1: 400 Invalid header token" in records[0].getMessage()
    assert all("\n" not in r.getMessage() for r in records)


async def test_server_header_names_no_library_version(serve):
    _, port = await serve()
    async with aiohttp.ClientSession() as session:
        for path in ("/health", "/missing"):
            async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                assert response.headers["Server"] == SERVER
                assert "aiohttp" not in str(response.headers) and "Python" not in str(response.headers)


def test_ipv6_peers_are_capped_per_64():
    listener = HttpListener("test", limits(JITSI_PY_HTTP_MAX_CONNECTIONS_PER_IP="2"))
    assert listener.admit(("2001:db8::1", 1, 0, 0)) == "2001:db8::/64"
    assert listener.admit(("2001:db8::2", 1, 0, 0)) == "2001:db8::/64"
    assert listener.admit(("2001:db8::3", 1, 0, 0)) is None
    assert listener.admit(("2001:db8:0:1::3", 1, 0, 0)) == "2001:db8:0:1::/64"
    assert listener.admit(("::1", 1, 0, 0)) == ""  # loopback: a trusted proxy by default
