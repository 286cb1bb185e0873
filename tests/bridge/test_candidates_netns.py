"""Host candidates gathered on a real (namespaced) machine: a network namespace with one veth
interface carrying a private IPv4, a public-looking IPv4 and a unique-local IPv6 address, default
routes for both families. In it, the bridge gathers what JVB would, and two aiortc peers reach it
on those addresses (no loopback): one over IPv6, one over IPv4, through the one dual-stack port.

Run as a module inside the namespace for the media part (``python -m tests.bridge.test_candidates_netns``)."""

import asyncio
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import aioice.ice
import pytest

from jitsi_py.bridge.candidates import build_candidates, gather_host_addresses

from .conftest import running
from .peers import Peer

ROOT = Path(__file__).resolve().parents[2]
ADDRESSES = ("10.77.0.2/24", "203.0.113.77/24", "fd77::2/64")

pytestmark = pytest.mark.system


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def netns():
    name = f"jitsipy-{secrets.token_hex(4)}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        for address in ADDRESSES:
            _ip("-n", name, "addr", "add", address, "dev", "v0", *(("nodad",) if ":" in address else ()))
        _ip("-n", name, "link", "set", "v0", "up")
        _ip("-n", name, "link", "set", "v1", "up")
        _ip("-n", name, "route", "add", "default", "via", "10.77.0.1")
        _ip("-n", name, "-6", "route", "add", "default", "via", "fd77::1")
        yield name
    finally:
        _ip("netns", "del", name)


def _in(netns: str, *argv: str, timeout: float) -> str:
    done = subprocess.run(["ip", "netns", "exec", netns, sys.executable, *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_bridge_gathers_the_interfaces_and_peers_reach_it_on_them(netns):
    gathered = json.loads(_in(netns, "-c", "import json; from jitsi_py.bridge.candidates import "
                                           "gather_host_addresses as g; print(json.dumps(g(ipv6=True)))", timeout=20))
    # The default routes' addresses first, then the others; no loopback, no link-local.
    assert gathered == ["10.77.0.2", "fd77::2", "203.0.113.77"]
    result = json.loads(_in(netns, "-m", "tests.bridge.test_candidates_netns", timeout=90).splitlines()[-1])
    assert result["candidates"] == [["host", "10.77.0.2"], ["host", "fd77::2"], ["host", "203.0.113.77"]]
    assert result["public_only"] == [["host", "203.0.113.77"]]  # JVB_ADVERTISE_PRIVATE_CANDIDATES=0
    assert result["selected"] == {"alice": "fd77::2", "bob": "::ffff:203.0.113.77"}
    assert result["frames"] >= 2


async def _join() -> dict:
    hosts = gather_host_addresses(ipv6=True)
    async with running(host=None, hosts=hosts) as bridge:
        port = bridge.candidates[0].port
        alice = Peer(bridge, "netns", "alice", publish=True)
        bob = Peer(bridge, "netns", "bob", publish=False)
        alice.allocate(create_conference=True)
        bob.allocate(create_conference=False)
        try:
            aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["fd77::2"]
            await alice.connect([])
            aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["203.0.113.77"]
            await bob.connect([(alice.video_ssrc, "alice-v0")])
            track = await asyncio.wait_for(bob.track_future, 30)
            frames = 0
            for _ in range(2):
                await asyncio.wait_for(track.recv(), 30)
                frames += 1
            endpoints = bridge.conferences["netns"].endpoints
            return {"candidates": [[c.type, c.ip] for c in bridge.candidates],
                    "public_only": [[c.type, c.ip] for c in build_candidates(port, hosts, [], False)],
                    "selected": {name: endpoints[name].ice.selected[0] for name in ("alice", "bob")},
                    "frames": frames}
        finally:
            await alice.close()
            await bob.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_join())))
