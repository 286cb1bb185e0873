"""Probing, live: Chromium receives the bridge's probes (retransmissions and padding on the RTX
stream it was told about) and its transport-cc feedback counts them, so an estimate pushed far
down climbs back while the video keeps decoding.

The harness is ``test_browser.py``'s; the offer here also carries each remote source's RTX SSRC
(its FID group), as jicofo's source-add does.
"""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from . import test_browser
from .test_browser import ARGS, CHROMIUM, PAGE_JS, Participant, page_server, wait_for  # noqa: F401 (fixture)

pytestmark = pytest.mark.system


def offer_with_rtx(rtx_of: dict[int, int]):
    plain = test_browser.offer

    def offer(transport, remotes, version, sctp=True):
        sdp = plain(transport, remotes, version, sctp)
        for name, ssrc in remotes:
            rtx = rtx_of[ssrc]
            anchor = f"a=ssrc:{ssrc} msid:{name} {name}-track\r\n"
            sdp = sdp.replace(anchor, anchor + f"a=ssrc:{rtx} cname:{name}\r\na=ssrc:{rtx} msid:{name} {name}-track\r\n"
                              f"a=ssrc-group:FID {ssrc} {rtx}\r\n")
        return sdp
    return offer


async def test_chromium_counts_the_probes_and_the_estimate_climbs_back(bridge, page_server, monkeypatch):
    rtx_of: dict[int, int] = {}
    monkeypatch.setattr(test_browser, "offer", offer_with_rtx(rtx_of))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            people = []
            for i, name in enumerate(("ann", "ben")):
                page = await (await browser.new_context()).new_page()
                await page.goto(page_server)
                await page.evaluate(PAGE_JS)
                await page.evaluate("room.start()")
                person = Participant(bridge, page, name, "sctp")
                person.allocate(create=i == 0)
                await page.evaluate("room.openSctp()")
                person.signal(await person.negotiate([]), first=True)
                rtx_of[person.ssrcs[0]] = person.ssrcs[3]
                people.append(person)
            ann, ben = people
            ann.signal(await ann.negotiate([("ben-v0", ben.ssrcs[0])]), first=False)
            await wait_for(lambda: ann.page.evaluate("room.ready()"), 20, "the bridge channel")
            await ann.page.evaluate("room.send({colibriClass: 'ReceiverVideoConstraints', lastN: -1, "
                                    "onStageSources: ['ben-v0'], constraints: {'ben-v0': {maxHeight: 720}}})")
            conference = next(iter(bridge.conferences.values()))
            receiver = conference.endpoints["ann"].receiver

            async def decoding(at_least=10):
                stats = await ann.inbound()
                return stats and all(s["frames"] >= at_least for s in stats.values())
            await wait_for(decoding, 40, "ann to decode ben", people, bridge)
            await wait_for(lambda: _true(receiver.bwe.known and receiver.ideal_bitrate > 0), 10,
                           "ann's estimate", people, bridge)

            forced = receiver.ideal_bitrate / 4  # as after a sharp drop: far below what ann wants
            lost = receiver.bwe.packets_lost
            receiver.bwe.estimate = forced
            conference.forwarder.check_layers()
            assert receiver.target_bitrate < receiver.ideal_bitrate
            frames = max(s["frames"] for s in (await ann.inbound()).values())

            async def back_to_ideal():
                return receiver.bwe.estimate > 2 * forced and receiver.target_bitrate >= receiver.ideal_bitrate
            await wait_for(back_to_ideal, 45, "ann's allocation back to its ideal with probing", people, bridge)
            prober = conference.forwarder._probers["ann"]
            assert prober.packets_sent > 50
            assert receiver.bwe.packets_lost - lost < prober.packets_sent / 100  # Chromium counted them
            await wait_for(lambda: decoding(frames + 30), 20, "ann to keep decoding ben", people, bridge)
            assert bridge.counters.srtp_rejected == 0
        finally:
            await browser.close()


async def _true(value) -> bool:
    return bool(value)
