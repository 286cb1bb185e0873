"""Our browser client as people use it, on our stack (XMPP server and focus; no bridge needed for
what is checked here): prejoin devices, stage and filmstrip, tile grid, pinning, tiles' avatars and
indicators, toolbar icons and shortcuts, chat and participants panels, the per-tile moderator menu,
toasts, the welcome page's room names and recent meetings, and the page after being removed."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.async_api import async_playwright

from ..recorder.live import idle, recorder, recording_stack
from ..support.media_checks import live_streams, probe
from ..support.rtmp import NginxRtmp
from ..support.stack import join_browser, our_stack
from .conftest import free_port
from .test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, LOADED_MACHINE_TIMEOUT_MS

pytestmark = [pytest.mark.system, pytest.mark.browser]

IN_MEETING = "window.jitsiPy?.view?.conference?.role"
UNNAMED_CONTROLS = """() => [...document.querySelectorAll('button, input, select, textarea, [tabindex]')]
    .filter(e => !(e.getAttribute('aria-label') || e.textContent.trim() || e.labels?.length || e.title
                   || e.placeholder))
    .map(e => e.outerHTML.slice(0, 120))"""


REFERENCES = Path(__file__).parent / "screens"


def assert_looks_like(png: bytes, name: str, tolerance: float = 0.03) -> None:
    """A layout screenshot against its committed reference (tests/web/screens/): the share of
    pixels that differ clearly (by more than 48 in a channel) stays under `tolerance`, which
    leaves room for another machine's font rendering but not for a moved panel or tile."""
    got = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    reference = REFERENCES / f"{name}.png"
    (ARTIFACTS / f"{name}-actual.png").write_bytes(png)
    want = np.asarray(Image.open(reference).convert("RGB"), dtype=np.int16)
    assert got.shape == want.shape, (got.shape, want.shape)
    differ = float((np.abs(got - want).max(axis=2) > 48).mean())
    assert differ < tolerance, f"{name}: {differ:.1%} of the pixels differ from {reference}"


def tile_of(page, name: str):
    return page.locator("[data-testid=remote-tile]").filter(has_text=name)


