"""The aiohttp application: nginx meet.conf's routes, headers and proxies, plus health and metrics."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from ..settings import Settings
from .config_js import ConfigJs
from .dialin import ConferenceMapper, dialin_numbers
from .letsencrypt import CHALLENGE_PREFIX, Http01Responder
from .proxy import Proxy
from .transcripts import content_type, locate, requested

WEB_ROOT = Path(__file__).resolve().parents[2] / "web_static"
STATIC_DIRS = ("libs", "css", "static", "images", "fonts", "lang", "sounds")
SEGMENT = r"[^/?&:'\"]+"  # nginx's room / tenant capture
TENANT_CACHE = 256  # rendered per-tenant config.js texts kept


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter("jitsi_web_requests", "HTTP requests by route", ["route"], registry=self.registry)
        self.refused = Counter("jitsi_web_proxy_refused", "Proxy requests refused by reason", ["reason"],
                               registry=self.registry)
        self.websockets = Gauge("jitsi_web_proxied_websockets", "WebSockets being proxied",
                                registry=self.registry)


@dataclass
class WebState:
    settings: Settings
    config_js: ConfigJs
    interface_config_js: str
    acme: Http01Responder
    proxy: Proxy
    metrics: Metrics
    root: Path = WEB_ROOT
    _rendered: dict[str, bytes] = field(default_factory=dict)

    def config_for(self, tenant: str) -> bytes:
        text = self._rendered.get(tenant)
        if text is None:
            text = self.config_js.render(tenant).encode()
            if len(self._rendered) < TENANT_CACHE:
                self._rendered[tenant] = text
        return text


STATE = web.AppKey("state", WebState)


def security_headers(state: WebState, https: bool):
    routes = state.settings.web.routes
    shard = state.settings.web.features.deployment_shard
    hsts = https and state.settings.web.tls.hsts

    @web.middleware
    async def middleware(request: web.Request, handler):
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-XSS-Protection", "1; mode=block")
        headers.setdefault("Permissions-Policy", "interest-cohort=()")
        if routes.csp_header:
            headers.setdefault("Content-Security-Policy", routes.csp_header)
        if shard:
            headers.setdefault("X-Jitsi-Shard", shard)
        if hsts:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000")
        if isinstance(response, web.HTTPException):
            raise response
        return response

    return middleware


def build_app(state: WebState, https: bool) -> web.Application:
    """The meet.conf server; ``https`` only decides HSTS (both listeners serve the same routes)."""
    app = web.Application(middlewares=[security_headers(state, https)], client_max_size=1 << 20)
    app[STATE] = state
    routes = state.settings.web.routes
    add = app.router.add_route
    add("GET", CHALLENGE_PREFIX + "{token}", acme_challenge)
    add("GET", "/config.js", config_js)
    add("GET", "/interface_config.js", interface_config_js)
    add("GET", "/health", health)
    add("GET", "/metrics", metrics)
    add("*", "/http-bind", bosh)
    if routes.xmpp_websocket:
        add("GET", "/xmpp-websocket", xmpp_websocket)
    if routes.colibri_websocket:
        add("GET", "/colibri-ws/{bridge}/{rest:.*}", colibri_ws)
    if routes.etherpad_url_base:
        add("*", "/etherpad/{rest:.*}", etherpad)
    features = state.settings.web.features
    if features.sip_uri:
        mapper = ConferenceMapper(state.settings.common.config_dir / "web" / "conference-mapper.json")
        numbers = dialin_numbers(features.dialin_numbers, features.sip_uri)

        async def numbers_for(_request: web.Request) -> web.Response:
            return web.json_response(numbers)
        add("GET", "/conference-mapper", mapper.handle)
        add("GET", "/dialin-numbers", numbers_for)
    for name in STATIC_DIRS:
        add("GET", f"/{name}/{{path:.*}}", static_file)
    add("GET", "/transcripts/{path:.*}", transcript)
    add("GET", "/", index)
    add("GET", f"/{{room:{SEGMENT}}}", room)
    if routes.subdomains:
        add("GET", f"/{{tenant:{SEGMENT}}}/config.js", config_js)
        add("*", f"/{{tenant:{SEGMENT}}}/http-bind", bosh)
        if routes.xmpp_websocket:
            add("GET", f"/{{tenant:{SEGMENT}}}/xmpp-websocket", xmpp_websocket)
        add("GET", f"/{{tenant:{SEGMENT}}}/{{room:{SEGMENT}}}", tenant_room)
    app.on_shutdown.append(_close_websockets)
    return app


def build_redirect_app(state: WebState) -> web.Application:
    """ENABLE_HTTP_REDIRECT: the HTTP port only answers ACME challenges and redirects to HTTPS."""
    app = web.Application(middlewares=[security_headers(state, https=False)])
    app[STATE] = state
    app.router.add_route("GET", CHALLENGE_PREFIX + "{token}", acme_challenge)
    app.router.add_route("*", "/{path:.*}", redirect_to_https)
    return app


async def _close_websockets(app: web.Application) -> None:
    await app[STATE].proxy.close()


def _count(request: web.Request, route: str) -> WebState:
    state = request.app[STATE]
    state.metrics.requests.labels(route).inc()
    return state


async def acme_challenge(request: web.Request) -> web.Response:
    state = _count(request, "acme")
    answer = state.acme.answer(request.match_info["token"])
    if answer is None:
        raise web.HTTPNotFound(text="no such challenge\n")
    return web.Response(text=answer, content_type="application/octet-stream")


async def config_js(request: web.Request) -> web.Response:
    state = _count(request, "config.js")
    tenant = request.match_info.get("tenant", "")
    return web.Response(body=state.config_for(tenant), content_type="application/javascript",
                        charset="utf-8", headers={"Cache-Control": "no-cache"})


async def interface_config_js(request: web.Request) -> web.Response:
    state = _count(request, "interface_config.js")
    return web.Response(text=state.interface_config_js, content_type="application/javascript",
                        headers={"Cache-Control": "no-cache"})


async def health(request: web.Request) -> web.Response:
    _count(request, "health")
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    state = _count(request, "metrics")
    response = web.Response(body=generate_latest(state.metrics.registry))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def _upstream_url(base: str, path: str, request: web.Request, prefix: str) -> str:
    """nginx: ``proxy_pass <base>/<path>?prefix=$prefix&$args``."""
    query = urlencode({"prefix": prefix})
    if request.query_string:
        query += "&" + request.query_string
    return f"{base.rstrip('/')}/{path}?{query}"


async def bosh(request: web.Request) -> web.StreamResponse:
    state = _count(request, "http-bind")
    target = _upstream_url(state.settings.web.routes.bosh_url_base, "http-bind", request,
                           request.match_info.get("tenant", ""))
    return await state.proxy.forward(request, target, host=state.settings.common.domains.domain)


async def xmpp_websocket(request: web.Request) -> web.StreamResponse:
    state = _count(request, "xmpp-websocket")
    target = _upstream_url(state.settings.web.routes.bosh_url_base, "xmpp-websocket", request,
                           request.match_info.get("tenant", ""))
    return await state.proxy.forward(request, target, host=state.settings.common.domains.domain)


WORKER_SUFFIX = re.compile(r"-\d{1,3}$")


def colibri_target(routes, bridge_id: str) -> tuple[str, int] | None:
    """The address of a bridge id the deployment knows and COLIBRI_WEBSOCKET_REGEX admits. A host
    of bridge workers serves ``<id>-<worker>`` on its one colibri-ws port (docs/bridge-media.md §10)."""
    host_id = WORKER_SUFFIX.sub("", bridge_id)
    if not (re.fullmatch(routes.colibri_websocket_regex, bridge_id)
            or re.fullmatch(routes.colibri_websocket_regex, host_id)):
        return None
    for known_id, host, port in routes.colibri_websocket_bridges:
        if known_id in (bridge_id, host_id):
            return host, port
    return None


async def colibri_ws(request: web.Request) -> web.StreamResponse:
    state = _count(request, "colibri-ws")
    bridge_id = request.match_info["bridge"]
    target = colibri_target(state.settings.web.routes, bridge_id)
    if target is None:
        state.metrics.refused.labels("unknown-bridge").inc()
        raise web.HTTPNotFound(text="no such bridge\n")
    host, port = target
    host = f"[{host}]" if ":" in host else host
    url = f"http://{host}:{port}/colibri-ws/{bridge_id}/{request.match_info['rest']}"
    if request.query_string:
        url += "?" + request.query_string
    return await state.proxy.forward(request, url)


async def etherpad(request: web.Request) -> web.StreamResponse:
    state = _count(request, "etherpad")
    base = state.settings.web.routes.etherpad_url_base or ""
    url = f"{base.rstrip('/')}/{request.match_info['rest']}"
    if request.query_string:
        url += "?" + request.query_string
    return await state.proxy.forward(request, url)


def _file_under(root: Path, relative: str) -> Path | None:
    """A regular file inside ``root``; anything escaping it (``..``, symlinks out) is not found."""
    candidate = (root / relative).resolve()
    if not candidate.is_file() or not candidate.is_relative_to(root.resolve()):
        return None
    return candidate


async def static_file(request: web.Request) -> web.StreamResponse:
    state = _count(request, "static")
    directory = request.path.split("/", 2)[1]
    found = _file_under(state.root / directory, request.match_info["path"])
    if found is None:
        raise web.HTTPNotFound(text="not found\n")
    headers = {"Access-Control-Allow-Origin": state.settings.web.routes.cors_allow_origin}
    if "v" in request.query:
        headers["Cache-Control"] = "max-age=31536000"
    return web.FileResponse(found, headers=headers)


async def transcript(request: web.Request) -> web.StreamResponse:
    """A file the transcriber wrote; nginx's static location in upstream's container, never a listing."""
    state = _count(request, "transcripts")
    names = requested(request.raw_path)
    found = None if names is None else locate(state.settings.transcriber.transcripts_dir, names)
    if found is None:
        raise web.HTTPNotFound(text="not found\n")
    # A transcript grows while its meeting goes on: a reload shows what was said since.
    return web.FileResponse(found, headers={
        "Content-Type": content_type(found.name), "Cache-Control": "no-cache",
        "Access-Control-Allow-Origin": state.settings.web.routes.cors_allow_origin})


def _index(state: WebState) -> web.FileResponse:
    return web.FileResponse(state.root / "index.html", headers={"Cache-Control": "no-cache"})


async def index(request: web.Request) -> web.StreamResponse:
    return _index(_count(request, "index"))


async def room(request: web.Request) -> web.StreamResponse:
    """``try_files $uri @root_path``: a top-level file when there is one, else the app."""
    state = _count(request, "room")
    found = _file_under(state.root, request.match_info["room"])
    if found is not None and found.parent == state.root.resolve():
        return web.FileResponse(found)
    return _index(state)


async def tenant_room(request: web.Request) -> web.StreamResponse:
    return _index(_count(request, "room"))


async def redirect_to_https(request: web.Request) -> web.StreamResponse:
    state = _count(request, "redirect")
    public = urlsplit(state.settings.common.public_url)
    if public.scheme == "https" and public.netloc:
        origin = f"https://{public.netloc}"
    else:
        host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        origin = f"https://{host}:{state.settings.web.https_port}"
    raise web.HTTPMovedPermanently(origin + request.path_qs)
