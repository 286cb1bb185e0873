"""The bridge's per-packet path in process: real SRTP sessions and the media port's real UDP socket.

A conference of N endpoints, each publishing what the media bench's clients publish (audio at 50
packets/s with an audio level, three simulcast VP8 layers at 15, 45 and 150 packets/s); the packets
are protected beforehand with the endpoints' keys and fed to the media port's ``datagram_received``
in send order, as the event loop would, and the forwarder's decisions are the real ones. Each
endpoint's copies go to its own loopback sink socket.

The test checks the whole path end to end (what each sink gets decrypts with that endpoint's key
into the packets it should get). Run as a module, the same loop measures µs of CPU per forwarded
packet on one thread, so a change to the hot path can be judged in seconds and profiled::

    .venv/bin/python -m tests.bridge.test_hotpath --participants 40 [--max-height 720] [--profile]

With ``--callgrind`` it feeds the measured packets once, inside :data:`COLLECT`, the one C function
valgrind's callgrind is told to count in: instruction counts of the path alone, the same whatever
else loads the machine (``python -m bench.profile`` runs it so and breaks the counts down).

``python -m bench media`` measures the whole bridge under load (ICE, DTLS, the event loop, the
kernel delivering to live receivers) and gives the figures to report; this loop is the part of
them the bridge's own code decides.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import errno
import functools
import json
import os
import pstats
import socket
import struct
import time

from pylibsrtp import Policy, Session

from jitsi_py.bridge.conference import Endpoint
from jitsi_py.bridge.dtls import SRTP_AEAD_AES_128_GCM
from jitsi_py.bridge.forwarder import Source, VideoConstraints
from jitsi_py.bridge.srtp import MAX_RTP, SrtpContext
from jitsi_py.bridge.videobridge import Videobridge

HEADER = struct.Struct("!BBHII")
AUDIO_PT, VIDEO_PT = 111, 100
AUDIO_LEVEL_EXT = 1
AUDIO_LEVEL = bytes((0xBE, 0xDE, 0, 1, AUDIO_LEVEL_EXT << 4, 0x80 | 30, 0, 0))
AUDIO_PAYLOAD, VIDEO_PAYLOAD = 100, 1100
RATES = (50, 15, 45, 150)  # packets per second: audio, then the simulcast layers low to high
PROFILE = SRTP_AEAD_AES_128_GCM
KEY_LENGTH = PROFILE.key_length + PROFILE.salt_length
# The C function (CPython's) that ``--callgrind`` runs the measured feed in, and nothing else in
# the process calls: callgrind's ``--toggle-collect`` counts only inside it.
COLLECT = "functools_reduce"


def _packet(pt: int, seq: int, ts: int, ssrc: int, payload: int, key: bool) -> bytes:
    if pt == AUDIO_PT:
        return HEADER.pack(0x90, pt, seq, ts, ssrc) + AUDIO_LEVEL + bytes(payload)
    # VP8 descriptor with S set and partition 0; the payload header's P bit is clear on key frames
    return HEADER.pack(0x80, pt, seq, ts, ssrc) + bytes((0x10, 0x00 if key else 0x01)) + bytes(payload - 2)


def _schedule(participants: int, seconds: float) -> list[tuple[float, int, int]]:
    """(time, participant, stream) for every packet sent in ``seconds``, in time order."""
    out = []
    for p in range(participants):
        phase = p / participants / 50
        for stream, rate in enumerate(RATES):
            out.extend((phase + i / rate, p, stream) for i in range(int(seconds * rate)))
    out.sort()
    return out


class Load:
    """The conference on ``bridge`` (its media port bound) and the protected packets to feed."""

    def __init__(self, bridge: Videobridge, participants: int, seconds: float, max_height: int | None,
                 rewrite_ssrcs: bool = False) -> None:
        self.bridge = bridge
        conference = bridge.create_conference("hotpath", None, 0.0)
        conference.forwarder.set_video_payload_types({VIDEO_PT: "VP8"})
        self.sinks, self.keys, self.endpoints = [], [], []
        senders, addresses, ssrcs = [], [], []
        for p in range(participants):
            endpoint = Endpoint(conference, f"e{p}", rewrite_ssrcs=rewrite_ssrcs)
            conference.add_endpoint(endpoint)
            local, remote = os.urandom(KEY_LENGTH), os.urandom(KEY_LENGTH)
            self.keys.append((local, remote))
            sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sink.bind(("127.0.0.1", 0))
            sink.setblocking(False)
            self.sinks.append(sink)
            endpoint.ice.selected = sink.getsockname()
            endpoint.audio_pts.add(AUDIO_PT)
            endpoint.audio_level_id = AUDIO_LEVEL_EXT
            if max_height is not None:
                endpoint.receiver.default_constraints = VideoConstraints(max_height)
            address = ("127.0.0.2", 20000 + p)
            bridge.port.bind_address(address, endpoint)
            addresses.append(address)
            self.endpoints.append(endpoint)
            senders.append(Session(Policy(key=remote, ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                                          srtp_profile=PROFILE.libsrtp)))
            base = 0x10000000 + p * 16
            ssrcs.append((base, base + 1, base + 2, base + 3))
            conference.set_sources(endpoint, [Source(f"e{p}-a0", f"e{p}", "audio", [base]),
                                              Source(f"e{p}-v0", f"e{p}", "video", [base + 1, base + 2, base + 3])])
        for source in conference.forwarder.sources.values():
            source.packets = [1] * len(source.layers)  # every layer is being sent: the allocation's view
        conference.forwarder.check_layers()
        self.ssrcs = ssrcs
        self.packets: list[tuple[bytes, tuple[str, int]]] = []
        self.streams: list[tuple[int, int]] = []  # (participant, stream) of each packet
        seqs = [[0] * len(RATES) for _ in range(participants)]
        for when, p, stream in _schedule(participants, seconds):
            seq = seqs[p][stream]
            seqs[p][stream] = seq + 1
            pt, payload = (AUDIO_PT, AUDIO_PAYLOAD) if stream == 0 else (VIDEO_PT, VIDEO_PAYLOAD)
            ts = int(when * (48000 if stream == 0 else 90000)) & 0xFFFFFFFF
            plain = _packet(pt, seq, ts, ssrcs[p][stream], payload, key=stream > 0 and seq == 0)
            self.packets.append((senders[p].protect(plain), addresses[p]))
            self.streams.append((p, stream))

    def fresh_sessions(self) -> None:
        """New inbound SRTP state (a fresh replay window), so the same packets can be fed again."""
        for endpoint, (local, remote) in zip(self.endpoints, self.keys):
            endpoint.srtp = SrtpContext(PROFILE, local, remote)

    def feed(self, start: int, stop: int) -> None:
        receive = self.bridge.port.datagram_received
        for data, addr in self.packets[start:stop]:
            receive(data, addr)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()


def media_received(sink: socket.socket) -> list[bytes]:
    """The RTP datagrams waiting at a sink; RTCP (the key frame requests made as the endpoints
    connected) left out."""
    out = []
    while True:
        try:
            data = sink.recv(2048)
        except BlockingIOError:
            return out
        if not 192 <= data[1] <= 223:
            out.append(data)


async def bound_bridge() -> tuple[Videobridge, asyncio.DatagramTransport]:
    bridge = Videobridge(candidates=[])
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: bridge.port, local_addr=("127.0.0.1", 0))
    return bridge, transport


async def test_every_receiver_gets_the_others_audio_and_lowest_layer_encrypted_with_its_own_key():
    bridge, transport = await bound_bridge()
    load = Load(bridge, participants=3, seconds=0.4, max_height=None)
    try:
        load.fresh_sessions()
        load.feed(0, len(load.packets))
        expected = {p: [] for p in range(3)}  # (SSRC, seq) each receiver should get, in order
        for _, (p, stream) in zip(load.packets, load.streams):
            if stream <= 1:  # audio and the 180p layer (the default constraint)
                for receiver in range(3):
                    if receiver != p:
                        expected[receiver].append(load.ssrcs[p][stream])
        assert bridge.counters.packets_sent == sum(len(v) for v in expected.values())
        await asyncio.sleep(0.05)
        for p, sink in enumerate(load.sinks):
            rx = Session(Policy(key=load.keys[p][0], ssrc_type=Policy.SSRC_ANY_INBOUND,
                                srtp_profile=PROFILE.libsrtp))
            got = [HEADER.unpack_from(rx.unprotect(data))[4] for data in media_received(sink)]
            assert got == expected[p]
    finally:
        load.close()
        transport.close()


async def test_a_full_send_buffer_queues_a_copy_other_send_errors_drop_the_packet_and_so_does_an_oversized_one(
        monkeypatch):
    bridge, transport = await bound_bridge()
    load = Load(bridge, participants=2, seconds=0.1, max_height=None)
    queued = []

    class Transport:
        def sendto(self, data, addr):
            queued.append((type(data), bytes(data), addr))

    answers = [errno.EAGAIN, errno.ENETUNREACH]

    def refuse(start, count):  # the batch's send, as the kernel answers a full buffer, then a gone route
        return -answers.pop(0)

    port = bridge.port
    real_transport = port.transport
    try:
        load.fresh_sessions()
        endpoint = load.endpoints[0]
        packet = bytearray(_packet(AUDIO_PT, 1, 0, 99, 10, False))
        port.transport = Transport()
        monkeypatch.setattr(port.batch, "_send", refuse)
        endpoint.deliver(packet, 99)
        endpoint.deliver(packet, 99)
        endpoint.deliver(bytearray(_packet(AUDIO_PT, 2, 0, 99, MAX_RTP, False)), 99)  # not sent, not counted
        assert [(kind, addr) for kind, _, addr in queued] == [(bytes, endpoint.ice.selected)]
        rx = Session(Policy(key=load.keys[0][0], ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=PROFILE.libsrtp))
        assert rx.unprotect(queued[0][1]) == packet
        assert (answers, bridge.counters.packets_sent, bridge.counters.send_errors) == ([], 0, 1)
        assert bridge.stats()["total_send_errors"] == 1, "an operator sees it in /colibri/stats and /metrics"
    finally:
        port.transport = real_transport
        load.close()
        transport.close()


async def measure(args: argparse.Namespace) -> dict:
    bridge, transport = await bound_bridge()
    load = Load(bridge, args.participants, args.seconds, args.max_height, args.rewrite_ssrcs)
    counters = bridge.counters
    warm = len(load.packets) // 10  # the first key frames switch layers; keep that out of the figure
    runs = []
    try:
        if args.callgrind:
            load.fresh_sessions()
            load.feed(0, warm)
            sent_before = counters.packets_sent
            functools.reduce(lambda _, __: load.feed(warm, len(load.packets)), [None], None)  # COLLECT
            return {"inbound": len(load.packets) - warm, "forwarded": counters.packets_sent - sent_before,
                    "rejected": counters.srtp_rejected, "unknown_ssrc": counters.rtp_unknown_ssrc}
        for _ in range(args.repeat):
            load.fresh_sessions()
            load.feed(0, warm)
            sent_before = counters.packets_sent
            profiler = cProfile.Profile() if args.profile else None
            if profiler is not None:
                profiler.enable()
            cpu = time.thread_time()
            load.feed(warm, len(load.packets))
            cpu = time.thread_time() - cpu
            if profiler is not None:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            runs.append((cpu, counters.packets_sent - sent_before))
    finally:
        load.close()
        transport.close()
    per_packet = sorted(cpu / max(forwarded, 1) * 1e6 for cpu, forwarded in runs)
    return {"participants": args.participants, "inbound": len(load.packets) - warm, "forwarded": runs[0][1],
            "us_per_forwarded_min": round(per_packet[0], 3),
            "us_per_forwarded_median": round(per_packet[len(per_packet) // 2], 3),
            "forwarded_pps_per_cpu_s": round(1e6 / per_packet[0]),
            "rejected": counters.srtp_rejected, "unknown_ssrc": counters.rtp_unknown_ssrc}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bridge.test_hotpath", description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds of traffic fed (default %(default)s)")
    parser.add_argument("--max-height", type=int, default=None, help="every receiver's video constraint")
    parser.add_argument("--rewrite-ssrcs", action="store_true", help="every receiver rewrites SSRCs (its own pool)")
    parser.add_argument("--repeat", type=int, default=5, help="runs over the same packets; the best is reported")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured part (slows it down)")
    parser.add_argument("--callgrind", action="store_true",
                        help=f"feed the measured part once inside {COLLECT} (for callgrind); print the counts as JSON")
    args = parser.parse_args()
    import uvloop  # noqa: PLC0415 - the bridge's own loop

    result = uvloop.run(measure(args))
    print(json.dumps(result) if args.callgrind else result)


if __name__ == "__main__":
    main()