async def test_meeting_page_layout_toolbar_chat_and_moderation(tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with our_stack(tmp_path) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            # prejoin: device choices and a microphone level meter that moves
            context = await browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 720})
            context.set_default_timeout(LOADED_MACHINE_TIMEOUT_MS)
            alice = await context.new_page()
            alice.problems = []
            alice.on("pageerror", lambda error: alice.problems.append(str(error)))
            await alice.goto(base + "/standup")
            await alice.get_by_test_id("device-audioinput").wait_for()
            assert await alice.get_by_test_id("device-videoinput").locator("option").count() >= 1
            await alice.wait_for_function(
                "Number(document.querySelector('[data-testid=prejoin-level]').dataset.level) > 0")
            await alice.get_by_test_id("prejoin-name").fill("Alice Liddell")
            await alice.get_by_test_id("prejoin-join").click()
            await alice.wait_for_function(IN_MEETING)
            assert await alice.evaluate("localStorage.getItem('jitsi-py-display-name')") == "Alice Liddell"
            # alone: our own tile, marked, fills the stage
            local = alice.get_by_test_id("local-tile")
            assert await local.get_by_test_id("tile-me").inner_text() == "(me)"
            assert await alice.locator("[data-testid=stage] [data-testid=local-tile]").count() == 1
            assert await alice.get_by_test_id("meeting-title").inner_text() == "standup"
            await alice.wait_for_function(
                "/^00:0[1-9]$/.test(document.querySelector('[data-testid=meeting-timer]').textContent)")

            bob = await join_browser(browser, base, "Bob <b>Builder</b>")
            await bob.wait_for_function(IN_MEETING)
            # a join is announced; the newcomer takes the stage, we go to the filmstrip
            await alice.get_by_test_id("toast").filter(has_text="Bob <b>Builder</b> joined").wait_for()
            bob_tile = tile_of(alice, "Bob <b>Builder</b>")
            await alice.locator("[data-testid=stage] [data-testid=remote-tile]").filter(has_text="Bob").wait_for()
            assert await alice.locator("[data-testid=filmstrip] [data-testid=local-tile]").count() == 1
            # no camera frames without a bridge: the avatar with initials shows, the name is text
            assert await bob_tile.locator(".initials").inner_text() == "BB"
            assert await bob_tile.locator(".avatar").is_visible()
            assert await alice.locator("b").count() == 0
            # Alice is the moderator: a star, drawn as SVG, on her tile at Bob's
            await tile_of(bob, "Alice").get_by_test_id("badge-moderator").locator("svg").wait_for()
            # click to pin: our own tile goes on the stage, a second click unpins
            await local.click()
            await alice.locator("[data-testid=stage] [data-testid=local-tile].pinned").wait_for()
            await local.click()
            await alice.locator("[data-testid=stage] [data-testid=remote-tile]").wait_for()

            # toolbar: our icons, each button named; T toggles a grid that fills the page
            for button in await alice.get_by_test_id("toolbar").locator("button").all():
                assert await button.locator("svg").count() == 1
                assert await button.get_attribute("aria-label")
            await alice.keyboard.press("t")
            await alice.wait_for_selector(".videos[data-layout=grid]")
            sizes = await alice.evaluate("""() => [...document.querySelectorAll('[data-testid=stage] .tile')]
                .map(t => t.getBoundingClientRect())
                .map(r => [Math.round(r.width), Math.round(r.height), Math.round(r.top)])""")
            assert len(sizes) == 2 and sizes[0] == sizes[1] and sizes[0][0] > 500, sizes  # side by side, large
            await alice.evaluate("document.querySelector('[data-testid=toasts]').replaceChildren()")
            shot = await alice.screenshot(mask=[alice.locator("video"), alice.get_by_test_id("meeting-timer")])
            assert_looks_like(shot, "grid-two")
            await alice.keyboard.press("t")
            await alice.wait_for_selector(".videos[data-layout=stage]")

            # M mutes, R raises the hand (its label follows), Space talks while held
            await alice.keyboard.press("m")
            await tile_of(bob, "Alice").get_by_test_id("badge-audio-muted").locator("svg").wait_for()
            await alice.keyboard.press("r")
            assert await alice.get_by_test_id("toolbar-raisehand").get_attribute("aria-label") == "Lower hand"
            await tile_of(bob, "Alice").get_by_test_id("badge-raised-hand").locator("svg").wait_for()
            await bob.get_by_test_id("toast").filter(has_text="raised their hand").wait_for()
            await alice.keyboard.down("Space")
            await alice.wait_for_function("window.jitsiPy.view.conference.muted.audio === false")
            await alice.keyboard.up("Space")
            await alice.wait_for_function("window.jitsiPy.view.conference.muted.audio === true")

            # the more menu holds the rest; Escape closes it
            await alice.get_by_test_id("toolbar-more").click()
            menu = alice.get_by_test_id("more-menu")
            for name in ("invite", "security", "settings", "shortcuts"):
                await menu.get_by_test_id(f"toolbar-{name}").wait_for()
            assert await menu.get_by_test_id("toolbar-etherpad").count() == 0  # no ETHERPAD_URL_BASE here
            await alice.keyboard.press("Escape")
            await menu.wait_for(state="detached")
            await alice.get_by_test_id("toolbar-more").click()
            await alice.get_by_test_id("more-menu").get_by_test_id("toolbar-invite").click()
            assert (await alice.get_by_test_id("invite-link").input_value()).endswith("/standup")
            await alice.get_by_test_id("invite-dialog-close").click()

            # chat: markup stays text, links open safely, an unread counter, oversize refused
            await bob.get_by_test_id("toolbar-chat").click()
            await bob.get_by_test_id("chat-input").fill("<img src=x onerror=alert(1)> see https://example.org/x.")
            await bob.get_by_test_id("chat-send").click()
            await alice.get_by_test_id("chat-unread").filter(has_text="1").wait_for()
            await alice.get_by_test_id("toolbar-chat").click()
            assert await alice.get_by_test_id("chat-unread").count() == 0
            message = alice.get_by_test_id("chat-message").filter(has_text="see")
            assert await message.locator("img").count() == 0
            assert "<img src=x onerror=alert(1)>" in await message.inner_text()
            link = message.locator("a")
            assert await link.get_attribute("href") == "https://example.org/x"
            assert await link.get_attribute("rel") == "noopener noreferrer"
            assert await link.get_attribute("target") == "_blank"
            await alice.get_by_test_id("chat-input").fill("x" * 10001)
            await alice.get_by_test_id("chat-send").click()
            assert "too long" in await alice.get_by_test_id("chat-problem").inner_text()
            # the panel sits beside the video, which keeps most of the width
            video_width = await alice.evaluate("document.querySelector('.video-area').getBoundingClientRect().width")
            assert video_width > 1280 * 0.65, video_width

            # a private message from Bob's tile menu; Bob reads it as private
            await bob_tile.hover()
            await bob_tile.get_by_test_id("tile-menu").click()
            await alice.get_by_test_id("tile-private-message").click()
            assert await alice.get_by_test_id("chat-recipient").input_value() != ""
            await alice.get_by_test_id("chat-input").fill("just for you")
            await alice.get_by_test_id("chat-input").press("Enter")
            await bob.locator("[data-testid=chat-message].private").filter(has_text="just for you").wait_for()

            # a poll made by Bob, answered on both sides, counted on both
            await bob.get_by_test_id("chat-create-poll").click()
            await bob.get_by_test_id("poll-question").fill("Lunch?")
            await bob.get_by_test_id("poll-submit").click()
            assert "two options" in await bob.get_by_test_id("poll-problem").inner_text()
            await bob.get_by_test_id("poll-answer").nth(0).fill("Pizza")
            await bob.get_by_test_id("poll-answer").nth(1).fill("Soup")
            await bob.get_by_test_id("poll-submit").click()
            soup_on_alice, soup_on_bob = (
                page.get_by_test_id("poll").filter(has_text="Lunch?").get_by_test_id("poll-option").filter(has_text="Soup")
                for page in (alice, bob))
            await soup_on_alice.click()
            await soup_on_bob.get_by_test_id("poll-votes").filter(has_text="1").wait_for()
            await soup_on_bob.click()
            await soup_on_alice.get_by_test_id("poll-votes").filter(has_text="2").wait_for()
            assert await soup_on_alice.get_attribute("aria-pressed") == "true"

            # participants: no empty lobby or breakout headings; panels take turns
            await alice.get_by_test_id("toolbar-participants-pane").click()
            panel = alice.get_by_test_id("participants-panel")
            await panel.wait_for()
            assert await alice.get_by_test_id("chat-panel").is_hidden()
            assert await panel.get_by_text("Waiting in the lobby").is_hidden()
            assert await panel.get_by_text("Breakout rooms").is_hidden()
            assert "(me)" in await alice.get_by_test_id("participant-self").inner_text()
            # every control has a name a screen reader can say
            unnamed = await alice.evaluate(UNNAMED_CONTROLS)
            assert unnamed == [], unnamed
            # and tiles are reached and pinned by keyboard
            await local.focus()
            await alice.keyboard.press("Enter")
            await alice.locator("[data-testid=stage] [data-testid=local-tile].pinned").wait_for()
            await alice.keyboard.press("Enter")
            await alice.locator("[data-testid=stage] [data-testid=remote-tile]").wait_for()
            await alice.screenshot(path=str(ARTIFACTS / "webclient-participants.png"))

            # a phone's width: a filmstrip row under the stage, icon-only toolbar, panels cover the video
            await bob.set_viewport_size({"width": 390, "height": 780})
            assert await bob.get_by_test_id("chat-panel").is_visible()  # open since Bob wrote
            chat_box = await bob.get_by_test_id("chat-panel").bounding_box()
            assert chat_box and chat_box["width"] > 380, chat_box
            await bob.get_by_test_id("toolbar-chat").click()
            assert await bob.evaluate("getComputedStyle(document.querySelector('.filmstrip')).flexDirection") == "row"
            toolbar_box = await bob.get_by_test_id("toolbar").bounding_box()
            assert toolbar_box and toolbar_box["width"] <= 390 and toolbar_box["height"] < 70, toolbar_box  # one row
            await bob.screenshot(path=str(ARTIFACTS / "webclient-phone.png"))

            # the moderator's tile menu: mute, then remove
            await bob_tile.hover()
            await bob_tile.get_by_test_id("tile-menu").click()
            await alice.get_by_test_id("tile-mute").click()
            await bob.get_by_test_id("error-message").filter(has_text="muted your microphone").wait_for()
            await bob_tile.hover()
            await bob_tile.get_by_test_id("tile-menu").click()
            await alice.get_by_test_id("tile-stop-camera").click()
            await bob.get_by_test_id("error-message").filter(has_text="muted your camera").wait_for()
            await bob_tile.get_by_test_id("badge-video-muted").wait_for()
            await bob_tile.hover()
            await bob_tile.get_by_test_id("tile-menu").click()
            await alice.get_by_test_id("tile-grant-moderator").click()
            await bob.get_by_test_id("toast").filter(has_text="You are now a moderator").wait_for()
            await bob_tile.get_by_test_id("badge-moderator").wait_for()
            await bob_tile.hover()
            await bob_tile.get_by_test_id("tile-menu").click()
            await alice.get_by_test_id("tile-kick").click()
            await bob.get_by_test_id("leave-heading").filter(has_text="You were removed").wait_for()
            assert await bob.get_by_test_id("rejoin").count() == 0
            await alice.get_by_test_id("toast").filter(has_text="left the meeting").wait_for()
            await bob_tile.wait_for(state="detached")

            # the welcome page remembers the meeting
            await alice.get_by_test_id("toolbar-hangup").click()
            await alice.goto(base + "/")
            await alice.get_by_test_id("recent-meeting").filter(has_text="standup").wait_for()
            assert alice.problems == [], alice.problems
        finally:
            await browser.close()


