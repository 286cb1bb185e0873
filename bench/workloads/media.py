"""media: publishers and receivers with real ICE, DTLS and SRTP on our bridge, swept until loss passes a limit.

Endpoints are allocated through Colibri2 over XMPP (the bench plays the focus on a hub: Debian's
Prosody by default, or our xmpp service) and send opus-sized audio at 50 packets/s and three
simulcast VP8 layers. Each step runs `--conferences` conferences of N participants, everyone
publishing and receiving, for `--step-seconds`; N follows `--steps`. Reported per step: forwarded
packets/s, loss (sequence gaps), end-to-end latency, bridge CPU per forwarded packet. In the same
run, the Python ceiling (a tight pylibsrtp protect + sendto loop) is the anchor: the bridge's
packet rate is printed as a fraction of it, and so is its rate per CPU-second.

``--against janus`` sweeps Debian's Janus (C, libsrtp; its VideoRoom SFU) in the same run with the
same endpoints, steps and loss limit (:mod:`..janus_client`), and adds the ratios ours/Janus. Janus
gathers ICE candidates only on an interface's address, never on loopback: the run moves into a
network namespace of its own (``unshare --net``) holding a veth pair whose address Janus uses;
traffic to it is local delivery, as loopback's is. bench/README.md says what compares and what not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from pathlib import Path

import aiohttp

from .. import ceiling, harness, media_client, plots
from ..allocator import Allocator, new_meeting
from ..janus_client import JanusParticipant, JanusSession, create_room, destroy_room, publish, subscribe
from ..media_client import SIMULCAST_SIZES, MediaEndpoint, Publication
from ..procstat import Sampler
from ..progress import Progress
from ..servers import DOMAIN, Janus, Ours, Prosody, Server, ServerFailed
from ..stats import knee, ratio, summary
from ..xmpp_client import Client

BRIDGE_NICK = "bench-jvb"
TICK = 0.02
PACING = 4  # slots per tick
# The bench's own network namespace for --against janus: a veth pair, Janus on one end's address.
NETNS_INTERFACE, NETNS_PEER, NETNS_ADDRESS = "bench0", "bench1", "10.77.0.1"
NETNS_SETUP = (f"ip link set lo up && ip link add {NETNS_INTERFACE} type veth peer name {NETNS_PEER} && "
               f"ip addr add {NETNS_ADDRESS}/24 dev {NETNS_INTERFACE} && ip link set {NETNS_INTERFACE} up && "
               f"ip link set {NETNS_PEER} up")
WARM_UP = 1.0  # seconds of media before a step's count: key frames, layer selection


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", default="2,4,6,8,10,12,14,16",
                        help="participants per conference at each step, comma separated (default %(default)s)")
    parser.add_argument("--conferences", type=int, default=1, help="conferences at each step (default %(default)s)")
    parser.add_argument("--step-seconds", type=float, default=5.0,
                        help="measured seconds per step (default %(default)s)")
    parser.add_argument("--loss-limit", type=float, default=0.005,
                        help="stop the sweep after the first step whose loss passes this fraction "
                             "(default %(default)s)")
    parser.add_argument("--no-retry", dest="retries", action="store_false",
                        help="end the sweep at the first step over the loss limit (default: run that step once more, "
                             "and end only if it fails again)")
    parser.add_argument("--hub", choices=("prosody", "ours"), default="prosody",
                        help="the XMPP server the bridge and the bench's focus stand-in meet on (default %(default)s)")
    parser.add_argument("--max-height", type=int, default=None,
                        help="every receiver asks (ReceiverVideoConstraints over colibri-ws) for video up to this "
                             "height; default: no request, the bridge's default (180p, the lowest layer)")
    parser.add_argument("--ceiling-seconds", type=float, default=1.0,
                        help="seconds per ceiling loop (default %(default)s)")
    parser.add_argument("--workers", type=int, default=1,
                        help="bridge worker processes (JITSI_PY_BRIDGE_WORKERS); each step's conferences are "
                             "placed on the workers in turn, as the focus spreads them (default %(default)s)")
    parser.add_argument("--against", choices=("janus",), default=None,
                        help="also sweep this compiled SFU in the same run and report ours/its ratios (janus: "
                             "Debian's Janus VideoRoom; the run moves into its own network namespace, which "
                             "needs root or user namespaces)")
    parser.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    harness.add_common(parser, timeout=900)


def parse_steps(text: str) -> list[int]:
    try:
        steps = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise SystemExit(f"--steps: not a list of integers: {text!r}") from None
    if not steps or any(n < 2 for n in steps):
        raise SystemExit("--steps: each step needs at least 2 participants")
    return steps


async def run(args: argparse.Namespace) -> int:
    steps = parse_steps(args.steps)
    if args.conferences < 1 or args.step_seconds <= 0 or args.workers < 1:
        raise SystemExit("--conferences, --step-seconds and --workers must be positive")
    if args.against == "janus" and not args.in_netns:
        return await rerun_in_own_network()
    params = {"steps": steps, "conferences": args.conferences, "step_seconds": args.step_seconds,
              "loss_limit": args.loss_limit, "hub": args.hub, "max_height": args.max_height,
              "retries": args.retries, "against": args.against, "workers": args.workers}
    root = harness.workdir(args)
    done_steps: list[dict] = []
    latencies: dict[str, list[float]] = {}

    async def body(result: dict) -> None:
        print("measuring the Python ceiling ...", flush=True)
        anchor = await asyncio.to_thread(ceiling.measure, args.ceiling_seconds)
        result["servers"]["ceiling"] = anchor
        figures = result["servers"]["bridge"] = {"hub": args.hub, "steps": done_steps}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            try:
                await sweep(args, http, root, steps, figures, latencies)
            except ServerFailed as exc:
                figures["failed"] = str(exc).splitlines()[0]
                raise
        best = knee([s for s in done_steps if not s.get("retried")], "loss", args.loss_limit)
        figures["knee"] = best
        if best is not None:
            figures["forwarded_pps"] = best["forwarded_pps"]
            figures["pps_per_cpu_s"] = best["pps_per_cpu_s"]
            # The anchor forwards what the bridge forwarded at the knee: its share of audio-sized
            # packets (most of them at the default layer), the rest video-sized.
            ceiling_pps = round(ceiling.mixed_pps(anchor, best["audio_share"]))
            anchor["forwarded_pps"] = ceiling_pps
            anchor["pps_per_cpu_s"] = ceiling_pps  # the loop keeps one CPU busy
            anchor["audio_share"] = best["audio_share"]
            result["ratios"]["ceiling"] = {
                "forwarded_pps": round(ratio(best["forwarded_pps"], ceiling_pps), 4),
                "pps_per_cpu_s": round(ratio(best["pps_per_cpu_s"], ceiling_pps) or 0.0, 4),
                # for reference only: against video-sized packets under pylibsrtp's default profile
                "pps_per_cpu_s_vs_video_aes_cm": round(
                    ratio(best["pps_per_cpu_s"], anchor["protect_sendto_video_aes_cm"]["pps"]) or 0.0, 4),
            }
        else:
            result["errors"].append("no step kept loss under the limit")
        if args.against == "janus":
            janus = result["servers"]["janus"] = {"steps": []}
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                await sweep_janus(args, http, root, steps, janus, janus_latencies)
            theirs = knee([s for s in janus["steps"] if not s.get("retried")], "loss", args.loss_limit)
            janus["knee"] = theirs
            if theirs is None:
                result["errors"].append("janus: no step kept loss under the limit")
            else:
                result["ratios"]["janus"] = compare(best, theirs)

    janus_latencies: dict[str, list[float]] = {}
    result = await harness.bounded(args, body, params)

    def draw(out: Path) -> list[Path]:
        pngs = []
        if done_steps:
            pngs.append(plots.media_sweep(out, [s for s in done_steps if not s.get("retried")],
                                          result["servers"].get("ceiling", {})))
        if latencies:
            series = {"RTP through the bridge": latencies}
            if janus_latencies:
                series["RTP through Janus"] = janus_latencies
            pngs.append(plots.latency_cdfs(out, "media-latency", "media: end-to-end latency by step", series))
        return pngs

    return harness.finish(args, result, draw)


def compare(ours: dict | None, theirs: dict) -> dict:
    """ours / Janus's at each side's knee: what an operator would get from one process of each."""
    if ours is None:
        return {"knee_participants": 0.0}

    def of(step: dict, key: str, sub: str | None = None) -> float | None:
        value = step.get(key)
        return value.get(sub) if sub is not None and isinstance(value, dict) else value

    out = {}
    for name, key, sub in (("knee_participants", "participants_total", None), ("forwarded_pps", "forwarded_pps", None),
                           ("pps_per_cpu_s", "pps_per_cpu_s", None), ("latency_p50", "latency_ms", "p50"),
                           ("latency_p99", "latency_ms", "p99"), ("peak_rss_mb", "bridge_peak_rss_mb", None)):
        value = ratio(of(ours, key, sub), of(theirs, key, sub))
        out[name] = None if value is None else round(value, 4)
    return out


async def rerun_in_own_network() -> int:
    """This very command again inside a new network namespace with the veth pair Janus needs; its
    output and results file are the run's."""
    unshare = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--net", "--map-root-user"]
    argv = [*unshare, "--", "sh", "-c", NETNS_SETUP + ' && exec "$@"', "sh",
            sys.executable, "-m", "bench", *sys.argv[1:], "--in-netns"]
    try:
        child = await asyncio.create_subprocess_exec(*argv)
    except FileNotFoundError as exc:
        raise SystemExit(f"--against janus needs unshare (util-linux) and ip (iproute2): {exc}") from None
    return await child.wait()


