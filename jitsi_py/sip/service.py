"""Wiring of the SIP gateway: the gateway, its brewery client, its HTTP port (health, stats, metrics)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from typing import Callable

from aiohttp import web

from ..common.httpserver import HttpListener
from ..common.meeting import Login, XmppServer
from ..common.metrics import CollectorRegistry, LoopMonitor, Sampled, render
from ..common.startup import Ready, binding, unobserved
from ..common.tls import ensure_self_signed, server_context
from ..settings import Settings, require_secret
from .brewery import BreweryClient
from .gateway import Gateway
from .mapper import ConferenceMapper
from .media import PortPool
from .ua import Account

log = logging.getLogger(__name__)

CONFERENCES_THRESHOLD = 100  # Jigasi's stress level is conferences over this


def advertised_address(settings: Settings) -> str:
    """The address peers reach us at: set, the listening one, or the one that routes to the SIP server."""
    s = settings.sip
    if s.advertise_ip:
        return s.advertise_ip
    if s.local_host not in ("0.0.0.0", "::", ""):
        return s.local_host
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((s.sip_server or "192.0.2.1", s.sip_port))  # no packet is sent
        return str(probe.getsockname()[0])
    return "127.0.0.1"


def gateway_of(settings: Settings) -> Gateway:
    s = settings.sip
    if not s.sip_uri:
        raise ValueError("JIGASI_SIP_URI is not set")
    address = advertised_address(settings)
    proxy = (s.sip_server, s.sip_port) if s.sip_server else None
    keep_alive = {"options": "OPTIONS", "crlf": "CRLF"}.get(s.keep_alive_method, "NONE")
    if s.session_expires < s.min_se:
        raise ValueError(f"JITSI_PY_SIP_SESSION_EXPIRES ({s.session_expires}) is below "
                         f"JITSI_PY_SIP_MIN_SE ({s.min_se})")
    account = Account(s.sip_uri, s.sip_password, (address, s.local_port), s.sip_transport.upper(), proxy,
                      keep_alive=keep_alive, session_expires=s.session_expires, min_se=s.min_se)
    domains = settings.common.domains
    login = Login(f"{s.user}@{domains.auth}", require_secret("JIGASI_XMPP_PASSWORD", s.password)) \
        if settings.common.auth.enabled else None
    if s.port_max - s.port_min < 2:
        raise ValueError(f"JIGASI_PORT_MIN..MAX ({s.port_min}-{s.port_max}) holds no RTP/RTCP port pair")
    mapper = ConferenceMapper(s.confcode_url, s.confcode_verify_tls)
    tls = server_tls = None
    if s.sip_transport == "tls":
        tls = ssl.create_default_context()
        if not s.tls_verify:
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
        cert, key = s.tls_keys / "sip.crt", s.tls_keys / "sip.key"
        if ensure_self_signed(cert, key, [address, "localhost"]):
            log.info("sip: made a self-signed certificate for %s in %s (TLS peers connecting to us see it)",
                     address, s.tls_keys)
        server_tls = server_context(cert, key)
    return Gateway(account, bind=(s.local_host, s.local_port), media_address=address,
                   ports=PortPool(s.port_min, s.port_max), meeting_server=XmppServer.of(domains, s.xmpp.server,
                                                                                         s.xmpp.port),
                   login=login, room_headers=s.room_headers, default_room=s.default_room,
                   join_timeout=s.jvb_timeout, max_calls=s.max_calls,
                   resolve_pin=mapper.room, tls=tls, server_tls=server_tls, srtp=s.sdes_srtp)


class SipService:
    def __init__(self, settings: Settings) -> None:
        s = settings.sip
        domains = settings.common.domains
        self.settings = settings
        self.gateway = gateway_of(settings)
        self.client = BreweryClient(
            jid=f"{s.user}@{domains.auth}/{s.instance_id}",
            password=require_secret("JIGASI_XMPP_PASSWORD", s.password),
            brewery=f"{domains.jigasi_brewery}@{domains.internal_muc}", nickname=s.instance_id,
            server=s.xmpp.server, port=s.xmpp.port, stats=self.stats(), on_dial=self.gateway.dial)
        self.gateway.on_load = self._load_changed
        self.sip_check: tuple[float, str | None] | None = None  # the last health-check call: when, what failed
        self.drained = asyncio.Event()  # set when a graceful shutdown has no call left

    def shut_down_gracefully(self) -> None:
        """Jigasi's /about/shutdown: no new calls, the brewery told so; the service ends with the last call."""
        self.gateway.accepting = False
        self._load_changed()

    def _load_changed(self) -> None:
        self.client.publish(self.stats())
        if not self.gateway.accepting and not self.gateway.legs:
            self.drained.set()

    async def health_checks(self) -> None:
        """As Jigasi: every JIGASI_HEALTH_CHECK_INTERVAL a call to JIGASI_HEALTH_CHECK_SIP_URI, healthy
        when its audio comes (the first check once registered, so that the SIP server routes it)."""
        s = self.settings.sip
        if not s.health_check_uri:
            return
        loop = asyncio.get_running_loop()
        if self.gateway.ua.account.proxy is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.gateway.registered.wait(), s.health_check_interval)
        while True:
            failure = await self.gateway.health_call(s.health_check_uri)
            if failure is None:
                log.info("sip: health check: the call to %s brought audio", s.health_check_uri)
            else:
                log.warning("sip: health check: the call to %s failed: %s", s.health_check_uri, failure)
            self.sip_check = (loop.time(), failure)
            await asyncio.sleep(s.health_check_interval)

    @property
    def healthy(self) -> bool:
        """In the brewery, registered, and with a health-check URI its last call good and recent (at most
        two intervals old, as Jigasi's 5 and 10 minutes)."""
        check, interval = self.sip_check, self.settings.sip.health_check_interval
        checked = self.settings.sip.health_check_uri is None or (
            check is not None and check[1] is None and asyncio.get_running_loop().time() - check[0] <= 2 * interval)
        registered = self.gateway.registered.is_set() or self.gateway.ua.account.proxy is None
        return self.client.joined.is_set() and registered and checked

    def stats(self) -> dict[str, object]:
        """The brewery presence's stats, as Jigasi's (a call is one conference and one participant)."""
        calls = len(self.gateway.legs)
        stats: dict[str, object] = {
            "conferences": calls, "participants": calls, "graceful_shutdown": not self.gateway.accepting,
            "stress_level": calls / CONFERENCES_THRESHOLD, "supports_sip": True, "supports_transcription": False,
            "version": "jitsi-py",
        }
        if self.settings.sip.local_region:
            stats["region"] = self.settings.sip.local_region
        return stats

    def http_app(self) -> web.Application:
        app = web.Application()
        registry = CollectorRegistry()
        LoopMonitor(registry).attach(app)
        gateway = self.gateway
        for name, doc, kind, read in (
                ("jitsi_py_sip_calls", "Calls in progress", "gauge", lambda: float(len(gateway.legs))),
                ("jitsi_py_sip_calls_total", "Calls started, both ways", "counter",
                 lambda: float(gateway.calls_total)),
                ("jitsi_py_sip_calls_failed_total", "Calls refused or failed", "counter",
                 lambda: float(gateway.calls_failed)),
                ("jitsi_py_sip_registered", "1 while the SIP account is registered", "gauge",
                 lambda: float(gateway.registered.is_set())),
                ("jitsi_py_sip_malformed_total", "SIP messages refused as malformed", "counter",
                 lambda: float(gateway.ua.rejected)),
                ("jitsi_py_sip_media_late_ticks_total", "20 ms media ticks skipped after a stall", "counter",
                 lambda: float(gateway.clock.late_ticks)),
                ("jitsi_py_sip_rtp_stray_total", "RTP dropped: not from a call's latched source", "counter",
                 lambda: float(gateway.rtp_dropped()[0])),
                ("jitsi_py_sip_rtp_bad_total", "RTP dropped: malformed, unauthenticated or of no negotiated type",
                 "counter", lambda: float(gateway.rtp_dropped()[1])),
        ):
            registry.register(Sampled(name, doc, kind, (), _unlabelled(read)))

        async def health(_request: web.Request) -> web.Response:
            return web.Response(status=200 if self.healthy else 500)

        async def stats(_request: web.Request) -> web.Response:
            return web.json_response(self.stats())

        async def shutdown(_request: web.Request) -> web.Response:
            self.shut_down_gracefully()
            return web.Response(status=200)

        async def metrics(_request: web.Request) -> web.Response:
            return web.Response(body=render(registry), content_type="text/plain")

        app.router.add_get("/about/health", health)
        app.router.add_get("/about/stats", stats)
        app.router.add_post("/about/shutdown", shutdown)
        app.router.add_get("/metrics", metrics)
        return app