MAPPER = "https://mapper.invalid"  # the conference mapper, an outside service: its answers come from the test


async def test_welcome_page_room_names_then_invite_dial_in_and_shared_document(tmp_path):
    env = {"ETHERPAD_URL_BASE": "http://127.0.0.1:9", "CONFCODE_URL": f"{MAPPER}/access",
           "DIALIN_NUMBERS_URL": f"{MAPPER}/dids"}
    async with our_stack(tmp_path, **env) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(ignore_https_errors=True)).new_page()
            page.set_default_timeout(LOADED_MACHINE_TIMEOUT_MS)
            await page.goto(base + "/")
            await page.get_by_test_id("welcome-page").wait_for()
            await page.evaluate("document.activeElement.blur()")  # no blinking caret
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            random_name = [page.get_by_test_id("welcome-room-input"), page.get_by_test_id("welcome-suggest")]
            shot = await page.screenshot(mask=random_name)
            assert_looks_like(shot, "welcome")
            assert (await page.get_by_test_id("welcome-room-input").get_attribute("placeholder")).isalpha()
            for typed, shown in (("what?now", "?"), ("Bob's room", "'")):
                await page.get_by_test_id("welcome-room-input").fill(typed)
                await page.get_by_test_id("welcome-join").click()
                error = page.get_by_test_id("error-message")
                assert f"cannot contain {shown}" in await error.inner_text()
                assert page.url == base + "/"
            await page.get_by_test_id("welcome-use-suggestion").click()
            await page.get_by_test_id("prejoin-page").wait_for()
            assert page.url == base + "/Bobs%20room"
            await page.goto(base + "/")
            suggestion = await page.get_by_test_id("welcome-room-input").get_attribute("placeholder")
            await page.get_by_test_id("welcome-suggest").click()
            await page.get_by_test_id("welcome-join").click()
            await page.get_by_test_id("prejoin-page").wait_for()
            assert page.url == f"{base}/{suggestion}"
            # in the meeting: the invite dialog with the link and the dial-in numbers of this room
            asked = []

            async def mapper(route):
                asked.append(route.request.url)
                body = ('{"conference": "x", "id": 424242}' if "/access?" in route.request.url
                        else '{"numbersEnabled": true, "numbers": {"US": ["+1 555 0100"], "FR": ["+33 1 00 00 00"]}}')
                await route.fulfill(body=body, content_type="application/json",
                                    headers={"Access-Control-Allow-Origin": "*"})

            await page.route(f"{MAPPER}/**", mapper)
            await page.get_by_test_id("prejoin-join").click()
            await page.wait_for_function(IN_MEETING)
            await page.get_by_test_id("toolbar-more").click()
            await page.get_by_test_id("toolbar-invite").click()
            await page.get_by_test_id("dial-in-pin").filter(has_text="424242#").wait_for()
            numbers = await page.get_by_test_id("dial-in-number").all_inner_texts()
            assert numbers == ["US: +1 555 0100", "FR: +33 1 00 00 00"]
            assert all(f"conference={suggestion.lower()}%40muc.meet.jitsi" in url for url in asked), asked
            await page.get_by_test_id("invite-dialog-close").click()
            # ETHERPAD_URL_BASE: the shared document opens the room's pad through our /etherpad/ proxy
            await page.get_by_test_id("toolbar-more").click()
            await page.get_by_test_id("toolbar-etherpad").click()
            src = await page.get_by_test_id("etherpad-frame").get_attribute("src")
            assert src.startswith(f"{base}/etherpad/p/{suggestion.lower()}?"), src
        finally:
            await browser.close()


