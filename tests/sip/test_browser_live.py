"""Our web client with the SIP gateway on: the invite dialog shows the dial-in number and the room's
PIN, a moderator of a room locked with a password calls a phone from it (the Rayo dial carries the
password for the gateway to join with; baresip answers), and the phone appears as a caller on the
phone with the call's progress; hung up from its tile, the phone's call ends and the caller leaves."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import async_playwright

from jitsi_py.sip import run as run_sip
from jitsi_py.web.dialin import pin_of

from ..support.stack import free_port, free_rtp_port, free_udp_port, join_browser, running_stack
from ..web.test_browser import CHROMIUM, CHROMIUM_ARGS
from .phone import Phone, free_sip_port, write_tone
from .sipp import BYE_IN_30_S, SIPP_CALL, sipp_answers, sipp_phone

pytestmark = [pytest.mark.system, pytest.mark.browser]

# SIPp calls the locked room; its SDP has no telephone-event, so the 5 typed on the dial pad comes to it
# as a SIP INFO application/dtmf-relay, which it checks and answers 200; then it waits for our BYE.
SIPP_TAKES_AN_INFO_DIGIT = SIPP_CALL.format(
    room="phonebook", headers="Jitsi-Conference-Room-Pass: s3cret\n",
    then=sipp_answers("INFO", action='<ereg regexp="application/dtmf-relay" search_in="hdr" header="Content-Type:" '
                      'check_it="true" assign_to="type"/><ereg regexp="^Signal=5" search_in="body" check_it="true" '
                      'assign_to="signal"/>') + BYE_IN_30_S + '  <Reference variables="type,signal"/>\n')


async def test_the_invite_dialog_shows_the_pin_and_calls_a_phone(tmp_path):
    sip_port, rtp = free_udp_port(), free_rtp_port()
    env = {"JIGASI_SIP_URI": "jigasi@127.0.0.1", "JIGASI_XMPP_PASSWORD": "jigasi-secret",
           "JITSI_PY_SIP_HOST": "127.0.0.1", "JITSI_PY_SIP_PORT": str(sip_port), "JIGASI_PORT_MIN": str(rtp),
           "JIGASI_PORT_MAX": str(rtp + 4), "JITSI_PY_SIP_HTTP_PORT": str(free_port()),
           "JITSI_PY_SIP_HTTP_INTERFACES": "127.0.0.1"}
    # baresip hangs up when its WAV file ends: long enough for the slowest run to finish the call first
    phone = Phone(tmp_path / "phone", free_sip_port(), write_tone(tmp_path / "tone.wav", 1000, 120, rate=8000),
                  account_params=";audio_codecs=pcmu;answermode=auto", events=True)
    async with running_stack(tmp_path, bridge=True, **env) as stack, async_playwright() as pw, phone:
        ready = asyncio.Event()
        service = asyncio.ensure_future(run_sip(stack.settings, lambda _summary: ready.set()))
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = None
        try:
            await asyncio.wait_for(ready.wait(), 20)
            page = await join_browser(browser, stack.base, "Alice", "/phonebook")
            await page.locator("[data-testid=local-tile] [data-testid=badge-moderator]").wait_for()
            await page.get_by_test_id("toolbar-more").click()
            await page.get_by_test_id("toolbar-security").click()
            await page.get_by_test_id("password-input").fill("s3cret")
            await page.get_by_test_id("password-save").click()
            await page.wait_for_function("window.jitsiPy.view.conference.roomInfo?.locked === true")
            await page.get_by_test_id("toolbar-more").click()
            await page.get_by_test_id("toolbar-invite").click()
            pin = pin_of("phonebook@muc.meet.jitsi")
            await page.get_by_test_id("dial-in-pin").filter(has_text=f"{pin}#").wait_for()
            assert await page.get_by_test_id("dial-in-number").all_inner_texts() == ["SIP: jigasi@127.0.0.1"]
            # what is neither a number nor a SIP address is refused in the dialog, which stays open
            await page.get_by_test_id("dial-out-number").fill("call the phone")
            await page.get_by_test_id("dial-out-call").click()
            await page.get_by_test_id("dial-out-error").filter(has_text="not a phone number").wait_for()
            address = f"sip:phone@127.0.0.1:{phone.port}"
            await page.get_by_test_id("dial-out-number").fill(address)
            await page.get_by_test_id("dial-out-call").click()
            await page.get_by_test_id("toast").filter(has_text=f"Calling {address}").wait_for()
            caller = page.locator("[data-testid=remote-tile]").filter(has=page.get_by_test_id("badge-phone"))
            await caller.wait_for()
            await phone.wait_for(b"established", 20)
            await caller.get_by_test_id("badge-call-status").filter(has_text="Connected").wait_for()
            await page.get_by_test_id("toast").filter(has_text=f"{address} answered the call").wait_for()
            assert await caller.get_by_test_id("tile-name").inner_text() == address
            assert await caller.locator(".avatar .icon-phone").count() == 1  # the phone, not initials
            phone_icons = page.locator("[data-testid=participant-item] .icon-phone")
            assert await phone_icons.count() == 1
            # tones from the dial pad reach the phone (RFC 4733 through the bridge and the gateway)
            await caller.get_by_test_id("tile-menu").click()
            await page.get_by_test_id("tile-dial-pad").click()
            await page.get_by_test_id("dial-pad-1").click()
            await page.get_by_test_id("dial-pad-#").click()
            await page.get_by_test_id("dial-pad-typed").filter(has_text="1#").wait_for()
            await phone.wait_event("CALL_DTMF_START", "1", 10)
            await phone.wait_event("CALL_DTMF_START", "#", 10)
            await page.get_by_test_id("dial-pad-dialog-close").click()
            # the moderator hangs up from the caller's tile: the Rayo hangup to its occupant, a BYE
            heard = len(phone.output)
            await caller.get_by_test_id("tile-menu").click()
            await page.get_by_test_id("tile-hangup").click()
            await phone.wait_for(b"session closed", 10, since=heard)
            await caller.wait_for(state="detached")
            # a phone without telephone-event gets the dial pad's digits in SIP INFO
            async with sipp_phone(tmp_path, sip_port, SIPP_TAKES_AN_INFO_DIGIT, "info-dtmf") as sipp:
                await caller.wait_for()
                await caller.get_by_test_id("tile-menu").click()
                await page.get_by_test_id("tile-dial-pad").click()
                await page.get_by_test_id("dial-pad-5").click()
                await sipp.received("INFO sip:+4930555@")
                await page.get_by_test_id("dial-pad-dialog-close").click()
                await caller.get_by_test_id("tile-menu").click()
                await page.get_by_test_id("tile-hangup").click()
                await caller.wait_for(state="detached")
            assert page.problems == []
        except Exception as exc:  # a wait that timed out says little; what the page showed says more
            # (and the phone's side is in phone/baresip.log)
            if page is not None:
                shown = await page.locator("[data-testid=toast], [data-testid=error-message]").all_inner_texts()
                exc.add_note(f"toasts: {shown}; problems: {page.problems}")
            raise
        finally:
            await browser.close()
            service.cancel()
            await asyncio.gather(service, return_exceptions=True)
