"""XEP-0114 external components with slixmpp's ComponentXMPP, and the accounts CLI."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys

import pytest
from slixmpp import ComponentXMPP

from .conftest import connect, disconnect


@pytest.fixture
def settings_values() -> dict[str, str]:
    return {"JICOFO_COMPONENT_SECRET": "comp-secret"}


async def start_component(server, domain: str, secret: str) -> tuple[ComponentXMPP, str]:
    component = ComponentXMPP(domain, secret, "127.0.0.1", server.listening.component_port)
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    component.add_event_handler("session_start", lambda _e: outcome.done() or outcome.set_result("ok"))
    component.add_event_handler("disconnected", lambda _e: outcome.done() or outcome.set_result("disconnected"))
    component.connect()
    return component, await asyncio.wait_for(outcome, 10)


async def test_component_handshake_and_routing_both_ways(server):
    component, outcome = await start_component(server, "custom.meet.jitsi", "comp-secret")
    client = await connect(server, "meet.jitsi", mechanism="ANONYMOUS")
    try:
        assert outcome == "ok"
        assert "custom.meet.jitsi" in server.router.components
        to_component: asyncio.Future = asyncio.get_running_loop().create_future()
        component.add_event_handler("message", lambda m: to_component.done() or to_component.set_result(m))
        client.send_message(mto="bot@custom.meet.jitsi", mbody="hi component")
        got = await asyncio.wait_for(to_component, 5)
        assert got["body"] == "hi component" and got["from"] == client.boundjid
        to_client: asyncio.Future = asyncio.get_running_loop().create_future()
        client.add_event_handler("message", lambda m: to_client.done() or to_client.set_result(m))
        component.send_message(mto=client.boundjid.full, mbody="hi client", mfrom="bot@custom.meet.jitsi")
        assert (await asyncio.wait_for(to_client, 5))["body"] == "hi client"
    finally:
        component.disconnect()
        await disconnect(client)
    await asyncio.sleep(0.2)
    assert "custom.meet.jitsi" not in server.router.components


async def test_component_with_a_wrong_secret_is_refused(server):
    component, outcome = await start_component(server, "custom.meet.jitsi", "wrong")
    component.disconnect()
    assert outcome == "disconnected"
    assert "custom.meet.jitsi" not in server.router.components


async def test_a_probe_that_connects_and_closes_costs_nothing(server, caplog):
    """A health check's bare TCP connect: the component session ends without error."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.listening.component_port)
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.2)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def run_cli(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CONFIG": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "jitsi_py.xmpp", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_accounts_cli_like_prosodyctl(tmp_path):
    ok = run_cli(tmp_path, "register", "alice", "meet.jitsi", "correct-horse-battery")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")
    assert run_cli(tmp_path, "register", "bob", "meet.jitsi", "pw").returncode == 0
    listed = run_cli(tmp_path, "list-users", "meet.jitsi")
    assert listed.returncode == 0 and listed.stdout.split() == ["alice", "bob"]
    gone = run_cli(tmp_path, "unregister", "carol", "meet.jitsi")
    assert gone.returncode != 0 and "carol" in gone.stderr
    assert run_cli(tmp_path, "unregister", "alice", "meet.jitsi").returncode == 0
    assert run_cli(tmp_path, "list-users", "meet.jitsi").stdout.split() == ["bob"]
    database = (tmp_path / "xmpp" / "accounts.sqlite3").read_bytes()
    assert b"correct-horse-battery" not in database  # only SCRAM material is stored


def test_server_refuses_to_start_without_service_passwords(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PASSWORD")}
    env["CONFIG"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "jitsi_py.xmpp"], env=env, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert proc.returncode == 2
    assert "JICOFO_AUTH_PASSWORD" in proc.stderr
