"""Wiring of the transcriber: the brewery client, the engine, one session per transcribed meeting."""

from __future__ import annotations

import asyncio
import logging
import secrets

from ..common.errors import StanzaError
from ..common.httpserver import HttpListener
from ..common.meeting import Login, XmppServer
from ..common.stanzas.rayo import Dial
from ..common.startup import Ready, binding, unobserved
from ..settings import Settings, SettingsError, require_secret
from .brewery import BreweryClient, check_dial
from .engines import Engine, EngineError, load
from .export import export_app
from .session import Session, Where

log = logging.getLogger(__name__)


class TranscriberService:
    def __init__(self, settings: Settings) -> None:
        t, domains = settings.transcriber, settings.common.domains
        self.settings = settings
        try:
            self.engine: Engine = load(t.engine, t)
        except EngineError as exc:  # a bad engine setting stops the start with one line, as any setting
            raise SettingsError("JITSI_PY_TRANSCRIBER_ENGINE", t.engine, str(exc)) from exc
        self.where = Where(
            server=XmppServer(t.xmpp.server, t.xmpp.port, domains.domain, domains.muc,
                              focus_jid=domains.focus_component, hidden_domain=domains.hidden),
            login=Login(f"{t.transcriber_user}@{domains.hidden}",
                        require_secret("JIGASI_TRANSCRIBER_PASSWORD", t.transcriber_password)),
            language=t.language, join_timeout=t.join_timeout, empty_timeout=t.empty_timeout,
            transcripts=t.transcripts_dir if t.saving else None,
            base_url=t.base_url if t.advertise_url else None, send_txt=t.send_txt,
            record_audio=t.record_audio and t.saving)
        self.client = BreweryClient(
            jid=f"{t.user}@{domains.auth}/{t.instance_id}",
            password=require_secret("JIGASI_XMPP_PASSWORD", t.password),
            brewery=domains.jigasi_brewery_jid, nickname=t.instance_id,
            server=t.xmpp.server, port=t.xmpp.port, on_dial=self.on_dial)
        self.sessions: dict[str, Session] = {}
        self._tasks: set[asyncio.Task] = set()

    def on_dial(self, dial: Dial, sender: str) -> str:
        room = check_dial(dial)
        if room in self.sessions:
            raise StanzaError("cancel", "conflict", "already transcribing that meeting")
        if len(self.sessions) >= self.settings.transcriber.max_meetings:
            raise StanzaError("wait", "resource-constraint", "this transcriber is full")
        session = Session(room, self.where, self.engine, on_end=lambda: self._ended(room, session))
        self.sessions[room] = session
        self.client.publish(len(self.sessions))
        log.info("transcriber: asked by %s to transcribe %s", sender, room)
        task = asyncio.ensure_future(session.run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # Jigasi answers with its call's resource before it is in the room
        return f"xmpp:{secrets.token_hex(4)}@{self.settings.common.domains.hidden}"

    def _ended(self, room: str, session: Session) -> None:
        if self.sessions.get(room) is session:
            del self.sessions[room]
        self.client.publish(len(self.sessions))
        log.info("transcriber: done with %s (%d final results)", room, session.finals)

    async def close(self) -> None:
        for session in self.sessions.values():
            session.stop()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        for task in self._tasks:
            task.cancel()
        await self.client.stop()
        await self.engine.aclose()


async def run(settings: Settings, ready: Ready = unobserved) -> None:
    """Ready once it sits in the gateway brewery where the focus finds it (and, with an export
    port, once that port listens)."""
    t = settings.transcriber
    service = TranscriberService(settings)
    runner = None
    try:
        if t.export_port is not None:
            listener = HttpListener("transcriber export", settings.common.http)
            runner = listener.runner(export_app(service.where, service.engine))
            await runner.setup()
            with binding("JITSI_PY_TRANSCRIBER_EXPORT_PORT", t.export_port):
                await listener.listen(runner, None if "*" in t.export_interfaces else list(t.export_interfaces),
                                      t.export_port)
        try:
            await service.engine.warm()
        except EngineError as exc:
            log.error("transcriber: the %s engine is not ready: %s", service.engine.name, exc)
        service.client.start()
        await service.client.joined.wait()
        ready(f"in {service.client.brewery} as {t.instance_id}, engine {service.engine.name}, "
              f"transcripts {'in ' + str(t.transcripts_dir) if t.saving else 'not saved'}"
              + (f", bridge exports on {t.export_port}" if t.export_port is not None else ""))
        await asyncio.Event().wait()
    finally:
        await service.close()
        if runner is not None:
            await runner.cleanup()


__all__ = ["TranscriberService", "run"]