def hub_for(args: argparse.Namespace, root: Path, accounts: dict[str, str]) -> Server:
    if args.hub == "prosody":
        return Prosody(root / "hub", accounts=accounts)
    return Ours(root / "hub", services=("xmpp",), extra_env={
        "JICOFO_AUTH_PASSWORD": accounts["focus"], "JVB_AUTH_PASSWORD": accounts["jvb"]})


async def sweep(args, http: aiohttp.ClientSession, root: Path, steps: list[int], figures: dict,
                latencies: dict[str, list[float]]) -> None:
    accounts = {"focus": secrets.token_hex(8), "jvb": secrets.token_hex(8)}
    hub = hub_for(args, root, accounts)

    async def login(server: Server) -> None:
        client = Client(http, "tcp", server.url("tcp"), DOMAIN)
        try:
            await client.login()
        finally:
            await client.close()

    await hub.start(login)
    figures["hub_version"] = hub.version()
    bridge = Ours(root / "bridge", services=("bridge",), extra_env={
        "XMPP_PORT": str(hub.c2s_port), "JVB_AUTH_PASSWORD": accounts["jvb"], "JVB_MUC_NICKNAME": BRIDGE_NICK,
        "ENABLE_COLIBRI_WEBSOCKET": "1", "JITSI_PY_BRIDGE_WORKERS": str(args.workers)})
    bridge.extra_env["JVB_WS_DOMAIN"] = f"127.0.0.1:{bridge.colibri_ws_port}"
    nicks = [BRIDGE_NICK] if args.workers == 1 else [f"{BRIDGE_NICK}-{i}" for i in range(args.workers)]
    allocator = Allocator(http, hub.url("tcp"), "tcp", "focus", accounts["focus"], nicks)
    try:
        await allocator.start()

        async def bridge_in_brewery(_: Server) -> None:
            await asyncio.wait_for(allocator.bridge_seen.wait(), 4)  # every worker

        await bridge.start(bridge_in_brewery)
        figures["version"] = bridge.version()
        progress = Progress("media sweep", len(steps))
        for participants in steps:
            step = await run_step(args, http, allocator, bridge, participants, latencies)
            if step["loss"] > args.loss_limit and args.retries:
                # one stall of a shared machine should not end the sweep: a step must fail twice
                step["retried"] = True
                figures["steps"].append(step)
                step = await run_step(args, http, allocator, bridge, participants, latencies)
            figures["steps"].append(step)
            progress.advance(note=f"{participants}/conf: {step['forwarded_pps']:.0f} pps, loss {step['loss']:.4f}")
            if step["loss"] > args.loss_limit:
                break
        progress.close()
    finally:
        await allocator.close()
        await bridge.stop()
        await hub.stop()


