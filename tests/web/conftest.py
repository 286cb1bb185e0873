"""Shared helpers for the web service tests: settings in a temp CONFIG, a running app, node."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess

import pytest
from aiohttp.test_utils import TestClient, TestServer

from jitsi_py.settings import Settings
from jitsi_py.web.app import build_app
from jitsi_py.web.service import make_state

NODE = shutil.which("node")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_for(tmp_path, **env: str) -> Settings:
    return Settings.from_values({"CONFIG": str(tmp_path), **env})


def evaluate_config(text: str) -> dict:
    """Run config.js in node (it must be valid JavaScript) and return the resulting object."""
    script = text + "\nprocess.stdout.write(JSON.stringify(typeof interfaceConfig !== 'undefined' ? " \
        "interfaceConfig : config));"
    out = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture
async def client_factory(tmp_path):
    made: list[TestClient] = []

    async def make(https: bool = False, **env: str) -> TestClient:
        state = make_state(settings_for(tmp_path, **env))
        await state.proxy.start()
        client = TestClient(TestServer(build_app(state, https=https)))
        await client.start_server()
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()
