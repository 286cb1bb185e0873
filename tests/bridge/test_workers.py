"""Bridge workers: each worker's identity, the host's REST figures, and live: a host of two workers in
the brewery, one conference spanning both over a relay, a killed worker restarted, one drained
worker not restarted."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import aiohttp
import pytest

from jitsi_py.bridge.workers import host_metrics, host_stats, worker_settings
from jitsi_py.focus.client import Focus
from jitsi_py.settings import Settings

from ..focus.conftest import until, xmpp_server  # noqa: F401 - the fixture, on Prosody and on ours
from ..focus.harness import BREWERY, FOCUS_PASSWORD, MUC, BridgeProcess, free_port
from ..focus.test_media import media_participants

BASE = {"JVB_PORT": "10000", "JVB_MUC_NICKNAME": "host-a", "JVB_COLIBRI_PORT": "8080",
        "COLIBRI_WEBSOCKET_PORT": "9090", "JVB_OCTO_RELAY_ID": "relay-a", "JITSI_PY_BRIDGE_WORKERS": "3",
        "JVB_ADVERTISE_IPS": "198.51.100.7#20000,203.0.113.5"}


def test_each_worker_is_a_bridge_of_its_own_on_the_next_port():
    settings = Settings.from_values(BASE)
    assert settings.bridge.workers == 3
    second = worker_settings(settings, 2).bridge
    assert (second.port, second.nickname, second.relay_id, second.workers) == (10002, "host-a-2", "relay-a-2", 1)
    # a NAT's public port moves with the worker's; a bare address is the same for all
    assert second.advertise_ips == ("198.51.100.7#20002", "203.0.113.5")
    # its REST answers the supervisor on loopback, next to the host's port
    assert (second.colibri_port, second.http_interfaces, second.colibri_rest) == (8083, ("127.0.0.1",), True)
    assert (second.websocket_server_id, second.websocket_port) == ("jvb-2", 9093)
    assert worker_settings(settings, 0).bridge.port == 10000


def test_workers_default_to_the_usable_cores():
    import os

    assert Settings.from_values({}).bridge.workers == len(os.sched_getaffinity(0))


def test_host_figures_sum_the_workers_and_keep_each():
    settings = Settings.from_values(BASE)
    alive = SimpleNamespace(is_alive=lambda: True, pid=4242)
    supervisor = SimpleNamespace(workers=[
        SimpleNamespace(index=i, settings=worker_settings(settings, i), process=alive, restarts=i) for i in range(2)])
    per_worker = [{"conferences": 2, "participants": 5, "healthy": True, "drain": False, "region": "eu"},
                  {"conferences": 1, "participants": 3, "healthy": False, "drain": False, "region": "eu"}]
    stats = host_stats(supervisor, per_worker)
    assert (stats["conferences"], stats["participants"], stats["healthy"]) == (3, 8, False)
    assert [w["nickname"] for w in stats["workers"]] == ["host-a-0", "host-a-1"]
    assert stats["workers"][1]["stats"]["participants"] == 3 and stats["workers"][1]["restarts"] == 1
    text = host_metrics(supervisor, per_worker)
    assert 'jitsi_participants{worker="0"} 5\njitsi_participants{worker="1"} 3' in text
    assert "jitsi_bridge_workers 2" in text and 'jitsi_bridge_worker_restarts_total{worker="1"} 1' in text


@pytest.fixture
async def octo_focus(xmpp_server):  # noqa: F811
    """Octo with the split strategy, so that two participants land on two workers; Colibri2 answers
    get the focus's default time, the workers sharing a machine that runs other suites."""
    focus = Focus(Settings.from_values({
        "XMPP_SERVER": "127.0.0.1", "XMPP_PORT": str(xmpp_server.c2s_port), "JICOFO_AUTH_PASSWORD": FOCUS_PASSWORD,
        "JICOFO_REST_PORT": str(free_port()), "ENABLE_OCTO": "1",
        "OCTO_BRIDGE_SELECTION_STRATEGY": "SplitBridgeSelectionStrategy"}))
    await focus.start()
    await asyncio.wait_for(focus.connected.wait(), 15)
    yield focus
    await focus.stop()


