"""The XMPP server put together: router, auth backends, hosted components, listeners."""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass, field

from aiohttp import web

from ..common import tls
from ..common.httpserver import HttpListener
from ..common.startup import binding
from ..settings import Settings, require_secret
from . import disco, extdisco, ping
from .auth import build_backends
from .auth.internal import shared_store
from .bosh import BoshEndpoint
from .c2s import SessionLimits
from .component_port import component_factory
from .http import build_app
from .metrics import XmppMetrics
from .muc import build_components
from .router import Router
from .tcp import c2s_factory
from .websocket import WebSocketEndpoint

logger = logging.getLogger(__name__)


@dataclass
class Listening:
    """Where the server ended up listening (ports may be 0 in settings: tests pick free ones)."""

    c2s_port: int = 0
    http_port: int = 0
    component_port: int = 0
    servers: list[asyncio.AbstractServer] = field(default_factory=list)


def session_limits(settings: Settings) -> SessionLimits:
    limits = settings.xmpp.limits
    return SessionLimits(
        unauthenticated_timeout=limits.unauthenticated_timeout,
        ping_interval=limits.ping_interval,
        ping_timeout=limits.ping_timeout,
        hibernation=limits.smacks_hibernation,
        max_unacked=limits.smacks_max_queue,
    )


def parser_limits(settings: Settings) -> dict[str, int]:
    limits = settings.xmpp.limits
    return {"max_stanza_size": limits.stanza_size, "max_depth": limits.max_depth,
            "max_attributes": limits.max_attributes}


def service_accounts(settings: Settings) -> list[tuple[str, str, str]]:
    """(user, domain, password) of every service account; the focus and the bridge are required."""
    a, d = settings.xmpp.accounts, settings.common.domains
    focus = require_secret("JICOFO_AUTH_PASSWORD", a.focus_password)
    jvb = require_secret("JVB_AUTH_PASSWORD", a.jvb_password)
    wanted = [
        ("focus", d.auth, focus), (a.jvb_user, d.auth, jvb),
        (a.jibri_user, d.auth, a.jibri_password), (a.jigasi_user, d.auth, a.jigasi_password),
        (a.recorder_user, d.hidden, a.recorder_password), (a.transcriber_user, d.hidden, a.transcriber_password),
    ]
    return [(user, domain, password) for user, domain, password in wanted if password]


def tls_context(settings: Settings) -> ssl.SSLContext:
    d = settings.common.domains
    certs = settings.common.config_dir / "xmpp" / "certs"
    cert, key = certs / "xmpp.crt", certs / "xmpp.key"
    if tls.ensure_self_signed(cert, key, [d.domain, d.auth, d.guest, d.hidden, "localhost", "127.0.0.1"]):
        logger.info("generated a self-signed certificate in %s", certs)
    return tls.server_context(cert, key)


class XmppServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = XmppMetrics()
        self.router = Router(settings, build_backends(settings), self.metrics)
        disco.install(self.router)
        ping.install(self.router)
        extdisco.install(self.router, settings.xmpp.turn)
        for component in build_components(settings, self.router, server_iq=self.router.handle_server_iq):
            self.router.add_component(component)
        self.listening = Listening()
        self._http: web.AppRunner | None = None

    def create_service_accounts(self) -> None:
        store = shared_store(self.settings)
        for user, domain, password in service_accounts(self.settings):
            store.set_password(user, domain, password)

    async def start(self, host: str | None = None, ports: dict[str, int] | None = None) -> Listening:
        """Listen; ``host`` and ``ports`` (c2s, http, component; 0 = any free one) override settings."""
        loop = asyncio.get_running_loop()
        xs = self.settings.xmpp
        for warning in xs.upstream_warnings(self.settings.common.auth.enabled):
            logger.warning("%s", warning)
        hosts = host if host is not None else _hosts(xs.interfaces)
        ports = {"c2s": xs.c2s_port, "http": xs.http_port, "component": xs.component_port, **(ports or {})}
        rate = None if xs.limits.c2s_rate_disabled else float(xs.limits.c2s_rate)
        factory = c2s_factory(self.router, session_limits(self.settings), parser_limits(self.settings), rate,
                              tls_context(self.settings))
        with binding("XMPP_PORT", ports["c2s"]):
            server = await loop.create_server(factory, hosts, ports["c2s"], reuse_address=True)
        self.listening.servers.append(server)
        self.listening.c2s_port = server.sockets[0].getsockname()[1]
        with binding("PROSODY_COMPONENT_PORT", ports["component"]):
            component = await loop.create_server(
                component_factory(self.router, session_limits(self.settings), parser_limits(self.settings),
                                  xs.component_secret),
                hosts, ports["component"], reuse_address=True)
        self.listening.servers.append(component)
        self.listening.component_port = component.sockets[0].getsockname()[1]
        await self._start_http(hosts, ports["http"], rate)
        logger.info("listening: c2s on %d, components on %d, websocket and bosh on %d",
                    self.listening.c2s_port, self.listening.component_port, self.listening.http_port)
        return self.listening

    async def _start_http(self, hosts: str | list[str] | None, port: int, rate: float | None) -> None:
        xs, limits = self.settings.xmpp, self.settings.xmpp.limits
        sessions, parsing = session_limits(self.settings), parser_limits(self.settings)
        websocket = None
        if xs.websocket:
            websocket = WebSocketEndpoint(self.router, sessions, parsing, rate, limits.websocket_frame_size,
                                          xs.trusted_proxies)
        self.bosh = BoshEndpoint(self.router, sessions, parsing, limits.bosh_body_size, limits.bosh_max_wait,
                                 limits.bosh_max_inactivity, limits.bosh_polling, limits.bosh_max_requests,
                                 xs.trusted_proxies, rate)
        self.websocket = websocket
        self.http_listener = HttpListener("xmpp", self.settings.common.http)
        self._http = self.http_listener.runner(build_app(websocket, self.bosh, self.metrics),
                                               handle_signals=False, shutdown_timeout=0.2)
        await self._http.setup()
        with binding("PROSODY_HTTP_PORT", port):
            site = await self.http_listener.listen(self._http, hosts, port, reuse_address=True)
        self.listening.http_port = site.port

    async def stop(self) -> None:
        for server in self.listening.servers:
            server.close()
        for session in list(self.router.sessions.values()):
            session.close(None)
        if self._http is not None:
            self.bosh.close_all()
            await self._http.cleanup()
        for server in self.listening.servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 0.5)
            except asyncio.TimeoutError:
                pass


def _hosts(interfaces: tuple[str, ...]) -> list[str] | None:
    """``*`` (docker's default) means every interface."""
    if not interfaces or "*" in interfaces:
        return None
    return list(interfaces)
