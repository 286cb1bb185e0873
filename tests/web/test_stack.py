"""Our browser client on our own XMPP server and focus (the bridge is not in this test yet).

Two people open the same room: the conference request goes to our focus through ``focus.<domain>``,
both join the MUC over our WebSocket (through our web proxy), see each other and chat; the first
is the moderator.
"""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import async_playwright

from ..support.stack import join_browser, our_stack
from .test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.system, pytest.mark.browser]


@pytest.mark.parametrize("transport", ["websocket", "bosh"])
async def test_two_browsers_meet_on_our_xmpp_server_and_focus(tmp_path, transport):
    env = {"ENABLE_XMPP_WEBSOCKET": "0"} if transport == "bosh" else {}
    async with our_stack(tmp_path, **env) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            pages = []
            for name in ("Alice", "Bob"):
                page = await join_browser(browser, base, name)
                await page.wait_for_function("window.jitsiPy?.view?.conference?.role")
                pages.append(page)
            alice, bob = pages
            await alice.locator("[data-testid=remote-tile]").filter(has_text="Bob").wait_for()
            await bob.locator("[data-testid=remote-tile]").filter(has_text="Alice").wait_for()
            assert await alice.evaluate("window.jitsiPy.view.conference.role") == "moderator"
            assert await alice.evaluate("window.jitsiPy.view.connection.transportName") == transport
            # no bridge runs in this test: the focus says so, and the page says it in words
            await alice.get_by_test_id("connection-status").filter(has_text="No media server").wait_for()
            # the focus is in the room but is no one's tile
            assert await alice.locator("[data-testid=remote-tile]").count() == 1
            await bob.get_by_test_id("toolbar-chat").click()
            await bob.get_by_test_id("chat-input").fill("hi from Bob")
            await bob.get_by_test_id("chat-send").click()
            await alice.get_by_test_id("chat-message").filter(has_text="hi from Bob").wait_for(state="attached")
            # moderator actions: mute Bob through the focus, A/V moderation, a breakout room
            await alice.get_by_test_id("toolbar-participants-pane").click()
            await alice.get_by_test_id("mute-participant").click()
            await bob.get_by_test_id("error-message").filter(has_text="muted your microphone").wait_for()
            assert await bob.evaluate("window.jitsiPy.view.conference.muted.audio") is True
            tile_b = alice.locator("[data-testid=remote-tile]").filter(has_text="Bob")
            await tile_b.get_by_test_id("badge-audio-muted").wait_for()
            await alice.get_by_test_id("toggle-av-moderation").click()
            await bob.get_by_test_id("error-message").filter(has_text="must now allow you to unmute").wait_for()
            await alice.get_by_test_id("add-breakout-room").click()
            await alice.get_by_test_id("breakout-room").filter(has_text="Room 1").wait_for()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await alice.screenshot(path=str(ARTIFACTS / "our-stack-no-bridge.png"))
        finally:
            await browser.close()


async def test_lobby_knock_admit_and_deny_on_our_xmpp_server(tmp_path):
    async with our_stack(tmp_path) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            alice = await join_browser(browser, base, "Alice")
            await alice.wait_for_function("window.jitsiPy?.view?.conference?.role === 'moderator'")
            await alice.get_by_test_id("toolbar-participants-pane").click()
            await alice.get_by_test_id("toggle-lobby").click()
            await alice.wait_for_function("window.jitsiPy.view.conference.roomInfo?.lobby === true")
            bob = await join_browser(browser, base, "Bob")
            await bob.wait_for_selector("[data-testid=meeting-page][data-lobby=waiting]")
            assert "wait until a moderator" in await bob.get_by_test_id("connection-status").inner_text()
            await bob.get_by_test_id("lobby-screen").filter(has_text="Knocking").wait_for()
            await alice.get_by_test_id("toast").filter(has_text="Bob asks to join").wait_for()
            knock = alice.get_by_test_id("lobby-knock").filter(has_text="Bob")
            await knock.wait_for()
            await knock.get_by_test_id("lobby-admit").click()
            await alice.locator("[data-testid=remote-tile]").filter(has_text="Bob").wait_for()
            await bob.wait_for_function("window.jitsiPy?.view?.conference?.role === 'participant'")
            await bob.get_by_test_id("lobby-screen").wait_for(state="detached")
            carol = await join_browser(browser, base, "Carol")
            knock = alice.get_by_test_id("lobby-knock").filter(has_text="Carol")
            await knock.wait_for()
            await knock.get_by_test_id("lobby-deny").click()
            await carol.get_by_test_id("leave-reason").filter(has_text="did not let you in").wait_for()
            assert await carol.get_by_test_id("leave-heading").inner_text() == "You were not let in"
        finally:
            await browser.close()


async def test_tenants_keep_rooms_apart(tmp_path):
    """/<tenant>/<room>: config.js, the MUC domain and ?prefix= keep same-named rooms apart."""
    async with our_stack(tmp_path) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            people = {}
            for name, path in (("Ann", "/acme/standup"), ("Ben", "/acme/standup"), ("Cat", "/other/standup")):
                people[name] = page = await join_browser(browser, base, name, path)
                await page.wait_for_function("window.jitsiPy?.view?.conference?.role")
            room_jid = await people["Ann"].evaluate("window.jitsiPy.view.conference.roomJid")
            assert room_jid == "standup@muc.acme.meet.jitsi"
            await people["Ann"].locator("[data-testid=remote-tile]").filter(has_text="Ben").wait_for()
            await people["Ben"].locator("[data-testid=remote-tile]").filter(has_text="Ann").wait_for()
            assert await people["Cat"].locator("[data-testid=remote-tile]").count() == 0
            assert await people["Cat"].evaluate("window.jitsiPy.view.conference.role") == "moderator"
        finally:
            await browser.close()


