"""The Python ceiling for media on this machine: how fast one Python thread can SRTP-protect and send.

A bridge in Python cannot forward faster than this loop, so its forwarding rate is reported as a
fraction of it. Rates are per CPU-second of the loop's thread (`pps`; on a shared machine the
wall-clock rate, `wall_pps`, also counts the time the thread waited for a core). `forward` adds what
a forwarder does per packet on top (unprotect the inbound packet once, rewrite the header, protect
again), for one receiver per inbound packet.

The loops protect with the profile the bridge negotiates with the bench's endpoints (AES-GCM, its
first preference as JVB's), and at both packet sizes the bench sends: a cheaper cipher or smaller
packets on the bridge's side than in the loop would flatter the bridge. pylibsrtp's default profile
(AES-CM + HMAC-SHA1, slower) is measured once more on video-sized packets, for reference only.
"""

from __future__ import annotations

import os
import socket
import struct
import time

from pylibsrtp import Policy, Session

HEADER = struct.Struct("!BBHII")
CHECK_EVERY = 512


GCM = Policy.SRTP_PROFILE_AEAD_AES_128_GCM
AES_CM = Policy.SRTP_PROFILE_AES128_CM_SHA1_80
KEY_AND_SALT = {GCM: 28, AES_CM: 30}


def _session(key: bytes, outbound: bool, profile: int) -> Session:
    return Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND if outbound else Policy.SSRC_ANY_INBOUND,
                          srtp_profile=profile))


def _sockets() -> tuple[socket.socket, socket.socket, tuple[str, int]]:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))  # never read: the kernel drops what overflows, sendto never blocks
    source = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return sink, source, sink.getsockname()


def protect_and_send(seconds: float = 1.0, payload: int = 1000, profile: int = GCM) -> dict:
    """Packets per second of: write an RTP header, protect, sendto. One thread, loopback."""
    tx = _session(os.urandom(KEY_AND_SALT[profile]), True, profile)
    sink, source, address = _sockets()
    packet = bytearray(HEADER.size + payload)
    sent = 0
    cpu = time.thread_time()
    started = time.perf_counter()
    deadline = started + seconds
    try:
        while True:
            for _ in range(CHECK_EVERY):
                HEADER.pack_into(packet, 0, 0x80, 100, sent & 0xFFFF, sent * 3000 & 0xFFFFFFFF, 0x1234)
                source.sendto(tx.protect(bytes(packet)), address)
                sent += 1
            now = time.perf_counter()
            if now >= deadline:
                break
    finally:
        sink.close()
        source.close()
    return _rates(sent, now - started, time.thread_time() - cpu, payload)


def forward(seconds: float = 1.0, payload: int = 1000, batch: int = 1024, profile: int = GCM) -> dict:
    """Packets per second of: unprotect an inbound packet, rewrite its header, protect, sendto."""
    key_in, key_out = os.urandom(KEY_AND_SALT[profile]), os.urandom(KEY_AND_SALT[profile])
    sender, rx, tx = _session(key_in, True, profile), _session(key_in, False, profile), _session(key_out, True, profile)
    inbound = []
    packet = bytearray(HEADER.size + payload)
    for seq in range(batch):  # SRTP refuses replays: protect a fresh batch outside the timed loop
        HEADER.pack_into(packet, 0, 0x80, 100, seq, seq * 3000, 0xABCD)
        inbound.append(sender.protect(bytes(packet)))
    sink, source, address = _sockets()
    forwarded = 0
    cpu = time.thread_time()
    started = time.perf_counter()
    deadline = started + seconds
    try:
        while True:
            if forwarded and forwarded % batch == 0:
                # a new inbound session per batch keeps the replay window happy; its cost is amortised
                rx = _session(key_in, False, profile)
            plain = bytearray(rx.unprotect(inbound[forwarded % batch]))
            HEADER.pack_into(plain, 0, 0x80, 100, forwarded & 0xFFFF, forwarded * 3000 & 0xFFFFFFFF, 0x5678)
            source.sendto(tx.protect(bytes(plain)), address)
            forwarded += 1
            if forwarded % CHECK_EVERY == 0 and time.perf_counter() >= deadline:
                break
    finally:
        sink.close()
        source.close()
    return _rates(forwarded, time.perf_counter() - started, time.thread_time() - cpu, payload)


def _rates(packets: int, wall: float, cpu: float, payload: int) -> dict:
    return {"pps": round(packets / max(cpu, 1e-9)), "wall_pps": round(packets / wall), "payload_bytes": payload,
            "seconds": round(wall, 2), "cpu_s": round(cpu, 2)}


def measure(seconds: float = 1.0) -> dict:
    """Audio-sized and video-sized packets, both loops, AES-GCM; and the AES-CM reference."""
    return {
        "protect_sendto_audio": protect_and_send(seconds, 100),
        "protect_sendto_video": protect_and_send(seconds, 1100),
        "forward_audio": forward(seconds, 100),
        "forward_video": forward(seconds, 1100),
        "protect_sendto_video_aes_cm": protect_and_send(seconds, 1100, AES_CM),
    }


def mixed_pps(figures: dict, audio_share: float) -> float:
    """The protect + sendto ceiling for a stream of packets of which ``audio_share`` are
    audio-sized and the rest video-sized: the time per packet is the mix of the two times."""
    audio, video = figures["protect_sendto_audio"]["pps"], figures["protect_sendto_video"]["pps"]
    return 1 / (audio_share / audio + (1 - audio_share) / video)


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=1))