async def run_step(args, http: aiohttp.ClientSession, allocator: Allocator, bridge: Ours, participants: int,
                   latencies: dict[str, list[float]]) -> dict:
    conferences = []
    endpoints: list[MediaEndpoint] = []
    try:
        for c in range(args.conferences):
            meeting_id, room = new_meeting()
            allocator.place(meeting_id, c)
            members = [MediaEndpoint(Publication.random(f"e{c}x{n}{secrets.token_hex(2)}"))
                       for n in range(participants)]
            endpoints.extend(members)
            conferences.append((meeting_id, members))
            await asyncio.gather(*(m.gather() for m in members))
            connecting = []
            channels = []
            for n, member in enumerate(members):
                remote = await allocator.create_endpoint(meeting_id, room, n == 0, member.publication)
                await allocator.set_transport(meeting_id, member.publication.endpoint_id, member.local_transport())
                connecting.append(member.connect(remote))
                if args.max_height is not None:
                    if not remote.web_sockets:
                        raise ValueError("--max-height needs colibri-ws, and the bridge offered none")
                    channels.append((member, remote.web_sockets[0]))
            await asyncio.gather(*connecting)
            for member, url in channels:
                await member.open_channel(http, url, args.max_height)
        bridge.check_alive()
        await send_for(endpoints, WARM_UP)
        for member in endpoints:
            member.reception.reset()
            member.sent = member.sent_audio = 0
        sampler = Sampler(bridge.processes[0].proc.pid)
        sampler.start()
        bench_cpu = time.process_time()
        drops = udp_receive_drops()
        media_ports = [bridge.jvb_port + i for i in range(args.workers)]
        bridge_drops = socket_drops(media_ports)
        started = time.perf_counter()
        await send_for(endpoints, args.step_seconds)
        await asyncio.sleep(0.3)  # what is in flight lands
        elapsed = time.perf_counter() - started
        usage = sampler.stop()
        usage["bench_cpu_s"] = time.process_time() - bench_cpu
        usage["udp_drops"] = udp_receive_drops() - drops
        usage["bridge_socket_drops"] = socket_drops(media_ports) - bridge_drops
        bridge.check_alive()
    finally:
        for meeting_id, members in conferences:
            await allocator.expire(meeting_id, [m.publication.endpoint_id for m in members])
        await asyncio.gather(*(m.close() for m in endpoints))
    return step_figures(args, participants, endpoints, elapsed, usage, latencies)


