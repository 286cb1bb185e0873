"""The meet.conf routes, headers and proxies of the web service, against fake upstreams."""

from __future__ import annotations

import asyncio
import datetime

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from jitsi_py.settings import Settings
from jitsi_py.web.app import STATE, build_redirect_app
from jitsi_py.web.letsencrypt import AcmeConfigError, needs_certificate, plan
from jitsi_py.web.service import make_state

from .conftest import free_port


@pytest.fixture
async def upstream():
    """A fake Prosody/bridge: records HTTP requests, echoes WebSocket frames."""
    seen: list[dict] = []

    async def http(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            ws = web.WebSocketResponse(protocols=("xmpp",))
            await ws.prepare(request)
            seen.append({"path": request.path, "query": dict(request.query), "host": request.host,
                         "ws": True})
            async for msg in ws:
                await ws.send_str("echo:" + msg.data)
            return ws
        seen.append({"path": request.path, "query": dict(request.query), "host": request.host,
                     "body": await request.text(), "xff": request.headers.get("X-Forwarded-For")})
        return web.Response(text="<body xmlns='http://jabber.org/protocol/httpbind'/>",
                            content_type="text/xml")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", http)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, seen
    await server.close()


async def test_room_routes_serve_the_app(client_factory):
    client = await client_factory()
    index = await (await client.get("/")).text()
    for path in ("/SomeRoom", "/tenant/someroom", "/caf%C3%A9"):
        response = await client.get(path)
        assert response.status == 200, path
        assert await response.text() == index
    assert (await client.get("/a/b/c")).status == 404


async def test_static_files_and_traversal(client_factory):
    client = await client_factory()
    response = await client.get("/css/meet.css?v=3")
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "max-age" in response.headers["Cache-Control"]
    for path in ("/libs/../../pyproject.toml", "/libs/%2e%2e/%2e%2e/pyproject.toml", "/pyproject.toml",
                 "/libs/..%2f..%2fpyproject.toml"):
        response = await client.get(path)
        assert "[project]" not in await response.text(), path
    assert (await client.get("/css/nope.css")).status == 404


async def test_security_headers(client_factory):
    plain = await client_factory(DEPLOYMENTINFO_SHARD="shard-7", CSP_HEADER="default-src 'self'")
    response = await plain.get("/room")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Jitsi-Shard"] == "shard-7"
    assert response.headers["Content-Security-Policy"] == "default-src 'self'"
    assert "Strict-Transport-Security" not in response.headers
    missing = await plain.get("/css/missing.css")
    assert missing.headers["X-Content-Type-Options"] == "nosniff"
    secure = await client_factory(https=True)
    assert (await secure.get("/")).headers["Strict-Transport-Security"] == "max-age=63072000"
    no_hsts = await client_factory(https=True, ENABLE_HSTS="0")
    assert "Strict-Transport-Security" not in (await no_hsts.get("/")).headers


async def test_config_js_routes(client_factory):
    client = await client_factory()
    text = await (await client.get("/config.js")).text()
    assert 'var subdir = "";' in text
    tenant = await client.get("/acme/config.js")
    assert tenant.headers["Content-Type"].startswith("application/javascript")
    assert 'var subdir = "acme/";' in await tenant.text()
    assert "interfaceConfig" in await (await client.get("/interface_config.js")).text()


async def test_bosh_proxy_adds_prefix_and_host(client_factory, upstream):
    server, seen = upstream
    client = await client_factory(XMPP_BOSH_URL_BASE=f"http://127.0.0.1:{server.port}")
    response = await client.post("/team/http-bind?room=standup", data="<body rid='1'/>")
    assert response.status == 200
    assert "httpbind" in await response.text()
    assert seen[-1]["path"] == "/http-bind"
    assert seen[-1]["query"] == {"prefix": "team", "room": "standup"}
    assert seen[-1]["host"] == "meet.jitsi"
    assert seen[-1]["body"] == "<body rid='1'/>"
    assert seen[-1]["xff"] == "127.0.0.1"
    await client.post("/http-bind", data="<body/>")
    assert seen[-1]["query"] == {"prefix": ""}


async def test_the_proxy_appends_to_a_trusted_proxys_forwarded_for_and_replaces_anyone_elses(client_factory,
                                                                                              upstream):
    server, seen = upstream
    behind_ours = await client_factory(XMPP_BOSH_URL_BASE=f"http://127.0.0.1:{server.port}")
    await behind_ours.post("/http-bind", data="<body/>", headers={"X-Forwarded-For": "192.0.2.7"})
    assert seen[-1]["xff"] == "192.0.2.7, 127.0.0.1"
    untrusted = await client_factory(XMPP_BOSH_URL_BASE=f"http://127.0.0.1:{server.port}",
                                     JITSI_PY_HTTP_TRUSTED_PROXIES="192.0.2.1")
    await untrusted.post("/http-bind", data="<body/>", headers={"X-Forwarded-For": "6.6.6.6"})
    assert seen[-1]["xff"] == "127.0.0.1"


async def test_xmpp_websocket_proxy(client_factory, upstream):
    server, seen = upstream
    client = await client_factory(XMPP_BOSH_URL_BASE=f"http://127.0.0.1:{server.port}")
    async with client.ws_connect("/tenant/xmpp-websocket?room=r1", protocols=("xmpp",)) as ws:
        assert ws.protocol == "xmpp"
        await ws.send_str("<open/>")
        assert (await ws.receive(timeout=10)).data == "echo:<open/>"
    assert seen[-1]["ws"] and seen[-1]["query"] == {"prefix": "tenant", "room": "r1"}
    # The client's keep-alive is a plain GET on the websocket URL: it is forwarded, not broken.
    assert (await client.get("/xmpp-websocket")).status == 200


async def test_upstream_down_is_a_502(client_factory):
    client = await client_factory(XMPP_BOSH_URL_BASE=f"http://127.0.0.1:{free_port()}")
    response = await client.post("/http-bind", data="<body/>")
    assert response.status == 502


async def test_colibri_ws_only_reaches_known_bridges(client_factory, upstream):
    server, seen = upstream
    off = await client_factory()  # upstream's default: the route is off
    assert (await off.get("/colibri-ws/jvb/conf/ep")).status == 404
    client = await client_factory(
        ENABLE_COLIBRI_WEBSOCKET="1",
        JITSI_PY_COLIBRI_WEBSOCKET_BRIDGES=f"jvb=127.0.0.1:{server.port},jvb2=127.0.0.1:{server.port}",
        COLIBRI_WEBSOCKET_REGEX="jvb[0-9]*")
    for path in ("/colibri-ws/evil.example.com/conf/ep", f"/colibri-ws/127.0.0.1:{server.port}/c/e",
                 "/colibri-ws/jvb9/conf/ep", "/colibri-ws/other/conf/ep"):
        response = await client.get(path, headers={"Upgrade": "websocket", "Connection": "Upgrade"})
        assert response.status == 404, path
    assert not seen  # nothing ever left for an unknown bridge
    async with client.ws_connect("/colibri-ws/jvb2/conf1/ep1?pwd=secret") as ws:
        await ws.send_str('{"colibriClass":"ClientHello"}')
        assert (await ws.receive(timeout=10)).data == 'echo:{"colibriClass":"ClientHello"}'
    assert seen[-1]["path"] == "/colibri-ws/jvb2/conf1/ep1"
    assert seen[-1]["query"] == {"pwd": "secret"}
    # a host of bridge workers: jvb-1 is worker 1 of jvb, served on jvb's colibri-ws port
    async with client.ws_connect("/colibri-ws/jvb-1/conf1/ep1?pwd=secret") as ws:
        await ws.send_str("hello")
        assert (await ws.receive(timeout=10)).data == "echo:hello"
    assert seen[-1]["path"] == "/colibri-ws/jvb-1/conf1/ep1"
    metrics = await (await client.get("/metrics")).text()
    assert 'jitsi_web_proxy_refused_total{reason="unknown-bridge"} 4.0' in metrics


async def test_etherpad_route_only_when_configured(client_factory, upstream):
    server, seen = upstream
    without = await client_factory()
    assert (await without.get("/etherpad/p/doc")).status == 404
    client = await client_factory(ETHERPAD_URL_BASE=f"http://127.0.0.1:{server.port}")
    assert (await client.get("/etherpad/p/doc?x=1")).status == 200
    assert seen[-1]["path"] == "/p/doc" and seen[-1]["query"] == {"x": "1"}


async def test_health_and_metrics(client_factory):
    client = await client_factory()
    assert (await (await client.get("/health")).json()) == {"status": "ok"}
    await client.get("/room")
    text = await (await client.get("/metrics")).text()
    assert 'jitsi_web_requests_total{route="room"} 1.0' in text


async def test_acme_challenge_route(client_factory):
    client = await client_factory()
    state = client.server.app[STATE]
    assert (await client.get("/.well-known/acme-challenge/tok")).status == 404
    state.acme.add("tok", "tok.thumbprint")
    response = await client.get("/.well-known/acme-challenge/tok")
    assert response.status == 200 and await response.text() == "tok.thumbprint"
    state.acme.remove("tok")
    assert (await client.get("/.well-known/acme-challenge/tok")).status == 404


async def test_http_redirect_keeps_acme_challenges(tmp_path):
    settings = Settings.from_values({"CONFIG": str(tmp_path), "PUBLIC_URL": "https://meet.example.com"})
    state = make_state(settings)
    state.acme.add("t1", "t1.k")
    server = TestServer(build_redirect_app(state))
    async with aiohttp.ClientSession() as session:
        await server.start_server()
        try:
            base = f"http://127.0.0.1:{server.port}"
            async with session.get(base + "/room?x=1", allow_redirects=False) as r:
                assert r.status == 301
                assert r.headers["Location"] == "https://meet.example.com/room?x=1"
            async with session.get(base + "/.well-known/acme-challenge/t1") as r:
                assert r.status == 200 and await r.text() == "t1.k"
        finally:
            await server.close()


def test_letsencrypt_plan(tmp_path):
    def tls(**env):
        return Settings.from_values({"ENABLE_LETSENCRYPT": "1", **env}).web.tls

    with pytest.raises(AcmeConfigError, match="LETSENCRYPT_DOMAIN"):
        plan(tls(), tmp_path)
    p = plan(tls(LETSENCRYPT_DOMAIN="meet.example.com", LETSENCRYPT_EMAIL="a@example.com"), tmp_path)
    assert p.directory == "https://acme-v02.api.letsencrypt.org/directory"
    assert p.fullchain == tmp_path / "acme-certs" / "meet.example.com" / "fullchain.pem"
    staging = plan(tls(LETSENCRYPT_DOMAIN="m.example", LETSENCRYPT_USE_STAGING="1"), tmp_path)
    assert "staging" in staging.directory
    with pytest.raises(AcmeConfigError, match="zerossl"):
        plan(tls(LETSENCRYPT_DOMAIN="m.example", LETSENCRYPT_ACME_SERVER="zerossl"), tmp_path)
    assert needs_certificate(p)


def test_certificate_renewal_window(tmp_path):
    from jitsi_py.common.tls import ensure_self_signed
    p = plan(Settings.from_values({"ENABLE_LETSENCRYPT": "1", "LETSENCRYPT_DOMAIN": "m.example"}).web.tls,
             tmp_path)
    ensure_self_signed(p.fullchain, p.key, ["m.example"], days=90)
    assert not needs_certificate(p)
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=70)
    assert needs_certificate(p, now=later)


