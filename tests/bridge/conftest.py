import asyncio

import pytest
from aiohttp import web

from jitsi_py.bridge.candidates import build_candidates
from jitsi_py.bridge.rest import public_app
from jitsi_py.bridge.videobridge import Videobridge


@pytest.fixture
async def bridge():
    """A Videobridge on an ephemeral loopback UDP port with its timer tick running, and colibri-ws
    served on an ephemeral HTTP port (``bridge.websocket_base``)."""
    loop = asyncio.get_running_loop()
    bridge = Videobridge(candidates=[], sctp_enabled=True)
    transport, _ = await loop.create_datagram_endpoint(lambda: bridge.port, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    bridge.candidates = build_candidates(port, ["127.0.0.1"], (), True)
    runner = web.AppRunner(public_app(bridge, "jvb"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    http_port = site._server.sockets[0].getsockname()[1]
    bridge.websocket_base = f"ws://127.0.0.1:{http_port}/colibri-ws/jvb"

    async def tick():
        while True:
            await asyncio.sleep(0.02)
            bridge.tick(loop.time())
    ticker = asyncio.create_task(tick())
    yield bridge
    ticker.cancel()
    for conference in list(bridge.conferences.values()):
        bridge.expire_conference(conference)
    await runner.cleanup()
    transport.close()
