"""The SIP bench's phones and listeners: many calls from one user agent (ours, sans-I/O) on one UDP socket,
each call with an RTP socket of its own, and the meeting participants that speak to them and hear them.

Every sender is quiet but for one loud 20 ms burst a second: the meetings' speakers at the start of each
second of the shared `epoch`, the phones half a second later. Quiet is a noise floor, as from an open
microphone (`noise_dbov`), or digital silence (None): what a muted participant sends, which the bridge
stops forwarding after a few packets. A receiver takes the first loud frame after
a quiet spell as an onset and matches it to the latest burst of the side it hears: the latency. A burst
heard more than WINDOW after it was sent is not counted (the other side's bursts come half a second off,
so a phone never takes another phone's burst, heard through the gateway's mix, for its speaker's).
"""

from __future__ import annotations

import asyncio
import bisect
import secrets
import time
from dataclasses import dataclass, field

import numpy as np
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

from jitsi_py.sip import rtp, sdp
from jitsi_py.sip.audio import TABLES
from jitsi_py.sip.ua import Account, CallAnswered, CallEnded, UserAgent

TICK = 0.02
PERIOD = 1.0  # one burst a second from each sender
PHONE_PHASE = 0.5  # the phones burst this long after the speakers
WINDOW = 0.45
QUIET = 0.2  # loud frames closer than this to the last one belong to the same onset
BURST_LEVEL, LOUD_LEVEL = 12000, 3000
SAMPLES_8K = 160
NOISE_FRAMES = 50  # distinct quiet frames, sent in turn

Addr = tuple[str, int]


def _burst(rate: int, samples: int) -> np.ndarray:
    t = np.arange(samples) / rate
    return (BURST_LEVEL * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)


def _quiet(rate: int, samples: int, noise_dbov: float | None) -> list[np.ndarray]:
    """The frames a sender sends between bursts: white noise at `noise_dbov` (RMS), or digital silence."""
    if noise_dbov is None:
        return [np.zeros(samples, np.int16)]
    rms = 32768 * 10 ** (noise_dbov / 20)
    generator = np.random.default_rng(7)
    return [np.clip(generator.normal(0, rms, samples), -32768, 32767).astype(np.int16) for _ in range(NOISE_FRAMES)]


def matched(onsets: list[float], bursts: list[float], start: float, end: float) -> tuple[list[float], int, int]:
    """(latencies of the onsets that match a burst sent in [start, end), bursts sent there, bursts heard)."""
    sent = [b for b in bursts if start <= b < end]
    heard: set[float] = set()
    latencies = []
    for onset in onsets:
        i = bisect.bisect_right(sent, onset) - 1
        if i >= 0 and onset - sent[i] < WINDOW and sent[i] not in heard:
            heard.add(sent[i])
            latencies.append(onset - sent[i])
    return latencies, len(sent), len(heard)


class Line(asyncio.DatagramProtocol):
    """One call's RTP socket: counts what the gateway sends and notes the onsets of loud packets."""

    def __init__(self, index: int, room: str, loud: bytes) -> None:
        self.index, self.room = index, room
        self.loud = loud  # PCMU code -> 1 when it decodes loud: `translate` finds loud packets in C
        self.transport: asyncio.DatagramTransport | None = None
        self.remote: Addr | None = None
        self.pt = 0
        self.call = None
        self.counting = False
        self.received = 0
        self.onsets: list[float] = []
        self._loud_at = -1.0

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if self.counting:
            self.received += 1
        if 1 in data[12:].translate(self.loud):
            now = time.monotonic()
            if now - self._loud_at > QUIET:
                self.onsets.append(now)
            self._loud_at = now


