"""xmpp: N anonymous clients over WebSocket or BOSH log in, join R rooms and chat; ours beside an anchor.

Modes: the default chat mode; `--big-room` (a newcomer's time to receive every presence of a room
of `--occupants`); `--focus` (our full stack: the conference request to the focus before each
join, as the Jitsi client does; no anchor has a focus, so it runs on ours alone).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from .. import harness, plots
from ..progress import Progress
from ..servers import ANCHORS, DOMAIN, FOCUS, MUC, Ours, Server, ServerFailed, logs_in
from ..stats import ratio, summary
from ..xmpp_client import Client, XmppError

DRAIN_SECONDS = 5.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=200, help="clients (default %(default)s)")
    parser.add_argument("--rooms", type=int, default=10, help="rooms the clients spread over (default %(default)s)")
    parser.add_argument("--transport", choices=("websocket", "bosh", "tcp"), default="websocket",
                        help="WebSocket (RFC 7395), BOSH (XEP-0206) or plain c2s TCP (default %(default)s)")
    parser.add_argument("--messages", type=int, default=5, help="groupchat messages per client (default %(default)s)")
    parser.add_argument("--rate", type=float, default=1.0, help="messages per second per client (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=50,
                        help="logins and joins in flight at once (default %(default)s)")
    parser.add_argument("--against", action="append", choices=sorted(ANCHORS), default=[],
                        help="also run the identical workload on this anchor (repeatable)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds, each running every server in turn; samples are pooled (default %(default)s)")
    parser.add_argument("--no-ours", action="store_true", help="run only the anchors (to check the harness)")
    parser.add_argument("--big-room", action="store_true",
                        help="big-room mode: time for a newcomer to get every presence")
    parser.add_argument("--occupants", type=int, default=400, help="big-room occupants (default %(default)s)")
    parser.add_argument("--newcomers", type=int, default=5,
                        help="big-room newcomers, one after the other (default %(default)s)")
    parser.add_argument("--focus", action="store_true",
                        help="our full stack (xmpp + focus, wait-for-focus on): conference request before each join")
    harness.add_common(parser, timeout=600)


def check(args: argparse.Namespace) -> None:
    if args.focus and args.against:
        raise SystemExit("--focus runs on our full stack only: no anchor has a focus")
    if args.focus and args.no_ours:
        raise SystemExit("--focus needs our stack")
    if args.no_ours and not args.against:
        raise SystemExit("--no-ours needs at least one --against")
    for name in ("clients", "rooms", "messages", "concurrency", "occupants", "newcomers", "repeat"):
        if getattr(args, name) < 1 and not (name == "messages" and getattr(args, name) == 0):
            raise SystemExit(f"--{name} must be positive")
    if args.rate <= 0:
        raise SystemExit("--rate must be positive")


@dataclass
class Tally:
    """Samples (seconds) and counters of one server's run."""

    connect: list[float] = field(default_factory=list)
    auth: list[float] = field(default_factory=list)
    bind: list[float] = field(default_factory=list)
    login: list[float] = field(default_factory=list)
    conference: list[float] = field(default_factory=list)
    join: list[float] = field(default_factory=list)
    e2e: list[float] = field(default_factory=list)
    newcomer: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    expected: int = 0
    delivered: int = 0
    first_send: float = 0.0
    last_delivery: float = 0.0
    chat_seconds: float = 0.0  # summed over rounds: first send to last delivery

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def servers_for(args: argparse.Namespace, root: Path) -> list[Server]:
    chosen: list[Server] = []
    if not args.no_ours:
        services = ("xmpp", "focus") if args.focus else ("xmpp",)
        chosen.append(Ours(root / "ours", services=services, wait_for_focus=args.focus))
    chosen.extend(ANCHORS[name](root / name) for name in args.against)
    return chosen


