"""Relays across real interfaces: two of our bridges (``python -m jitsi_py.bridge``), each in a network
namespace of its own (one "host" each), joined by veth pairs to a Linux bridge in the root namespace,
which carries the root's address; our XMPP server, focus and two meeting participants run in the
root namespace and reach both bridges through it. The focus puts one participant on each bridge and
links them with a relay; each hears the other's tone across it. Then the path between the two
bridges alone is cut (iptables in one bridge's namespace): both bridges find the relay failed, each
participant is told the other is inactive, the focus moves one of them onto the other's bridge, and
they hear each other again there."""

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aioice.ice
import pytest

from jitsi_py.common.meeting import Meeting, XmppServer, events

from ..common.meeting.media import ToneTrack, tone_energy
from ..support.stack import running_stack

pytestmark = [pytest.mark.system, pytest.mark.timeout(120)]

RELAY_TIMEOUT = 4  # JITSI_PY_BRIDGE_RELAY_TIMEOUT: keep-alives every 1.3 s, failure found in 4-5 s
REST_PORT = 8080  # each bridge's own, in its own namespace


def _run(*argv: str, attempts: int = 1) -> None:
    """``attempts``: for a command the kernel may refuse for a moment (an nftables rule change while
    another one commits); its last failure is raised with what it printed."""
    for attempt in range(attempts):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        if done.returncode == 0:
            return
        if attempt + 1 < attempts:
            time.sleep(0.5)
    raise AssertionError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")


@pytest.fixture
def hosts():
    """``{"root": address, "a": (namespace, address), "b": ...}`` on a /24 of 10/8 picked at random
    (another run may hold another); everything is deleted on the way out."""
    tag = secrets.token_hex(3)
    subnet = f"10.{secrets.randbelow(200) + 30}.{secrets.randbelow(250) + 1}"
    bridge = f"jpb{tag}"
    made: list[str] = []
    try:
        _run("ip", "link", "add", bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{subnet}.1/24", "dev", bridge)
        _run("ip", "link", "set", bridge, "up")
        out = {"root": f"{subnet}.1"}
        for index, name in enumerate(("a", "b"), start=2):
            netns = f"jitsipy-{tag}-{name}"
            _run("ip", "netns", "add", netns)
            made.append(netns)
            _run("ip", "-n", netns, "link", "set", "lo", "up")
            _run("ip", "link", "add", f"jp{tag}{name}", "type", "veth", "peer", "name", "eth0", "netns", netns)
            _run("ip", "link", "set", f"jp{tag}{name}", "master", bridge, "up")
            _run("ip", "-n", netns, "addr", "add", f"{subnet}.{index}/24", "dev", "eth0")
            _run("ip", "-n", netns, "link", "set", "eth0", "up")
            _run("ip", "-n", netns, "route", "add", "default", "via", f"{subnet}.1")
            out[name] = (netns, f"{subnet}.{index}")
        yield out
    finally:
        for netns in made:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, timeout=10)


async def start_bridge(netns: str, name: str, xmpp: tuple[str, int], directory: Path) -> asyncio.subprocess.Process:
    directory.mkdir(parents=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory), "CONFIG": str(directory),
        "XMPP_SERVER": xmpp[0], "XMPP_PORT": str(xmpp[1]), "JVB_AUTH_PASSWORD": "jvb-secret",
        "JVB_MUC_NICKNAME": f"jvb-{name}", "JVB_PORT": "10000", "JVB_COLIBRI_PORT": str(REST_PORT),
        "COLIBRI_REST_ENABLED": "1", "JVB_DISABLE_STUN": "1", "JITSI_PY_BRIDGE_WORKERS": "1",
        "ENABLE_OCTO": "1", "JVB_OCTO_RELAY_ID": f"relay-{name}",
        "JITSI_PY_BRIDGE_RELAY_TIMEOUT": str(RELAY_TIMEOUT), "LOG_LEVEL": "info",
    }
    log = open(directory / "bridge.log", "wb")  # noqa: SIM115 -- the process holds it
    return await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", netns, sys.executable, "-m", "jitsi_py.bridge", env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)


async def stats(address: str) -> dict:
    def get() -> dict:
        with urllib.request.urlopen(f"http://{address}:{REST_PORT}/colibri/stats", timeout=3) as answer:
            return json.loads(answer.read())
    return await asyncio.to_thread(get)


def metrics(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}:{REST_PORT}/metrics", timeout=3) as answer:
        return answer.read().decode()


async def until(predicate, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.1)


