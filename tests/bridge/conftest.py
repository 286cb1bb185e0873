import asyncio

import pytest

from jitsi_py.bridge.videobridge import Videobridge, build_candidates


@pytest.fixture
async def bridge():
    """A Videobridge on an ephemeral loopback UDP port, with its timer tick running."""
    loop = asyncio.get_running_loop()
    bridge = Videobridge(candidates=[], sctp_enabled=True)
    transport, _ = await loop.create_datagram_endpoint(lambda: bridge.port, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    bridge.candidates = build_candidates(port, ["127.0.0.1"], (), True)

    async def tick():
        while True:
            await asyncio.sleep(0.02)
            bridge.tick(loop.time())
    ticker = asyncio.create_task(tick())
    yield bridge
    ticker.cancel()
    for conference in list(bridge.conferences.values()):
        bridge.expire_conference(conference)
    transport.close()