def _unlabelled(read: Callable[[], float]) -> Callable[[], dict[tuple[str, ...], float]]:
    return lambda: {(): read()}


async def run(settings: Settings, ready: Ready = unobserved) -> None:
    """Ready once SIP listens, the HTTP port answers and it sits in the brewery where the focus finds it."""
    s = settings.sip
    service = SipService(settings)
    listener = HttpListener("sip http", settings.common.http)
    runner = listener.runner(service.http_app())
    await runner.setup()
    checks: asyncio.Task[None] | None = None
    try:
        with binding("JITSI_PY_SIP_PORT", s.local_port):
            await service.gateway.start(register=s.sip_server is not None)
        with binding("JITSI_PY_SIP_HTTP_PORT", s.http_port):
            await listener.listen(runner, None if "*" in s.http_interfaces else list(s.http_interfaces), s.http_port)
        service.client.start()
        checks = asyncio.ensure_future(service.health_checks())
        await service.client.joined.wait()
        ready(f"SIP on {s.sip_transport}/{s.local_port} as {s.sip_uri}, RTP {s.port_min}-{s.port_max}, "
              f"HTTP on {s.http_port}, in {service.client.brewery}")
        await service.drained.wait()
        log.info("sip: graceful shutdown: the last call is over, exiting")
    finally:
        if checks is not None:
            checks.cancel()
        await service.gateway.close()
        await service.client.stop()
        await runner.cleanup()


__all__ = ["SipService", "run"]