async def run(args: argparse.Namespace) -> int:
    check(args)
    params = {k: getattr(args, k) for k in ("clients", "rooms", "transport", "messages", "rate", "concurrency",
                                            "against", "big_room", "occupants", "newcomers", "focus", "repeat")}
    root = harness.workdir(args)
    tallies: dict[str, Tally] = {}

    async def body(result: dict) -> None:
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as http:
            # rounds interleave the servers, so a change in the shared machine's load hits them alike
            for round_ in range(args.repeat):
                for server in servers_for(args, root / f"round{round_}"):
                    tally = tallies.setdefault(server.name, Tally())
                    figures = result["servers"].setdefault(server.name, {"version": server.version()})
                    if "failed" in figures:
                        continue
                    try:
                        usage = await run_on(args, http, server, tally)
                    except ServerFailed as exc:
                        figures["failed"] = str(exc).splitlines()[0]
                        result["errors"].append(f"{server.name}: {exc}")
                        continue
                    figures["server"] = merge_usage(figures.get("server"), usage)
        for name, tally in tallies.items():
            result["servers"][name].update(digest(tally, args))
        ours = result["servers"].get("ours")
        for anchor in args.against:
            if ours and "failed" not in ours and "failed" not in result["servers"].get(anchor, {"failed": 1}):
                result["ratios"][anchor] = ratios(ours, result["servers"][anchor])
        for name, figures in result["servers"].items():
            if figures.get("errors"):
                result["errors"].append(f"{name}: " + ", ".join(f"{k} x{v}" for k, v in figures["errors"].items()))

    result = await harness.bounded(args, body, params)
    mode = "bigroom" if args.big_room else ("focus" if args.focus else "chat")
    return harness.finish(args, result, lambda out: plots.xmpp(out, mode, args.transport, {
        name: {"login": t.login, "join": t.join, "e2e": t.e2e, "newcomer": t.newcomer} for name, t in tallies.items()}))


def merge_usage(before: dict | None, usage: dict) -> dict:
    """CPU seconds add up over rounds; peak RSS is the highest seen."""
    if before is None:
        return usage
    return {name: {"cpu_s": round(before[name]["cpu_s"] + value["cpu_s"], 2),
                   "peak_rss_mb": max(before[name]["peak_rss_mb"], value["peak_rss_mb"])}
            for name, value in usage.items()}


async def run_on(args: argparse.Namespace, http: aiohttp.ClientSession, server: Server, tally: Tally) -> dict:
    """One round on one server; its CPU and memory use."""
    async def probe(server: Server) -> None:
        await logs_in(http, server, args.transport, focus=args.focus)  # with --focus, it answers too

    try:
        await server.start(probe)
        server.start_sampling()
        url = server.url(args.transport)
        if args.big_room:
            await big_room(args, http, url, server, tally)
        else:
            await chat(args, http, url, server, tally)
        return server.stop_sampling()
    finally:
        await server.stop()