async def sweep_janus(args, http: aiohttp.ClientSession, root: Path, steps: list[int], figures: dict,
                      latencies: dict[str, list[float]]) -> None:
    janus = Janus(root / "janus", NETNS_INTERFACE)

    async def serves(server: Server) -> None:
        async with http.get(f"{janus.api_url}/info") as response:
            if response.status != 200:
                raise ServerFailed(f"janus: /info answered {response.status}")

    await janus.start(serves)
    figures["version"] = janus.version()
    media_client.HOST_ADDRESSES[:] = [NETNS_ADDRESS]
    try:
        progress = Progress("janus sweep", len(steps))
        for participants in steps:
            step = await run_janus_step(args, http, janus, participants, latencies)
            if step["loss"] > args.loss_limit and args.retries:
                step["retried"] = True
                figures["steps"].append(step)
                step = await run_janus_step(args, http, janus, participants, latencies)
            figures["steps"].append(step)
            progress.advance(note=f"{participants}/conf: {step['forwarded_pps']:.0f} pps, loss {step['loss']:.4f}")
            if step["loss"] > args.loss_limit:
                break
        progress.close()
    finally:
        media_client.HOST_ADDRESSES[:] = ["127.0.0.1"]
        await janus.stop()


def janus_substream(max_height: int | None) -> int:
    """The simulcast layer our bridge forwards: its default (the lowest) or the highest that fits."""
    if max_height is None:
        return 0
    fitting = [n for n, (_, height) in enumerate(SIMULCAST_SIZES) if height <= max_height]
    return fitting[-1] if fitting else 0


async def run_janus_step(args, http: aiohttp.ClientSession, janus: Janus, participants: int,
                         latencies: dict[str, list[float]]) -> dict:
    session = JanusSession(http, janus.api_url, (NETNS_ADDRESS,))
    await session.create()
    rooms: list[int] = []
    members: list[JanusParticipant] = []
    try:
        admin = await session.attach()
        for c in range(args.conferences):
            room = await create_room(session, admin, participants)
            rooms.append(room)
            conference = [JanusParticipant(MediaEndpoint(Publication.random(f"e{c}x{n}{secrets.token_hex(2)}"),
                                                         ice_controlling=True),
                                           MediaEndpoint(Publication.random(f"r{c}x{n}{secrets.token_hex(2)}")))
                          for n in range(participants)]
            members.extend(conference)
            await asyncio.gather(*(m.publisher.gather() for m in conference),
                                 *(m.subscriber.gather() for m in conference))
            await asyncio.gather(*(publish(session, room, m) for m in conference))
            substream = janus_substream(args.max_height)
            await asyncio.gather(*(subscribe(session, room, m, [o.feed for o in conference if o is not m], substream)
                                   for m in conference))
        janus.check_alive()
        publishers = [m.publisher for m in members]
        receivers = [m.subscriber for m in members]
        await send_for(publishers, WARM_UP)
        for endpoint in publishers + receivers:
            endpoint.reception.reset()
            endpoint.sent = endpoint.sent_audio = 0
        sampler = Sampler(janus.processes[0].proc.pid)
        sampler.start()
        bench_cpu = time.process_time()
        drops = udp_receive_drops()
        started = time.perf_counter()
        await send_for(publishers, args.step_seconds)
        await asyncio.sleep(0.3)
        elapsed = time.perf_counter() - started
        usage = sampler.stop()
        usage["bench_cpu_s"] = time.process_time() - bench_cpu
        usage["udp_drops"] = udp_receive_drops() - drops
        usage["bridge_socket_drops"] = 0  # Janus binds a port per peer connection: in the machine-wide count
        janus.check_alive()
    finally:
        for room in rooms:
            await destroy_room(session, room)
        await session.close()
        await asyncio.gather(*(e.close() for m in members for e in (m.publisher, m.subscriber)))
    return step_figures(args, participants, publishers + receivers, elapsed, usage, latencies)


