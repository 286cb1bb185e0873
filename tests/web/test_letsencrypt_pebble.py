"""A real ACME issuance: Let's Encrypt's test server (pebble) validates HTTP-01 against our HTTP port.

Pebble makes a fresh root and intermediate on every start and really fetches
``/.well-known/acme-challenge/<token>`` from ``localhost:HTTP_PORT``; the HTTPS listener must then
serve a chain that verifies against that root.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import ssl
import subprocess

import aiohttp
import pytest
from cryptography import x509

from jitsi_py.common.tls import ensure_self_signed
from jitsi_py.settings import Settings
from jitsi_py.web.letsencrypt import Http01Responder, obtain, plan
from jitsi_py.web.service import run

from .conftest import free_port

PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"


@pytest.fixture
def pebble(tmp_path):
    """Pebble on loopback ports; yields (directory URL, management URL, its TLS cert, HTTP_PORT, its log)."""
    base = tmp_path / "pebble"
    cert, key = base / "cert.pem", base / "key.pem"
    ensure_self_signed(cert, key, ["127.0.0.1", "localhost"])
    acme_port, management_port, http_port = free_port(), free_port(), free_port()
    config = base / "pebble-config.json"
    config.write_text(json.dumps({"pebble": {
        "listenAddress": f"127.0.0.1:{acme_port}",
        "managementListenAddress": f"127.0.0.1:{management_port}",
        "certificate": str(cert),
        "privateKey": str(key),
        "httpPort": http_port,
        "tlsPort": free_port(),
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
    }}))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PEBBLE_")}
    # No sleep before validating, and no random badNonce rejections (which would make the test a
    # lottery on the client's single retry); validation itself stays real. A later order always
    # reuses the account's valid authorization, as Let's Encrypt does for a while after validating.
    environ.update(PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0", PEBBLE_AUTHZREUSE="100")
    log = (base / "pebble.log").open("wb")
    process = subprocess.Popen([PEBBLE, "-config", str(config)], cwd=base, env=environ,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        yield (f"https://127.0.0.1:{acme_port}/dir", f"https://127.0.0.1:{management_port}", cert, http_port,
               base / "pebble.log")
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def _get(session: aiohttp.ClientSession, url: str, trust: ssl.SSLContext) -> str:
    for _ in range(200):
        try:
            async with session.get(url, ssl=trust) as response:
                if response.status == 200:
                    return await response.text()
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} never answered 200")


async def _served_leaf(port: int, trust: ssl.SSLContext) -> x509.Certificate | None:
    """The leaf the HTTPS listener serves for ``localhost`` if its chain verifies against ``trust``."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=trust, server_hostname="localhost")
    except (ssl.SSLError, ConnectionError):
        return None
    try:
        return x509.load_der_x509_certificate(writer.get_extra_info("ssl_object").getpeercert(binary_form=True))
    finally:
        writer.close()


async def _issued(task: asyncio.Task, fullchain, pebble_log) -> x509.Certificate:
    for _ in range(600):
        if task.done():
            break
        if fullchain.is_file():
            try:  # it may be caught half written
                return x509.load_pem_x509_certificate(fullchain.read_bytes())
            except ValueError:
                pass
        await asyncio.sleep(0.1)
    assert not task.done(), task.exception()
    raise AssertionError(f"no certificate issued; pebble said:\n{pebble_log.read_text()}")


def _settings(tmp_path, directory: str, pebble_cert, http_port: int, https_port: int) -> Settings:
    return Settings.from_values({
        "CONFIG": str(tmp_path / "config"), "HTTP_PORT": str(http_port), "HTTPS_PORT": str(https_port),
        "JITSI_PY_WEB_INTERFACES": "127.0.0.1", "ENABLE_LETSENCRYPT": "1", "LETSENCRYPT_DOMAIN": "localhost",
        "LETSENCRYPT_EMAIL": "admin@example.org", "LETSENCRYPT_ACME_SERVER": directory,
        "JITSI_PY_LETSENCRYPT_CA_BUNDLE": str(pebble_cert),
    })


async def _stop(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.wait({task}, timeout=5)


async def test_certificate_issued_by_pebble_over_http01(tmp_path, pebble):
    directory, management, pebble_cert, http_port, pebble_log = pebble
    trust_pebble = ssl.create_default_context(cafile=str(pebble_cert))
    fullchain = tmp_path / "config" / "web" / "acme-certs" / "localhost" / "fullchain.pem"
    async with aiohttp.ClientSession() as session:
        await _get(session, directory, trust_pebble)
        https_port = free_port()
        task = asyncio.ensure_future(run(_settings(tmp_path, directory, pebble_cert, http_port, https_port)))
        try:
            first = await _issued(task, fullchain, pebble_log)
            root_pem = await _get(session, f"{management}/roots/0", trust_pebble)
            intermediate_pem = await _get(session, f"{management}/intermediates/0", trust_pebble)
            intermediate = x509.load_pem_x509_certificate(intermediate_pem.encode())
            trust_root = ssl.create_default_context(cadata=root_pem)
            # The file is written just before the listener reloads it: allow that one step.
            leaf = None
            for _ in range(50):
                leaf = await _served_leaf(https_port, trust_root)
                if leaf is not None:
                    break
                await asyncio.sleep(0.1)
            assert leaf is not None, "the HTTPS listener never served a chain from pebble's root"
            assert leaf == first
            assert leaf.issuer == intermediate.subject
            assert "Pebble" in leaf.issuer.rfc4514_string()
            names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            assert names.get_values_for_type(x509.DNSName) == ["localhost"]
            assert fullchain.with_name("key.pem").stat().st_mode & 0o077 == 0
            # Pebble really fetched the token from our HTTP port (no PEBBLE_VA_ALWAYS_VALID).
            assert f"localhost:{http_port}/.well-known/acme-challenge/" in pebble_log.read_text()
        finally:
            await _stop(task)

        # A restart without the certificate: the stored account key finds its existing account, and
        # the order comes back with its authorization already valid.
        fullchain.unlink()
        https_port = free_port()
        task = asyncio.ensure_future(run(_settings(tmp_path, directory, pebble_cert, http_port, https_port)))
        try:
            second = await _issued(task, fullchain, pebble_log)
            assert second.serial_number != first.serial_number
            assert second.issuer == intermediate.subject
        finally:
            await _stop(task)
        assert pebble_log.read_text().count("There are now 1 accounts in memory") == 1
        assert "There are now 2 accounts" not in pebble_log.read_text()


async def test_acme_directory_is_verified_against_system_cas_by_default(tmp_path, pebble):
    directory, _, pebble_cert, http_port, _ = pebble
    settings = _settings(tmp_path, directory, pebble_cert, http_port, free_port())
    trusting = plan(settings.web.tls, tmp_path / "web")
    assert trusting.ca_bundle == pebble_cert
    untrusting = dataclasses.replace(trusting, ca_bundle=None)
    await _get_directory_up(directory, pebble_cert)
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        await asyncio.to_thread(obtain, untrusting, Http01Responder())


async def _get_directory_up(directory: str, pebble_cert) -> None:
    async with aiohttp.ClientSession() as session:
        await _get(session, directory, ssl.create_default_context(cafile=str(pebble_cert)))
