"""Sentry reporting against a stand-in ingest on loopback: the event envelopes a service sends."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from xml.etree.ElementTree import fromstring

import pytest
import sentry_sdk
from aiohttp import web

from jitsi_py.common import ns, runner, sentry
from jitsi_py.settings import Settings, SettingsError
from jitsi_py.xmpp.plugins import PLUGIN_DIR
from jitsi_py.xmpp.server import XmppServer


class Ingest:
    """An aiohttp server on its own thread standing in for Sentry's ``/api/<project>/envelope/``."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.headers: list[dict] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/api/1/envelope/", self._envelope)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _envelope(self, request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp undoes the SDK's gzip
        lines = body.split(b"\n")
        self.headers.append(json.loads(lines[0]))
        for item_header, payload in zip(lines[1::2], lines[2::2]):
            if json.loads(item_header).get("type") == "event":
                self.events.append(json.loads(payload))
        return web.json_response({})

    @property
    def dsn(self) -> str:
        return f"http://public-key@127.0.0.1:{self.port}/1"

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def ingest():
    server = Ingest()
    yield server
    sentry_sdk.get_client().close(timeout=2)
    sentry_sdk.init()  # no DSN: whatever logs after this test reports nothing
    server.close()


def flushed(ingest: Ingest, count: int) -> list[dict]:
    sentry_sdk.flush(timeout=10)
    assert len(ingest.events) == count, ingest.events
    return ingest.events


def sentry_settings(**values: str):
    return Settings.from_values(values).common.sentry


def test_a_logged_error_reaches_the_ingest_with_environment_release_and_service(ingest, caplog):
    caplog.set_level(logging.INFO)  # LOG_LEVEL's default
    assert sentry.setup(sentry_settings(JICOFO_SENTRY_DSN=ingest.dsn, SENTRY_ENVIRONMENT="staging",
                                        SENTRY_RELEASE="2026.12-1"), "jitsi_py.focus")
    logging.getLogger("jitsi_py.focus.client").info("a breadcrumb, not an event")
    logging.getLogger("jitsi_py.focus.client").error("focus: cannot join %s", "standup@muc.meet.jitsi")
    (event,) = flushed(ingest, 1)
    assert (event["environment"], event["release"], event["level"]) == ("staging", "2026.12-1", "error")
    assert event["logentry"]["message"] == "focus: cannot join %s"
    assert event["logentry"]["params"] == ["standup@muc.meet.jitsi"]
    assert event["logger"] == "jitsi_py.focus.client"
    assert event["tags"]["service"] == "jicofo"
    assert [b["message"] for b in event["breadcrumbs"]["values"]][-1] == "a breadcrumb, not an event"
    assert ingest.headers[0]["event_id"] == event["event_id"]


def test_an_exception_escaping_a_plugins_hook_is_reported_with_its_traceback(ingest, tmp_path):
    directory = tmp_path / PLUGIN_DIR
    directory.mkdir(parents=True)
    (directory / "faulty.py").write_text(
        "from jitsi_py.xmpp.muc.hooks import Hook\n"
        "def setup(ctx):\n"
        "    def pre_join(join):\n"
        "        raise KeyError('no such quota')\n"
        "    ctx.on(Hook.PRE_JOIN, pre_join)\n")
    settings = Settings.from_values({"CONFIG": str(tmp_path), "XMPP_MUC_MODULES": "faulty", "SENTRY_DSN": ingest.dsn,
                                     "JITSI_PY_MUC_WAIT_FOR_FOCUS": "0"})
    assert sentry.setup(settings.common.sentry, "jitsi_py")
    server = XmppServer(settings)
    server.router.route(fromstring(
        f"<presence xmlns='{ns.CLIENT}' from='alice@meet.jitsi/web' to='standup@muc.meet.jitsi/alice'>"
        f"<x xmlns='{ns.MUC}'/></presence>"), None)
    (event,) = flushed(ingest, 1)
    assert event["level"] == "error" and event["tags"]["service"] == "prosody"
    assert event["logentry"]["message"].startswith("component %s failed on a stanza")
    (exception,) = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("KeyError", "'no such quota'")
    assert exception["stacktrace"]["frames"][-1]["function"] == "pre_join"
    assert event["release"].startswith("jitsi-py@")
    assert "environment" in event  # the SDK's own default when SENTRY_ENVIRONMENT is unset


def test_the_runner_starts_reporting_for_its_service(ingest, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONFIG", str(tmp_path))
    monkeypatch.setenv("JVB_SENTRY_DSN", ingest.dsn)
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "prod")

    async def run(settings, ready):
        logging.getLogger("jitsi_py.bridge.udp").warning("media port: %d packets dropped", 3)

    assert runner.start("jitsi_py.bridge", run, None) == 0
    (event,) = flushed(ingest, 1)
    assert (event["level"], event["environment"], event["tags"]["service"]) == ("warning", "prod", "jvb")


@pytest.mark.parametrize("values, entry, chosen", [
    ({}, "jitsi_py", None),
    ({"JICOFO_SENTRY_DSN": "0", "JVB_SENTRY_DSN": '"0"'}, "jitsi_py", None),  # upstream's off, compose's quotes
    ({"JVB_SENTRY_DSN": "https://k@s.example/2"}, "jitsi_py.focus", None),  # not the focus's
    ({"JVB_SENTRY_DSN": "https://k@s.example/2"}, "jitsi_py.bridge", ("JVB_SENTRY_DSN", "https://k@s.example/2")),
    ({"JVB_SENTRY_DSN": "https://k@s.example/2"}, "jitsi_py", ("JVB_SENTRY_DSN", "https://k@s.example/2")),
    ({"JVB_SENTRY_DSN": "https://k@s.example/2", "JICOFO_SENTRY_DSN": "https://k@s.example/3"}, "jitsi_py",
     ("JICOFO_SENTRY_DSN", "https://k@s.example/3")),
    ({"SENTRY_DSN": '"https://k@s.example/1"', "JICOFO_SENTRY_DSN": "https://k@s.example/3"}, "jitsi_py.focus",
     ("SENTRY_DSN", "https://k@s.example/1")),
    ({"SENTRY_DSN": "https://k@s.example/1"}, "jitsi_py.xmpp", ("SENTRY_DSN", "https://k@s.example/1")),
    ({"JICOFO_SENTRY_DSN": "https://k@s.example/3", "JIGASI_SENTRY_DSN": "https://k@s.example/4"}, "jitsi_py.web",
     None),
])
def test_which_dsn_a_process_reports_with(values, entry, chosen):
    assert sentry.chosen_dsn(sentry_settings(**values), entry) == chosen


@pytest.mark.parametrize("value", ["notadsn", "https://s.example/1", "ftp://k@s.example/1"])
def test_a_malformed_dsn_is_that_variables_error(value):
    with pytest.raises(SettingsError, match="^JICOFO_SENTRY_DSN="):
        sentry_settings(JICOFO_SENTRY_DSN=value)