REMOTE_PLAYING = ("document.querySelector('[data-testid=remote-tile].playing video')"
                  "?.getVideoPlaybackQuality().totalVideoFrames > 0")
SENT_AUDIO_TRACK = """() => {
    const c = window.jitsiPy.view.conference;
    const sender = c.session.pc.getSenders().find(s => s.track && s.track.kind === 'audio');
    return { sent: sender.track.id, ours: c.localStream.getAudioTracks()[0].id, nick: c.nick };
}"""


async def test_media_in_tiles_quality_camera_off_screen_share_and_device_switch(tmp_path):
    """With our bridge: video replaces the avatar, connection quality shows on hover, a camera
    turned off brings the avatar back, a screen share takes the stage, and the settings dialog
    switches the microphone without rejoining."""
    async with our_stack(tmp_path, bridge=True) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            alice = await join_browser(browser, base, "Alice")
            bob = await join_browser(browser, base, "Bob")
            await alice.wait_for_function(REMOTE_PLAYING)
            bob_tile = tile_of(alice, "Bob")
            assert await bob_tile.locator(".avatar").is_hidden()
            # connection quality from WebRTC stats, in words on hover
            quality = bob_tile.get_by_test_id("tile-quality")
            await quality.wait_for()
            await quality.hover()
            info = await bob_tile.get_by_test_id("tile-quality-info").inner_text()
            assert "kbit/s" in info and "loss" in info and "RTT" in info, info
            assert await alice.get_by_test_id("local-tile").get_by_test_id("tile-quality").count() == 1
            # a reaction goes to everyone over the bridge channel
            await alice.wait_for_function("window.jitsiPy.view.conference.bridge?.isOpen")
            await alice.get_by_test_id("toolbar-reactions").click()
            await alice.get_by_test_id("reaction-like").click()
            await bob.locator("[data-testid=reaction][data-reaction=like]").filter(has_text="Alice").wait_for()
            # camera off: the avatar is back, with the indicator
            await bob.keyboard.press("v")
            await bob_tile.get_by_test_id("badge-video-muted").wait_for()
            await bob_tile.locator(".avatar").wait_for()
            await bob.keyboard.press("v")
            await bob_tile.get_by_test_id("badge-video-muted").wait_for(state="detached")
            # a screen share takes the stage
            await bob.get_by_test_id("toolbar-desktop").click()
            on_stage = alice.locator("[data-testid=stage] [data-testid=remote-tile]").filter(has_text="Bob (screen)")
            await on_stage.wait_for()
            await alice.wait_for_function(
                "document.querySelector('[data-testid=stage] .tile.screen video')"
                "?.getVideoPlaybackQuality().totalVideoFrames > 0")
            await alice.screenshot(path=str(ARTIFACTS / "webclient-screen-share.png"))
            # and the bridge is asked for the share in full resolution
            bob_nick = await bob.evaluate("window.jitsiPy.view.conference.nick")
            await alice.wait_for_function(f"window.jitsiPy.view.conference.bridge.extra.onStage === '{bob_nick}-v1'")
            await bob.keyboard.press("d")
            await on_stage.wait_for(state="detached")
            # another microphone from the settings dialog: the sender's track changes, the session stays
            before = await alice.evaluate(SENT_AUDIO_TRACK)
            await alice.get_by_test_id("toolbar-more").click()
            await alice.get_by_test_id("toolbar-settings").click()
            select = alice.get_by_test_id("device-audioinput")
            await select.wait_for()  # the dialog opens once the devices are listed
            options = await select.locator("option").evaluate_all("os => os.map(o => o.value)")
            current = await select.input_value()
            other = next(value for value in options if value != current)
            await select.select_option(other)
            await alice.wait_for_function(f"({SENT_AUDIO_TRACK})().sent !== '{before['sent']}'")
            after = await alice.evaluate(SENT_AUDIO_TRACK)
            assert after["sent"] == after["ours"] and after["nick"] == before["nick"], (before, after)
            assert await alice.evaluate("JSON.parse(localStorage.getItem('jitsi-py-devices')).audioinput") == other
            # another speaker: the others' voices play there
            speakers = alice.get_by_test_id("device-audiooutput")
            outputs = await speakers.locator("option").evaluate_all("os => os.map(o => o.value)")
            in_use = await speakers.input_value()
            speaker = next(value for value in outputs if value != in_use)
            await speakers.select_option(speaker)
            await alice.wait_for_function(
                f"[...document.querySelectorAll('[data-testid=remote-audio]')].every(a => a.sinkId === '{speaker}')"
                " && document.querySelectorAll('[data-testid=remote-audio]').length > 0")
            # and the name, seen by the others
            await alice.get_by_test_id("settings-name").fill("Alice Cooper")
            await alice.get_by_test_id("settings-save").click()
            await tile_of(bob, "Alice Cooper").wait_for()
            assert alice.problems == [] and bob.problems == [], (alice.problems, bob.problems)
        finally:
            await browser.close()


