"""run(settings): the listeners come up with a generated certificate and stop promptly on cancel."""

from __future__ import annotations

import asyncio
import socket
import ssl

import aiohttp
import pytest

from jitsi_py.common.startup import StartupError
from jitsi_py.settings import Settings, SettingsError
from jitsi_py.web.service import run

from ..support.slowhttp import idle_flood, lifetime_slowloris
from .conftest import free_port


async def _wait_for(url: str, ssl_context) -> aiohttp.ClientResponse:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(url, ssl=ssl_context) as response:
                    await response.read()
                    return response
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never answered")


async def test_https_with_self_signed_certificate_then_clean_stop(tmp_path):
    http, https = free_port(), free_port()
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "custom-config.js").write_text("config.fromCustom = true;\n")
    settings = Settings.from_values({"CONFIG": str(tmp_path), "HTTP_PORT": str(http), "HTTPS_PORT": str(https),
                                     "JITSI_PY_WEB_INTERFACES": "127.0.0.1"})
    said: list[str] = []
    task = asyncio.ensure_future(run(settings, said.append))
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    response = await _wait_for(f"https://127.0.0.1:{https}/config.js", insecure)
    assert response.status == 200
    assert said == [f"open https://localhost:{https} (http on {http}, https on {https})"]
    assert (tmp_path / "web" / "keys" / "cert.crt").is_file()
    assert (tmp_path / "web" / "keys" / "cert.key").stat().st_mode & 0o077 == 0
    async with aiohttp.ClientSession() as session:
        async with session.get(f"https://127.0.0.1:{https}/config.js", ssl=insecure) as r:
            assert "config.fromCustom = true;" in await r.text()
        async with session.get(f"http://127.0.0.1:{http}/room") as r:
            assert r.status == 200
        async with session.get(f"http://127.0.0.1:{http}/metrics") as r:
            text = await r.text()
            assert "jitsi_py_event_loop_lag_seconds " in text and "jitsi_py_asyncio_tasks " in text
    # Made once: a restart keeps the pair already in CONFIG (or the one an operator put there).
    cert = (tmp_path / "web" / "keys" / "cert.crt").read_bytes()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1.5)
    assert done
    assert (tmp_path / "web" / "keys" / "cert.crt").read_bytes() == cert


async def test_disable_https_and_redirect(tmp_path):
    http, https = free_port(), free_port()
    settings = Settings.from_values({"CONFIG": str(tmp_path), "HTTP_PORT": str(http), "HTTPS_PORT": str(https),
                                     "JITSI_PY_WEB_INTERFACES": "127.0.0.1", "DISABLE_HTTPS": "1",
                                     "ENABLE_HTTP_REDIRECT": "1"})
    task = asyncio.ensure_future(run(settings))
    try:
        response = await _wait_for(f"http://127.0.0.1:{http}/room", None)
        assert response.status == 200  # no HTTPS listener, so no redirect to it
        assert not (tmp_path / "web" / "keys").exists()
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=1.5)


async def test_letsencrypt_without_domain_is_a_settings_error(tmp_path):
    settings = Settings.from_values({"CONFIG": str(tmp_path), "ENABLE_LETSENCRYPT": "1"})
    with pytest.raises(SettingsError, match="LETSENCRYPT_DOMAIN"):
        await run(settings)


@pytest.mark.parametrize("variable", ["HTTP_PORT", "HTTPS_PORT"])
async def test_a_port_in_use_is_its_variables_error(tmp_path, variable):
    ports = {"HTTP_PORT": free_port(), "HTTPS_PORT": free_port()}
    settings = Settings.from_values({"CONFIG": str(tmp_path), **{k: str(v) for k, v in ports.items()}})
    with socket.socket(socket.AF_INET6) as taken:  # on every address, as the service asks for
        taken.bind(("::", ports[variable]))
        taken.listen()
        with pytest.raises(SettingsError) as caught:
            await asyncio.wait_for(run(settings), 10)
    assert str(caught.value) == f"{variable}='{ports[variable]}': address already in use"


