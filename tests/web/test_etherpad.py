"""The shared document with a real Etherpad behind ETHERPAD_URL_BASE: two participants of a meeting
open the room's pad through our /etherpad/ proxy, and what one types the other sees."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from ..support.etherpad import PAD_TEXT, running_etherpad
from ..support.stack import join_browser, our_stack
from .test_browser import CHROMIUM, CHROMIUM_ARGS
from .test_webclient import IN_MEETING

pytestmark = [pytest.mark.system, pytest.mark.browser]

TYPED = "Alice was here"


async def open_shared_document(page):
    """Clicks "Shared document" and returns the pad's editable body, once Etherpad's editor runs in it."""
    await page.wait_for_function(IN_MEETING)
    await page.get_by_test_id("toolbar-more").click()
    await page.get_by_test_id("toolbar-etherpad").click()
    editor = (page.frame_locator("[data-testid=etherpad-frame]").frame_locator("iframe[name=ace_outer]")
              .frame_locator("iframe[name=ace_inner]").locator("#innerdocbody"))
    await editor.filter(has_text=PAD_TEXT.strip()).wait_for()  # the pad's text came over socket.io
    return editor


async def test_shared_document_is_the_rooms_pad_through_our_proxy(tmp_path):
    async with running_etherpad(tmp_path) as etherpad, \
            our_stack(tmp_path, ETHERPAD_URL_BASE=etherpad.url) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            alice = await join_browser(browser, base, "Alice", "/Planning")
            sent: list[str] = []  # what Alice's pad sent over a WebSocket to Etherpad's socket.io

            def watch(ws) -> None:
                if ws.url.startswith(base.replace("https", "wss", 1) + "/etherpad/socket.io/"):
                    ws.on("framesent", lambda payload: sent.append(str(payload)))
            alice.on("websocket", watch)
            refused: list[str] = []  # requests of the page and its pad (files, scripts, socket.io polls)
            alice.on("response", lambda r: r.status >= 400 and refused.append(f"{r.status} {r.url}"))
            bob = await join_browser(browser, base, "Bob", "/Planning")
            await etherpad.ready()
            alice_pad = await open_shared_document(alice)
            assert await alice.get_by_test_id("etherpad-frame").get_attribute("src") \
                == f"{base}/etherpad/p/planning?showChat=false&userName=Alice"
            bob_pad = await open_shared_document(bob)
            await alice_pad.click()
            await alice.keyboard.press("Control+End")
            await alice.keyboard.type(TYPED)
            await bob_pad.filter(has_text=TYPED).wait_for()
            # socket.io had moved on to a WebSocket through our proxy when Alice typed
            assert any("USER_CHANGES" in frame for frame in sent), sent
            assert refused == []
            assert "planning" in (etherpad.root / "var" / "dirty.db").read_text()
        finally:
            await browser.close()
