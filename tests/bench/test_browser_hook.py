"""The browser workload's machinery on Debian's Chromium, without our stack: fake devices, and the
init script that times the first remote video frame, over two peer connections in one page."""

import pytest
from aiohttp import web
from playwright.async_api import async_playwright

from bench.workloads.browser import CHROMIUM, CHROMIUM_ARGS, FIRST_FRAME_HOOK

pytestmark = [pytest.mark.system, pytest.mark.browser]

PAGE = """<!doctype html><script>
async function loop() {
  const stream = await navigator.mediaDevices.getUserMedia({video: true});
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  stream.getTracks().forEach((t) => a.addTrack(t, stream));
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
}
loop();
</script>"""


async def test_first_remote_frame_is_timed_on_fake_devices():
    app = web.Application()
    async def page(request):
        return web.Response(text=PAGE, content_type="text/html")

    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(permissions=["camera", "microphone"])
                page = await context.new_page()
                await page.add_init_script(FIRST_FRAME_HOOK)
                await page.goto(f"http://127.0.0.1:{port}/")
                await page.wait_for_function("window.__benchFirstRemoteFrame !== undefined", timeout=30_000)
                assert await page.evaluate("window.__benchPeerConnections") == 2
                assert await page.evaluate("window.__benchFirstRemoteFrame") > 0
            finally:
                await browser.close()
    finally:
        await runner.cleanup()
