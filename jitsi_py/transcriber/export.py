"""The bridge's export, received: a WebSocket server speaking mediajson (docs/transcription.md §6).

A bridge the focus asked to export a conference's audio (jicofo's ``transcription.url-template``,
e.g. ``ws://transcriber:9010/{{MEETING_ID}}``) connects here. Each exported source (``start``, its
``tag`` the source name, its sender's endpoint id) is decoded from Opus and transcribed as a
speaker of its own; results go back on the same socket as ``transcription-result`` objects, which
the bridge relays to every endpoint; pings are answered. The path's last segment names the meeting
in the transcript. Malformed frames are counted and dropped; the connection ends with the bridge's
``session-end`` or close.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from ..common.stanzas.mediajson import Media, MediaJsonError, Ping, SessionEnd, Start, parse, pong
from .engines import Engine
from .session import Transcription, Where

log = logging.getLogger(__name__)

QUEUE_FRAMES = 500  # 10 s of 20 ms Opus frames per source; a source further behind loses the oldest


class ExportSession(Transcription):
    def __init__(self, meeting_id: str, where: Where, engine: Engine, socket: web.WebSocketResponse) -> None:
        super().__init__(f"meeting {meeting_id}", where, engine, meeting_id=meeting_id or None)
        self.socket = socket
        self.sources: dict[str, tuple[Any, asyncio.Queue]] = {}  # tag -> (Opus decoder, decoded frames)
        self.malformed = 0

    async def send_result(self, payload: dict[str, Any]) -> None:
        if not self.socket.closed:
            await self.socket.send_str(json.dumps(payload))

    async def send_text(self, text: str) -> None:
        log.info("transcriber: %s: %s", self.room, text)  # the export has no chat to say it in

    async def run(self) -> None:
        self.open_transcript()
        try:
            async for message in self.socket:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    event = parse(message.data)
                except MediaJsonError as exc:
                    self.malformed += 1
                    if self.malformed == 1:
                        log.warning("transcriber: %s: malformed mediajson from the bridge: %s", self.room, exc)
                    continue
                match event:
                    case Media():
                        self._media(event)
                    case Ping(id=ping_id):
                        await self.socket.send_str(pong(ping_id))
                    case Start():
                        self._start(event)
                    case SessionEnd():
                        break
        finally:
            for _, frames in self.sources.values():
                frames.put_nowait(None)
            await asyncio.gather(*self._speakers.values(), return_exceptions=True)
            await self.end()

    def _start(self, start: Start) -> None:
        import av  # noqa: PLC0415 - aiortc has loaded it already

        if start.encoding != "opus":
            log.warning("transcriber: %s: source %s is %s, not Opus: not transcribed", self.room, start.tag,
                        start.encoding)
            return
        endpoint = start.endpoint_id or start.tag.rsplit("-", 1)[0]
        self.names.setdefault(endpoint, endpoint)  # the export names no one: the endpoint id stands in
        old = self.sources.get(start.tag)
        if old is not None:
            old[1].put_nowait(None)
        frames: asyncio.Queue = asyncio.Queue(QUEUE_FRAMES)
        self.sources[start.tag] = (av.CodecContext.create("opus", "r"), frames)
        self.follow(endpoint, start.tag, frames.get)

    def _media(self, media: Media) -> None:
        import av  # noqa: PLC0415

        source = self.sources.get(media.tag)
        if source is None:
            return
        decoder, frames = source
        try:
            decoded = decoder.decode(av.Packet(media.payload))
        except (av.error.FFmpegError, ValueError):
            self.malformed += 1
            return
        for frame in decoded:
            if frames.full():
                frames.get_nowait()
            frames.put_nowait(frame)


def export_app(where: Where, engine: Engine) -> web.Application:
    async def connect(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=None)
        await socket.prepare(request)
        meeting_id = request.path.rstrip("/").rsplit("/", 1)[-1]
        log.info("transcriber: a bridge exports %s from %s", meeting_id or "a meeting", request.remote)
        session = ExportSession(meeting_id, where, engine, socket)
        await session.run()
        log.info("transcriber: export of %s over (%d final results, %d malformed frames)", meeting_id,
                 session.finals, session.malformed)
        return socket

    app = web.Application()
    app.router.add_get("/{tail:.*}", connect)
    return app