async def send_for(endpoints: list[MediaEndpoint], seconds: float) -> None:
    """One ticker for every endpoint, spread over PACING slots per TICK as browsers' pacers spread
    their packets; a late tick sends what it owes."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    last = [start] * len(endpoints)
    slot = 0
    while True:
        now = loop.time()
        if now - start >= seconds:
            return
        for index in range(slot, len(endpoints), PACING):
            dt = now - last[index]
            last[index] = now
            if dt > 0:
                await endpoints[index].tick(dt, now - start)
        slot = (slot + 1) % PACING
        await asyncio.sleep(max(0.0, TICK / PACING - (loop.time() - now)))


def udp_receive_drops() -> int:
    """The kernel's count of datagrams dropped for a full socket buffer, machine-wide."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")]
    return int(lines[1][lines[0].index("RcvbufErrors")])


def socket_drops(ports: list[int]) -> int:
    """Datagrams the kernel dropped at the UDP socket(s) bound to `ports` (their `drops` column)."""
    total = 0
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) in ports:
            total += int(fields[-1])
    return total


def step_figures(args, participants: int, endpoints: list[MediaEndpoint], elapsed: float, usage: dict,
                 latencies: dict[str, list[float]]) -> dict:
    received = sum(m.reception.packets for m in endpoints)
    expected = sum(m.reception.expected() for m in endpoints)
    sent = sum(m.sent for m in endpoints)
    audio_sent = sum(m.sent_audio for m in endpoints)
    audio_received = sum(m.reception.audio_packets for m in endpoints)
    samples = [s for m in endpoints for s in m.reception.latencies]
    latencies[f"{participants} x {args.conferences}"] = samples
    cpu = usage["cpu_s"]
    audio_delivery = audio_received / max(1, audio_sent * (participants - 1))
    gap_loss = 1 - received / expected if expected else 1.0
    return {
        "participants": participants,
        "participants_total": participants * args.conferences,
        "seconds": round(elapsed, 2),
        "sent_pps": round(sent / elapsed, 1),
        "forwarded_pps": round(received / elapsed, 1),
        # every receiver should get every other participant's audio
        "audio_delivery": round(audio_delivery, 4),
        "audio_share": round(audio_received / received, 4) if received else 0.0,
        # a stream that never arrives leaves no sequence gap: audio owed but not delivered is lost too
        # (an overloaded Janus delivered a fifth of the audio with no gap at all)
        "loss": round(max(gap_loss, 1 - audio_delivery), 5),
        # of the packets decrypted as samples, those whose SRTP did not check out (should be 0)
        "undecryptable": sum(m.reception.undecryptable for m in endpoints),
        "latency_ms": summary(harness.ms(samples)),
        "bridge_cpu_s": cpu,
        "bridge_cpu_share": round(cpu / elapsed, 3),
        # the endpoints live in the bench's one process: near 1.0, the figures are the bench's limit
        "bench_cpu_share": round(usage["bench_cpu_s"] / elapsed, 3),
        # machine-wide socket-buffer drops during the step (other work on the machine counts too)
        "kernel_udp_drops": usage["udp_drops"],
        # of which at the bridge's media port: its receive buffer overflowed
        "bridge_socket_drops": usage["bridge_socket_drops"],
        "cpu_us_per_packet": round(cpu / received * 1e6, 2) if received else None,
        "pps_per_cpu_s": round(received / cpu, 1) if cpu else None,
        "bridge_peak_rss_mb": usage["peak_rss_mb"],
    }
