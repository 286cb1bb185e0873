"""Our stack with recording on, recorders in the test's loop, and a probe in the Jibri brewery that
speaks to them as the focus does (its own occupant JID there, start/stop IQs, status IQs answered)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from xml.etree.ElementTree import Element

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from jitsi_py.common import ns
from jitsi_py.common.stanzas.jibri import JibriIq, JibriStatus, RecordingStatus
from jitsi_py.common.xmpp_client import service_client
from jitsi_py.recorder import run as run_recorder

from ..support.stack import running_stack
from ..web.conftest import free_port

RECORDING_ENV = {"ENABLE_RECORDING": "1", "JIBRI_XMPP_PASSWORD": "jibri-secret",
                 "JIBRI_RECORDER_PASSWORD": "recorder-secret", "JIBRI_INSTANCE_ID": "rec1",
                 "JITSI_PY_RECORDER_HTTP_INTERFACES": "127.0.0.1"}


@contextlib.asynccontextmanager
async def recording_stack(tmp_path, bridge: bool = True, **env: str):
    env = {**RECORDING_ENV, "JIBRI_HTTP_API_EXTERNAL_PORT": str(free_port()), **env}
    async with running_stack(tmp_path, bridge, **env) as stack:
        yield stack


@contextlib.asynccontextmanager
async def recorder(settings, **changes):
    """One recorder in this loop; ``changes`` replace fields of settings.recorder (a second instance
    needs its own instance_id and http_port)."""
    settings = dataclasses.replace(settings, recorder=dataclasses.replace(settings.recorder, **changes))
    ready = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(run_recorder(settings, lambda summary: ready.done() or ready.set_result(summary)))
    try:
        await asyncio.wait_for(asyncio.shield(ready), 20)
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class BreweryProbe:
    """focus@auth/<nick> in the Jibri brewery: sees recorder statuses, sends them requests."""

    def __init__(self, settings, nick: str = "probe") -> None:
        d = settings.common.domains
        self.brewery = f"{d.jibri_brewery}@{d.internal_muc}"
        self.nick = nick
        self.port = settings.focus.xmpp.port
        self.client = service_client(f"focus@{d.auth}/{nick}", settings.focus.password)
        self.statuses: dict[str, list[JibriStatus]] = {}
        self.status_iqs: asyncio.Queue[tuple[str, JibriIq]] = asyncio.Queue()
        self.changed = asyncio.Event()
        iq = ns.tag(self.client.default_ns, "iq")
        self.client.register_handler(Callback("probe-presence", MatchXPath(ns.tag(self.client.default_ns, "presence")),
                                              self._on_presence))
        self.client.register_handler(Callback("probe-jibri", MatchXPath(f"{iq}/{ns.tag(ns.JIBRI, 'jibri')}"),
                                              self._on_status))

    async def start(self) -> None:
        started = asyncio.get_running_loop().create_future()
        self.client.add_event_handler("session_start", lambda _e: started.done() or started.set_result(None))
        self.client.connect("127.0.0.1", self.port)
        await asyncio.wait_for(started, 15)
        presence = self.client.make_presence(pto=f"{self.brewery}/{self.nick}")
        presence.xml.append(Element(ns.tag(ns.MUC, "x")))
        presence.send()

    async def stop(self) -> None:
        self.client.abort()

    def _on_presence(self, presence: slixmpp.Presence) -> None:
        if presence["from"].bare != self.brewery:
            return
        nick = presence["from"].resource
        status = JibriStatus.from_presence(presence.xml)
        if presence["type"] == "unavailable":
            self.statuses.setdefault(nick, []).append(None)
        elif status is not None:
            self.statuses.setdefault(nick, []).append(status)
        self.changed.set()

    def _on_status(self, iq: slixmpp.Iq) -> None:
        if iq["type"] == "set":
            self.status_iqs.put_nowait((iq["from"].full, JibriIq.from_element(iq.xml.find(ns.tag(ns.JIBRI, "jibri")))))
            iq.reply(clear=True).send()

    async def status_of(self, nick: str, wanted, timeout: float = 20.0):
        """Waits until the last status ``nick`` published satisfies ``wanted``."""
        async def wait():
            while True:
                seen = self.statuses.get(nick)
                if seen and wanted(seen[-1]):
                    return seen[-1]
                self.changed.clear()
                await self.changed.wait()
        return await asyncio.wait_for(wait(), timeout)

    async def request(self, nick: str, request: JibriIq, to: str | None = None) -> JibriIq:
        iq = self.client.make_iq_set(ito=to or f"{self.brewery}/{nick}")
        request.to_element(iq.xml)
        answer = await iq.send(timeout=15)
        return JibriIq.from_element(answer.xml.find(ns.tag(ns.JIBRI, "jibri")))

    async def next_status(self, timeout: float = 30.0) -> tuple[str, JibriIq]:
        return await asyncio.wait_for(self.status_iqs.get(), timeout)


@contextlib.asynccontextmanager
async def brewery_probe(settings, nick: str = "probe"):
    probe = BreweryProbe(settings, nick)
    await probe.start()
    try:
        yield probe
    finally:
        await probe.stop()


class Moderator:
    """A meeting participant (the first in, so the moderator) that asks the focus to record, as
    lib-jitsi-meet does, and sees the focus's ``<jibri-recording-status>`` as every client does."""

    def __init__(self, meeting) -> None:
        self.meeting = meeting
        self.statuses: list[RecordingStatus] = []
        self.changed = asyncio.Event()

    def watch(self) -> None:
        xmpp = self.meeting._require_xmpp()  # the meeting's own connection: the status is in the focus's presence
        xmpp.register_handler(Callback("recording-status", MatchXPath(ns.tag(xmpp.default_ns, "presence")),
                                       self._on_presence))

    def _on_presence(self, presence: slixmpp.Presence) -> None:
        if presence["from"].full != f"{self.meeting.room_jid}/focus":
            return
        status = RecordingStatus.from_presence(presence.xml)
        if status is not None and (not self.statuses or self.statuses[-1] != status):
            self.statuses.append(status)
            self.changed.set()

    async def request(self, **attributes) -> JibriIq | None:
        """The focus's answer (None when empty, as a stop's is)."""
        iq = self.meeting._require_xmpp().make_iq_set(ito=f"{self.meeting.room_jid}/focus")
        JibriIq(**attributes).to_element(iq.xml)
        answer = await iq.send(timeout=30)
        found = answer.xml.find(ns.tag(ns.JIBRI, "jibri"))
        return None if found is None else JibriIq.from_element(found)

    async def status(self, wanted, timeout: float = 60.0) -> RecordingStatus:
        async def wait():
            while True:
                if self.statuses and wanted(self.statuses[-1]):
                    return self.statuses[-1]
                self.changed.clear()
                await self.changed.wait()
        return await asyncio.wait_for(wait(), timeout)


async def drain(meeting) -> None:
    """Consumes a meeting's events (nobody else reads them), so its queue does not grow."""
    async for _ in meeting.events():
        pass


async def idle(settings, timeout: float = 60.0, port: int | None = None) -> dict:
    """Polls a recorder's health API (the settings' port unless told) until it is idle again."""
    import aiohttp

    url = f"http://127.0.0.1:{port or settings.recorder.http_port}/jibri/api/v1.0/health"
    async with aiohttp.ClientSession() as http:
        for _ in range(int(timeout * 5)):
            async with http.get(url) as response:
                body = await response.json()
            if body["status"]["busyStatus"] == "IDLE":
                return body
            await asyncio.sleep(0.2)
    raise AssertionError(f"the recorder is still {body}")