class Listener:
    """A meeting's events, kept as they come; the audio tracks' frames are read here."""

    def __init__(self, meeting: Meeting) -> None:
        self.meeting = meeting
        self.events: list = []
        self.task = asyncio.ensure_future(self._collect())

    async def _collect(self) -> None:
        async for event in self.meeting.events():
            self.events.append(event)

    def audio_tracks(self) -> list:
        return [e.track for e in self.events if isinstance(e, events.TrackAdded) and e.kind == "audio"]

    def connectivity(self, endpoint_id: str) -> list[bool]:
        return [e.active for e in self.events if isinstance(e, events.EndpointConnectivity)
                and e.endpoint_id == endpoint_id]

    async def hears_tone(self, tracks_before: int) -> bool:
        """The first audio track added after ``tracks_before`` of them carries the other's tone."""
        tracks = self.audio_tracks()
        if len(tracks) <= tracks_before:
            return False
        track = tracks[tracks_before]
        frames = [await asyncio.wait_for(track.recv(), 10) for _ in range(40)]
        rms, share = tone_energy(frames[-25:])
        return rms > 1000 and share > 0.8


async def test_a_relay_cut_between_two_hosts_is_seen_by_both_bridges_and_the_focus_moves_one_side(
        hosts, tmp_path, monkeypatch):
    root = hosts["root"]
    # The participants' ICE candidates: the root's address on the Linux bridge, the only way to the hosts.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: [root])
    async with running_stack(tmp_path, PROSODY_INTERFACES=f"127.0.0.1,{root}", ENABLE_OCTO="1",
                             OCTO_BRIDGE_SELECTION_STRATEGY="SplitBridgeSelectionStrategy") as stack:
        c2s = stack.settings.xmpp.c2s_port
        bridges = {name: await start_bridge(hosts[name][0], name, (root, c2s), tmp_path / f"jvb-{name}")
                   for name in ("a", "b")}
        server = XmppServer.of(stack.settings.common.domains, "127.0.0.1", c2s)
        alice = Meeting(server, display_name="Alice", audio_source=ToneTrack(), receive_video=False)
        bob = Meeting(server, display_name="Bob", audio_source=ToneTrack(), receive_video=False)
        listeners: list[Listener] = []
        try:
            async def in_brewery() -> bool:
                try:
                    answers = [await stats(hosts[n][1]) for n in ("a", "b")]
                except OSError:
                    return False
                return [s.get("relay_id") for s in answers] == ["relay-a", "relay-b"]
            await until(in_brewery, 30, "both bridges up")
            await asyncio.sleep(1)  # their brewery presence reaches the focus
            await alice.join("relaycut", wait_for_media=False)
            listeners.append(Listener(alice))
            await bob.join("relaycut")
            listeners.append(Listener(bob))
            heard_alice, heard_bob = listeners

            # One participant on each host, linked by a relay over the veths: each hears the other.
            async def placed() -> bool:
                both = [await stats(hosts[n][1]) for n in ("a", "b")]
                return all(s["endpoints"] == 1 and s["octo_conferences"] == 1 for s in both)
            await until(placed, 20, "one participant on each bridge, relayed")
            for listener in listeners:
                await until(lambda listener=listener: listener.hears_tone(0), 20, "the tone across the relay")
            for name in ("a", "b"):
                before = await stats(hosts[name][1])
                assert before["relays_failed"] == 0 and before["total_srtp_rejected"] == 0

            # Cut bridge A from bridge B, both ways; every other path stays.
            netns_a, address_b = hosts["a"][0], hosts["b"][1]
            for chain, flag in (("INPUT", "-s"), ("OUTPUT", "-d")):
                _run("ip", "netns", "exec", netns_a, "iptables", "-w", "-I", chain, flag, address_b, "-j", "DROP",
                     attempts=3)

            async def told_inactive() -> bool:
                return (False in heard_alice.connectivity(bob.endpoint_id)
                        and False in heard_bob.connectivity(alice.endpoint_id))
            await until(told_inactive, RELAY_TIMEOUT + 10, "each told the other is inactive")

            # Both bridges found it; the focus moved one side (a tie: the bridge that joined later, as
            # tests/focus/test_octo.py checks): the conference is on one bridge, and they hear each other.
            async def moved() -> bool:
                a, b = await stats(hosts["a"][1]), await stats(hosts["b"][1])
                return sorted((a["endpoints"], b["endpoints"])) == [0, 2] and a["octo_conferences"] == 0 \
                    and b["octo_conferences"] == 0
            await until(moved, 20, "one side moved onto the other bridge")
            for name in ("a", "b"):
                assert (await stats(hosts[name][1]))["relays_failed"] == 1
                assert "\njitsi_relays_failed 1\n" in await asyncio.to_thread(metrics, hosts[name][1])
            for listener in listeners:
                await until(lambda listener=listener: listener.hears_tone(1), 25, "the tone on one bridge")

            # The one who stayed is told the moved one is active again once its media reach the bridge.
            async def active_again() -> bool:
                return any(listener.connectivity(other.endpoint_id)[-1:] == [True]
                           for listener, other in ((heard_alice, bob), (heard_bob, alice)))
            await until(active_again, 15, "the moved participant announced active")
        finally:
            for meeting in (alice, bob):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(meeting.leave(), 5)
            for listener in listeners:
                listener.task.cancel()
            for process in bridges.values():
                if process.returncode is None:
                    process.terminate()
            for process in bridges.values():
                try:
                    await asyncio.wait_for(process.wait(), 5)
                except asyncio.TimeoutError:
                    process.kill()
                    await process.wait()
