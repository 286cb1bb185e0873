"""Dial-in information when no external service gives it (docs/sip.md §4): the conference mapper and
the dial-in numbers, on the wire as jitsi-meet's cloud API has them.

* ``GET /conference-mapper?conference=<room JID>`` -> ``{"conference", "id", "message"}``: a stable
  9-digit PIN per room (a hash of its JID), remembered so that ``GET /conference-mapper?id=<pin>``
  (what the SIP gateway asks) finds the room again, also after a restart (a JSON file in CONFIG).
  An unknown PIN answers ``"conference": false``.
* ``GET /dialin-numbers?conference=<room JID>`` -> the list of numbers (``JITSI_PY_DIALIN_NUMBERS``,
  else the gateway's SIP address as jitsi-meet shows a ``SIP`` entry).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from aiohttp import web

log = logging.getLogger(__name__)

PIN_SPACE = 900_000_000  # 9 digits: jitsi-meet shows them in three groups
MAX_ROOMS = 100_000  # the table a malicious client could grow is bounded


def pin_of(room: str) -> int:
    digest = hashlib.sha256(room.strip().lower().encode()).digest()
    return 100_000_000 + int.from_bytes(digest[:8], "big") % PIN_SPACE


class ConferenceMapper:
    def __init__(self, store: Path | None) -> None:
        self.store = store
        self.rooms: dict[int, str] = {}
        if store is not None and store.is_file():
            try:
                self.rooms = {int(pin): room for pin, room in json.loads(store.read_text()).items()}
            except (ValueError, AttributeError) as exc:
                log.warning("web: the conference mapper's table %s is unreadable (%s): starting afresh", store, exc)

    def pin(self, room: str) -> int:
        pin = pin_of(room)
        if self.rooms.get(pin) != room.strip().lower() and len(self.rooms) < MAX_ROOMS:
            self.rooms[pin] = room.strip().lower()
            if self.store is not None:
                self.store.parent.mkdir(parents=True, exist_ok=True)
                self.store.write_text(json.dumps(self.rooms))
        return pin

    async def handle(self, request: web.Request) -> web.Response:
        conference, pin = request.query.get("conference"), request.query.get("id")
        if conference:
            if "@" not in conference:
                raise web.HTTPBadRequest(text="conference must be a room JID (room@muc.domain)")
            number = self.pin(conference)
            return web.json_response({"conference": conference.lower(), "id": number,
                                      "message": "Successfully retrieved conference mapping"})
        if pin:
            room = self.rooms.get(int(pin)) if pin.isdigit() and len(pin) <= 12 else None
            if room is None:
                return web.json_response({"conference": False, "id": pin, "message": "No conference mapping"})
            return web.json_response({"conference": room, "id": int(pin),
                                      "message": "Successfully retrieved conference mapping"})
        raise web.HTTPBadRequest(text="ask with conference=<room JID> or id=<PIN>")


def dialin_numbers(configured: str | None, sip_uri: str | None) -> list[dict[str, object]]:
    if configured:
        return list(json.loads(configured))
    if sip_uri:
        return [{"countryCode": "SIP", "tollFree": False, "formattedNumber": sip_uri.removeprefix("sip:"),
                 "default": True}]
    return []
