"""Reservations (PROSODY_RESERVATION_ENABLED): a conference needs a reservation to start.

Before the focus proxy forwards a conference request for a room that does not exist yet, the
reservation API (``PROSODY_RESERVATION_REST_BASE_URL``) is asked: ``POST /conference`` with the
room name, the start time and the requester; ``409`` points to an existing reservation. A refusal
reaches the client as ``service-unavailable`` with ``<reservation-error error-code=...>``. An
expired reservation refuses new requests (419), and its room is destroyed when the reservation's
``duration`` is over ("Scheduled conference duration exceeded."); when the room goes,
``DELETE /conference/<id>``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from xml.etree.ElementTree import Element

import aiohttp

from ...common import jid as jids
from ...common.errors import StanzaError
from ...common.ns import JITSI_FOCUS as FOCUS
from ...settings import Settings
from ...settings.fields import SettingsError
from ..component import Origin
from ..muc.hooks import Hook
from ..muc.room import Room
from ..muc.timers import Timer
from . import RoomContext
from .client_proxy import ClientProxy

log = logging.getLogger(__name__)
RETRIES = 3
RETRY_DELAY = 3.0
TIMEOUT = 20.0


@dataclass
class Reservation:
    id: str
    expires: float | None  # deadline on the conference MUC's clock; None: no duration given


@dataclass
class Expiry:
    """A reserved room's end, when the reservation has one."""

    timer: Timer | None = None


def enabled(settings: Settings) -> bool:
    return settings.xmpp.rooms.reservation_enabled


def _refused(code: int, text: str) -> StanzaError:
    return StanzaError("cancel", "service-unavailable", text,
                       [Element(f"{{{FOCUS}}}reservation-error", {"error-code": str(code)})])


class Reservations:
    def __init__(self, ctx: RoomContext, base_url: str) -> None:
        self.ctx = ctx
        self.base = base_url.rstrip("/")
        self.by_room: dict[str, Reservation] = {}
        self.retry_delay = RETRY_DELAY
        self._tasks: set[asyncio.Task] = set()

    async def gate(self, iq: Element, conference: Element, origin: Origin | None) -> None:
        room_jid = (conference.get("room") or "").lower()
        node, domain, _ = jids.split(room_jid)
        if not node or domain != self.ctx.conference.domain:
            return  # breakout rooms and foreign addresses are not reserved
        known = self.by_room.get(room_jid)
        if known is not None:
            if known.expires is not None and self.ctx.conference.now() > known.expires:
                raise _refused(419, "Reservation expired")
            return
        if self.ctx.conference.get_room(room_jid) is not None:
            return
        start = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        form = {"name": node, "start_time": start, "mail_owner": jids.bare(iq.get("from", ""))}
        status, body = await self._call("POST", "/conference", form)
        if status == 409 and isinstance(body, dict) and body.get("conflict_id") is not None:
            status, body = await self._call("GET", f"/conference/{body['conflict_id']}")
        if status not in (200, 201) or not isinstance(body, dict) or body.get("id") is None:
            text = body.get("message") if isinstance(body, dict) else None
            raise _refused(status, str(text or f"Reservation refused ({status})"))
        duration = body.get("duration")
        expires = (self.ctx.conference.now() + float(duration) if isinstance(duration, (int, float)) and duration > 0
                   else None)
        self.by_room[room_jid] = Reservation(str(body["id"]), expires)

    async def _call(self, method: str, path: str, form: dict | None = None) -> tuple[int, object]:
        for attempt in range(RETRIES):
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as http:
                    async with http.request(method, self.base + path, data=form) as response:
                        try:
                            body = await response.json(content_type=None)
                        except ValueError:
                            body = None
                        if response.status < 500 or attempt == RETRIES - 1:
                            return response.status, body
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                if attempt == RETRIES - 1:
                    log.warning("reservation API %s %s failed: %s", method, path, exc)
                    return 503, {"message": "Reservation service unavailable"}
            await asyncio.sleep(self.retry_delay)
        return 503, None

    def room_created(self, room: Room) -> None:
        reservation = self.by_room.get(room.jid)
        if reservation is not None and reservation.expires is not None:
            room.state(Expiry).timer = self.ctx.conference.timers.call_at(
                reservation.expires, lambda: self._expired(room))

    def _expired(self, room: Room) -> None:
        room.state(Expiry).timer = None
        if self.ctx.conference.get_room(room.jid) is room:
            log.info("room %s exceeded its reservation", room.jid)
            self.ctx.conference.destroy(room, "Scheduled conference duration exceeded.")

    def room_destroyed(self, room: Room) -> None:
        expiry = room.peek(Expiry)
        if expiry is not None and expiry.timer is not None:
            expiry.timer.cancel()
            expiry.timer = None
        reservation = self.by_room.pop(room.jid, None)
        if reservation is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._call("DELETE", f"/conference/{reservation.id}"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def attach(ctx: RoomContext) -> None:
    url = ctx.settings.xmpp.rooms.reservation_url
    if not url:
        raise SettingsError("PROSODY_RESERVATION_REST_BASE_URL", None, "required with PROSODY_RESERVATION_ENABLED=1")
    reservations = Reservations(ctx, url)
    proxy = ctx.extensions.get("client_proxy")
    assert isinstance(proxy, ClientProxy), "reservations need the focus proxy (load client_proxy first)"
    proxy.gates.append(reservations.gate)
    ctx.conference.hooks.on(Hook.ROOM_CREATED, reservations.room_created)
    ctx.conference.hooks.on(Hook.ROOM_DESTROYED, reservations.room_destroyed)