async def test_letsencrypt_failure_is_logged_and_the_service_keeps_its_certificate(tmp_path, caplog):
    """No ACME server is reachable here: the attempt fails with a clear log line and is retried."""
    from jitsi_py.web.letsencrypt import Http01Responder, keep_certificate

    closed = free_port()
    tls = Settings.from_values({"ENABLE_LETSENCRYPT": "1", "LETSENCRYPT_DOMAIN": "meet.example.com",
                                "LETSENCRYPT_ACME_SERVER": f"https://127.0.0.1:{closed}/directory"}).web.tls
    acme_plan = plan(tls, tmp_path)
    reloaded: list[bool] = []
    task = asyncio.ensure_future(keep_certificate(acme_plan, Http01Responder(), lambda: reloaded.append(True)))
    for _ in range(200):
        if any("Let's Encrypt for meet.example.com failed" in r.getMessage() for r in caplog.records):
            break
        await asyncio.sleep(0.05)
    task.cancel()
    assert any("retrying in 3600 s" in r.getMessage() for r in caplog.records)
    assert not reloaded
    assert acme_plan.account_key.is_file()  # the account key is made once and kept
    assert acme_plan.account_key.stat().st_mode & 0o077 == 0


async def test_csp_header_on_every_response_as_nginx_always(client_factory):
    # upstream: add_header Content-Security-Policy "..." always; (error pages included)
    client = await client_factory(CSP_HEADER="default-src 'self'")
    for path in ("/", "/config.js", "/css/missing.css"):
        assert (await client.get(path)).headers["Content-Security-Policy"] == "default-src 'self'", path
    assert "Content-Security-Policy" not in (await (await client_factory()).get("/")).headers
