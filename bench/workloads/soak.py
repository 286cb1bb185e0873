"""soak: the whole stack for N minutes under churn, chat and media; each service's resources over time, judged
for growth.

Our four services run as separate processes (xmpp, focus, bridge, web), so every figure is per
service. Waves of participants come and go in `--lanes` staggered lanes: each wave opens
`--rooms` new rooms of `--participants` lightweight participants (conference request, MUC join,
Jingle answer, real ICE/DTLS/SRTP media through the bridge; XMPP over WebSocket and BOSH, half of
them straight to the xmpp service and half through the web service's proxy), who chat and send
media for `--media-seconds`, then leave; the rooms end with them.

Every `--sample-every` seconds, per service: resident memory (VmRSS) and open fds from /proc, the
event-loop lag and asyncio task count from its /metrics. The first `--warmup` seconds are not
judged; when they end, everyone leaves and the idle figures are the baseline. Judged:
  - RSS: the median of the last fifth of the loaded samples may not pass the median of the first
    fifth by more than `--max-rss-growth` (fraction) plus `--max-rss-growth-mb`;
  - fds and tasks: after the last participant left they must come back within `--max-fd-growth`
    and `--max-task-growth` of the baseline (waited for up to `--settle` seconds);
  - event-loop lag: the p99 of the loaded samples stays under `--max-loop-lag` seconds.
Any failed join, lost chat message or participant without media is an error too. Exit code 1 on
any failure, with the reason on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from .. import harness, plots
from ..participant import Participant
from ..servers import MUC, Ours, Server, ServerFailed, logs_in
from ..stats import percentile, summary

SERVICES = ("xmpp", "focus", "bridge", "web")
TICK = 0.02
MEDIA_TIMEOUT = 30.0
MAX_MINUTES = 240
PROGRESS_EVERY = 60.0
LAG = "jitsi_py_event_loop_lag_seconds"
TASKS = "jitsi_py_asyncio_tasks"
# The machine's share of the lag: an idle asyncio process beside the services, probing as their
# LoopMonitor does (250 ms sleeps; the worst lateness of the last 20), its figure on every line.
CONTROL = """
import asyncio, collections
async def main():
    loop = asyncio.get_running_loop()
    lags = collections.deque(maxlen=20)
    while True:
        before = loop.time()
        await asyncio.sleep(0.25)
        lags.append(max(0.0, loop.time() - before - 0.25))
        print(max(lags), flush=True)
