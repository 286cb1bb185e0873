"""Wiring of the bridge service: the media port, HTTP sides, the brewery client; stop on cancel."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from aiohttp import web

from ..settings import Settings, require_secret
from .rest import private_app, public_app
from .stun import discover_mapped_address
from .videobridge import Videobridge, build_candidates, local_addresses
from .xmpp import BridgeXmpp

log = logging.getLogger(__name__)

TICK = 0.02  # endpoint timers (ICE retransmissions, DTLS, consent) and dominant-speaker ticks
STUN_DISCOVERY_TIMEOUT = 3.0


async def run(settings: Settings) -> None:
    b = settings.bridge
    password = None if b.disable_xmpp else require_secret("JVB_AUTH_PASSWORD", b.password)
    loop = asyncio.get_running_loop()
    websocket_base = None
    if b.websocket:
        domain = b.websocket_domain or urlsplit(settings.common.public_url).netloc
        websocket_base = f"wss://{domain}/colibri-ws/{b.websocket_server_id}"
    bridge = Videobridge(candidates=[], websocket_base=websocket_base, sctp_enabled=True,
                         region=b.region, relay_id=b.relay_id, trust_bwe=b.trust_bwe,
                         relays_enabled=b.octo)
    transport, _ = await loop.create_datagram_endpoint(lambda: bridge.port, local_addr=("0.0.0.0", b.port))
    bridge.port.set_buffer_sizes(b.socket_buffer)
    advertise = b.advertise_ips
    local = local_addresses()
    if not advertise and not b.disable_stun and b.stun_servers:
        mapped = await discover_mapped_address(bridge.port, b.stun_servers, STUN_DISCOVERY_TIMEOUT)
        if mapped is not None and mapped[0] not in local:
            advertise = (f"{mapped[0]}#{mapped[1]}",)
    bridge.candidates = build_candidates(b.port, local, advertise, b.advertise_private_candidates)
    if b.require_valid_address and not bridge.candidates:
        bridge.healthy = False
    log.info("bridge: media on udp/%d, candidates %s", b.port,
             ", ".join(f"{c.type} {c.ip}:{c.port}" for c in bridge.candidates))

    stop = asyncio.Event()

    def on_shutdown(graceful: bool) -> None:
        bridge.shutting_down = not graceful
        if not graceful:
            stop.set()

    runners = []
    for app, port in ((private_app(bridge, colibri_rest=b.colibri_rest, shutdown_rest=b.shutdown_rest,
                                   on_shutdown=on_shutdown), b.colibri_port),
                      *(((public_app(bridge, b.websocket_server_id), b.websocket_port),) if b.websocket else ())):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "0.0.0.0", port).start()
        runners.append(runner)

    client = None
    if not b.disable_xmpp:
        domains = settings.common.domains
        client = BridgeXmpp(bridge, jid=f"{b.user}@{domains.auth}/{b.nickname}", password=password,
                            brewery=domains.jvb_brewery_jid, nickname=b.nickname,
                            server=b.xmpp.server, port=b.xmpp.port)
        client.start()

    async def ticker() -> None:
        while True:
            await asyncio.sleep(TICK)
            bridge.tick(loop.time())
            if bridge.graceful_shutdown and not bridge.conferences:
                bridge.shutting_down = True
                stop.set()

    tick_task = asyncio.create_task(ticker())
    try:
        await stop.wait()
    finally:
        tick_task.cancel()
        if client is not None:
            await client.stop()
        for conference in list(bridge.conferences.values()):
            bridge.expire_conference(conference)
        for runner in runners:
            await runner.cleanup()
        transport.close()
