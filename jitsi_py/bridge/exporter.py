"""Media export, the glue (docs/colibri2.md §3.5): one WebSocket client per Colibri2 ``<connect>``.

A :class:`ConferenceExport` keeps a conference's exporters by connect id (``export.plan`` decides).
Each :class:`Exporter` keeps its WebSocket open until stopped: an unreachable or failing peer is
logged once per attempt and tried again after 1, 2, 5, 10, then every 30 s; forwarding never
waits for it. The forwarder hands it each audio packet it forwards (``Forwarder.export``): the
media path only appends the packet to a bounded queue (the oldest is dropped when the peer falls
behind) and only while the socket is open; encoding and sending happen in the exporter's task.
What the peer sends back: ``transcription-result`` objects, relayed to every endpoint of the
conference as an ``EndpointMessage`` from ``transcriber``, the local ones and, through every relay,
those on the other bridges (as jitsi-videobridge does), and
``pong``s to our pings when the connect asks for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING

import aiohttp

from ..common.stanzas import mediajson
from ..common.stanzas.colibri2 import Connect
from .export import TRANSCRIBER, MediaJsonEncoder, plan

if TYPE_CHECKING:
    from .conference import Conference
    from .forwarder import Source

log = logging.getLogger(__name__)

RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
STABLE_AFTER = 10.0  # a connection that lasted this long starts the delays over
CONNECT_TIMEOUT = 10.0


class Exporter:
    def __init__(self, conference: Conference, connect: Connect, queue_limit: int, version: str) -> None:
        self.conference = conference
        self.connect = connect
        self.exports = frozenset(connect.exports)  # empty: every audio source
        self.queue: deque[tuple[str, str, bytes]] = deque()  # (sender, source name, plain RTP)
        self.queue_limit = queue_limit
        self.version = version
        self.connected = False
        self.stopping = False
        self.counters = {"packets_sent": 0, "packets_dropped": 0, "not_opus": 0, "failures": 0,
                         "results_received": 0, "malformed_received": 0}
        self._wake = asyncio.Event()
        self._pong = -1
        self._task = asyncio.create_task(self._run())

    @property
    def name(self) -> str:
        return f"export {self.connect.id or '-'} of {self.conference.meeting_id} to {self.connect.url}"

    # --- the media path --------------------------------------------------------------------------

    def audio(self, sender: str, tag: str, packet: bytes) -> None:
        if not self.connected or (self.exports and tag not in self.exports):
            return
        queue = self.queue
        if len(queue) >= self.queue_limit:
            queue.popleft()
            self.counters["packets_dropped"] += 1
        queue.append((sender, tag, packet))
        self._wake.set()

    # --- control ---------------------------------------------------------------------------------

    def update(self, connect: Connect) -> None:
        """New exports and requests for the open connection (nothing else may change)."""
        self.connect = connect
        self.exports = frozenset(connect.exports)
        log.info("bridge: %s now exports %s", self.name, ", ".join(sorted(self.exports)) or "all audio")

    def stop(self) -> None:
        """Says ``session-end`` and closes when connected; else gives up at once."""
        log.info("bridge: %s stops (%s)", self.name, ", ".join(f"{k.replace('_', ' ')} {v}"
                                                               for k, v in self.counters.items()))
        self.stopping = True
        if self.connected:
            self._wake.set()
        else:
            self._task.cancel()

    async def _run(self) -> None:
        attempt = 0
        loop = asyncio.get_running_loop()
        headers = dict(self.connect.http_headers)
        timeout = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(connect=CONNECT_TIMEOUT)) as http:
            while not self.stopping:
                opened, failure = None, None
                try:
                    async with http.ws_connect(self.connect.url, headers=headers, heartbeat=None,
                                               timeout=timeout, max_msg_size=1 << 20) as ws:
                        opened = loop.time()
                        log.info("bridge: %s: connected", self.name)
                        await self._session(ws)
                        log.info("bridge: %s: closed (%s)", self.name,
                                 "stopped" if self.stopping else f"the peer closed, code {ws.close_code}")
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                    self.counters["failures"] += 1
                    failure = f"{type(exc).__name__}: {exc}".rstrip(": ")
                finally:
                    self.connected = False
                    self.queue.clear()
                if self.stopping:
                    break
                if opened is not None and loop.time() - opened >= STABLE_AFTER:
                    attempt = 0
                delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
                attempt += 1
                if failure is not None:
                    log.warning("bridge: %s failed (%s); trying again in %.0f s", self.name, failure, delay)
                await asyncio.sleep(delay)

    async def _session(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        encoder = MediaJsonEncoder(loop.time())
        await ws.send_str(mediajson.info(application="jitsi-videobridge", version=self.version,
                                         **({"region": self.conference.bridge.region}
                                            if self.conference.bridge.region else {})))
        self.connected = True
        reader = asyncio.create_task(self._read(ws))
        pinger = asyncio.create_task(self._ping(ws)) if self.connect.ping is not None else None
        encodings: dict[tuple[str, int], str] = {}
        level_ids: dict[str, int] = {}
        try:
            while not self.stopping and not reader.done():
                self._wake.clear()
                queue = self.queue
                while queue:
                    sender, tag, packet = queue.popleft()
                    key = (sender, packet[1] & 0x7F)
                    encoding = encodings.get(key)
                    if encoding is None:
                        encoding = encodings[key] = self.conference.audio_encoding(*key)
                    if encoding != "opus":
                        self.counters["not_opus"] += 1  # RED, or a payload type nobody signalled
                        continue
                    level_id = level_ids.get(sender)
                    if level_id is None:
                        level_id = level_ids[sender] = self.conference.audio_level_id(sender)
                    for frame in encoder.encode(sender, tag, packet, encoding, loop.time(), level_id):
                        await ws.send_str(frame)
                    self.counters["packets_sent"] += 1
                if not self.stopping:
                    waker = asyncio.ensure_future(self._wake.wait())
                    await asyncio.wait((waker, reader), return_when=asyncio.FIRST_COMPLETED)
                    waker.cancel()
            if self.stopping and not ws.closed:
                await ws.send_str(mediajson.session_end())
                await ws.close()
        finally:
            self.connected = False
            reader.cancel()
            if pinger is not None:
                pinger.cancel()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                event = mediajson.parse(message.data)
            except mediajson.MediaJsonError as exc:
                self.counters["malformed_received"] += 1
                if self.counters["malformed_received"] == 1:
                    log.warning("bridge: %s: malformed mediajson from the peer: %s", self.name, exc)
                continue
            match event:
                case mediajson.Pong(id=ping_id):
                    self._pong = ping_id
                case mediajson.Other(event="transcription-result", fields=fields):
                    self.counters["results_received"] += 1
                    payload = {k: v for k, v in fields.items() if k != "event"}
                    self.conference.broadcast({"colibriClass": "EndpointMessage", "from": TRANSCRIBER,
                                               "to": "", "msgPayload": payload}, to_relays=True)

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """The connect's ``<ping interval timeout>`` (ms): a peer that does not answer in time is
        taken for gone and the connection is made again."""
        assert self.connect.ping is not None
        interval, timeout = (max(value, 100) / 1000 for value in self.connect.ping)
        ping_id = 0
        while True:
            await asyncio.sleep(interval)
            ping_id += 1
            await ws.send_str(mediajson.ping(ping_id))
            await asyncio.sleep(timeout)
            if self._pong != ping_id:
                log.warning("bridge: %s: no pong within %.1f s; connecting again", self.name, timeout)
                await ws.close()
                return


class ConferenceExport:
    """A conference's exporters, by connect id."""

    def __init__(self, conference: Conference, queue_limit: int, version: str) -> None:
        self.conference = conference
        self.queue_limit = queue_limit
        self.version = version
        self.exporters: dict[str, Exporter] = {}
        self._fanout: tuple[Exporter, ...] = ()

    def apply(self, connects: list[Connect]) -> None:
        """One request's ``<connects>``; raises the refusal (a ``StanzaError``) changing nothing."""
        changes = plan({ident: e.connect for ident, e in self.exporters.items()}, connects)
        for ident in changes.stop:
            exporter = self.exporters.pop(ident, None)
            if exporter is None:
                log.warning("bridge: expire of connect id=%s of %s, which is not running", ident,
                            self.conference.meeting_id)
            else:
                exporter.stop()
        for connect in changes.start:
            exporter = Exporter(self.conference, connect, self.queue_limit, self.version)
            log.info("bridge: %s starts (%s)", exporter.name, connect.type)
            self.exporters[connect.id or ""] = exporter
        for connect in changes.update:
            self.exporters[connect.id or ""].update(connect)
        self._fanout = tuple(self.exporters.values())
        self.conference.forwarder.export = self._audio if self._fanout else None

    def _audio(self, source: Source, packet: bytes) -> None:
        for exporter in self._fanout:
            exporter.audio(source.owner, source.name, packet)

    def close(self) -> None:
        for exporter in self.exporters.values():
            exporter.stop()
        self.exporters.clear()
        self._fanout = ()
        self.conference.forwarder.export = None
