import asyncio
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from jitsi_py.bridge.candidates import build_candidates
from jitsi_py.bridge.rest import public_app
from jitsi_py.bridge.udp import open_media_socket
from jitsi_py.bridge.videobridge import Videobridge


@asynccontextmanager
async def running(sctp_enabled: bool = False, host: str | None = "127.0.0.1", hosts: list[str] | None = None):
    """A Videobridge on an ephemeral UDP port of ``host`` (None: the dual-stack wildcard) with its
    timer tick running, host candidates for ``hosts`` (default: ``host``); its conferences expire
    on the way out."""
    loop = asyncio.get_running_loop()
    bridge = Videobridge(candidates=[], sctp_enabled=sctp_enabled)
    transport, _ = await loop.create_datagram_endpoint(lambda: bridge.port, sock=open_media_socket(0, host))
    port = transport.get_extra_info("sockname")[1]
    bridge.candidates = build_candidates(port, hosts or [host], [], True)

    async def tick():
        while True:
            await asyncio.sleep(0.02)
            bridge.tick(loop.time())
    ticker = asyncio.create_task(tick())
    try:
        yield bridge
    finally:
        ticker.cancel()
        for conference in list(bridge.conferences.values()):
            bridge.expire_conference(conference)
        transport.close()


@pytest.fixture
async def bridge():
    """A Videobridge on an ephemeral loopback UDP port with its timer tick running, and colibri-ws
    served on an ephemeral HTTP port (``bridge.websocket_base``)."""
    async with running(sctp_enabled=True) as bridge:
        runner = web.AppRunner(public_app(bridge, "jvb"))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        http_port = site._server.sockets[0].getsockname()[1]
        bridge.websocket_base = f"ws://127.0.0.1:{http_port}/colibri-ws/jvb"
        yield bridge
        await runner.cleanup()


@pytest.fixture
async def page_server():
    """An empty page on a loopback HTTP origin, for the browser tests to open."""
    async def page(_request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>bridge test</title>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/"
    await runner.cleanup()
