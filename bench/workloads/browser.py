"""browser: headless Debian Chromium with fake devices on our whole stack: room URL to first remote video frame,
and the client's page weight.

Two pages join the same room; the second one's time from navigation to the first decoded frame of
a remote video track is one sample; the median of `--runs` is reported. Frames are observed with
an init script that watches RTCPeerConnection tracks; the only markup used is the prejoin page's
join button, clicked when it shows, and the meeting page, which tells that the host is in.

Two paths, each on a stack of its own, run in turn: `direct`, where config.js turns the prejoin
page off (ENABLE_PREJOIN_PAGE=false) and nothing stands between the URL and the frame but the
client and the stack; and `prejoin`, the default page, whose join button Playwright clicks as soon
as it can. Playwright's click is not a person's: its checks and input round trips take it 150 to
250 ms on two cores, so the time from the click to the frame is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl

import aiohttp

from .. import harness, plots
from ..progress import Progress
from ..servers import Ours, Server, ServerFailed, logs_in
from ..stats import summary

CHROMIUM = "/usr/bin/chromium"
MEETING_READY = "[data-testid='meeting-page']"  # our client's meeting page
CHROMIUM_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--no-sandbox",
                 "--autoplay-policy=no-user-gesture-required"]
# Records, in ms since navigation start, the first frame of any remote video track the page receives, and the
# first click.
FIRST_FRAME_HOOK = """
(() => {
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  window.__benchPeerConnections = 0;
  document.addEventListener('click', () => {
    if (window.__benchClick === undefined) window.__benchClick = performance.now();
  }, true);
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    window.__benchPeerConnections += 1;
    (window.__benchPcs = window.__benchPcs || []).push(pc);
    pc.addEventListener('track', (event) => {
      if (event.track.kind !== 'video' || window.__benchFirstRemoteFrame !== undefined) return;
      const video = document.createElement('video');
      video.muted = true;
      video.playsInline = true;
      video.srcObject = new MediaStream([event.track]);
      const seen = () => {
        if (window.__benchFirstRemoteFrame === undefined) window.__benchFirstRemoteFrame = performance.now();
      };
      if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(seen);
      else video.addEventListener('loadeddata', seen);
      video.play().catch(() => {});
      window.__benchVideos = (window.__benchVideos || []).concat([video]);
    });
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
})();
"""

# The client's own bytes, uncompressed: the page, its scripts and styles from our origin (config.js
# and interface_config.js, made per deployment, left out).
PAGE_WEIGHT = """() => [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
    .filter(e => e.name.startsWith(location.origin) && !/config\\.js($|\\?)/.test(e.name))
    .reduce((sum, e) => sum + (e.decodedBodySize || 0), 0)"""


PATHS = ("direct", "prejoin")
NO_PREJOIN = {"ENABLE_PREJOIN_PAGE": "false"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", type=int, default=3,
                        help="samples per path; the median is reported (default %(default)s)")
    parser.add_argument("--path", choices=(*PATHS, "both"), default="both",
                        help="direct: no prejoin page; prejoin: its join button clicked (default %(default)s)")
    parser.add_argument("--frame-timeout", type=float, default=60.0,
                        help="seconds to wait for the first remote frame (default %(default)s)")
    parser.add_argument("--cpu-participants", type=int, default=0,
                        help="then N pages in one room: the first one's main-thread CPU, in cores, over "
                             "--cpu-seconds (0: skip; default %(default)s)")
    parser.add_argument("--cpu-seconds", type=float, default=10.0, help="(default %(default)s)")
    parser.add_argument("--cpu-resolution", type=int, default=180,
                        help="the camera height (RESOLUTION) of the --cpu-participants pages, on a stack of their "
                             "own; 0: the default 720 (default %(default)s)")
    harness.add_common(parser, timeout=600)


async def run(args: argparse.Namespace) -> int:
    if args.runs < 1:
        raise SystemExit("--runs must be positive")
    if not os.access(CHROMIUM, os.X_OK):
        raise SystemExit(f"{CHROMIUM} is missing: install Debian's chromium (never a downloaded browser)")
    root = harness.workdir(args)
    paths = PATHS if args.path == "both" else (args.path,)
    samples: dict[str, list[float]] = {path: [] for path in paths}
    click_to_frame: list[float] = []

    async def body(result: dict) -> None:
        figures = result["servers"]["ours"] = {}
        stacks = {path: web_stack(root, path, NO_PREJOIN if path == "direct" else {}) for path in paths}
        try:
            for stack in stacks.values():
                await stack.start(stack_ready)
            figures["version"] = next(iter(stacks.values())).version()
            await measure(args, stacks, samples, click_to_frame, figures)
            if args.cpu_participants > 1:
                cpu_stack = stacks["cpu"] = web_stack(root, "cpu", cpu_environment(args))
                await cpu_stack.start(stack_ready)
                figures["main_thread_cores"], figures["decoding_remote_videos"] = await main_thread_cpu(args, cpu_stack)
                figures["cpu_participants"] = args.cpu_participants
                figures["cpu_resolution"] = args.cpu_resolution or 720
        except ServerFailed as exc:
            figures["failed"] = str(exc).splitlines()[0]
            raise
        finally:
            for stack in stacks.values():
                await stack.stop()
            for path, taken in samples.items():
                if taken:
                    name = "first_remote_frame_ms" if path == "direct" else "prejoin_first_remote_frame_ms"
                    figures[name] = summary(taken)
            if click_to_frame:
                figures["prejoin_click_to_frame_ms"] = summary(click_to_frame)
            headline = figures.get("first_remote_frame_ms") or figures.get("prejoin_first_remote_frame_ms")
            if headline:
                figures["median_ms"] = headline["p50"]

    result = await harness.bounded(args, body, {"runs": args.runs, "paths": list(paths),
                                                "frame_timeout": args.frame_timeout})
    return harness.finish(args, result, lambda out: [plots.latency_cdfs(
        out, "browser", "browser: room URL to first remote video frame",
        {f"first remote frame, {path}": {"ours": [s / 1000 for s in taken]} for path, taken in samples.items()})])


def web_stack(root, name: str, env: dict[str, str]) -> Ours:
    return Ours(root / f"stack-{name}", services=("xmpp", "focus", "bridge", "web"), wait_for_focus=True,
                extra_env=env)


async def stack_ready(server: Server) -> None:
    """The web page answers, and the focus answers a conference request."""
    assert isinstance(server, Ours)
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE  # the stack's own self-signed certificate, on loopback
    async with aiohttp.ClientSession() as http:
        async with http.get(server.public_url + "/", ssl=insecure) as page:
            if page.status != 200:
                raise OSError(f"web answered {page.status}")
        await logs_in(http, server, "tcp", focus=True)


async def open_room(browser, url: str, prejoin: bool = True):
    context = await browser.new_context(ignore_https_errors=True, permissions=["camera", "microphone"])
    page = await context.new_page()
    await page.add_init_script(FIRST_FRAME_HOOK)
    await page.goto(url)
    if prejoin:
        await page.get_by_test_id("prejoin-join").click(timeout=10_000)
    return context, page


async def measure(args, stacks: dict[str, Ours], samples: dict[str, list[float]], click_to_frame: list[float],
                  figures: dict) -> None:
    from playwright.async_api import async_playwright  # noqa: PLC0415 - only this workload needs it

    progress = Progress("browser: first frame", args.runs * len(stacks))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for run_index in range(args.runs):
                for path, stack in stacks.items():  # in turn, so that both see the same machine
                    prejoin = path == "prejoin"
                    url = f"{stack.public_url}/benchroom{run_index}{os.urandom(3).hex()}"
                    host, host_page = await open_room(browser, url, prejoin)
                    try:
                        # the focus offers media only once a second participant is in, so the host is
                        # ready when its meeting page shows
                        await host_page.locator(MEETING_READY).first.wait_for(timeout=args.frame_timeout * 1000)
                        guest, guest_page = await open_room(browser, url, prejoin)
                        try:
                            await guest_page.wait_for_function("window.__benchFirstRemoteFrame !== undefined",
                                                               timeout=args.frame_timeout * 1000)
                            frame, click = await guest_page.evaluate(
                                "[window.__benchFirstRemoteFrame, window.__benchClick ?? null]")
                            samples[path].append(frame)
                            if prejoin and click is not None:
                                click_to_frame.append(frame - click)
                            if "page_weight_kb" not in figures:
                                figures["page_weight_kb"] = round(await guest_page.evaluate(PAGE_WEIGHT) / 1024, 1)
                        finally:
                            await guest.close()
                    finally:
                        await host.close()
                    progress.advance(note=f"{path} {samples[path][-1]:.0f} ms")
        finally:
            await browser.close()
    progress.close()

# Remote video streams the page decodes, from its peer connections' statistics.
DECODING = """async () => {
    let n = 0;
    for (const pc of window.__benchPcs || []) {
        if (pc.connectionState === 'closed') continue;
        for (const r of (await pc.getStats()).values()) {
            if (r.type === 'inbound-rtp' && r.kind === 'video' && r.framesDecoded > 0) n++;
        }
    }
    return n;
}"""


def cpu_environment(args) -> dict[str, str]:
    """No prejoin page; with --cpu-resolution, cameras of that height (16:9), so that the pages' own
    encoding and decoding leave the cores to what is measured: a page's main thread. Chromium's fake
    camera gives what is asked."""
    env = dict(NO_PREJOIN)
    if args.cpu_resolution:
        height = args.cpu_resolution
        width = height * 16 // 9
        env.update(RESOLUTION=str(height), RESOLUTION_MIN=str(height), RESOLUTION_WIDTH=str(width),
                   RESOLUTION_WIDTH_MIN=str(width))
    return env


async def main_thread_cpu(args, stack: Ours) -> tuple[float, int]:
    """N fake-device pages in one room; once the first one decodes everyone's video (or at the
    frame timeout), its renderer main thread's busy time (Chromium's TaskDuration metric) per
    second of wall time, and how many remote videos it was decoding."""
    from playwright.async_api import async_playwright  # noqa: PLC0415 - only this workload needs it

    url = f"{stack.public_url}/benchcpu{os.urandom(3).hex()}"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            pages = []
            for _ in range(args.cpu_participants):
                pages.append((await open_room(browser, url, prejoin=False))[1])
            first = pages[0]
            # every other participant's video, or as many as decode by the deadline (reported)
            deadline = asyncio.get_running_loop().time() + args.frame_timeout
            while await first.evaluate(DECODING) < args.cpu_participants - 1 \
                    and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.5)
            cdp = await first.context.new_cdp_session(first)
            await cdp.send("Performance.enable")

            async def busy() -> float:
                metrics = (await cdp.send("Performance.getMetrics"))["metrics"]
                return next(m["value"] for m in metrics if m["name"] == "TaskDuration")

            before, started = await busy(), asyncio.get_running_loop().time()
            await asyncio.sleep(args.cpu_seconds)
            cores = (await busy() - before) / (asyncio.get_running_loop().time() - started)
            return round(cores, 3), await first.evaluate(DECODING)
        finally:
            await browser.close()
