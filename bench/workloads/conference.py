"""conference: the whole stack (our xmpp, focus and bridge), N conferences of M lightweight participants.

Each participant logs in, sends the conference request, joins the room, answers the focus's
Jingle offer and sends media with a talk/silence pattern (audio only while talking, video always).
Reported: the join-time distribution (login, conference request, MUC join, offer, first media),
and every `--check-every` seconds whether media reaches every participant. `--kill-bridge-at T`
starts a second bridge, kills at T seconds the one that carries the participants, and reports the
time until media flows to everyone again.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import time
from pathlib import Path

import aiohttp

from .. import harness, plots
from ..participant import Participant
from ..progress import Progress
from ..servers import MUC, Ours, Server, ServerFailed, logs_in
from ..stats import summary

TICK = 0.02
MEDIA_TIMEOUT = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conferences", type=int, default=4, help="conferences (default %(default)s)")
    parser.add_argument("--participants", type=int, default=3, help="participants per conference (default %(default)s)")
    parser.add_argument("--transport", choices=("tcp", "websocket", "bosh"), default="tcp",
                        help="the participants' XMPP transport (default %(default)s)")
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds of media once everyone joined (default %(default)s)")
    parser.add_argument("--check-every", type=float, default=2.0,
                        help="seconds between media checks (default %(default)s)")
    parser.add_argument("--talk-seconds", type=float, default=3.0,
                        help="talk, then stay silent, for this long in turn (default %(default)s)")
    parser.add_argument("--kill-bridge-at", type=float, default=None,
                        help="kill the first bridge this many seconds into the media phase (a second one takes over)")
    parser.add_argument("--concurrency", type=int, default=10, help="joins in flight at once (default %(default)s)")
    harness.add_common(parser, timeout=600)


async def run(args: argparse.Namespace) -> int:
    if min(args.conferences, args.participants, args.concurrency) < 1 or args.duration <= 0:
        raise SystemExit("--conferences, --participants, --concurrency and --duration must be positive")
    if args.kill_bridge_at is not None and not 0 < args.kill_bridge_at < args.duration:
        raise SystemExit("--kill-bridge-at must fall inside --duration")
    params = {k: getattr(args, k) for k in ("conferences", "participants", "transport", "duration", "check_every",
                                            "talk_seconds", "kill_bridge_at", "concurrency")}
    root = harness.workdir(args)
    samples: dict[str, list[float]] = {}

    async def body(result: dict) -> None:
        figures = result["servers"]["ours"] = {}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            try:
                await whole_stack(args, http, root, figures, samples)
            except ServerFailed as exc:
                figures["failed"] = str(exc).splitlines()[0]
                raise
        for kind, count in figures.get("errors", {}).items():
            result["errors"].append(f"ours: {kind} x{count}")
        if figures.get("recovery_s", 0) is None:
            result["errors"].append("media did not recover after the bridge was killed")

    result = await harness.bounded(args, body, params)
    return harness.finish(args, result, lambda out: [plots.latency_cdfs(
        out, "conference-join", f"conference: {args.conferences} x {args.participants} participants, join times",
        {"time from the start of the join (ours)": dict(samples)})])


async def whole_stack(args, http: aiohttp.ClientSession, root: Path, figures: dict,
                      samples: dict[str, list[float]]) -> None:
    stack = Ours(root / "stack", services=("xmpp", "focus", "bridge"), wait_for_focus=True)
    spare: Ours | None = None

    async def focus_answers(server: Server) -> None:
        await logs_in(http, server, args.transport, focus=True)

    participants: list[Participant] = []
    try:
        await stack.start(focus_answers)
        figures["version"] = stack.version()
        if args.kill_bridge_at is not None:
            spare = Ours(root / "spare-bridge", services=("bridge",), extra_env={
                "XMPP_PORT": str(stack.c2s_port), "JVB_AUTH_PASSWORD": stack.jvb_password,
                "JVB_MUC_NICKNAME": "bench-jvb-spare"})
            await spare.start(lambda _: asyncio.sleep(1.0))
        stack.start_sampling()
        url = stack.url(args.transport)
        for c in range(args.conferences):
            room = f"conf{c}-{os.urandom(3).hex()}@{MUC}"
            participants.extend(Participant(http, args.transport, url, room, f"p{c}x{n}")
                                for n in range(args.participants))
        await join_all(args, participants, figures)
        await media_phase(args, http, [stack] + ([spare] if spare else []), participants, figures)
        figures["server"] = stack.stop_sampling()
    finally:
        for start in range(0, len(participants), 50):
            await asyncio.gather(*(p.close() for p in participants[start:start + 50]), return_exceptions=True)
        if spare is not None:
            await spare.stop()
        await stack.stop()
    for step in ("login", "conference_request", "muc_join", "offer", "first_media"):
        values = [p.timings[step] for p in participants if step in p.timings]
        samples[step] = values
        figures[f"{step}_ms"] = summary(harness.ms(values))
    errors: dict[str, int] = figures.setdefault("errors", {})
    for p in participants:
        for error in p.errors:
            kind = error.split(":", 1)[0]
            errors[kind] = errors.get(kind, 0) + 1


async def join_all(args, participants: list[Participant], figures: dict) -> None:
    progress = Progress("conference: join", len(participants))
    limit = asyncio.Semaphore(args.concurrency)

    async def one(p: Participant) -> None:
        async with limit:
            try:
                await p.join()
            except Exception as exc:  # noqa: BLE001 - one participant's failure is counted, not fatal
                p.errors.append(f"join: {exc}")
            progress.advance()

    await asyncio.gather(*(one(p) for p in participants))
    progress.close()
    progress = Progress("conference: media up", len(participants))

    async def media_up(p: Participant) -> None:
        try:
            await asyncio.wait_for(p.connected.wait(), MEDIA_TIMEOUT)
        except asyncio.TimeoutError:
            if not p.errors:
                p.errors.append("media: no offer answered and connected in time")
        progress.advance()

    await asyncio.gather(*(media_up(p) for p in participants if not p.errors))
    progress.close()


async def endpoints_on(http: aiohttp.ClientSession, stack: Ours) -> int:
    """The endpoints a stack's bridge holds, from its /metrics (0 when it does not answer)."""
    try:
        async with http.get(f"http://127.0.0.1:{stack.colibri_port}/metrics") as answer:
            text = await answer.text()
    except aiohttp.ClientError:
        return 0
    found = re.search(r"^jitsi_endpoints (\d+)", text, re.MULTILINE)
    return int(found.group(1)) if found else 0


