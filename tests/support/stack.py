"""Our whole stack in the test's own event loop, on loopback ports of its own, and a Chromium participant
in our browser client: the fixture of every test that needs real services end to end."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from dataclasses import dataclass

from jitsi_py.bridge.service import run as run_bridge
from jitsi_py.focus.service import run as run_focus
from jitsi_py.settings import Settings
from jitsi_py.settings.fields import SettingsError
from jitsi_py.web.service import run as run_web
from jitsi_py.xmpp.service import run as run_xmpp

from ..web.conftest import free_port
from ..web.test_browser import LOADED_MACHINE_TIMEOUT_MS


async def _port_open(port: int, services: list[asyncio.Future]) -> None:
    """Until ``port`` takes connections; a service that ended meanwhile raises its own error at once."""
    for _ in range(300):
        for service in services:
            if service.done():
                service.result()
                raise AssertionError(f"a service stopped before {port} listened")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_rtp_port() -> int:
    """An even UDP port whose odd neighbour (RTCP) is free too, both tried: half the time the port
    next to a free one is another socket's, this process's own among them."""
    while True:
        port = free_udp_port() & ~1
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtp, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rtcp:
            try:
                rtp.bind(("127.0.0.1", port))
                rtcp.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port


@dataclass(frozen=True)
class Stack:
    base: str  # the web client's https URL
    settings: Settings  # every port and credential the services run with


@contextlib.asynccontextmanager
async def our_stack(tmp_path, bridge: bool = False, **env: str):
    """Yields the https base URL; :func:`running_stack` for the settings too."""
    async with running_stack(tmp_path, bridge, **env) as stack:
        yield stack.base


STARTS = 3  # a port picked free can be taken before the service binds it: then the stack starts again


@contextlib.asynccontextmanager
async def running_stack(tmp_path, bridge: bool = False, **env: str):
    for attempt in range(STARTS):
        https, c2s, http = free_port(), free_port(), free_port()
        settings = Settings.from_values({
            "CONFIG": str(tmp_path / "cfg"), "XMPP_SERVER": "127.0.0.1", "XMPP_PORT": str(c2s),
            "PROSODY_HTTP_PORT": str(http), "PROSODY_COMPONENT_PORT": str(free_port()),
            "PROSODY_INTERFACES": "127.0.0.1", "JICOFO_AUTH_PASSWORD": "focus-secret",
            "JVB_AUTH_PASSWORD": "jvb-secret", "JICOFO_REST_PORT": str(free_port()),
            "XMPP_BOSH_URL_BASE": f"http://127.0.0.1:{http}", "HTTP_PORT": str(free_port()),
            "HTTPS_PORT": str(https), "JITSI_PY_WEB_INTERFACES": "127.0.0.1",
            "PUBLIC_URL": f"https://127.0.0.1:{https}", "JVB_PORT": str(free_udp_port()),
            "JVB_COLIBRI_PORT": str(free_port()), "JVB_DISABLE_STUN": "1",
            "JITSI_PY_BRIDGE_WORKERS": "1", "JVB_ADVERTISE_IPS": "127.0.0.1", **env,
        })
        services = [asyncio.ensure_future(run_xmpp(settings))]
        try:
            await _port_open(c2s, services)
            services += [asyncio.ensure_future(run(settings)) for run in (run_focus, run_web)]
            if bridge:
                services.append(asyncio.ensure_future(run_bridge(settings)))
            await _port_open(https, services)
        except BaseException as exc:
            await _stop(services)
            if not _port_taken(exc) or attempt + 1 == STARTS:
                raise
            continue
        break
    try:
        yield Stack(f"https://127.0.0.1:{https}", settings)
    finally:
        await _stop(services)


def _port_taken(exc: BaseException) -> bool:
    """A service's bind refused with "address in use": an OSError, or the SettingsError a service
    reports it as (naming the port's variable)."""
    if isinstance(exc, OSError):
        return exc.errno == errno.EADDRINUSE
    return isinstance(exc, SettingsError) and exc.reason == os.strerror(errno.EADDRINUSE).lower()


async def _stop(services: list[asyncio.Future]) -> None:
    for task in services:
        task.cancel()
    await asyncio.gather(*services, return_exceptions=True)


async def join_browser(browser, base: str, name: str, path: str = "/standup"):
    context = await browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 720})
    context.set_default_timeout(LOADED_MACHINE_TIMEOUT_MS)
    page = await context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"page error: {error}"))
    page.on("console", lambda msg: msg.type in ("error", "warning") and page.problems.append(f"{msg.type}: {msg.text}"))
    await page.goto(base + path)
    await page.get_by_test_id("prejoin-name").fill(name)
    await page.get_by_test_id("prejoin-join").click()
    return page
