"""`python -m bench sip --e2e`: calls through the whole stack, against meeting participants in their place
(the workload's doc, in :mod:`.sip`, says what is measured)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import sys
import time
from pathlib import Path

import aiohttp

from jitsi_py.common.meeting import Meeting, XmppServer, events

from .. import harness
from ..procstat import Sampler
from ..servers import DOMAIN, MUC, Ours, logs_in
from ..servers.base import Process, free_port
from ..sip_phones import PHONE_PHASE, TICK, WINDOW, BurstTrack, Heard, Phones, listen, matched
from ..stats import ratio, summary

WARM_UP = 2.0  # seconds of audio before the count: the jitter buffers fill, the tracks are read
JOIN_TIMEOUT = 60.0
DIAL_CONCURRENCY = 4  # calls (or anchor participants) joining at once
NOISE_DBOV = -60  # the quiet between bursts, unless --digital-silence: an open microphone in a quiet room


async def run(args: argparse.Namespace) -> int:
    if not 1 <= args.calls <= 200 or not 1 <= args.meetings <= args.calls or not 2 <= args.seconds <= 300:
        raise SystemExit("--e2e: --calls must be 1..200, --meetings 1..calls and --seconds 2..300")
    if args.codec not in (None, ["pcmu"]):
        raise SystemExit("--e2e: the phones speak PCMU only")
    noise = None if args.digital_silence else NOISE_DBOV
    params = {"e2e": True, "calls": args.calls, "meetings": args.meetings, "seconds": args.seconds,
              "codec": "pcmu", "quiet": "digital silence" if noise is None else f"noise at {noise} dBov"}

    async def body(result: dict) -> None:
        root = harness.workdir(args)
        password = secrets.token_hex(12)
        stack = Ours(root / "stack", services=("xmpp", "focus", "bridge"), wait_for_focus=True,
                     extra_env={"JIGASI_XMPP_PASSWORD": password})
        async with aiohttp.ClientSession() as http:
            await stack.start(lambda server: logs_in(http, server, "tcp", focus=True))
        try:
            server = XmppServer("127.0.0.1", stack.c2s_port, DOMAIN, MUC)
            epoch = time.monotonic()
            for name, callers in (("anchor", _AnchorCallers(root, stack, server, epoch, noise)),
                                  ("gateway", _GatewayCallers(root, stack, password, epoch, noise,
                                                              args.gateway_profile))):
                print(f"sip --e2e: {args.calls} calls in {args.meetings} meetings, {name}, {args.seconds:g} s",
                      file=sys.stderr)
                stack.start_sampling()
                result["servers"][name] = await _scenario(args, server, callers, epoch, noise)
                result["servers"][name]["stack"] = stack.stop_sampling()  # xmpp, focus, bridge: whole run
                result["servers"][name]["version"] = stack.version()
            result["load_average"] = list(os.getloadavg())
            gateway, anchor = result["servers"]["gateway"], result["servers"]["anchor"]
            result["ratios"]["anchor"] = {
                key: ratio(gateway[key], anchor[key]) for key in ("cpu_s_per_call_s",)
            } | {
                f"{key}.p50": ratio(gateway[key]["p50"], anchor[key]["p50"])
                for key in ("phone_to_meeting_latency_ms", "meeting_to_phone_latency_ms")
                if gateway[key].get("p50") is not None and anchor[key].get("p50") is not None
            }
            for key in ("phone_to_meeting_latency_ms", "meeting_to_phone_latency_ms"):
                for q in ("p50", "p99"):
                    if gateway[key].get(q) is not None and anchor[key].get(q) is not None:
                        gateway[f"added_{key}"] = gateway.get(f"added_{key}", {}) | {
                            q: round(gateway[key][q] - anchor[key][q], 1)}
        finally:
            await stack.stop()

    result = await harness.bounded(args, body, params)
    return harness.finish(args, result, None)


async def _scenario(args: argparse.Namespace, server: XmppServer, callers, epoch: float, noise: float | None) -> dict:
    """One run of the scenario: the speakers join, the callers call, audio for WARM_UP + --seconds."""
    rooms = [f"sipbench{m}-{secrets.token_hex(3)}" for m in range(args.meetings)]
    # the bench's own listeners decode inline (no thread per track), so that the bench stays light
    speakers = [Meeting(server, display_name=f"speaker-{m}", audio_source=BurstTrack(epoch, noise_dbov=noise),
                        receive_video=False, inline_audio=True) for m in range(args.meetings)]
    counting = [False]
    heard: dict[str, Heard] = {}  # per caller's endpoint: what its meeting's speaker heard of it
    tasks: list[asyncio.Task] = []

    async def watch(meeting: Meeting) -> None:
        async for event in meeting.events():
            if isinstance(event, events.TrackAdded) and event.kind == "audio":
                track = heard.setdefault(event.endpoint_id, Heard())
                tasks.append(asyncio.ensure_future(listen(event.track, track, counting)))

    figures: dict = {}
    try:
        await asyncio.gather(*(s.join(room, timeout=JOIN_TIMEOUT, wait_for_media=False)
                               for s, room in zip(speakers, rooms)))  # alone, the focus starts no session
        tasks += [asyncio.ensure_future(watch(s)) for s in speakers]
        errors = await callers.start([rooms[i % len(rooms)] for i in range(args.calls)])
        if errors:
            figures["call_errors"] = errors[:10]
        if not callers.count:
            raise RuntimeError(f"no call got through: {errors[:3]}")
        talk_until = time.monotonic() + WARM_UP + args.seconds + WINDOW + 0.5
        talking = asyncio.ensure_future(callers.talk(talk_until))
        await asyncio.sleep(WARM_UP)
        sampler = Sampler(callers.pid)
        sampler.start()
        counting[0] = True
        callers.counting(True)
        start = time.monotonic()
        bench0 = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.sleep(args.seconds)
        bench1 = resource.getrusage(resource.RUSAGE_SELF)
        counting[0] = False
        callers.counting(False)
        end = time.monotonic()
        usage = sampler.stop()
        await talking
        got = await callers.results()
        wall = end - start
        expected = callers.count * wall / TICK
        speaker_bursts = [s.audio_source.bursts for s in speakers]
        to_meeting, to_phone = [], []
        sent_to_meeting = heard_in_meeting = sent_to_phone = heard_by_phone = 0
        names = {endpoint: who.display_name for s in speakers for endpoint, who in s.participants.items()}
        by_name = {names.get(endpoint, endpoint): track for endpoint, track in heard.items()}
        for name, bursts in got["bursts"].items():
            track = by_name.get(name, Heard())
            latencies, sent, found = matched(track.onsets, bursts, start, end - WINDOW)
            to_meeting += latencies
            sent_to_meeting += sent
            heard_in_meeting += found
        for index, onsets in got["onsets"]:
            latencies, sent, found = matched(onsets, speaker_bursts[index % len(rooms)], start, end - WINDOW)
            to_phone += latencies
            sent_to_phone += sent
            heard_by_phone += found
        per_call = usage["cpu_s"] / wall / callers.count
        figures.update({
            "calls": callers.count, "seconds": round(wall, 2), "cpu_s": usage["cpu_s"],
            "peak_rss_mb": usage["peak_rss_mb"], "cpu_s_per_call_s": round(per_call, 5),
            "calls_per_core": round(1 / per_call, 1) if per_call else None,
            "bench_cpu_share": round((bench1.ru_utime - bench0.ru_utime + bench1.ru_stime - bench0.ru_stime) / wall, 2),
            "phone_to_meeting_delivery": round(sum(h.frames for h in heard.values()) / expected, 4),
            "meeting_to_phone_delivery": round(got["received"] / expected, 4),
            "phone_to_meeting_bursts_heard": round(heard_in_meeting / sent_to_meeting, 4) if sent_to_meeting else None,
            "meeting_to_phone_bursts_heard": round(heard_by_phone / sent_to_phone, 4) if sent_to_phone else None,
            "phone_to_meeting_latency_ms": summary(harness.ms(to_meeting)),
            "meeting_to_phone_latency_ms": summary(harness.ms(to_phone)),
        })
    finally:
        await callers.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*(s.leave() for s in speakers), return_exceptions=True)
    return figures


class _GatewayCallers:
    """The calls: the gateway in its own process, our bench phones dialling it."""

    def __init__(self, root: Path, stack: Ours, password: str, epoch: float, noise: float | None,
                 profile: Path | None) -> None:
        self.sip_port, self.http_port, self.rtp_port = free_port(), free_port(), _free_port_range()
        env = stack.environment() | {
            "JIGASI_SIP_URI": "jigasi@127.0.0.1", "JIGASI_XMPP_PASSWORD": password,
            "JITSI_PY_SIP_HOST": "127.0.0.1", "JITSI_PY_SIP_PORT": str(self.sip_port),
            "JIGASI_PORT_MIN": str(self.rtp_port), "JIGASI_PORT_MAX": str(self.rtp_port + 2 * 200 + 2),
            "JITSI_PY_SIP_HTTP_PORT": str(self.http_port), "JITSI_PY_SIP_HTTP_INTERFACES": "127.0.0.1",
            "JIGASI_INSTANCE_ID": "bench-gateway", "JITSI_PY_SIP_MAX_CALLS": "250",
        }
        root.mkdir(parents=True, exist_ok=True)
        profiled = ["-m", "cProfile", "-o", str(profile.resolve())] if profile is not None else []
        self.process = Process("sip", [sys.executable, *profiled, "-m", "jitsi_py.sip"], env, root)
        self.phones = Phones(("127.0.0.1", self.sip_port), epoch, noise)

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid

    @property
    def count(self) -> int:
        return len(self.phones.lines)

    async def start(self, rooms: list[str]) -> list[str]:
        await self.process.spawn()
        deadline = time.monotonic() + 40
        async with aiohttp.ClientSession() as http:
            while True:
                if self.process.exited() is not None:
                    raise self.process.failure("exited while starting")
                try:
                    async with http.get(f"http://127.0.0.1:{self.http_port}/about/health") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise self.process.failure("was not healthy within 40 s")
                await asyncio.sleep(0.3)
        await self.phones.open()
        return await self.phones.dial(rooms, DIAL_CONCURRENCY, JOIN_TIMEOUT)

    async def talk(self, until: float) -> None:
        await self.phones.talk(until)

    def counting(self, on: bool) -> None:
        for line in self.phones.lines:
            line.counting = on

    async def results(self) -> dict:
        return {"received": sum(line.received for line in self.phones.lines),
                "onsets": [(line.index, line.onsets) for line in self.phones.lines],
                "bursts": {f"phone-{line.index}": self.phones.bursts for line in self.phones.lines}}

    async def stop(self) -> None:
        if self.phones.ua is not None:
            await self.phones.hang_up()
        self.phones.close()
        await self.process.stop()


class _AnchorCallers:
    """The calls' stand-ins: one meeting participant per call, all in one child process, each saying its
    bursts at the phones' phase and reading every audio track of its meeting, as the gateway's does."""

    def __init__(self, root: Path, stack: Ours, server: XmppServer, epoch: float, noise: float | None) -> None:
        self.server, self.epoch, self.noise = server, epoch, noise
        self.child: asyncio.subprocess.Process | None = None
        self.count = 0
        self.log = root / "anchor.log"
        root.mkdir(parents=True, exist_ok=True)

    @property
    def pid(self) -> int:
        assert self.child is not None
        return self.child.pid

    async def start(self, rooms: list[str]) -> list[str]:
        job = {"host": self.server.host, "port": self.server.port, "rooms": rooms, "epoch": self.epoch,
               "noise": self.noise}
        code = f"from {__name__} import anchor_child; anchor_child({json.dumps(json.dumps(job))})"
        with self.log.open("ab") as log:
            self.child = await asyncio.create_subprocess_exec(
                sys.executable, "-c", code,
                cwd=Path(__file__).resolve().parents[2], stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=log)
        assert self.child.stdout is not None
        line = await asyncio.wait_for(self.child.stdout.readline(), JOIN_TIMEOUT * len(rooms) / DIAL_CONCURRENCY)
        if not line:
            raise RuntimeError(f"the anchor's child exited while joining; log {self.log}")
        joined = json.loads(line)
        self.count = joined["joined"]
        return joined["errors"]

    async def talk(self, until: float) -> None:
        await asyncio.sleep(max(0.0, until - time.monotonic()))  # the child's participants talk on their own

    def counting(self, on: bool) -> None:
        assert self.child is not None and self.child.stdin is not None
        self.child.stdin.write(b"count\n" if on else b"stop\n")

    async def results(self) -> dict:
        assert self.child is not None and self.child.stdout is not None
        return json.loads(await asyncio.wait_for(self.child.stdout.readline(), 30))

    async def stop(self) -> None:
        if self.child is None or self.child.returncode is not None:
            return
        assert self.child.stdin is not None
        self.child.stdin.close()
        try:
            await asyncio.wait_for(self.child.wait(), 15)
        except asyncio.TimeoutError:
            self.child.kill()
            await self.child.wait()


def anchor_child(job_json: str) -> None:
    asyncio.run(_anchor(json.loads(job_json)))


async def _anchor(job: dict) -> None:
    """Joins, says {"joined", "errors"}; counts between "count" and "stop" on stdin, then says what it heard
    and sent; leaves when stdin closes."""
    loop = asyncio.get_running_loop()
    server = XmppServer(job["host"], job["port"], DOMAIN, MUC)
    participants = [Meeting(server, display_name=f"caller-{i}",
                            audio_source=BurstTrack(job["epoch"], PHONE_PHASE, job["noise"]),
                            receive_video=False) for i in range(len(job["rooms"]))]
    counting = [False]
    heard = [Heard() for _ in participants]
    ignored = Heard()
    tasks: list[asyncio.Task] = []
    limit = asyncio.Semaphore(DIAL_CONCURRENCY)
    errors: list[str] = []
    joined: list[int] = []

    async def watch(index: int, meeting: Meeting) -> None:
        async for event in meeting.events():
            if isinstance(event, events.TrackAdded) and event.kind == "audio":
                who = meeting.participants.get(event.endpoint_id)
                speaker = who is not None and who.display_name.startswith("speaker-")
                tasks.append(asyncio.ensure_future(listen(event.track, heard[index] if speaker else ignored,
                                                          counting if speaker else [False])))

    async def join(index: int, meeting: Meeting, room: str) -> None:
        async with limit:
            try:
                await meeting.join(room, timeout=JOIN_TIMEOUT)
            except Meeting.JoinError as exc:
                errors.append(f"caller {index}: {exc.reason}")
                return
            joined.append(index)
            tasks.append(asyncio.ensure_future(watch(index, meeting)))

    await asyncio.gather(*(join(i, m, room) for i, (m, room) in enumerate(zip(participants, job["rooms"]))))
    joined.sort()
    print(json.dumps({"joined": len(joined), "errors": errors}), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() == b"count":
            counting[0] = True
        elif line.strip() == b"stop":
            counting[0] = False
            print(json.dumps({
                "received": sum(heard[i].frames for i in joined),
                "onsets": [(i, heard[i].onsets) for i in joined],
                "bursts": {f"caller-{i}": participants[i].audio_source.bursts for i in joined},
            }), flush=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*(m.leave() for m in participants), return_exceptions=True)


def _free_port_range() -> int:
    """An even port whose next 400 are likely free (the kernel's ephemeral range starts above)."""
    return 20000 + 2 * secrets.randbelow(2000)