# The page's devices answer only when the test says so (`window.releaseDevices()`).
HELD_DEVICES = """(() => {
    const ask = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    let release;
    const released = new Promise(resolve => { release = resolve; });
    window.releaseDevices = release;
    navigator.mediaDevices.getUserMedia = constraints => released.then(() => ask(constraints));
})()"""


async def test_joining_before_the_devices_answer_receives_at_once_and_sends_when_they_do(tmp_path):
    """Joining does not wait for the camera and microphone: the meeting's video plays while they
    have not answered, and once they do, our tracks are added to the running session."""
    async with our_stack(tmp_path, bridge=True) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            alice = await join_browser(browser, base, "Alice")
            context = await browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 720})
            context.set_default_timeout(LOADED_MACHINE_TIMEOUT_MS)
            await context.add_init_script(HELD_DEVICES)
            bob = await context.new_page()
            await bob.goto(base + "/standup")
            await bob.get_by_test_id("prejoin-name").fill("Bob")
            await bob.get_by_test_id("prejoin-join").click()
            await bob.wait_for_function(REMOTE_PLAYING)
            assert await bob.evaluate("window.jitsiPy.view.conference.session.pc.getSenders()"
                                      ".filter(s => s.track).length") == 0
            bob_tile = tile_of(alice, "Bob")
            await bob_tile.locator(".avatar").wait_for()
            await bob.evaluate("window.releaseDevices()")
            await alice.wait_for_function(REMOTE_PLAYING)
            assert await bob_tile.locator(".avatar").is_hidden()
            await bob.wait_for_function(
                "document.querySelector('[data-testid=local-tile] video')?.videoWidth > 0")
            assert alice.problems == [], alice.problems
        finally:
            await browser.close()


