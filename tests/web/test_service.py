"""run(settings): the listeners come up with a generated certificate and stop promptly on cancel."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import pytest

from jitsi_py.settings import Settings, SettingsError
from jitsi_py.web.service import run

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
    task = asyncio.ensure_future(run(settings))
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    response = await _wait_for(f"https://127.0.0.1:{https}/config.js", insecure)
    assert response.status == 200
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