async def media_phase(args, http: aiohttp.ClientSession, stacks: list[Ours], participants: list[Participant],
                      figures: dict) -> None:
    stack = stacks[0]
    loop = asyncio.get_running_loop()
    start = last = last_check = loop.time()
    seen = {id(p): 0 for p in participants}
    checks: list[float] = []
    killed_at: float | None = None
    recovered_at: float | None = None
    progress = Progress("conference: media", int(args.duration / args.check_every) or 1)
    while (now := loop.time()) - start < args.duration:
        dt, last = now - last, now
        elapsed = now - start
        for index, p in enumerate(participants):
            media = p.media
            if media is None or not p.connected.is_set():
                continue
            media.talking = int(elapsed / args.talk_seconds) % 2 == index % 2
            try:
                await media.tick(dt, elapsed)
            except ConnectionError:
                p.connected.clear()
            if "first_media" not in p.timings and media.reception.packets:
                p.timings["first_media"] = time.perf_counter() - p.started
        if args.kill_bridge_at is not None and killed_at is None and elapsed >= args.kill_bridge_at:
            # the bridge the focus put the participants on: both were in the brewery when they came
            carrying = [await endpoints_on(http, s) for s in stacks]
            bridge = stacks[carrying.index(max(carrying))].process("bridge").proc
            os.killpg(bridge.pid, signal.SIGKILL)
            killed_at = elapsed
        interval = 0.5 if killed_at is not None and recovered_at is None else args.check_every
        if now - last_check >= interval:
            flowing = 0
            for p in participants:
                count = p.media.reception.packets if p.media is not None else 0
                if p.connected.is_set() and count > seen[id(p)]:
                    flowing += 1
                seen[id(p)] = count
            checks.append(flowing / len(participants))
            if killed_at is not None and recovered_at is None and elapsed - killed_at > interval \
                    and flowing == len(participants):
                recovered_at = elapsed
            last_check = now
            progress.advance(note=f"media to {flowing}/{len(participants)}")
        await asyncio.sleep(max(0.0, TICK - (loop.time() - now)))
    progress.close()
    for name in ("xmpp", "focus"):
        if stack.process(name).exited() is not None:
            raise stack.process(name).failure("died during the run")
    figures["checks"] = len(checks)
    figures["checks_all_flowing"] = sum(1 for c in checks if c == 1.0)
    figures["min_flowing_fraction"] = round(min(checks), 3) if checks else 0.0
    figures["received_packets"] = sum(p.media.reception.packets for p in participants if p.media is not None)
    figures["offers"] = sum(p.offers for p in participants)
    if killed_at is not None:
        figures["bridge_killed_at_s"] = round(killed_at, 2)
        figures["recovery_s"] = round(recovered_at - killed_at, 2) if recovered_at is not None else None
