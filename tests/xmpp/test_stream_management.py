"""XEP-0198 with slixmpp over TCP: acks, and resumption after the socket is dropped."""

from __future__ import annotations

import asyncio

from .conftest import connect, disconnect


async def wait_until(predicate, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_resumption_after_a_dropped_socket_replays_unacked_stanzas(server):
    client = await connect(server, "jvb@auth.meet.jitsi", "jvb-secret", plugins=("xep_0198",))
    sender = await connect(server, "focus@auth.meet.jitsi", "focus-secret")
    try:
        sm = client.plugin["xep_0198"]
        await wait_until(lambda: sm.sm_id is not None)
        full = client.boundjid.full
        session = server.router.sessions[full]
        assert session.sm_resumable
        received: list[str] = []
        client.add_event_handler("message", lambda m: received.append(m["body"]))
        resumed = asyncio.Event()
        client.add_event_handler("session_resumed", lambda _e: resumed.set())
        dropped = asyncio.Event()
        client.add_event_handler("disconnected", lambda _e: dropped.set())

        # Cut the client's socket from the server side without a closing handshake; the
        # stanzas sent meanwhile wait in the hibernating session.
        session.link.transport.abort()
        await wait_until(lambda: session.link is None)
        assert session.hibernating_until is not None
        for i in range(3):
            sender.send_message(mto=full, mbody=f"while away {i}")
        await wait_until(lambda: len(session.sm_queue) >= 3)
        await asyncio.wait_for(dropped.wait(), 10)
        # The client comes back as the Jitsi client does after a network blip.
        client.connect("127.0.0.1", server.listening.c2s_port)

        await asyncio.wait_for(resumed.wait(), 20)
        await wait_until(lambda: sum(b.startswith("while away") for b in received) == 3)
        assert server.router.sessions[full] is session and session.link is not None
        assert client.boundjid.full == full
    finally:
        await disconnect(client, sender)


async def test_a_session_not_resumed_in_time_ends(tmp_path):
    from jitsi_py.xmpp.server import XmppServer

    from .conftest import make_settings

    srv = XmppServer(make_settings(tmp_path, PROSODY_SMACKS_HIBERNATION_TIME="0.3"))
    srv.create_service_accounts()
    await srv.start("127.0.0.1", {"c2s": 0, "http": 0, "component": 0})
    client = await connect(srv, "jvb@auth.meet.jitsi", "jvb-secret", plugins=("xep_0198",))
    try:
        await wait_until(lambda: client.plugin["xep_0198"].sm_id is not None)
        full = client.boundjid.full
        client.plugin["xep_0198"].sm_id = None  # this client will not try to resume
        session = srv.router.sessions[full]
        session.link.transport.abort()
        await wait_until(lambda: full not in srv.router.sessions or srv.router.sessions[full] is not session)
        assert session.state == "closed"
    finally:
        await disconnect(client)
        await srv.stop()
