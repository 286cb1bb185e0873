"""sip: the SIP gateway's media path — CPU per call, loss and added latency, with G.711 and with Opus.

`--calls` phones (default 50) each send a 20 ms RTP stream (a 440 Hz tone) over loopback UDP to the
gateway's per-call media (`jitsi_py.sip.media.CallMedia`: RTP/RTCP sockets from the port range,
jitter buffer, transcoding, the mix), ticked by the gateway's one 20 ms clock, for `--seconds`. The
meeting side of each call is one synthetic 48 kHz source (what the phone hears) and the phone's track
drained as the meeting client's sender would (the phone's Opus encoding is the tick's, so it counts);
the meeting client's SRTP, sending and receiving are not in the figures (``--e2e`` has them). Each
codec runs in a child process of its own, so the CPU is its own.

Reported per codec: CPU seconds per call per second and the calls one core carries at that rate; the
share of the phones' packets that reached the meeting side and of the gateway's packets the phones
got; the latency the gateway adds from a phone's packet arriving to its frame leaving for the meeting
(median, p95; the jitter buffer's playout delay is most of it); ticks the clock skipped.

``--e2e``: the calls go through the whole stack instead. Our xmpp, focus and bridge run as processes,
and so does the gateway (``python -m jitsi_py.sip``), whose CPU is read from /proc on its own. The
bench dials `--calls` PCMU calls over loopback SIP and RTP (our user agent, :mod:`..sip_phones`) into
`--meetings` meetings, the calls spread over them in turn; in each meeting one meeting participant of
the bench (aiortc) speaks and listens. Every sender is silent but for a loud 20 ms burst a second, so a
receiver finds each burst's onset: latency and delivery both ways, phone to meeting (the speaker hears
each call's track) and meeting to phone (the phone hears the speaker through the gateway's mix).
The anchor, in the same run: the same meetings with each call replaced by a plain meeting participant
(the same client the gateway uses per call, in one child process measured the same way), so the
ratios say what the SIP side (RTP, jitter buffer, G.711, the mix) adds to what the meeting participants
cost anyway, and the latencies what the gateway adds to a participant-to-participant path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import sys
import time
from collections import deque
from pathlib import Path

from .. import harness, stats
from . import sip_e2e as e2e

CODECS = ("pcmu", "opus")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=50, help="concurrent calls (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per codec (default %(default)s)")
    parser.add_argument("--codec", action="append", choices=CODECS, default=None,
                        help="repeatable (default: pcmu and opus; --e2e: pcmu only)")
    parser.add_argument("--e2e", action="store_true",
                        help="through the whole stack, the gateway in its own process, against the anchor")
    parser.add_argument("--meetings", type=int, default=10,
                        help="--e2e: meetings the calls are spread over (default %(default)s)")
    parser.add_argument("--digital-silence", action="store_true",
                        help="--e2e: senders are digitally silent between bursts, as muted participants, whose "
                             "audio the bridge stops forwarding (default: a noise floor at %d dBov)" % e2e.NOISE_DBOV)
    parser.add_argument("--gateway-profile", type=Path, default=None,
                        help="--e2e: run the gateway under cProfile, its statistics written here (costs CPU)")
    harness.add_common(parser, timeout=300)


async def run(args: argparse.Namespace) -> int:
    if not 1 <= args.calls <= 500 or not 2 <= args.seconds <= 300:
        raise SystemExit("--calls must be 1..500 and --seconds 2..300")
    if args.e2e:
        return await e2e.run(args)
    codecs = args.codec or list(CODECS)

    async def body(result: dict) -> None:
        figures = result["servers"]["gateway"] = {}
        for codec in codecs:
            job = {"codec": codec, "calls": args.calls, "seconds": args.seconds}
            print(f"sip: {args.calls} calls of {codec}, {args.seconds:g} s", file=sys.stderr)
            figures[codec] = await harness.in_child(__name__, job, codec)

    params = {"calls": args.calls, "seconds": args.seconds, "codecs": codecs}
    result = await harness.bounded(args, body, params)
    return harness.finish(args, result, None)


# --- the child: one codec, measured --------------------------------------------------------------------

def child(job_json: str) -> None:
    job = json.loads(job_json)
    print(json.dumps(asyncio.run(_calls(job))))


class _Phone(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = 0

    def datagram_received(self, data: bytes, addr) -> None:
        self.received += 1


async def _calls(job: dict) -> dict:
    import numpy as np  # noqa: PLC0415 - only the child needs the media stack

    from jitsi_py.sip import rtp, sdp  # noqa: PLC0415
    from jitsi_py.sip.audio import FRAME, Transcoder  # noqa: PLC0415
    from jitsi_py.sip.media import TICK, CallMedia, MediaClock  # noqa: PLC0415

    codec = {"pcmu": sdp.PCMU, "opus": sdp.OPUS}[job["codec"]]
    pt = 0 if codec == sdp.PCMU else sdp.DYNAMIC_OPUS
    calls, seconds = job["calls"], job["seconds"]
    loop = asyncio.get_running_loop()
    t = np.arange(FRAME) / 48000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    payload = Transcoder(codec).encode(tone)  # one encoded frame, replayed: the phones cost next to nothing
    clock = MediaClock()
    medias, phones, sockets = [], [], []
    arrived: list[dict[int, float]] = []  # per call: seq -> when its packet reached the gateway
    latencies: list[float] = []
    ticked = [0]
    port = _free_even_port()
    for i in range(calls):
        media = CallMedia(port + 2 * i, "127.0.0.1", lambda _digit: None)
        await media.open()
        phone_transport, phone = await loop.create_datagram_endpoint(_Phone, local_addr=("127.0.0.1", 0))
        remote = sdp.AudioDescription("127.0.0.1", phone_transport.get_extra_info("sockname")[1], {pt: codec})
        media.start(remote, pt, codec)
        media.sources["bench"] = source = deque(maxlen=5)
        seen: dict[int, float] = {}
        received = media.rtp_received

        def on_rtp(data: bytes, addr, received=received, seen=seen) -> None:
            seen[int.from_bytes(data[2:4], "big")] = loop.time()
            received(data, addr)
        media.rtp_received = on_rtp
        tick = media.tick

        def on_tick(now: float, media=media, tick=tick, seen=seen, source=source) -> None:
            ticked[0] += 1
            source.append(tone)
            playing = media.buffer.next_seq
            tick(now)
            came = seen.pop(playing, None) if playing is not None else None
            if came is not None:
                latencies.append(now - came)
        media.tick = on_tick
        medias.append(media)
        phones.append(phone)
        sockets.append(phone_transport)
        arrived.append(seen)
        clock.add(media)
    drained = [asyncio.ensure_future(_drain(media.track)) for media in medias]

    sent = 0
    seq = 0
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.monotonic()
    ticked[0] = 0
    next_send = loop.time()
    end = next_send + seconds
    while next_send < end:
        for i, transport in enumerate(sockets):
            transport.sendto(rtp.write(pt, False, seq, seq * codec.clock // 50, 1000 + i, payload),
                             ("127.0.0.1", medias[i].port))
        sent += 1
        seq = (seq + 1) & 0xFFFF
        next_send += TICK
        await asyncio.sleep(max(0.0, next_send - loop.time()))
    await asyncio.sleep(0.2)
    clock.stop()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic() - wall0
    await asyncio.sleep(0.1)  # the last packets the gateway sent reach the phones
    for task in drained:
        task.cancel()
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    per_call = cpu / wall / calls
    expected = sent * calls
    heard = sum(m.buffer.received for m in medias)
    to_phones = sum(p.received for p in phones)
    for media in medias:
        media.close()
    for transport in sockets:
        transport.close()
    return {
        "calls": calls, "seconds": round(wall, 2),
        "cpu_s_per_call_s": round(per_call, 5), "calls_per_core": round(1 / per_call) if per_call else None,
        "phone_to_meeting_delivery": round(heard / expected, 4) if expected else None,
        "meeting_to_phone_delivery": round(to_phones / ticked[0], 4) if ticked[0] else None,
        "concealed": sum(m.buffer.concealed + m.buffer.lost for m in medias), "late_ticks": clock.late_ticks,
        "added_latency_ms": stats.summary(harness.ms(latencies)),
    }


async def _drain(track) -> None:
    while True:
        await track.recv()


def _free_even_port() -> int:
    """The first port of a free run of even/odd pairs, as the gateway's JIGASI_PORT_MIN..MAX range."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return min(port & ~1, 60000 - 1200)
