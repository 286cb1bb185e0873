"""Wiring of the web service: certificates, config.js, the HTTP and HTTPS listeners, Let's Encrypt."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

from aiohttp import web

from ..common.addresses import Networks
from ..common.httpserver import HttpListener
from ..common.metrics import LoopMonitor
from ..common.startup import Ready, binding, unobserved
from ..common.tls import ensure_self_signed, server_context
from ..settings import Settings, SettingsError
from .app import Metrics, WebState, build_app, build_redirect_app
from .config_js import build_config_js, build_interface_config_js, public_host
from .letsencrypt import AcmeConfigError, Http01Responder, keep_certificate, needs_certificate, plan
from .proxy import Proxy

logger = logging.getLogger("jitsi_py.web")


def web_config_dir(settings: Settings) -> Path:
    return settings.common.config_dir / "web"


def _read_custom(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def make_state(settings: Settings) -> WebState:
    """Everything generated at start: a changed .env takes effect on restart, CONFIG untouched."""
    config_dir = web_config_dir(settings)
    metrics = Metrics()
    return WebState(
        settings=settings,
        config_js=build_config_js(settings, _read_custom(config_dir / "custom-config.js")),
        interface_config_js=build_interface_config_js(_read_custom(config_dir / "custom-interface_config.js")),
        acme=Http01Responder(),
        proxy=Proxy(settings.web.routes.proxy_timeout, Networks(settings.common.http.trusted_proxies),
                    on_websocket=metrics.websockets.inc),
        metrics=metrics,
    )


def tls_files(settings: Settings) -> tuple[Path, Path]:
    """The operator's CONFIG/web/keys/cert.{crt,key}, else a self-signed pair made there once."""
    keys = web_config_dir(settings) / "keys"
    cert, key = keys / "cert.crt", keys / "cert.key"
    names = [public_host(settings.common.public_url).rsplit(":", 1)[0] or "localhost"]
    names += [n for n in ("localhost", "127.0.0.1", "::1") if n not in names]
    if ensure_self_signed(cert, key, names):
        logger.info("made a self-signed certificate for %s in %s", ", ".join(names), keys)
    return cert, key


def _hosts(settings: Settings) -> list[str]:
    if settings.web.interfaces:
        return list(settings.web.interfaces)
    return ["0.0.0.0", "::"] if settings.web.ipv6 else ["0.0.0.0"]


async def _serve(name: str, app: web.Application, setting: str, port: int, settings: Settings,
                 ssl_context: ssl.SSLContext | None = None) -> web.AppRunner:
    """``app`` on ``port`` behind its own guard; ENABLE_IPV6 on a host without IPv6 serves IPv4 with
    a warning instead of not starting; a port taken is the error of ``setting``, on either family."""
    listener = HttpListener(name, settings.common.http)
    runner = listener.runner(app, shutdown_timeout=0.5)
    await runner.setup()
    try:
        with binding(setting, port):
            await listener.listen(runner, _hosts(settings), port, ssl_context=ssl_context)
    except OSError as exc:
        if settings.web.interfaces or not settings.web.ipv6:
            await runner.cleanup()
            raise
        logger.warning("web: cannot listen on IPv6 (%s); serving IPv4 only", exc)
        with binding(setting, port):
            await listener.listen(runner, "0.0.0.0", port, ssl_context=ssl_context)
    return runner


async def run(settings: Settings, ready: Ready = unobserved) -> None:
    web_settings = settings.web
    acme_plan = None
    if web_settings.tls.letsencrypt:
        try:
            acme_plan = plan(web_settings.tls, web_config_dir(settings))
        except AcmeConfigError as exc:
            raise SettingsError("ENABLE_LETSENCRYPT", "1", str(exc)) from None
    state = make_state(settings)
    await state.proxy.start()
    runners: list[web.AppRunner] = []
    background: list[asyncio.Task] = []
    try:
        context: ssl.SSLContext | None = None
        if not web_settings.tls.disable_https:
            cert, key = tls_files(settings)
            if acme_plan is not None and not needs_certificate(acme_plan):
                cert, key = acme_plan.fullchain, acme_plan.key
            context = server_context(cert, key)
            runners.append(await _serve("web https", build_app(state, https=True), "HTTPS_PORT",
                                        web_settings.https_port, settings, context))
        redirect = web_settings.tls.http_redirect and context is not None
        http_app = build_redirect_app(state) if redirect else build_app(state, https=False)
        LoopMonitor(state.metrics.registry).attach(http_app)  # one probe for both listeners: one loop
        runners.append(await _serve("web http", http_app, "HTTP_PORT", web_settings.http_port, settings))
        ready(f"open {settings.common.public_url} (http on {web_settings.http_port}"
              + ("" if context is None else f", https on {web_settings.https_port}") + ")")

        if acme_plan is not None:
            def reload_certificate() -> None:
                if context is not None:  # new handshakes use the new chain; open ones keep theirs
                    context.load_cert_chain(acme_plan.fullchain, acme_plan.key)
            background.append(asyncio.ensure_future(keep_certificate(acme_plan, state.acme, reload_certificate)))
        await asyncio.Event().wait()
    finally:
        for task in background:
            task.cancel()
        for runner in reversed(runners):
            await runner.cleanup()
        await state.proxy.close()