async def test_breakout_rooms_av_moderation_and_ending_the_meeting(tmp_path):
    async with our_stack(tmp_path) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            alice = await join_browser(browser, base, "Alice")
            await alice.wait_for_function("window.jitsiPy?.view?.conference?.role === 'moderator'")
            bob = await join_browser(browser, base, "Bob")
            await tile_of(alice, "Bob").wait_for()
            for page in (alice, bob):
                await page.get_by_test_id("toolbar-participants-pane").click()
            await alice.get_by_test_id("add-breakout-room").click()
            # Bob goes into the room himself: out of the main room, the title says where he is
            await bob.get_by_test_id("breakout-room").filter(has_text="Room 1").get_by_test_id("breakout-join").click()
            await bob.get_by_test_id("meeting-title").filter(has_text="Room 1").wait_for()
            await bob.wait_for_function("window.jitsiPy.view.conference.roomJid.includes('@breakout.')")
            await tile_of(alice, "Bob").wait_for(state="detached")
            await alice.get_by_test_id("breakout-room").filter(has_text="Room 1 (1)").wait_for()
            # closing the room brings him back
            room_1 = alice.get_by_test_id("breakout-room").filter(has_text="Room 1")
            await room_1.get_by_test_id("breakout-close").click()
            await tile_of(alice, "Bob").wait_for()
            await bob.get_by_test_id("meeting-title").filter(has_text="standup").wait_for()
            assert await bob.evaluate("window.jitsiPy.view.conference.roomJid") == "standup@muc.meet.jitsi"
            # the moderator moves him; he comes back by himself
            await alice.get_by_test_id("add-breakout-room").click()
            room_2 = alice.get_by_test_id("breakout-room").filter(has_text="Room 2")
            await room_2.get_by_test_id("breakout-rename").click()
            await alice.get_by_test_id("breakout-name").fill("Design corner")
            await alice.get_by_test_id("breakout-rename-save").click()
            await bob.get_by_test_id("breakout-room").filter(has_text="Design corner").wait_for()
            move = alice.get_by_test_id("participant-item").filter(has_text="Bob").get_by_test_id("move-participant")
            await move.select_option(label="Design corner")
            await bob.get_by_test_id("meeting-title").filter(has_text="Design corner").wait_for()
            await bob.get_by_test_id("breakout-leave").click()
            await tile_of(alice, "Bob").wait_for()
            # A/V moderation: Bob's unmute becomes a raised hand until Alice allows it
            await bob.keyboard.press("m")
            await tile_of(alice, "Bob").get_by_test_id("badge-audio-muted").wait_for()
            await alice.get_by_test_id("toggle-av-moderation").click()
            await bob.get_by_test_id("error-message").filter(has_text="must now allow you to unmute").wait_for()
            await bob.keyboard.press("m")
            await bob.get_by_test_id("error-message").filter(has_text="has to allow you to unmute").wait_for()
            assert await bob.evaluate("window.jitsiPy.view.conference.muted.audio") is True
            await bob.get_by_test_id("error-message").filter(has_text="allow you to start your camera").wait_for()
            allow = alice.get_by_test_id("participant-item").filter(has_text="Bob").get_by_test_id("av-allow")
            await allow.click()
            await bob.get_by_test_id("toast").filter(has_text="allowed you to unmute").wait_for()
            await bob.keyboard.press("m")
            await tile_of(alice, "Bob").get_by_test_id("badge-audio-muted").wait_for(state="detached")
            await bob.keyboard.press("v")
            await tile_of(alice, "Bob").get_by_test_id("badge-video-muted").wait_for()
            await bob.keyboard.press("v")
            await tile_of(alice, "Bob").get_by_test_id("badge-video-muted").wait_for(state="detached")
            # the moderator ends the meeting for everyone
            await alice.get_by_test_id("toolbar-more").click()
            await alice.get_by_test_id("toolbar-end-meeting").click()
            for page in (alice, bob):
                await page.get_by_test_id("leave-heading").filter(has_text="The meeting has ended").wait_for()
            assert bob.problems == [], bob.problems
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def moderator_with_a_recorder(tmp_path, **env: str):
    """Our stack with recording and live streaming on, one recorder, and Alice in Chromium as the
    meeting's moderator; yields (stack, Alice's page)."""
    async with recording_stack(tmp_path, ENABLE_LIVESTREAMING="1", **env) as stack, \
            recorder(stack.settings), async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            alice = await join_browser(browser, stack.base, "Alice")
            await alice.wait_for_function("window.jitsiPy?.view?.conference?.role === 'moderator'")
            yield stack, alice
            assert alice.problems == [], alice.problems
        finally:
            await browser.close()


