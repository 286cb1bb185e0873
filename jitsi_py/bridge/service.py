"""Wiring of the bridge service: the media port, HTTP sides, the brewery client; stop on cancel."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from urllib.parse import urlsplit

from ..common.httpserver import HttpListener
from ..common.startup import Ready, binding, unobserved
from ..settings import Settings, SettingsError, require_secret
from ..settings.bridge import Bridge as BridgeSettings
from .candidates import build_candidates, gather_host_addresses, parse_mapping, valid_address
from .rest import private_app, public_app
from .stun import discover_mapped_address
from .udp import open_media_socket
from .videobridge import Videobridge
from .xmpp import BridgeXmpp

log = logging.getLogger(__name__)

TICK = 0.02  # endpoint timers (ICE retransmissions, DTLS, consent) and dominant-speaker ticks
STUN_DISCOVERY_TIMEOUT = 3.0


async def run(settings: Settings, ready: Ready = unobserved) -> None:
    """One bridge in this process, or with JITSI_PY_BRIDGE_WORKERS above 1 a supervisor of that many
    worker processes (bridge/workers.py)."""
    _checked(settings.bridge)  # a bad setting fails the host with its one line before any worker starts
    if settings.bridge.workers > 1:
        from .workers import run_workers  # noqa: PLC0415 - only a host of workers needs it

        await run_workers(settings, ready)
    else:
        await run_one(settings, ready)


def _checked(b: BridgeSettings) -> tuple[str | None, list[tuple[str, int | None]]]:
    """The XMPP password and the JVB_ADVERTISE_IPS mappings; SettingsError when either is wrong."""
    password = None if b.disable_xmpp else require_secret("JVB_AUTH_PASSWORD", b.password)
    try:
        return password, [parse_mapping(entry) for entry in b.advertise_ips]
    except ValueError as exc:
        raise SettingsError("JVB_ADVERTISE_IPS", ",".join(b.advertise_ips), str(exc)) from None


async def run_one(settings: Settings, ready: Ready = unobserved, startup_level: int = logging.INFO) -> None:
    """Ready once it serves media and HTTP and, unless JVB_DISABLE_XMPP, sits in the brewery where
    the focus finds it. ``startup_level``: of the lines saying so (a host's later workers say them
    at debug level, their first worker having said them)."""
    b = settings.bridge
    password, mappings = _checked(b)
    loop = asyncio.get_running_loop()
    for warning in b.upstream_warnings():
        log.warning("bridge: %s", warning)
    websocket_base = None
    if b.websocket:
        domain = b.websocket_domain or urlsplit(settings.common.public_url).netloc
        websocket_base = f"wss://{domain}/colibri-ws/{b.websocket_server_id}"
    bridge = Videobridge(candidates=[], websocket_base=websocket_base, sctp_enabled=True,
                         region=b.region, relay_id=b.relay_id, trust_bwe=b.trust_bwe,
                         relays_enabled=b.octo, relay_timeout=b.relay_timeout, export_queue=b.export_queue,
                         forwarded_silence=b.forwarded_silence if b.discard_silence else None)
    with binding("JVB_PORT", b.port):
        sock = open_media_socket(b.port, None if b.use_ipv6 else "0.0.0.0")
    transport, _ = await loop.create_datagram_endpoint(lambda: bridge.port, sock=sock)
    bridge.port.set_buffer_sizes(b.socket_buffer)
    stun_mapped = None
    if not b.disable_stun and b.stun_servers:
        stun_mapped = await discover_mapped_address(bridge.port, b.stun_servers, STUN_DISCOVERY_TIMEOUT)
    mappings = await _reachable(mappings, bridge.port.ipv6)
    hosts = gather_host_addresses(ipv6=bridge.port.ipv6)
    bridge.candidates = build_candidates(b.port, hosts, mappings, b.advertise_private_candidates,
                                         stun_mapped=stun_mapped)
    if b.require_valid_address and not any(map(valid_address, hosts + [a for a, _ in mappings])):
        log.warning("bridge: unhealthy: no valid IP addresses available for harvesting (JVB_REQUIRE_VALID_ADDRESS)")
        bridge.healthy = False
    log.log(startup_level if bridge.candidates else logging.WARNING, "bridge: media on udp/%d (%s), candidates %s",
            b.port, "IPv4 and IPv6" if bridge.port.ipv6 else "IPv4", ", ".join(
                f"{c.type} {f'[{c.ip}]' if ':' in c.ip else c.ip}:{c.port}" for c in bridge.candidates)
            or "none: no client can reach this bridge")

    stop = asyncio.Event()

    def on_shutdown(graceful: bool) -> None:
        bridge.shutting_down = not graceful
        if not graceful:
            stop.set()

    runners = []
    http_hosts = None if "*" in b.http_interfaces else list(b.http_interfaces)
    private = private_app(bridge, colibri_rest=b.colibri_rest, shutdown_rest=b.shutdown_rest,
                          control_from=b.rest_control_from, on_shutdown=on_shutdown)
    for name, setting, app, port in (
            ("bridge rest", "JVB_COLIBRI_PORT", private, b.colibri_port),
            *((("colibri-ws", "COLIBRI_WEBSOCKET_PORT", public_app(bridge, b.websocket_server_id), b.websocket_port),)
              if b.websocket else ())):
        listener = HttpListener(name, settings.common.http)
        runner = listener.runner(app)
        await runner.setup()
        runners.append(runner)
        with binding(setting, port):
            await listener.listen(runner, http_hosts, port)

    client = None
    if not b.disable_xmpp:
        domains = settings.common.domains
        client = BridgeXmpp(bridge, jid=f"{b.user}@{domains.auth}/{b.nickname}", password=password,
                            brewery=domains.jvb_brewery_jid, nickname=b.nickname,
                            server=b.xmpp.server, port=b.xmpp.port, login_level=startup_level)
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
        if client is not None:
            await client.joined.wait()
        ready(f"media on udp/{b.port}, HTTP on {b.colibri_port}"
              + ("" if client is None else f", in {client.brewery} as {client.nickname}"))
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


async def _reachable(mappings: list[tuple[str, int | None]], ipv6: bool) -> list[tuple[str, int | None]]:
    """The static mappings with names resolved (the first address, as ice4j takes it), less those
    of a family the media port does not serve; what is left out is said in the log."""
    loop = asyncio.get_running_loop()
    out = []
    for address, port in mappings:
        try:
            addresses = [str(ipaddress.ip_address(address))]
        except ValueError:  # a host name
            try:
                infos = await loop.getaddrinfo(address, None, type=socket.SOCK_DGRAM)
            except OSError as exc:
                log.warning("bridge: JVB_ADVERTISE_IPS: %s does not resolve (%s); not advertised", address, exc)
                continue
            addresses = [info[4][0] for info in infos]
        usable = [a for a in addresses if ipv6 or ":" not in a]
        if usable:
            out.append((usable[0], port))
        else:
            log.warning("bridge: JVB_ADVERTISE_IPS: %s is IPv6 and the media port has no IPv6; not advertised", address)
    return out
