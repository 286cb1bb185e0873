"""BOSH overactivity (XEP-0124 §11, §12) and the c2s read rate limit over BOSH, at the byte level."""

from __future__ import annotations

import asyncio
import base64
import re

import aiohttp
import pytest

BODY = "<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' {attrs}>{children}</body>"
BIND = '<iq type="set" id="b" xmlns="jabber:client"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>'
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"


@pytest.fixture
def settings_values() -> dict[str, str]:
    # a low rate, so the 64 KiB burst is what a test has to go past
    return {"PROSODY_C2S_LIMIT": "1kb/s"}


class Bosh:
    """One BOSH session driven request by request, as a test wants it."""

    def __init__(self, http: aiohttp.ClientSession, server) -> None:
        self.http = http
        self.url = f"http://127.0.0.1:{server.listening.http_port}/http-bind"
        self.sid = ""
        self.rid = 1000
        self.jid = ""

    async def post(self, children: str = "", attrs: str = "") -> str:
        self.rid += 1
        head = f"rid='{self.rid}'" + (f" sid='{self.sid}'" if self.sid else "") + attrs
        async with self.http.post(self.url, data=BODY.format(attrs=head, children=children)) as response:
            assert response.status == 200
            return await response.text()

    async def login(self, hold: int, wait: int = 60, auth: str = "<auth xmlns='%s' mechanism='ANONYMOUS'/>" % SASL,
                    domain: str = "meet.jitsi"):
        created = await self.post(attrs=f" to='{domain}' wait='{wait}' hold='{hold}' xmpp:version='1.0'")
        self.sid = re.search(r'sid="([^"]+)"', created).group(1)
        assert 'polling="5"' in created
        assert "<success" in await self.post(auth)
        assert "xmpp-bind" in await self.post(attrs=f" xmpp:restart='true' to='{domain}'")
        self.jid = re.search(r"<jid>([^<]+)</jid>", await self.post(BIND)).group(1)
        return self


def ended_with_policy_violation(answer: str) -> bool:
    return 'type="terminate"' in answer and 'condition="policy-violation"' in answer


async def test_polling_session_polling_again_at_once_after_an_empty_answer_is_overactive(server):
    async with aiohttp.ClientSession() as http:
        bystander = await Bosh(http, server).login(hold=0)
        poller = await Bosh(http, server).login(hold=0)
        assert await poller.post() == await bystander.post()  # empty answers at once: nothing to say
        answer = await poller.post()
        assert ended_with_policy_violation(answer)
        assert poller.jid not in server.router.sessions
        # that session only
        assert bystander.jid in server.router.sessions
        assert 'type="terminate"' not in await bystander.post("<presence xmlns='jabber:client'/>")


async def test_a_second_empty_request_while_one_is_held_is_overactive(server):
    async with aiohttp.ClientSession() as http:
        client = await Bosh(http, server).login(hold=1)
        held = asyncio.ensure_future(client.post())
        await asyncio.sleep(0.2)
        assert not held.done()
        assert ended_with_policy_violation(await client.post())
        assert ended_with_policy_violation(await asyncio.wait_for(held, 5))
        assert client.jid not in server.router.sessions


async def test_a_strophe_style_long_poll_cycle_is_never_overactive(server):
    async with aiohttp.ClientSession() as http:
        # wait=1, shorter than polling, so held requests also run out and are asked again at once
        client = await Bosh(http, server).login(hold=1, wait=1)
        message = f"<message xmlns='jabber:client' to='{client.jid}'><body>%d</body></message>"
        for turn in range(4):
            held = asyncio.ensure_future(client.post())  # one empty request held, as Strophe keeps it
            await asyncio.sleep(0.05)
            # a stanza while the empty one is held: the held one is answered early, with the echo
            sent = await client.post(message % turn)
            answers = sent + await asyncio.wait_for(held, 5)
            assert 'type="terminate"' not in answers and f"<body>{turn}</body>" in answers
            # nothing out: poll again at once, and again when the held one runs out empty
            for _ in range(2):
                answer = await client.post()
                assert 'type="terminate"' not in answer
        assert client.jid in server.router.sessions


async def test_an_empty_request_overtaken_by_the_next_one_is_not_overactive(server):
    async with aiohttp.ClientSession() as http:
        client = await Bosh(http, server).login(hold=1)
        client.rid += 1  # the stanza (rid + 2) reaches the server before the empty poll (rid + 1)
        sent = asyncio.ensure_future(client.post(f"<message xmlns='jabber:client' to='{client.jid}'><body>hi</body>"
                                                 "</message>"))
        await asyncio.sleep(0.2)
        client.rid -= 2
        answers = await client.post() + await asyncio.wait_for(sent, 5)
        assert 'type="terminate"' not in answers and "<body>hi</body>" in answers
        assert client.jid in server.router.sessions


async def _flood(client: Bosh) -> str:
    chunk = "x" * 30_000
    answer = ""
    for _turn in range(4):  # 120 kB against a 64 kB burst at 1 kB/s
        answer = await client.post(f"<message xmlns='jabber:client' to='nobody@meet.jitsi'><body>{chunk}</body>"
                                   "</message>")
        if 'type="terminate"' in answer:
            break
    return answer


async def test_a_bosh_client_past_the_read_rate_limit_is_cut_off(server):
    async with aiohttp.ClientSession() as http:
        client = await Bosh(http, server).login(hold=1)
        assert ended_with_policy_violation(await _flood(client))
        assert client.jid not in server.router.sessions


async def test_service_accounts_are_not_rate_limited_over_bosh(server):
    async with aiohttp.ClientSession() as http:
        plain = base64.b64encode(b"\0focus\0focus-secret").decode()
        client = await Bosh(http, server).login(
            hold=1, auth=f"<auth xmlns='{SASL}' mechanism='PLAIN'>{plain}</auth>", domain="auth.meet.jitsi")
        assert client.jid.startswith("focus@auth.meet.jitsi/")
        assert 'type="terminate"' not in await _flood(client)
        assert client.jid in server.router.sessions
