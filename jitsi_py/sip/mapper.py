"""The conference mapper's client (docs/sip.md §4): the room a dial-in PIN names.

``GET <CONFCODE_URL>?id=<pin>`` answers ``{"conference": "<room JID>", "id": <pin>, ...}``, or
``"conference": false`` for an unknown PIN (jitsi-meet's cloud API, which the web client also calls
the other way round to show the PIN of a room).
"""

from __future__ import annotations

import ssl

import aiohttp

TIMEOUT = 5.0


class ConferenceMapper:
    def __init__(self, url: str, verify_tls: bool = True) -> None:
        self.url = url
        self.ssl: ssl.SSLContext | bool = True if verify_tls else False

    async def room(self, pin: str) -> str | None:
        if not pin.isdigit():
            return None
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as session:
            async with session.get(self.url, params={"id": pin}, ssl=self.ssl) as response:
                if response.status == 404:
                    return None
                response.raise_for_status()
                answer = await response.json(content_type=None)
        conference = answer.get("conference") if isinstance(answer, dict) else None
        return conference if isinstance(conference, str) and conference else None
