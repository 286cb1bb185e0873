"""The allocation's work, live with two Chromium participants (ann receives ben's simulcast):

* probing: Chromium receives the bridge's probes (retransmissions and padding on the RTX stream
  it was told about) and its transport-cc feedback counts them, so an estimate pushed far down
  climbs back while the video keeps decoding;
* frame rate: Chromium's VP8 simulcast has three temporal layers; a receiver's maxFrameRate drops
  the upper ones and the stream, rewritten, keeps decoding at the lower rate.

The harness is ``test_browser.py``'s; the offer here also carries each remote source's RTX SSRC
(its FID group), as jicofo's source-add does.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from playwright.async_api import async_playwright

from . import test_browser
from .test_browser import ARGS, CHROMIUM, PAGE_JS, Participant, wait_for

pytestmark = [pytest.mark.system, pytest.mark.browser]


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


@contextlib.asynccontextmanager
async def ann_receives_ben(bridge, page_server, monkeypatch):
    """ann and ben in one conference; ann has ben's video on stage, up to 720p, and decodes it."""
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
            await wait_for(lambda: decoding(ann, 10), 40, "ann to decode ben", people, bridge)
            yield ann, people, next(iter(bridge.conferences.values()))
        finally:
            await browser.close()


async def decoding(person, at_least: int) -> bool:
    stats = await person.inbound()
    return bool(stats) and all(s["frames"] >= at_least for s in stats.values())


async def frames(person) -> int:
    return max(s["frames"] for s in (await person.inbound()).values())


async def test_chromium_counts_the_probes_and_the_estimate_climbs_back(bridge, page_server, monkeypatch):
    async with ann_receives_ben(bridge, page_server, monkeypatch) as (ann, people, conference):
        receiver = conference.endpoints["ann"].receiver
        projection = receiver.projections["ben-v0"]

        source = conference.forwarder.sources["ben-v0"]

        async def top_layer_flowing():
            # ... at a bitrate well above the lower layers' (a starved encoder may not be yet)
            return receiver.bwe.known and projection.current == projection.target > 0 \
                and receiver.target_bitrate >= receiver.ideal_bitrate \
                and source.bitrate(projection.current) > 1.5 * max(source.bitrate(i) for i in range(projection.current))
        await wait_for(top_layer_flowing, 40, "ben's top layer at ann", people, bridge)
        # As after a drop: the top layer no longer fits (it needs 15 % headroom), a lower one does.
        forced = receiver.ideal_bitrate * 0.8
        lost = receiver.bwe.packets_lost
        receiver.bwe.estimate = forced
        conference.forwarder.check_layers()
        assert receiver.target_bitrate < receiver.ideal_bitrate
        decoded = await frames(ann)

        async def back_to_ideal():
            return receiver.bwe.estimate > forced and receiver.target_bitrate >= receiver.ideal_bitrate
        await wait_for(back_to_ideal, 45, "ann's allocation back to its ideal with probing", people, bridge)
        prober = conference.forwarder._probers["ann"]
        assert prober.packets_sent > 50
        assert receiver.bwe.packets_lost - lost < prober.packets_sent / 100  # Chromium counted them
        await wait_for(lambda: decoding(ann, decoded + 30), 20, "ann to keep decoding ben", people, bridge)
        assert bridge.counters.srtp_rejected == 0


async def test_a_frame_rate_cap_drops_chromiums_upper_temporal_layers(bridge, page_server, monkeypatch):
    async with ann_receives_ben(bridge, page_server, monkeypatch) as (ann, people, conference):
        ben = people[1]
        source = conference.forwarder.sources["ben-v0"]
        projection = conference.endpoints["ann"].receiver.projections["ben-v0"]
        await wait_for(lambda: _true(source.temporal_layers == 3), 10, "ben's temporal layers", people, bridge)

        async def shares_decoded(enough) -> list[float]:
            """ann's decoded frames per frame ben sent on the layer ann gets, per 3 s window
            (counts, not time), until one is ``enough``: a freeze under load (a lost packet, a
            key frame awaited) only lowers a window's share; a window the layer changed in is
            measured again."""
            shares: list[float] = []
            for _ in range(6):
                layer = projection.current
                ssrc = source.layers[layer]
                decoded, sent = await frames(ann), await frames_sent(ben, ssrc)
                await asyncio.sleep(3)
                if projection.current == layer:
                    shares.append((await frames(ann) - decoded) / max(1, await frames_sent(ben, ssrc) - sent))
                    if enough(shares[-1]):
                        break
            return shares

        await ann.page.evaluate("room.send({colibriClass: 'ReceiverVideoConstraints', "
                                "constraints: {'ben-v0': {maxHeight: 720, maxFrameRate: 7.5}}})")
        await wait_for(lambda: _true(projection.max_tid == 0), 5, "the cap at a base-layer frame", people, bridge)
        capped = await shares_decoded(lambda share: share > 0.1)
        assert capped and capped[-1] > 0.1 and max(capped) < 0.4, \
            f"ann decodes {capped} of ben's frames at a 7.5 fps cap (of 30)"
        assert projection.pid_off > 0
        await ann.page.evaluate("room.send({colibriClass: 'ReceiverVideoConstraints', "
                                "constraints: {'ben-v0': {maxHeight: 720}}})")
        await wait_for(lambda: _true(projection.max_tid > 2), 5, "the cap lifted", people, bridge)
        full = await shares_decoded(lambda share: share > 0.8)
        assert full and full[-1] > 0.8, f"ann decodes {full} of ben's frames without a cap"
        assert bridge.counters.srtp_rejected == 0


async def frames_sent(person, ssrc: int) -> int:
    return await person.page.evaluate("""async ssrc => {
        let sent = 0;
        (await room.pc.getStats()).forEach(s => {
            if (s.type === 'outbound-rtp' && s.ssrc === ssrc) sent = s.framesSent; });
        return sent; }""", ssrc)


async def _true(value) -> bool:
    return bool(value)