async def from_the_menu(page, item: str, label: str) -> None:
    await page.get_by_test_id("toolbar-more").click()
    await page.get_by_test_id(f"toolbar-{item}").filter(has_text=label).click()


async def test_recording_and_live_streaming_from_the_more_menu(tmp_path):
    """ENABLE_RECORDING with our recorder: the moderator starts a recording from the menu, the
    header says so while the recorder (hidden, no tile) records, and stopping it frees the recorder;
    a live stream that cannot reach its RTMP server is reported."""
    recordings = tmp_path / "recordings"
    async with moderator_with_a_recorder(tmp_path, JIBRI_RECORDING_DIR=str(recordings),
                                         JIBRI_REQUEST_RETRIES="0") as (stack, alice):
        await from_the_menu(alice, "recording", "Start recording")
        badge = alice.get_by_test_id("recording-indicator")
        await badge.filter(has_text="Recording").wait_for()
        await alice.get_by_test_id("toast").filter(has_text="being recorded").wait_for()
        assert await alice.locator("[data-testid=remote-tile]").count() == 0
        await from_the_menu(alice, "recording", "Stop recording")
        await badge.wait_for(state="hidden")
        await idle(stack.settings)
        assert list(recordings.glob("*/*.mp4")), list(recordings.rglob("*"))
        # a live stream to where no RTMP server listens: asked for in a dialog, its failure told in words
        await from_the_menu(alice, "livestreaming", "Start live streaming")
        await alice.get_by_test_id("stream-key").fill(f"rtmp://127.0.0.1:{free_port()}/live/nobody-listens")
        await alice.get_by_test_id("stream-start").click()
        await alice.get_by_test_id("error-message").filter(has_text="The live stream stopped").wait_for()
        await badge.wait_for(state="hidden")
        await idle(stack.settings)