async def login_all(args, http, url: str, count: int, tally: Tally, label: str) -> list[Client]:
    progress = Progress(f"{label}: login", count)
    limit = asyncio.Semaphore(args.concurrency)
    clients: list[Client | None] = [None] * count

    async def one(index: int) -> None:
        async with limit:
            client = Client(http, args.transport, url, DOMAIN)
            try:
                timings = await client.login()
            except (XmppError, aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                tally.error(f"login ({str(exc) or type(exc).__name__})"[:80])
                await client.close()
            else:
                for step in ("connect", "auth", "bind", "login"):
                    getattr(tally, step).append(timings[step])
                clients[index] = client
            progress.advance()

    await asyncio.gather(*(one(i) for i in range(count)))
    progress.close()
    return [c for c in clients if c is not None]


async def join_one(args, client: Client, room: str, nick: str, tally: Tally) -> bool:
    try:
        started = time.perf_counter()
        if args.focus:
            await client.conference_request(FOCUS, room)
            tally.conference.append(time.perf_counter() - started)
        await client.join(room, nick)
        tally.join.append(time.perf_counter() - started)
        return True
    except (XmppError, aiohttp.ClientError, OSError) as exc:
        tally.error(f"join ({str(exc) or type(exc).__name__})"[:80])
        return False


async def chat(args, http, url: str, server: Server, tally: Tally) -> None:
    label = server.name
    clients = await login_all(args, http, url, args.clients, tally, label)
    rooms = [f"bench{n}@{MUC}" for n in range(args.rooms)]
    occupancy = {room: 0 for room in rooms}
    progress = Progress(f"{label}: join", len(clients))
    limit = asyncio.Semaphore(args.concurrency)
    joined: list[tuple[Client, str]] = []

    def received(_from: str, body: str) -> None:
        if body.startswith("t"):
            now = time.perf_counter_ns()
            tally.delivered += 1
            tally.e2e.append((now - int(body[1:body.index(" ")])) / 1e9)
            tally.last_delivery = now / 1e9

    async def enter(index: int, client: Client) -> None:
        room = rooms[index % len(rooms)]
        async with limit:
            if await join_one(args, client, room, f"u{index}", tally):
                occupancy[room] += 1
                joined.append((client, room))
                client.on_groupchat = received
            progress.advance()

    await asyncio.gather(*(enter(i, c) for i, c in enumerate(clients)))
    progress.close()
    server.check_alive()
    await asyncio.sleep(1.0)

    progress = Progress(f"{label}: chat", len(joined) * args.messages)
    tally.first_send = time.perf_counter()

    async def talk(index: int, client: Client, room: str) -> None:
        await asyncio.sleep(random.random() / args.rate)
        for _ in range(args.messages):
            if client.closed.is_set():
                tally.error("closed")
                return
            client.groupchat(room, f"t{time.perf_counter_ns()} {index}")
            tally.sent += 1
            tally.expected += occupancy[room]
            progress.advance()
            await asyncio.sleep(1 / args.rate)

    await asyncio.gather(*(talk(i, c, r) for i, (c, r) in enumerate(joined)))
    progress.close()
    deadline = time.monotonic() + DRAIN_SECONDS
    while tally.delivered < tally.expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    tally.chat_seconds += max(0.0, tally.last_delivery - tally.first_send)
    server.check_alive()
    await close_all(clients)


async def big_room(args, http, url: str, server: Server, tally: Tally) -> None:
    label = server.name
    room = f"bigroom@{MUC}"
    clients = await login_all(args, http, url, args.occupants + args.newcomers, tally, label)
    occupants, newcomers = clients[:args.occupants], clients[args.occupants:]
    progress = Progress(f"{label}: fill room", len(occupants))
    in_room = 0
    for start in range(0, len(occupants), args.concurrency):
        batch = occupants[start:start + args.concurrency]
        done = await asyncio.gather(*(join_one(args, c, room, f"u{start + i}", tally) for i, c in enumerate(batch)))
        in_room += sum(done)
        progress.advance(len(batch))
    progress.close()
    server.check_alive()
    progress = Progress(f"{label}: newcomers", len(newcomers))
    for index, client in enumerate(newcomers):
        seen: set[str] = set()
        client.on_presence = (lambda p, seen=seen:
                              seen.add(p.get("from", "")) if p.get("from", "").startswith(room) else None)
        nick = f"newcomer{index}"
        started = time.perf_counter()
        try:
            await client.join(room, nick, timeout=60)
        except (XmppError, aiohttp.ClientError, OSError):
            tally.error("newcomer join")
        else:
            tally.newcomer.append(time.perf_counter() - started)
            if len(seen) < in_room:
                tally.error("newcomer missed presences")
            client.leave(room, nick)
        progress.advance()
        await asyncio.sleep(0.2)
    progress.close()
    server.check_alive()
    await close_all(clients)


async def close_all(clients: list[Client]) -> None:
    for start in range(0, len(clients), 100):
        await asyncio.gather(*(c.close() for c in clients[start:start + 100]), return_exceptions=True)


def digest(tally: Tally, args: argparse.Namespace) -> dict:
    out = {
        "connect_ms": summary(harness.ms(tally.connect)),
        "auth_ms": summary(harness.ms(tally.auth)),
        "bind_ms": summary(harness.ms(tally.bind)),
        "login_ms": summary(harness.ms(tally.login)),
        "join_ms": summary(harness.ms(tally.join)),
        "errors": dict(tally.errors),
    }
    if args.focus:
        out["conference_request_ms"] = summary(harness.ms(tally.conference))
    if args.big_room:
        out["newcomer_all_presences_ms"] = summary(harness.ms(tally.newcomer))
    else:
        span = max(1e-9, tally.chat_seconds)
        lost = max(0, tally.expected - tally.delivered)
        out.update({
            "e2e_ms": summary(harness.ms(tally.e2e)),
            "messages_sent": tally.sent,
            "deliveries_expected": tally.expected,
            "deliveries": tally.delivered,
            "lost": lost,
            "fanout_per_s": round(tally.delivered / span, 1) if tally.delivered else 0.0,
        })
        if lost:
            tally.error("lost deliveries")
            out["errors"] = dict(tally.errors)
    return out


RATIO_KEYS = (("login_ms", "p50"), ("login_ms", "p99"), ("join_ms", "p50"), ("join_ms", "p99"),
              ("e2e_ms", "p50"), ("e2e_ms", "p99"), ("newcomer_all_presences_ms", "p50"))


def ratios(ours: dict, theirs: dict) -> dict:
    """ours / theirs: below 1 is better for latencies, CPU and memory; above 1 is better for rates."""
    out = {}
    for key, stat in RATIO_KEYS:
        if key in ours and key in theirs:
            value = ratio(ours[key].get(stat), theirs[key].get(stat))
            if value is not None:
                out[f"{key}.{stat}"] = float(f"{value:.3g}")
    for key in ("fanout_per_s",):
        if key in ours and key in theirs:
            value = ratio(ours[key], theirs[key])
            if value is not None:
                out[key] = float(f"{value:.3g}")
    if "server" in ours and "server" in theirs:
        for key in ("cpu_s", "peak_rss_mb"):
            value = ratio(ours["server"]["total"][key], theirs["server"]["total"][key])
            if value is not None:
                out[f"server.{key}"] = float(f"{value:.3g}")
    return out
