"""ENABLE_AUTO_LOGIN, logging in during a meeting, and logging out, with our client in Chromium
on our XMPP server, focus and web service (internal auth with guests).

A user who logged in gets a focus session that this browser keeps: back later, on the guest
domain, they are recognised as the host without a password while the focus keeps the session
(ENABLE_AUTO_LOGIN=1), and wait for a host like any guest when it ended with the conference
(ENABLE_AUTO_LOGIN=0). A guest in the meeting logs in and becomes a moderator. Logging out ends
the session and leaves the meeting.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from playwright.async_api import async_playwright

from ..support.stack import our_stack
from .test_auth_flow import log_in, register
from .test_browser import CHROMIUM, CHROMIUM_ARGS, LOADED_MACHINE_TIMEOUT_MS

pytestmark = [pytest.mark.system, pytest.mark.browser]

GUESTS = {"ENABLE_AUTH": "1", "AUTH_TYPE": "internal", "ENABLE_GUESTS": "1"}
SESSION = "localStorage.getItem('jitsi-py-session-id')"
MODERATOR = "window.jitsiPy?.view?.conference?.role === 'moderator'"


async def browser_context(browser):
    """One browser profile: its localStorage (machine uid, focus session) outlives its pages."""
    context = await browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 720})
    context.set_default_timeout(LOADED_MACHINE_TIMEOUT_MS)
    return context


async def join(page, url: str, name: str) -> None:
    await page.goto(url)
    await page.get_by_test_id("prejoin-name").fill(name)
    await page.get_by_test_id("prejoin-join").click()


async def leave(page) -> None:
    await page.get_by_test_id("toolbar-hangup").click()
    await page.get_by_test_id("leave-page").wait_for()


@asynccontextmanager
async def host_came_and_left(tmp_path, auto_login: str):
    """Our stack and Chromium; the host logged in (?login=true skips the guest domain), started the
    meeting, and left it, which ended the conference. Yields the base URL, the browser and the
    host's page."""
    register(tmp_path, "host", "host-password")
    async with our_stack(tmp_path, **GUESTS, ENABLE_AUTO_LOGIN=auto_login) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            host = await (await browser_context(browser)).new_page()
            await join(host, base + "/standup?login=true", "Host")
            await log_in(host, "host", "host-password")
            await host.wait_for_function(MODERATOR)
            await host.get_by_test_id("toolbar-logout").wait_for()
            assert await host.get_by_test_id("toolbar-login").count() == 0
            assert await host.evaluate(SESSION)
            await leave(host)
            yield base, browser, host
        finally:
            await browser.close()


async def test_a_returning_user_is_recognised_a_guest_logs_in_and_logging_out_ends_it(tmp_path):
    register(tmp_path, "carol", "carol-password")
    async with host_came_and_left(tmp_path, auto_login="1") as (base, browser, host):
        # back: a guest connection, no prompt, and the host again
        await join(host, base + "/standup", "Host")
        await host.wait_for_function(MODERATOR)
        assert "@guest.meet.jitsi/" in await host.evaluate("window.jitsiPy.view.connection.core.jid")
        assert await host.get_by_test_id("login-dialog").count() == 0
        assert await host.get_by_test_id("wait-for-host").count() == 0
        await host.get_by_test_id("toolbar-logout").wait_for()

        # a guest in the meeting logs in and becomes a moderator
        guest = await (await browser_context(browser)).new_page()
        await join(guest, base + "/standup", "Carol")
        await guest.wait_for_function("window.jitsiPy?.view?.conference?.role === 'participant'")
        await guest.get_by_test_id("toolbar-login").click()
        await log_in(guest, "carol", "wrong")
        await guest.get_by_test_id("login-error").filter(has_text="wrong").wait_for()
        await log_in(guest, "carol", "carol-password")
        await guest.wait_for_function(MODERATOR)
        await guest.get_by_test_id("toolbar-logout").wait_for()
        await host.get_by_test_id("participant-item").filter(has_text="Carol (host)").wait_for(state="attached")
        assert await guest.evaluate("window.jitsiPy.view.conference.auth.identity") == "carol@meet.jitsi"

        # logging out ends the session and leaves; back, Carol is a guest again
        await guest.get_by_test_id("toolbar-logout").click()
        await guest.get_by_test_id("logout-confirm").click()
        await guest.get_by_test_id("leave-reason").filter(has_text="logged out").wait_for()
        assert await guest.evaluate(SESSION) is None
        await join(guest, base + "/standup", "Carol")
        await guest.wait_for_function("window.jitsiPy?.view?.conference?.role === 'participant'")
        await guest.get_by_test_id("toolbar-login").wait_for()
        await leave(guest)

        # the host logs out too; with the meeting over, back they wait for a host
        await host.get_by_test_id("toolbar-logout").click()
        await host.get_by_test_id("logout-confirm").click()
        await host.get_by_test_id("leave-page").wait_for()
        await join(host, base + "/standup", "Host")
        await host.get_by_test_id("wait-for-host").wait_for()


async def test_without_auto_login_the_session_ends_with_the_conference(tmp_path):
    async with host_came_and_left(tmp_path, auto_login="0") as (base, _browser, host):
        # the focus forgot the session with the conference: dropped, and the host is asked
        await join(host, base + "/standup", "Host")
        await host.get_by_test_id("wait-for-host").wait_for()
        assert await host.evaluate(SESSION) is None
        await host.get_by_test_id("wait-for-host-login").click()
        await log_in(host, "host", "host-password")
        await host.wait_for_function(MODERATOR)