async def test_an_operators_certificate_without_its_key_is_refused_not_replaced(tmp_path):
    keys = tmp_path / "web" / "keys"
    keys.mkdir(parents=True)
    (keys / "cert.crt").write_text("the operator's certificate\n")
    settings = Settings.from_values({"CONFIG": str(tmp_path), "HTTP_PORT": str(free_port()),
                                     "HTTPS_PORT": str(free_port()), "JITSI_PY_WEB_INTERFACES": "127.0.0.1"})
    with pytest.raises(StartupError, match="cert.key: no such file, but .*cert.crt is there"):
        await asyncio.wait_for(run(settings), 10)
    assert (keys / "cert.crt").read_text() == "the operator's certificate\n"
    assert not (keys / "cert.key").exists()


GUARD = {"JITSI_PY_HTTP_HEADER_TIMEOUT": "1", "JITSI_PY_HTTP_KEEPALIVE_TIMEOUT": "1",
         "JITSI_PY_HTTP_MAX_CONNECTIONS_PER_IP": "10", "JITSI_PY_HTTP_TRUSTED_PROXIES": "192.0.2.1"}


async def test_slowloris_and_idle_flood_are_cut_while_config_js_keeps_being_served(tmp_path):
    http, https = free_port(), free_port()
    settings = Settings.from_values({"CONFIG": str(tmp_path), "HTTP_PORT": str(http), "HTTPS_PORT": str(https),
                                     "JITSI_PY_WEB_INTERFACES": "127.0.0.1", **GUARD})
    task = asyncio.ensure_future(run(settings))
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    try:
        await _wait_for(f"https://127.0.0.1:{https}/config.js", insecure)
        served: list[int] = []

        async def meeting() -> None:  # a participant (another address) loading the page meanwhile
            async with aiohttp.ClientSession() as session:
                for i in range(12):
                    url = f"https://127.0.0.1:{https}/config.js" if i % 2 else f"http://127.0.0.1:{http}/config.js"
                    async with session.get(url, ssl=insecure) as response:
                        assert "var config" in await response.text()
                        served.append(response.status)
                    await asyncio.sleep(0.2)

        participant = asyncio.ensure_future(meeting())
        slow = [asyncio.ensure_future(lifetime_slowloris(port, interval=0.3, limit=10, tls=tls))
                for port, tls in ((http, None), (https, insecure))]
        await asyncio.sleep(0.2)
        flood = await idle_flood(http, 15, limit=10)
        held = await flood.lifetimes()
        flood.close()
        slow_lived = await asyncio.gather(*slow)
        await participant
        assert served == [200] * 12
        assert flood.refused == 6 and len(held) == 9  # 10 per address, the slowloris one of them
        assert all(life < 2.5 for life in held + slow_lived), (held, slow_lived)
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=1.5)


async def test_https_offers_no_cbc_suite_and_no_server_version(tmp_path):
    http, https = free_port(), free_port()
    settings = Settings.from_values({"CONFIG": str(tmp_path), "HTTP_PORT": str(http), "HTTPS_PORT": str(https),
                                     "JITSI_PY_WEB_INTERFACES": "127.0.0.1"})
    task = asyncio.ensure_future(run(settings))
    aead = ssl.create_default_context()
    aead.check_hostname = False
    aead.verify_mode = ssl.CERT_NONE
    aead.maximum_version = ssl.TLSVersion.TLSv1_2
    cbc = ssl.create_default_context()
    cbc.check_hostname = False
    cbc.verify_mode = ssl.CERT_NONE
    cbc.maximum_version = ssl.TLSVersion.TLSv1_2
    cbc.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0")
    try:
        response = await _wait_for(f"https://127.0.0.1:{https}/config.js", aead)
        assert response.headers["Server"] == "jitsi-py"
        with pytest.raises((ssl.SSLError, ConnectionResetError)):  # the alert, or the reset after it
            await asyncio.open_connection("127.0.0.1", https, ssl=cbc, server_hostname="localhost")
        reader, writer = await asyncio.open_connection("127.0.0.1", http)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        assert b"\r\nServer: jitsi-py\r\n" in await reader.read()
        writer.close()
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=1.5)