async def test_a_live_stream_started_from_the_dialog_reaches_an_rtmp_server_until_stopped(tmp_path):
    """The moderator streams to an rtmp:// URL of an nginx-rtmp server on loopback: a URL the recorder
    could not use is refused in the dialog, the header says Live once the recorder streams, ffprobe
    plays H.264 video and AAC audio from nginx meanwhile, and stopping ends the stream."""
    with NginxRtmp(tmp_path) as server:
        async with moderator_with_a_recorder(tmp_path, JIBRI_RECORDING_RESOLUTION="320x180",
                                             JIBRI_RECORDING_FRAMERATE="15") as (stack, alice):
            await from_the_menu(alice, "livestreaming", "Start live streaming")
            # config.js's liveStreaming links (docker's defaults)
            assert await alice.get_by_test_id("stream-termsLink").get_attribute("href") == "https://www.youtube.com/t/terms"
            key = alice.get_by_test_id("stream-key")
            await key.fill("https://127.0.0.1/live/webkey")
            await alice.get_by_test_id("stream-start").click()
            await alice.get_by_test_id("stream-hint").filter(has_text="Only rtmp://").wait_for()
            await key.fill(server.url("webkey"))
            await alice.get_by_test_id("stream-start").click()
            live = alice.locator("[data-testid=recording-indicator][data-status=on]")
            await live.filter(has_text="Live").wait_for()
            await alice.get_by_test_id("toast").filter(has_text="being streamed").wait_for()
            assert await live_streams(server.url("webkey")) == {"video": "h264", "audio": "aac"}
            await from_the_menu(alice, "livestreaming", "Stop live streaming")
            await alice.get_by_test_id("recording-indicator").wait_for(state="hidden")
            await alice.get_by_test_id("toast").filter(has_text="The live stream has stopped").wait_for()
            await idle(stack.settings)
        flv = server.recording("webkey")
    info = probe(flv)
    assert (info["video"], info["audio"], info["width"], info["height"]) == ("h264", "aac", 320, 180)