asyncio.run(main())
"""
# (XMPP transport, which service the client talks to): the web service proxies both transports
ROUTES = (("websocket", "xmpp"), ("bosh", "web"), ("websocket", "web"), ("bosh", "xmpp"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=5.0,
                        help=f"length of the soak, warm-up included (default %(default)s, at most {MAX_MINUTES})")
    parser.add_argument("--warmup", type=float, default=30.0,
                        help="seconds of churn before the baseline; not judged (default %(default)s)")
    parser.add_argument("--lanes", type=int, default=2,
                        help="waves running side by side, staggered (default %(default)s)")
    parser.add_argument("--rooms", type=int, default=1, help="rooms per wave (default %(default)s)")
    parser.add_argument("--participants", type=int, default=3, help="participants per room (default %(default)s)")
    parser.add_argument("--media-seconds", type=float, default=10.0,
                        help="seconds of media and chat per wave (default %(default)s)")
    parser.add_argument("--messages", type=int, default=3,
                        help="groupchat messages each participant sends per wave (default %(default)s)")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between samples (default %(default)s)")
    parser.add_argument("--settle", type=float, default=45.0,
                        help="seconds allowed for fds and tasks to come back once everyone left (default %(default)s)")
    parser.add_argument("--max-rss-growth", type=float, default=Bounds.rss_growth,
                        help="RSS growth allowed, as a fraction of the first fifth's median (default %(default)s)")
    parser.add_argument("--max-rss-growth-mb", type=float, default=Bounds.rss_growth_mb,
                        help="RSS growth allowed on top of the fraction, MB (default %(default)s)")
    parser.add_argument("--max-fd-growth", type=int, default=Bounds.fd_growth,
                        help="open fds allowed above the baseline once everyone left (default %(default)s)")
    parser.add_argument("--max-task-growth", type=int, default=Bounds.task_growth,
                        help="asyncio tasks allowed above the baseline once everyone left (default %(default)s)")
    parser.add_argument("--max-loop-lag", type=float, default=Bounds.loop_lag,
                        help="p99 of the event-loop lag under load, seconds (default %(default)s)")
    harness.add_common(parser, timeout=0, ceiling="0: the soak's length plus the settling and a margin")


@dataclass(frozen=True)
class Bounds:
    rss_growth: float = 0.20
    rss_growth_mb: float = 20.0
    fd_growth: int = 10
    task_growth: int = 20
    loop_lag: float = 0.1

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Bounds:
        return cls(args.max_rss_growth, args.max_rss_growth_mb, args.max_fd_growth, args.max_task_growth,
                   args.max_loop_lag)


def judge(service: str, loaded: list[dict], baseline: dict, final: dict, bounds: Bounds,
          control_lag_p99: float = 0.0) -> tuple[dict, list[str]]:
    """Figures and failures of one service. `loaded`: its samples after the warm-up, in time order,
    each {"rss_mb", "fds", "tasks", "lag_s"}; `baseline` and `final`: its idle samples before the
    loaded phase and once everyone left; `control_lag_p99`: what an idle process on the same
    machine saw meanwhile (a shared machine that does not schedule a process for 300 ms stalls
    every loop on it: that is not the service's lag)."""
    failures: list[str] = []
    if len(loaded) < 5:
        return {}, [f"{service}: {len(loaded)} samples after the warm-up, too few to judge (5 at least)"]
    fifth = len(loaded) // 5
    first = statistics.median(s["rss_mb"] for s in loaded[:fifth])
    last = statistics.median(s["rss_mb"] for s in loaded[-fifth:])
    allowed = first * (1 + bounds.rss_growth) + bounds.rss_growth_mb
    if last > allowed:
        failures.append(f"{service}: RSS grew from {first:.1f} MB to {last:.1f} MB (median of the first and the last "
                        f"fifth), over the bound {allowed:.1f} MB "
                        f"(+{bounds.rss_growth:.0%} + {bounds.rss_growth_mb:g} MB)")
    for key, name, allowance in (("fds", "open fds", bounds.fd_growth), ("tasks", "asyncio tasks", bounds.task_growth)):
        if baseline.get(key) is None or final.get(key) is None:
            failures.append(f"{service}: no {name} figure at the baseline or at the end")
        elif final[key] > baseline[key] + allowance:
            failures.append(f"{service}: {name} at {final[key]} once everyone left, baseline {baseline[key]} "
                            f"(allowed +{allowance})")
    lags = [s["lag_s"] for s in loaded if s.get("lag_s") is not None]
    lag_p99 = percentile(lags, 99) if lags else None
    if lag_p99 is None:
        failures.append(f"{service}: no event-loop lag figures from its /metrics")
    elif lag_p99 - control_lag_p99 > bounds.loop_lag:
        failures.append(f"{service}: event-loop lag p99 {lag_p99 * 1000:.0f} ms under load, the idle control "
                        f"process's {control_lag_p99 * 1000:.0f} ms, over the bound {bounds.loop_lag * 1000:.0f} ms")
    figures = {
        "rss_mb_first": round(first, 1), "rss_mb_last": round(last, 1), "rss_mb_bound": round(allowed, 1),
        "rss_mb_baseline": baseline.get("rss_mb"), "rss_mb_final": final.get("rss_mb"),
        "rss_mb_peak": max(s["rss_mb"] for s in loaded),
        "fds_baseline": baseline.get("fds"), "fds_final": final.get("fds"), "fds_peak": max(s["fds"] for s in loaded),
        "tasks_baseline": baseline.get("tasks"), "tasks_final": final.get("tasks"),
        "tasks_peak": max((s["tasks"] for s in loaded if s.get("tasks") is not None), default=None),
        "loop_lag_ms": summary(harness.ms(lags)),
    }
    return figures, failures


# -- reading a service: /proc and /metrics -------------------------------------------------------------

def proc_figures(pid: int) -> dict:
    """Resident MB and open fds of one process; {} when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return {}
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return {"rss_mb": round(rss_kb / 1024, 1), "fds": fds}


def parse_metrics(text: str) -> dict:
    """The two loop gauges out of a Prometheus text exposition."""
    out: dict = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == LAG:
            out["lag_s"] = float(value)
        elif name == TASKS:
            out["tasks"] = int(float(value))
    return out


def metrics_urls(stack: Ours) -> dict[str, str]:
    return {
        "xmpp": f"http://127.0.0.1:{stack.http_port}/metrics",
        "focus": f"http://127.0.0.1:{stack.focus_rest_port}/metrics",
        "bridge": f"http://127.0.0.1:{stack.colibri_port}/metrics",
        "web": f"http://127.0.0.1:{stack.web_http_port}/metrics",
    }


class Control:
    """The idle control process; `lag` is its latest figure (None until it printed one)."""

    def __init__(self) -> None:
        self.lag: float | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(sys.executable, "-c", CONTROL,
                                                          stdin=asyncio.subprocess.DEVNULL,
                                                         stdout=asyncio.subprocess.PIPE)
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for line in self.proc.stdout:
            self.lag = float(line)

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@dataclass
class Soak:
    args: argparse.Namespace
    stack: Ours
    http: aiohttp.ClientSession
    scraper: aiohttp.ClientSession
    control: Control
    started: float = field(default_factory=time.monotonic)
    phase: str = "warmup"
    active: int = 0
    samples: list[dict] = field(default_factory=list)
    churn: dict = field(default_factory=lambda: {"waves": 0, "joins": 0, "chat_expected": 0, "chat_delivered": 0,
                                                 "media_packets": 0})
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    async def sample(self) -> dict:
        """/proc first, then /metrics: the scrape's own connection is not among the fds counted."""
        per_service = {name: proc_figures(self.stack.process(name).proc.pid) for name in SERVICES}
        urls = metrics_urls(self.stack)

        async def scrape(name: str) -> None:
            try:
                async with self.scraper.get(urls[name], timeout=aiohttp.ClientTimeout(total=5)) as response:
                    per_service[name].update(parse_metrics(await response.text()))
            except (aiohttp.ClientError, TimeoutError):
                self.error(f"{name} /metrics unanswered")

        await asyncio.gather(*(scrape(name) for name in SERVICES))
        sample = {"t": round(time.monotonic() - self.started, 1), "phase": self.phase, "participants": self.active,
                  "control_lag_s": self.control.lag, "services": per_service}
        self.samples.append(sample)
        return sample

    async def sampling(self) -> None:
        """Samples until cancelled; a line on stderr every minute, for long runs."""
        shown = -PROGRESS_EVERY
        while True:
            sample = await self.sample()
            self.stack.check_alive()
            if sample["t"] - shown >= PROGRESS_EVERY:
                shown = sample["t"]
                print(f"soak: {sample['t'] / 60:5.1f} min {sample['phase']}, {sample['participants']} online: "
                      + "; ".join(f"{name} {row}" for name, row in zip(SERVICES, cells(sample))),
                      file=sys.stderr, flush=True)
            await asyncio.sleep(self.args.sample_every)

    # -- churn ---------------------------------------------------------------------------------------

    def url(self, transport: str, via: str) -> str:
        if via == "xmpp":
            return self.stack.url(transport)
        path = "xmpp-websocket" if transport == "websocket" else "http-bind"
        scheme = "ws" if transport == "websocket" else "http"
        return f"{scheme}://127.0.0.1:{self.stack.web_http_port}/{path}"

    async def lane(self, index: int, until: float) -> None:
        wave_seconds = self.args.media_seconds + 5
        await asyncio.sleep(index * wave_seconds / self.args.lanes)
        number = 0
        while time.monotonic() < until:
            await self.wave(f"l{index}w{number}")
            number += 1

    async def wave(self, name: str) -> None:
        args = self.args
        participants: list[Participant] = []
        received: dict[str, int] = {}

        def counter(nick: str):
            def on_groupchat(_sender: str, body: str) -> None:
                received[nick] += body.startswith("soak ")
            return on_groupchat

        for r in range(args.rooms):
            room = f"soak-{name}r{r}-{os.urandom(3).hex()}@{MUC}"
            for n in range(args.participants):
                transport, via = ROUTES[(len(participants) + r) % len(ROUTES)]
                p = Participant(self.http, transport, self.url(transport, via), room, f"{name}r{r}p{n}")
                received[p.nick] = 0
                p.client.on_groupchat = counter(p.nick)
                participants.append(p)
        self.active += len(participants)
        self.churn["waves"] += 1
        try:
            await asyncio.gather(*(self.join(p) for p in participants))
            joined = [p for p in participants if not p.errors]
            await self.media_and_chat(joined)
            for p in joined:
                p.client.leave(p.room, p.nick)
            await asyncio.sleep(1.0)  # the last chat lands before the rooms close
            per_room: dict[str, int] = {}
            for p in joined:
                per_room[p.room] = per_room.get(p.room, 0) + 1
            # the room sends every message to every occupant, the sender included
            expected = sum(args.messages * k * k for k in per_room.values())
            delivered = sum(received[p.nick] for p in joined)
            self.churn["chat_expected"] += expected
            self.churn["chat_delivered"] += delivered
            if delivered < expected:
                self.error("chat: messages lost")
            for p in joined:
                packets = p.media.reception.packets if p.media is not None else 0
                self.churn["media_packets"] += packets
                if packets == 0 and args.participants > 1:
                    self.error("media: nothing received")
            for p in participants:
                for error in p.errors:
                    self.error(error.split(":", 1)[0])
        finally:
            await asyncio.gather(*(p.close() for p in participants), return_exceptions=True)
            self.active -= len(participants)

    async def join(self, p: Participant) -> None:
        try:
            await p.join()
            await asyncio.wait_for(p.connected.wait(), MEDIA_TIMEOUT)
            self.churn["joins"] += 1
        except Exception as exc:  # noqa: BLE001 - one participant's failure is counted, not fatal
            p.errors.append(f"join: {type(exc).__name__} {exc}")

    async def media_and_chat(self, participants: list[Participant]) -> None:
        loop = asyncio.get_running_loop()
        start = last = loop.time()
        spacing = self.args.media_seconds / (self.args.messages + 1)
        sent = 0
        while (now := loop.time()) - start < self.args.media_seconds:
            dt, last = now - last, now
            elapsed = now - start
            for index, p in enumerate(participants):
                media = p.media
                if media is None or not p.connected.is_set():
                    continue
                media.talking = int(elapsed / 3) % 2 == index % 2
                try:
                    await media.tick(dt, elapsed)
                except ConnectionError:
                    p.connected.clear()
            if sent < self.args.messages and elapsed >= (sent + 1) * spacing:
                sent += 1
                for p in participants:
                    p.client.groupchat(p.room, f"soak {p.nick} {sent}")
            await asyncio.sleep(max(0.0, TICK - (loop.time() - now)))

    async def churn_until(self, until: float) -> None:
        await asyncio.gather(*(self.lane(i, until) for i in range(self.args.lanes)))

    async def idle(self, close_to: dict | None) -> dict:
        """Samples every second once everyone left, until each service's fds and tasks hold still
        (two samples alike) or, with `close_to`, are within bounds of it; at most `--settle` seconds.
        The last sample is the answer."""
        self.phase = "settle"
        deadline = time.monotonic() + self.args.settle
        previous = None
        while True:
            sample = await self.sample()
            figures = sample["services"]
            if close_to is not None:
                done = all(figures[s].get("fds", 1 << 30) <= close_to[s].get("fds", 0) + self.args.max_fd_growth
                           and figures[s].get("tasks", 1 << 30) <= close_to[s].get("tasks", 0)
                           + self.args.max_task_growth for s in SERVICES)
            else:
                done = previous is not None and all(
                    (figures[s].get("fds"), figures[s].get("tasks"))
                    == (previous[s].get("fds"), previous[s].get("tasks"))
                    for s in SERVICES)
            if done or time.monotonic() >= deadline:
                return figures
            previous = figures
            await asyncio.sleep(1.0)


async def run(args: argparse.Namespace) -> int:
    if not 0 < args.minutes <= MAX_MINUTES:
        raise SystemExit(f"--minutes must be in (0, {MAX_MINUTES}]")
    if min(args.lanes, args.rooms, args.participants) < 1 or args.media_seconds <= 0 or args.sample_every <= 0:
        raise SystemExit("--lanes, --rooms, --participants, --media-seconds and --sample-every must be positive")
    if not 0 <= args.warmup < args.minutes * 60:
        raise SystemExit("--warmup must be shorter than the soak")
    # bounded by its own length: the churn stops starting waves at --minutes, then settles
    limit = args.minutes * 60 + 2 * args.settle + args.media_seconds + MEDIA_TIMEOUT + 120
    if not args.timeout:
        args.timeout = limit
    bounds = Bounds.from_args(args)
    params = {k: getattr(args, k) for k in ("minutes", "warmup", "lanes", "rooms", "participants", "media_seconds",
                                            "messages", "sample_every", "settle")}
    params["bounds"] = vars(bounds)
    root = harness.workdir(args)
    samples: list[dict] = []

    async def body(result: dict) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http, \
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as scraper:
            stack = Ours(root / "stack", services=SERVICES, wait_for_focus=True)
            try:
                await soak(args, bounds, stack, http, scraper, result, samples)
            except ServerFailed as exc:
                result["servers"].setdefault("churn", {})["failed"] = str(exc).splitlines()[0]
                raise
            finally:
                await stack.stop()

    result = await harness.bounded(args, body, params, ceiling=limit)
    print(table(samples))
    for error in result["errors"]:
        print(f"soak: FAIL {error}", file=sys.stderr)
    print("soak: verdict " + ("PASS" if result["ok"] else f"FAIL ({len(result['errors'])} failures)"))
    return harness.finish(args, result, lambda out: [plots.soak(out, samples, SERVICES)] if samples else [])


async def soak(args, bounds: Bounds, stack: Ours, http: aiohttp.ClientSession, scraper: aiohttp.ClientSession,
               result: dict, samples: list[dict]) -> None:
    async def every_service_answers(server: Server) -> None:
        """The focus answers a conference request, and each service its /metrics."""
        await logs_in(http, server, "websocket", focus=True)
        for url in metrics_urls(stack).values():
            async with scraper.get(url) as response:
                response.raise_for_status()

    await stack.start(every_service_answers)
    version = stack.version()  # the commit the services started from
    control = Control()
    await control.start()
    state = Soak(args, stack, http, scraper, control, samples=samples)
    end = state.started + args.minutes * 60
    sampler = asyncio.ensure_future(state.sampling())

    async def alongside(work):
        """`work`, unless the sampler stops first (a service died): then its error."""
        task = asyncio.ensure_future(work)
        await asyncio.wait({task, sampler}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            task.cancel()
            await asyncio.wait([task])
            sampler.result()
        return task.result()

    try:
        print(f"soak: warm-up {args.warmup:.0f} s", file=sys.stderr, flush=True)
        await alongside(state.churn_until(state.started + args.warmup))
        baseline = await alongside(state.idle(None))
        state.phase = "load"
        print(f"soak: baseline at {time.monotonic() - state.started:.0f} s; load until {args.minutes * 60:.0f} s",
              file=sys.stderr, flush=True)
        await alongside(state.churn_until(end))
        loaded = [s for s in samples if s["phase"] == "load"]
        final = await alongside(state.idle(baseline))
    finally:
        sampler.cancel()
        await asyncio.wait([sampler])
        await control.stop()
    control_lags = [s["control_lag_s"] for s in loaded if s["control_lag_s"] is not None]
    control_p99 = percentile(control_lags, 99) if control_lags else 0.0
    result["servers"]["control"] = {"loop_lag_ms": summary(harness.ms(control_lags))}
    for name in SERVICES:
        series = [s["services"][name] for s in loaded if "rss_mb" in s["services"][name]]
        figures, failures = judge(name, series, baseline[name], final[name], bounds, control_p99)
        result["servers"][name] = figures
        result["errors"].extend(failures)
    result["servers"]["churn"] = dict(state.churn, version=version)
    result["errors"].extend(f"{kind} x{count}" for kind, count in sorted(state.errors.items()))
    result["samples"] = samples


def table(samples: list[dict], rows: int = 12) -> str:
    """Up to `rows` samples spread over the run, one block per service."""
    if not samples:
        return "soak: no samples"
    step = max(1, len(samples) // rows)
    shown = samples[::step]
    if shown[-1] is not samples[-1]:
        shown.append(samples[-1])
    lines = [" " * 23 + "".join(f"{name:^25}" for name in SERVICES),
             f"{'t s':>7} {'phase':<7} {'people':>6} "
             + f"  {'RSS MB':>6} {'fds':>4} {'tasks':>5} {'lag ms':>6}" * len(SERVICES)
             + "  control lag ms"]
    for s in shown:
        control = s.get("control_lag_s")
        lines.append(f"{s['t']:>7} {s['phase']:<7} {s['participants']:>6} " + "".join(f"  {c}" for c in cells(s))
                     + (f"  {control * 1000:>14.0f}" if control is not None else f"  {'-':>14}"))
    return "\n".join(lines)


def cells(sample: dict) -> list[str]:
    """Per service: RSS MB, fds, tasks, lag ms."""
    out = []
    for name in SERVICES:
        f = sample["services"][name]
        lag = f"{f['lag_s'] * 1000:.0f}" if f.get("lag_s") is not None else "-"
        out.append(f"{f.get('rss_mb', '-'):>6} {f.get('fds', '-'):>4} {f.get('tasks', '-'):>5} {lag:>6}")
    return out
