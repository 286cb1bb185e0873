"""The browser client's logins with ENABLE_AUTH, on our XMPP server, focus and web service.

internal + guests: a guest who comes first waits for the host; the host logs in through the
prompt (a wrong password first is refused in words), the meeting starts and the waiting guest
joins by itself; ?login=true logs in without passing through the guest domain. internal and
ldap without guests: the login prompt comes before anything else. jwt: the page's ?jwt= reaches
the XMPP server as ?token= and the token's user name is what others see; without a token the page
goes to TOKEN_AUTH_URL, or, with guests, waits for a token holder to start the meeting.
"""

from __future__ import annotations

import io
import time

import jwt
import pytest
from PIL import Image
from playwright.async_api import async_playwright

from jitsi_py.settings import Settings
from jitsi_py.xmpp.accounts import AccountStore, store_path

from ..support.stack import our_stack
from ..xmpp.auth.conftest import SUFFIX, slapd  # noqa: F401 (slapd is a fixture)
from .conftest import free_port
from .test_browser import CHROMIUM, CHROMIUM_ARGS, LOADED_MACHINE_TIMEOUT_MS

pytestmark = [pytest.mark.system, pytest.mark.browser]

AUTH = {"ENABLE_AUTH": "1", "AUTH_TYPE": "internal"}
SECRET = "a-long-enough-shared-secret-for-hs256"


def register(tmp_path, username: str, password: str, domain: str = "meet.jitsi") -> None:
    store = AccountStore(store_path(Settings.from_values({"CONFIG": str(tmp_path / "cfg")})))
    try:
        store.set_password(username, domain, password)
    finally:
        store.close()


async def open_room(browser, url: str, name: str | None):
    context = await browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 720})
    context.set_default_timeout(LOADED_MACHINE_TIMEOUT_MS)
    await serve_avatars(context)
    page = await context.new_page()
    await page.goto(url)
    if name is not None:
        await page.get_by_test_id("prejoin-name").fill(name)
    await page.get_by_test_id("prejoin-join").click()
    return page


async def log_in(page, username: str, password: str) -> None:
    dialog = page.get_by_test_id("login-dialog")
    await dialog.get_by_test_id("login-username").fill(username)
    await dialog.get_by_test_id("login-password").fill(password)
    await dialog.get_by_test_id("login-submit").click()


async def test_guest_waits_until_the_host_logs_in(tmp_path):
    register(tmp_path, "host", "right-password")
    async with our_stack(tmp_path, **AUTH, ENABLE_GUESTS="1") as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            guest = await open_room(browser, base + "/standup", "Guest")
            waiting = guest.get_by_test_id("wait-for-host")
            await waiting.wait_for()
            assert "waiting for the host" in (await waiting.inner_text()).lower()
            assert await guest.evaluate("window.jitsiPy") is None  # not in the meeting yet
            host = await open_room(browser, base + "/standup", "Host")
            await host.get_by_test_id("wait-for-host-login").click()
            await log_in(host, "host", "wrong-password")
            error = host.get_by_test_id("login-error")
            await error.wait_for()
            assert "wrong" in (await error.inner_text()).lower()
            await log_in(host, "host", "right-password")
            await host.wait_for_function("window.jitsiPy?.view?.conference?.role === 'moderator'")
            await guest.wait_for_function("window.jitsiPy?.view?.conference?.role === 'participant'")
            assert await guest.get_by_test_id("wait-for-host").count() == 0
            await host.get_by_test_id("participant-item").filter(has_text="Guest").wait_for(state="attached")
            await guest.get_by_test_id("participant-item").filter(has_text="Host").wait_for(state="attached")
            assert (await host.evaluate("window.jitsiPy.view.connection.core.jid")).startswith("host@meet.jitsi/")
            # ?login=true skips the guest domain: the login prompt comes at once
            again = await open_room(browser, base + "/standup?login=true", "Host again")
            await log_in(again, "host", "right-password")
            await again.wait_for_function("window.jitsiPy?.view?.conference?.role === 'moderator'")
        finally:
            await browser.close()


@pytest.mark.parametrize("transport", ["websocket", "bosh"])
async def test_without_guests_the_login_prompt_comes_first(tmp_path, transport):
    register(tmp_path, "alice", "secret-1")
    env = {"ENABLE_XMPP_WEBSOCKET": "0"} if transport == "bosh" else {}
    async with our_stack(tmp_path, **AUTH, **env) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await open_room(browser, base + "/planning", "Alice")
            await log_in(page, "alice", "not-it")
            await page.get_by_test_id("login-error").filter(has_text="wrong").wait_for()
            await log_in(page, "alice", "secret-1")
            await page.wait_for_function("window.jitsiPy?.view?.conference?.role === 'moderator'")
            assert (await page.evaluate("window.jitsiPy.view.connection.core.jid")).startswith("alice@meet.jitsi/")
            assert await page.evaluate("window.jitsiPy.view.connection.transportName") == transport
        finally:
            await browser.close()


