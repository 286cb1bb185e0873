"""Server-reflexive address discovery (RFC 8489 Binding) from the media port itself, so the
mapping found is the one browsers will reach (JVB_STUN_SERVERS; docs/bridge-media.md §1)."""

from __future__ import annotations

import asyncio
import logging

from aioice import stun

log = logging.getLogger(__name__)


async def discover_mapped_address(port, servers: tuple[str, ...], timeout: float) -> tuple[str, int] | None:
    """Ask each ``host:port`` STUN server in turn; the first XOR-MAPPED-ADDRESS wins, None if none."""
    loop = asyncio.get_running_loop()
    for server in servers:
        host, _, port_text = server.rpartition(":")
        try:
            infos = await loop.getaddrinfo(host, int(port_text), family=2, type=2)
        except (OSError, ValueError) as exc:
            log.warning("bridge: STUN server %s: %s", server, exc)
            continue
        request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
        waiter = loop.create_future()
        port.expect_stun_response(request.transaction_id, waiter)
        try:
            for _attempt in range(3):
                port.sendto(bytes(request), (port.peer_address(infos[0][4][0]), infos[0][4][1]))
                try:
                    response = await asyncio.wait_for(asyncio.shield(waiter), timeout / 3)
                except asyncio.TimeoutError:
                    continue
                mapped = response.attributes.get("XOR-MAPPED-ADDRESS")
                if mapped is not None:
                    log.info("bridge: STUN server %s sees us as %s:%d", server, *mapped)
                    return mapped
                break
        finally:
            port.forget_stun_response(request.transaction_id)
        log.warning("bridge: no answer from STUN server %s", server)
    return None
