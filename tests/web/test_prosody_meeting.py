"""Our focus, bridge and web beside a real Prosody: two people meet on Debian's prosody.

Stock Prosody has no ``focus.<domain>`` client proxy (that is one of Jitsi's Prosody modules), so
the operator's ``custom-config.js`` points the client at the focus's own JID, as a deployment of
Prosody without Jitsi's modules has to. Everything else is the real path: WebSocket through our web
proxy to Prosody, MUC on Prosody, Jingle from our focus, media through our bridge.
"""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import async_playwright

from jitsi_py.bridge.service import run as run_bridge
from jitsi_py.focus.service import run as run_focus
from jitsi_py.settings import Settings
from jitsi_py.web.service import run as run_web
from tests.support.prosody import AUTH_DOMAIN, Prosody

from ..support.stack import _port_open, free_udp_port, join_browser
from .conftest import free_port
from .test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.system, pytest.mark.browser]

DECODING_REMOTE_TILES = (
    "[...document.querySelectorAll('[data-testid=remote-tile] video')]"
    ".filter(v => v.getVideoPlaybackQuality().totalVideoFrames > 0).length"
)


async def test_two_browsers_decode_each_other_on_prosody_through_our_focus_and_bridge(tmp_path):
    with Prosody(tmp_path / "prosody", users={"focus": "focus-secret", "jvb": "jvb-secret"}) as prosody:
        https = free_port()
        config = tmp_path / "cfg"
        (config / "web").mkdir(parents=True)
        (config / "web" / "custom-config.js").write_text(f"config.hosts.focus = 'focus@{AUTH_DOMAIN}/focus';\n")
        settings = Settings.from_values({
            **prosody.settings_environ(), "CONFIG": str(config),
            "JICOFO_AUTH_PASSWORD": "focus-secret", "JVB_AUTH_PASSWORD": "jvb-secret",
            "JICOFO_REST_PORT": str(free_port()), "HTTP_PORT": str(free_port()), "HTTPS_PORT": str(https),
            "JITSI_PY_WEB_INTERFACES": "127.0.0.1", "PUBLIC_URL": f"https://127.0.0.1:{https}",
            "JVB_PORT": str(free_udp_port()), "JVB_COLIBRI_PORT": str(free_port()),
            "JVB_DISABLE_STUN": "1", "JITSI_PY_BRIDGE_WORKERS": "1", "JVB_ADVERTISE_IPS": "127.0.0.1",
        })
        services = [asyncio.ensure_future(run(settings)) for run in (run_focus, run_bridge, run_web)]
        try:
            await _port_open(https, services)
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                try:
                    alice = await join_browser(browser, f"https://127.0.0.1:{https}", "Alice", "/onprosody")
                    bob = await join_browser(browser, f"https://127.0.0.1:{https}", "Bob", "/onprosody")
                    await alice.locator("[data-testid=remote-tile]").filter(has_text="Bob").wait_for()
                    await bob.locator("[data-testid=remote-tile]").filter(has_text="Alice").wait_for()
                    for page in (alice, bob):
                        await page.wait_for_function(f"{DECODING_REMOTE_TILES} === 1")
                finally:
                    await browser.close()
        finally:
            for task in services:
                task.cancel()
            await asyncio.gather(*services, return_exceptions=True)
