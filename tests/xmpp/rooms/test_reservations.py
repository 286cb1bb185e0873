"""Reservations: the focus proxy asks a reservation API before a new conference starts."""

import asyncio

from aiohttp import web

from jitsi_py.common.ns import JITSI_FOCUS as FOCUS

from ..muc.harness import q
from .stack import FOCUS as FOCUS_JID, ROOM, Stack, error_of

ALICE = "alice@meet.jitsi/a"


async def reservation_api(handler):
    app = web.Application()
    calls = []

    async def record(request):
        calls.append((request.method, request.path, dict(await request.post())))
        return await handler(request)

    app.router.add_route("*", "/api/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}/api", calls


def conference_request(s):
    s.send(ALICE, f'<iq type="set" id="c1" to="focus.meet.jitsi"><conference xmlns="{FOCUS}" room="{ROOM}" '
                  f'machine-uid="m"/></iq>')


async def settle(s, to, count=1):
    for _ in range(200):
        got = [el for dest, el in s.host.sent if dest == to]
        if len(got) >= count:
            return s.host.take(to)
        await asyncio.sleep(0.01)
    raise AssertionError(f"nothing sent to {to}")


async def test_reservation_accepted_then_deleted_with_the_room():
    async def ok(request):
        if request.method == "POST":
            return web.json_response({"id": 42, "name": "standup", "duration": 3600}, status=201)
        return web.json_response({}, status=200)

    runner, url, calls = await reservation_api(ok)
    try:
        s = Stack({"PROSODY_RESERVATION_ENABLED": "1", "PROSODY_RESERVATION_REST_BASE_URL": url})
        s.send(FOCUS_JID, '<presence to="focus.meet.jitsi"/>')
        conference_request(s)
        [forwarded] = await settle(s, FOCUS_JID)
        assert forwarded.get("from") == f"focus.meet.jitsi/{ALICE}"
        method, path, form = calls[0]
        assert (method, path) == ("POST", "/api/conference")
        assert form["name"] == "standup" and form["mail_owner"] == "alice@meet.jitsi"
        assert form["start_time"].endswith("Z")
        s.focus_joins()
        s.send(FOCUS_JID, f'<presence type="unavailable" to="{ROOM}/focus"/>')
        for _ in range(200):
            if any(c[0] == "DELETE" for c in calls):
                break
            await asyncio.sleep(0.01)
        assert ("DELETE", "/api/conference/42", {}) in calls
    finally:
        await runner.cleanup()


async def test_reservation_refused_reaches_the_client_with_its_code():
    async def refuse(request):
        return web.json_response({"message": "Not in the calendar"}, status=403)

    runner, url, calls = await reservation_api(refuse)
    try:
        s = Stack({"PROSODY_RESERVATION_ENABLED": "1", "PROSODY_RESERVATION_REST_BASE_URL": url})
        s.send(FOCUS_JID, '<presence to="focus.meet.jitsi"/>')
        conference_request(s)
        [err] = await settle(s, ALICE)
        assert error_of(err) == ("cancel", "service-unavailable")
        assert err.find(f"{q('error')}/{{{FOCUS}}}reservation-error").get("error-code") == "403"
        assert err.findtext(f"{q('error')}/{{urn:ietf:params:xml:ns:xmpp-stanzas}}text") == "Not in the calendar"
        assert s.host.take(FOCUS_JID) == []
    finally:
        await runner.cleanup()


async def test_conflict_uses_the_existing_reservation():
    async def conflict(request):
        if request.method == "POST":
            return web.json_response({"conflict_id": 7}, status=409)
        return web.json_response({"id": 7, "name": "standup"}, status=200)

    runner, url, calls = await reservation_api(conflict)
    try:
        s = Stack({"PROSODY_RESERVATION_ENABLED": "1", "PROSODY_RESERVATION_REST_BASE_URL": url})
        s.send(FOCUS_JID, '<presence to="focus.meet.jitsi"/>')
        conference_request(s)
        await settle(s, FOCUS_JID)
        assert [c[:2] for c in calls] == [("POST", "/api/conference"), ("GET", "/api/conference/7")]
    finally:
        await runner.cleanup()


async def test_room_destroyed_when_its_reservation_runs_out():
    async def short(request):
        if request.method == "POST":
            return web.json_response({"id": 7, "name": "standup", "duration": 60}, status=201)
        return web.json_response({}, status=200)

    runner, url, calls = await reservation_api(short)
    try:
        s = Stack({"PROSODY_RESERVATION_ENABLED": "1", "PROSODY_RESERVATION_REST_BASE_URL": url})
        s.send(FOCUS_JID, '<presence to="focus.meet.jitsi"/>')
        conference_request(s)
        await settle(s, FOCUS_JID)
        s.focus_joins()
        s.join(ALICE, "aa11")
        s.take()
        s.advance(59)
        assert s.components["muc.meet.jitsi"].get_room(ROOM) is not None
        s.advance(2)
        assert s.components["muc.meet.jitsi"].get_room(ROOM) is None
        [gone] = [el for el in s.take(ALICE) if el.get("type") == "unavailable"]
        destroy = gone.find(f"{q('x', 'http://jabber.org/protocol/muc#user')}/"
                            f"{q('destroy', 'http://jabber.org/protocol/muc#user')}")
        assert destroy.findtext(q("reason", "http://jabber.org/protocol/muc#user")) \
            == "Scheduled conference duration exceeded."
        for _ in range(200):
            if any(c[0] == "DELETE" for c in calls):
                break
            await asyncio.sleep(0.01)
        assert ("DELETE", "/api/conference/7", {}) in calls
    finally:
        await runner.cleanup()