async def test_ldap_login_through_the_prompt(tmp_path, slapd):  # noqa: F811
    env = {"ENABLE_AUTH": "1", "AUTH_TYPE": "ldap", "LDAP_URL": slapd["plain"], "LDAP_BASE": f"ou=people,{SUFFIX}"}
    async with our_stack(tmp_path, **env) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await open_room(browser, base + "/directory", "Mireille")
            await log_in(page, "mireille", "wrong")
            await page.get_by_test_id("login-error").filter(has_text="wrong").wait_for()
            await log_in(page, "mireille", "correct horse")
            await page.wait_for_function("window.jitsiPy?.view?.conference?.role === 'moderator'")
            assert (await page.evaluate("window.jitsiPy.view.connection.core.jid")).startswith("mireille@meet.jitsi/")
        finally:
            await browser.close()
    # the directory is down: the prompt says so in words, nothing hangs
    env["LDAP_URL"] = f"ldap://127.0.0.1:{free_port()}"
    async with our_stack(tmp_path, **env) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await open_room(browser, base + "/directory", "Mireille")
            await log_in(page, "mireille", "correct horse")
            await page.get_by_test_id("login-error").filter(has_text="not available").wait_for()
        finally:
            await browser.close()


AVATAR = "https://avatars.example/carol.png"  # answered by the test (see serve_avatars)


async def serve_avatars(context) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 40, 40)).save(buffer, format="PNG")
    await context.route("https://avatars.example/**",
                        lambda route: route.fulfill(body=buffer.getvalue(), content_type="image/png"))


def token(name: str, **user: str) -> str:
    now = int(time.time())
    claims = {"iss": "jitsi-py-test", "aud": "jitsi", "sub": "meet.jitsi", "room": "*", "nbf": now - 10,
              "exp": now + 3600, "context": {"user": {"name": name, "id": name.lower(), **user}}}
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def test_jwt_from_the_page_url_names_the_user(tmp_path):
    env = {"ENABLE_AUTH": "1", "AUTH_TYPE": "jwt", "JWT_APP_ID": "jitsi-py-test", "JWT_APP_SECRET": SECRET,
           "TOKEN_AUTH_URL": "https://login.example/auth?room={room}"}
    async with our_stack(tmp_path, **env) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            carol = await open_room(browser, f"{base}/review?jwt={token('Carol Token', avatar=AVATAR)}", None)
            await carol.wait_for_function("window.jitsiPy?.view?.conference?.role")
            dave = await open_room(browser, f"{base}/review?jwt={token('Dave')}", "Dave")
            await dave.wait_for_function("window.jitsiPy?.view?.conference?.role")
            await dave.locator("[data-testid=remote-tile]").filter(has_text="Carol Token").wait_for()
            await dave.get_by_test_id("participant-item").filter(has_text="Carol Token").wait_for(state="attached")
            # the token's avatar is Carol's picture, where her camera would be (no bridge here)
            await dave.wait_for_function(
                "[...document.querySelectorAll('[data-testid=remote-tile] .avatar img')]"
                ".some(i => i.naturalWidth === 4)")
            await carol.wait_for_function(
                "document.querySelector('[data-testid=local-tile] .avatar img')?.src === " + repr(AVATAR))
            # no token: off to the login page, with the room in its URL
            context = await browser.new_context(ignore_https_errors=True)
            page = await context.new_page()
            await page.route("https://login.example/**", lambda route: route.fulfill(body="login page"))
            await page.goto(base + "/review")
            await page.get_by_test_id("prejoin-join").click()
            await page.wait_for_url("https://login.example/auth?room=review", timeout=LOADED_MACHINE_TIMEOUT_MS)
        finally:
            await browser.close()


async def test_jwt_with_guests_the_guest_waits_for_a_token_holder(tmp_path):
    env = {"ENABLE_AUTH": "1", "AUTH_TYPE": "jwt", "ENABLE_GUESTS": "1", "JWT_APP_ID": "jitsi-py-test",
           "JWT_APP_SECRET": SECRET, "TOKEN_AUTH_URL": "https://login.example/auth?room={room}"}
    async with our_stack(tmp_path, **env) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            guest = await open_room(browser, base + "/review", "Guest")
            await guest.get_by_test_id("wait-for-host").wait_for()
            # "I am the host" without a token leads to the token login page
            other = await open_room(browser, base + "/review", "Would-be host")
            await other.route("https://login.example/**", lambda route: route.fulfill(body="login page"))
            await other.get_by_test_id("wait-for-host-login").click()
            await other.wait_for_url("https://login.example/auth?room=review")
            host = await open_room(browser, f"{base}/review?jwt={token('Erin')}", None)
            await host.wait_for_function("window.jitsiPy?.view?.conference?.role === 'moderator'")
            await guest.wait_for_function("window.jitsiPy?.view?.conference?.role === 'participant'")
            await guest.get_by_test_id("participant-item").filter(has_text="Erin").wait_for(state="attached")
        finally:
            await browser.close()
