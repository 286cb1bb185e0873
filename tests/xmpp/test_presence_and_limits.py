"""Server-kept subscriptions (the focus proxy sees the focus), the read rate limit, connection cap."""

from __future__ import annotations

import asyncio

from jitsi_py.xmpp.tcp import RateLimit

from .conftest import connect, disconnect
from .test_hostile_tcp import HEADER, exchange


class Recorder:
    def __init__(self, domain: str) -> None:
        self.domain = domain
        self.presence: list[tuple[str | None, str | None]] = []
        self.closed: list[str] = []

    def receive(self, stanza, origin) -> None:
        if stanza.tag == "{jabber:client}presence":
            self.presence.append((stanza.get("from"), stanza.get("type")))

    def session_closed(self, full_jid: str) -> None:
        self.closed.append(full_jid)


async def test_focus_presence_reaches_the_focus_proxy(server):
    proxy = Recorder("focus.meet.jitsi")
    server.router.remove_component(proxy.domain)
    server.router.add_component(proxy)
    focus = await connect(server, "focus@auth.meet.jitsi", "focus-secret")
    full = focus.boundjid.full
    focus.send_presence()
    async with asyncio.timeout(5):
        while (full, None) not in proxy.presence:
            await asyncio.sleep(0.02)
    # A late subscriber gets the current presence at once.
    late = Recorder("late.meet.jitsi")
    server.router.add_component(late)
    from xml.etree.ElementTree import Element

    server.router.route(Element("{jabber:client}presence", {"type": "subscribe", "from": "late.meet.jitsi",
                                                             "to": "focus@auth.meet.jitsi"}), None)
    assert (full, None) in late.presence
    await disconnect(focus)
    async with asyncio.timeout(5):
        while (full, "unavailable") not in proxy.presence:
            await asyncio.sleep(0.02)
    assert full in proxy.closed  # components also hear that the session ended


def test_rate_limit_bucket():
    limit = RateLimit(rate=1000, burst=2000, now=0.0)
    assert limit.delay(1500, 0.0) == 0
    assert limit.delay(1500, 0.0) == 1.0  # 1000 bytes over: one second at 1000 B/s
    assert limit.delay(0, 1.0) == 0  # refilled


async def test_connection_cap_refuses_extra_connections(tmp_path):
    from jitsi_py.xmpp.server import XmppServer

    from .conftest import make_settings

    srv = XmppServer(make_settings(tmp_path, PROSODY_MAX_CONNECTIONS="1"))
    await srv.start("127.0.0.1", {"c2s": 0, "http": 0, "component": 0})
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.listening.c2s_port)
        writer.write(HEADER)
        assert b"<stream:features" in await asyncio.wait_for(reader.read(4096), 5)
        refused = await exchange(srv.listening.c2s_port, HEADER)
        assert b"resource-constraint" in refused
        writer.close()
    finally:
        await srv.stop()