class Phones(asyncio.DatagramProtocol):
    """`calls` PCMU calls to the gateway at `gateway`, dialled `concurrency` at a time; one 20 ms clock
    sends every answered call's packet (silence, or the burst at its phase of the epoch)."""

    def __init__(self, gateway: Addr, epoch: float, noise_dbov: float | None) -> None:
        self.gateway = gateway
        self.epoch = epoch
        self.ua: UserAgent | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.lines: list[Line] = []
        self.bursts: list[float] = []  # when the phones sent their bursts (all at once)
        self._waiting: dict[str, asyncio.Future] = {}
        self._tasks: list[asyncio.Task] = []
        encode = TABLES[sdp.PCMU.name][1]
        decode = TABLES[sdp.PCMU.name][0]
        self._quiet = [bytes(encode[frame.astype(np.int32) + 32768]) for frame in _quiet(8000, SAMPLES_8K, noise_dbov)]
        self._burst = bytes(encode[_burst(8000, SAMPLES_8K).astype(np.int32) + 32768])
        self._loud = bytes(int(abs(int(v)) >= LOUD_LEVEL) for v in decode)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        port = self.transport.get_extra_info("sockname")[1]
        self.ua = UserAgent(Account(f"sip:bench@127.0.0.1:{port}", None, ("127.0.0.1", port), keep_alive="NONE"))
        self._tasks.append(asyncio.ensure_future(self._timers()))

    def datagram_received(self, data: bytes, addr) -> None:
        assert self.ua is not None
        self.ua.receive(data, (addr[0], addr[1]), time.monotonic())
        self._flush()

    def _flush(self) -> None:
        assert self.ua is not None and self.transport is not None
        for out in self.ua.datagrams_to_send():
            self.transport.sendto(out.data, out.to)
        while (event := self.ua.next_event()) is not None:
            if isinstance(event, (CallAnswered, CallEnded)):
                waiter = self._waiting.pop(event.call.call_id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(event)
        for out in self.ua.datagrams_to_send():
            self.transport.sendto(out.data, out.to)

    async def _timers(self) -> None:
        assert self.ua is not None
        while True:
            await asyncio.sleep(0.05)
            now = time.monotonic()
            if self.ua.deadline is not None and now >= self.ua.deadline:
                self.ua.handle_timer(now)
                self._flush()

    async def dial(self, rooms: list[str], concurrency: int, timeout: float) -> list[str]:
        """One call per room named; the errors of the calls that were not answered."""
        limit = asyncio.Semaphore(concurrency)
        errors: list[str] = []
        loop = asyncio.get_running_loop()

        async def one(index: int, room: str) -> None:
            async with limit:
                line = Line(index, room, self._loud)
                await loop.create_datagram_endpoint(lambda: line, local_addr=("127.0.0.1", 0))
                assert line.transport is not None and self.ua is not None
                offer = sdp.offer("127.0.0.1", line.transport.get_extra_info("sockname")[1], (sdp.PCMU,))
                offer.dtmf_pt = None
                target = f"sip:{room}@{self.gateway[0]}:{self.gateway[1]}"
                call = self.ua.invite(target, sdp.serialize(offer, secrets.randbelow(2**31)), time.monotonic(),
                                      display=f"phone-{index}", headers={"Jitsi-Conference-Room": room})
                self._waiting[call.call_id] = waiter = loop.create_future()
                self._flush()
                try:
                    event = await asyncio.wait_for(waiter, timeout)
                except asyncio.TimeoutError:
                    errors.append(f"call {index}: no answer in {timeout:.0f} s")
                    line.transport.close()
                    return
                if isinstance(event, CallEnded):
                    errors.append(f"call {index}: {event.status} {event.reason}")
                    line.transport.close()
                    return
                answer = sdp.parse(call.remote_sdp)
                line.remote, line.pt, line.call = (answer.address, answer.port), answer.first[0], call
                self.lines.append(line)

        await asyncio.gather(*(one(i, room) for i, room in enumerate(rooms)))
        self.lines.sort(key=lambda line: line.index)
        return errors

    async def talk(self, until: float) -> None:
        """Every answered call sends a packet per tick until `until` (monotonic); bounded by it."""
        seq = 0
        ssrcs = [secrets.randbits(32) for _ in self.lines]
        # the first tick on the grid of the epoch, so that the bursts fall at PHONE_PHASE of a second
        next_tick = self.epoch + (int((time.monotonic() - self.epoch) / TICK) + 1) * TICK
        ticks_per_period = round(PERIOD / TICK)
        while next_tick < until:
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
            k = round((next_tick - self.epoch) / TICK)
            burst = k % ticks_per_period == round(PHONE_PHASE / TICK)
            payload = self._burst if burst else self._quiet[k % len(self._quiet)]
            if burst:
                self.bursts.append(time.monotonic())
            for line, ssrc in zip(self.lines, ssrcs):
                assert line.transport is not None and line.remote is not None
                line.transport.sendto(rtp.write(line.pt, False, seq, seq * SAMPLES_8K, ssrc, payload), line.remote)
            seq = (seq + 1) & 0xFFFF
            next_tick += TICK

    async def hang_up(self, timeout: float = 5.0) -> None:
        assert self.ua is not None
        now = time.monotonic()
        for line in self.lines:
            if line.call is not None and line.call.state != "ended":
                self.ua.hangup(line.call, now)
        self._flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(line.call.state != "ended" for line in self.lines):
            await asyncio.sleep(0.1)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for line in self.lines:
            if line.transport is not None:
                line.transport.close()
        if self.transport is not None:
            self.transport.close()


class BurstTrack(AudioStreamTrack):
    """A meeting participant's microphone: quiet (see the module's doc), and a loud 20 ms burst at `phase`
    of each second of the epoch (aiortc paces the frames; a frame is sent as soon as this returns it)."""

    def __init__(self, epoch: float, phase: float = 0.0, noise_dbov: float | None = None) -> None:
        super().__init__()
        self.bursts: list[float] = []
        self._next = epoch + phase + int(time.monotonic() - epoch) + PERIOD
        self._noise_dbov = noise_dbov
        self._wave: bytes | None = None
        self._quiet: list[bytes] = []
        self._sent = 0

    async def recv(self):
        frame = await super().recv()  # aiortc's silence: mono s16
        now = time.monotonic()
        if self._wave is None:
            self._wave = _burst(frame.sample_rate, frame.samples).tobytes()
            self._quiet = [q.tobytes() for q in _quiet(frame.sample_rate, frame.samples, self._noise_dbov)]
        self._sent += 1
        if now >= self._next:
            self._next += PERIOD * (int((now - self._next) / PERIOD) + 1)
            frame.planes[0].update(self._wave)
            self.bursts.append(now)
        elif self._noise_dbov is not None:
            frame.planes[0].update(self._quiet[self._sent % len(self._quiet)])
        return frame


@dataclass
class Heard:
    """What a listener heard of one remote audio track."""

    frames: int = 0
    onsets: list[float] = field(default_factory=list)


async def listen(track, heard: Heard, counting: list[bool]) -> None:
    """Reads one remote audio track until it ends, counting frames while `counting[0]`."""
    loud_at = -1.0
    try:
        while True:
            frame = await track.recv()
            if counting[0]:
                heard.frames += 1
            if int(np.abs(frame.to_ndarray()).max()) >= LOUD_LEVEL:
                now = time.monotonic()
                if now - loud_at > QUIET:
                    heard.onsets.append(now)
                loud_at = now
    except MediaStreamError:
        return
