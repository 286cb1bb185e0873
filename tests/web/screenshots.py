"""The web client's screenshot set for docs/screenshots/, taken on our whole stack with fake devices:
welcome, prejoin, two people, a six-person grid, a screen share, the chat, a phone's width.

    python -m tests.web.screenshots [docs/screenshots]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from ..support.stack import join_browser, running_stack
from .test_browser import CHROMIUM, CHROMIUM_ARGS

FRAMES = ("[...document.querySelectorAll('[data-testid=remote-tile].playing video')]"
          ".filter(v => v.getVideoPlaybackQuality().totalVideoFrames > 0).length")
NAMES = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra", "Barbara Liskov")


async def take(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        async with running_stack(Path(tmp), bridge=True) as stack, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 720})
                page = await context.new_page()
                await page.goto(stack.base + "/")
                await page.get_by_test_id("welcome-page").wait_for()
                await page.screenshot(path=str(out / "welcome.png"))
                await page.goto(stack.base + "/Design%20Review")
                await page.get_by_test_id("prejoin-name").fill(NAMES[0])
                await page.wait_for_function("document.querySelector('[data-testid=prejoin-preview]').videoWidth > 0")
                await page.screenshot(path=str(out / "prejoin.png"))
                pages = []
                for name in NAMES:
                    pages.append(await join_browser(browser, stack.base, name, "/design-review"))
                    if len(pages) == 2:
                        await pages[0].wait_for_function(f"{FRAMES} === 1")
                        await pages[0].screenshot(path=str(out / "two-people.png"))
                host = pages[0]
                await host.keyboard.press("t")
                await host.wait_for_function(f"{FRAMES} >= 1")
                await host.wait_for_timeout(4000)
                await host.screenshot(path=str(out / "grid-six.png"))
                await host.keyboard.press("t")
                await pages[1].get_by_test_id("toolbar-desktop").click()
                await host.locator("[data-testid=stage] .tile.screen").wait_for()
                await host.wait_for_timeout(1500)
                await host.screenshot(path=str(out / "screen-share.png"))
                await pages[1].keyboard.press("d")
                for page, text in ((pages[1], "Slides are in the shared folder: https://example.org/slides"),
                                   (pages[2], "Thanks! Starting in two minutes.")):
                    await page.get_by_test_id("toolbar-chat").click()
                    await page.get_by_test_id("chat-input").fill(text)
                    await page.get_by_test_id("chat-send").click()
                await host.get_by_test_id("toolbar-chat").click()
                await host.get_by_test_id("chat-message").nth(1).wait_for()
                await host.screenshot(path=str(out / "chat.png"))
                phone = pages[3]
                await phone.set_viewport_size({"width": 390, "height": 800})
                await phone.wait_for_timeout(1000)
                await phone.screenshot(path=str(out / "phone.png"))
            finally:
                await browser.close()


if __name__ == "__main__":
    asyncio.run(take(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