def host_of_workers(server, nick: str, directory, workers: int = 2, **env: str) -> BridgeProcess:
    bridge = BridgeProcess(server.c2s_port, nick, directory)
    bridge.env.update({"JITSI_PY_BRIDGE_WORKERS": str(workers), "COLIBRI_REST_ENABLED": "1",
                       "SHUTDOWN_REST_ENABLED": "1", **env})
    return bridge


async def rest(bridge: BridgeProcess, path: str, body: dict | None = None) -> tuple[int, object]:
    url = f"http://127.0.0.1:{bridge.env['JVB_COLIBRI_PORT']}{path}"
    async with aiohttp.ClientSession() as http:
        request = http.post(url, json=body) if body is not None else http.get(url)
        async with request as response:
            kind = response.content_type
            return response.status, await (response.json() if kind == "application/json" else response.text())


@pytest.mark.system
@pytest.mark.timeout(120)
async def test_a_conference_spans_two_workers_over_a_relay(xmpp_server, octo_focus, tmp_path):  # noqa: F811
    """The split strategy puts the two participants on different workers of one host, which relay
    to each other exactly as two hosts' bridges do; each decodes the other's video."""
    host = host_of_workers(xmpp_server, "host", tmp_path, ENABLE_OCTO="1", JVB_OCTO_RELAY_ID="relay-host")
    people = []
    try:
        await host.start()
        occupants = [f"{BREWERY}/host-0", f"{BREWERY}/host-1"]
        await until(lambda: all(o in octo_focus.bridges.bridges for o in occupants), 60)
        assert octo_focus.bridges.bridges[occupants[1]].relay_id == "relay-host-1"
        people = await media_participants(xmpp_server, octo_focus, f"span@{MUC}")
        for person in people:
            await person.answer()
        assert await asyncio.gather(*(p.frames(3) for p in people)) == [3, 3]
        status, stats = await rest(host, "/colibri/stats")
        assert status == 200 and [w["stats"]["conferences"] for w in stats["workers"]] == [1, 1]
        assert stats["conferences"] == 2 and stats["octo_conferences"] == 2
    finally:
        for person in people:
            await person.stop()
        await host.stop()


@pytest.mark.system
@pytest.mark.timeout(120)
async def test_a_killed_worker_is_restarted_and_a_drained_one_is_not(xmpp_server, octo_focus, tmp_path):  # noqa: F811
    import os
    import signal

    host = host_of_workers(xmpp_server, "host", tmp_path)
    try:
        await host.start()
        occupants = [f"{BREWERY}/host-0", f"{BREWERY}/host-1"]
        await until(lambda: all(o in octo_focus.bridges.bridges for o in occupants), 60)
        status, stats = await rest(host, "/colibri/stats")
        worker_pid = stats["workers"][1]["pid"]
        os.kill(worker_pid, signal.SIGKILL)
        await until(lambda: occupants[1] not in octo_focus.bridges.bridges, 20)
        await until(lambda: occupants[1] in octo_focus.bridges.bridges, 60)  # back, restarted
        status, stats = await rest(host, "/colibri/stats")
        assert stats["workers"][1]["restarts"] == 1 and stats["workers"][1]["pid"] != worker_pid
        assert (await rest(host, "/about/health"))[0] == 200
        # one worker drained and shut down on request: it leaves for good, the other serves on
        status, _ = await rest(host, "/colibri/workers/0/shutdown", {"graceful-shutdown": True})
        assert status == 200
        await until(lambda: occupants[0] not in octo_focus.bridges.bridges, 20)
        await asyncio.sleep(2.5)  # past the first restart's backoff
        assert occupants[0] not in octo_focus.bridges.bridges and occupants[1] in octo_focus.bridges.bridges
        status, stats = await rest(host, "/colibri/stats")
        assert [w["running"] for w in stats["workers"]] == [False, True]
    finally:
        await host.stop()