SESSION_STATE = """async () => {
    const c = window.jitsiPy?.view?.conference;
    const s = c?.session;
    if (!s) return null;
    const video = s.pc.localDescription.sdp.split('m=')[2];
    return {
        ice: s.pc.iceConnectionState,
        remote: s.layout.slots.filter(x => x.kind === 'remote' && x.source).map(x => x.source.name).sort(),
        simulcast: (video.match(/a=ssrc-group:SIM( \\d+)+/) || [''])[0].split(' ').length - 1,
        nick: c.nick,
    };
}"""


REMOTE_FRAMES = """() => Math.max(0, ...[...document.querySelectorAll('[data-testid=remote-tile] video')]
    .map(v => v.getVideoPlaybackQuality().totalVideoFrames))"""


async def test_two_browsers_see_each_other_through_our_focus_and_bridge(tmp_path):
    """The whole stack: each browser answers our focus's offer, reaches our bridge (ICE + DTLS),
    sends VP8 in three simulcast layers, maps the other's sources onto their own m-lines, and
    decodes the other's video in its tile."""
    async with our_stack(tmp_path, bridge=True) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            alice = await join_browser(browser, base, "Alice")
            bob = await join_browser(browser, base, "Bob")
            states = {}
            for name, page in (("Alice", alice), ("Bob", bob)):
                await page.wait_for_function(
                    "['connected', 'completed']"
                    ".includes(window.jitsiPy?.view?.conference?.session?.pc?.iceConnectionState)",
                    timeout=30000)
                await page.wait_for_function(
                    "window.jitsiPy.view.conference.session.layout.slots"
                    ".filter(x => x.kind === 'remote' && x.source).length === 2",
                    timeout=15000)
                states[name] = await page.evaluate(SESSION_STATE)
            assert states["Alice"]["remote"] == [f"{states['Bob']['nick']}-a0", f"{states['Bob']['nick']}-v0"]
            assert states["Bob"]["remote"] == [f"{states['Alice']['nick']}-a0", f"{states['Alice']['nick']}-v0"]
            assert states["Alice"]["simulcast"] == 3 and states["Bob"]["simulcast"] == 3
            for page in (alice, bob):
                await page.wait_for_function(f"({REMOTE_FRAMES})() > 5")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await alice.screenshot(path=str(ARTIFACTS / "meeting-our-stack.png"))
        finally:
            await browser.close()


INBOUND_AUDIO = """async () => {
    const pc = window.jitsiPy.view.conference.session.pc;
    return [...(await pc.getStats()).values()].filter(r => r.type === 'inbound-rtp' && r.kind === 'audio')
        .reduce((n, r) => n + (r.packetsReceived || 0), 0);
}"""


async def test_three_people_mute_screen_share_and_leave_on_our_stack(tmp_path):
    async with our_stack(tmp_path, bridge=True) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            alice = await join_browser(browser, base, "Alice")
            bob = await join_browser(browser, base, "Bob")
            started = asyncio.get_running_loop().time()
            carol = await join_browser(browser, base, "Carol")
            await carol.wait_for_function(f"({REMOTE_FRAMES})() > 0")
            first_frame = asyncio.get_running_loop().time() - started
            for page in (alice, bob, carol):
                await page.wait_for_function(
                    "[...document.querySelectorAll('[data-testid=remote-tile] video')].filter("
                    "v => v.getVideoPlaybackQuality().totalVideoFrames > 0).length === 2")
                await page.wait_for_function(f"({INBOUND_AUDIO})().then(n => n > 20)")
            # mute shows on the other side
            await bob.get_by_test_id("toolbar-microphone").click()
            bob_on_alice = alice.locator("[data-testid=remote-tile]").filter(has_text="Bob")
            await bob_on_alice.get_by_test_id("badge-audio-muted").wait_for()
            # screen share appears as its own tile, with frames
            await carol.get_by_test_id("toolbar-desktop").click()
            screen = alice.locator("[data-testid=remote-tile]").filter(has_text="Carol (screen)")
            await screen.wait_for()
            await alice.wait_for_function(
                "[...document.querySelectorAll('[data-testid=remote-tile]')]"
                ".some(t => t.textContent.includes('(screen)')"
                " && t.querySelector('video')?.getVideoPlaybackQuality().totalVideoFrames > 0)")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await alice.screenshot(path=str(ARTIFACTS / "meeting-three-people.png"))
            marks = await carol.evaluate(
                "performance.getEntriesByType('mark').filter(m => m.name.startsWith('jitsi:'))"
                ".map(m => `${m.name} ${Math.round(m.startTime)} ms`).join('\\n')")
            (ARTIFACTS / "first-remote-frame.txt").write_text(
                f"{first_frame:.2f} s from opening the room URL (prejoin clicked at once)\n{marks}\n")
            # a participant leaving disappears for the others
            await bob.get_by_test_id("toolbar-hangup").click()
            await bob_on_alice.wait_for(state="detached")
            await carol.locator("[data-testid=remote-tile]").filter(has_text="Bob").wait_for(state="detached")
            assert alice.problems == [] and carol.problems == [], (alice.problems, carol.problems)
        finally:
            await browser.close()
