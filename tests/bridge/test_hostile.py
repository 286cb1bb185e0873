"""Hostile media input: each kind dropped and counted, the endpoint and its neighbours unharmed."""

import asyncio
import os
import socket
import struct

from aioice import stun
from pylibsrtp import Policy, Session

from jitsi_py.bridge.conference import Endpoint
from jitsi_py.bridge.dtls import SRTP_AES128_CM_SHA1_80
from jitsi_py.bridge.srtp import SrtpContext

from .peers import Peer


def bridge_address(bridge):
    return bridge.port.transport.get_extra_info("sockname")[:2]


async def settle():
    await asyncio.sleep(0.2)


async def test_random_bytes_and_unauthenticated_stun_are_dropped(bridge):
    alice = Peer(bridge, "meeting-h", "alice", publish=False)
    alice.allocate(create_conference=True)
    endpoint = bridge.conferences["meeting-h"].endpoints["alice"]
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    attacker.bind(("127.0.0.1", 0))
    try:
        target = bridge_address(bridge)
        for size in (1, 12, 100, 1400):
            attacker.sendto(os.urandom(size), target)
        attacker.sendto(b"\x80\x60" + os.urandom(40), target)  # RTP-looking, unvalidated address
        attacker.sendto(b"\x16\xfe\xfd" + os.urandom(60), target)  # DTLS-looking
        forged = stun.Message(stun.Method.BINDING, stun.Class.REQUEST,
                              attributes={"USERNAME": f"{endpoint.ice.local_ufrag}:evil"})
        forged.add_message_integrity(b"guessed-password")
        attacker.sendto(bytes(forged), target)
        await settle()
        assert bridge.counters.unknown_address >= 3
        assert bridge.counters.stun_rejected == 1
        assert endpoint.ice.validated == set()
        attacker.sendto(b"\x80\x60" + os.urandom(40), target)
        await settle()
        assert bridge.counters.not_connected == 0  # still never reached the endpoint
    finally:
        attacker.close()


async def test_srtp_replay_and_bad_tags_are_dropped(bridge):
    conference = bridge.create_conference("meeting-srtp", None, 0.0)
    endpoint = Endpoint(conference, "mallory", now=0.0)
    conference.add_endpoint(endpoint)
    local, remote = os.urandom(30), os.urandom(30)
    endpoint.srtp = SrtpContext(SRTP_AES128_CM_SHA1_80, local, remote)
    sender = Session(Policy(key=remote, ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                            srtp_profile=SRTP_AES128_CM_SHA1_80.libsrtp))
    packet = sender.protect(struct.pack("!BBHII", 0x80, 100, 1, 0, 1234) + b"payload")
    endpoint.receive_media(packet)
    assert bridge.counters.srtp_rejected == 0 and bridge.counters.rtp_unknown_ssrc == 1
    endpoint.receive_media(packet)  # replay
    assert bridge.counters.srtp_rejected == 1
    tampered = bytearray(sender.protect(struct.pack("!BBHII", 0x80, 100, 2, 0, 1234) + b"payload"))
    tampered[-1] ^= 0xFF
    endpoint.receive_media(bytes(tampered))
    assert bridge.counters.srtp_rejected == 2
    endpoint.receive_media(b"\x80\xc9" + os.urandom(30))  # SRTCP with garbage
    assert bridge.counters.srtcp_rejected == 1
    endpoint.receive_media(sender.protect_rtcp(b"\x80\xc9\x00\x05" + b"\x00" * 4))  # length beyond the end
    assert bridge.counters.rtcp_malformed == 1


async def test_dtls_fingerprint_mismatch_fails_the_endpoint(bridge):
    alice = Peer(bridge, "meeting-fp", "alice", publish=False,
                 fingerprint=":".join(["AB"] * 32))
    alice.allocate(create_conference=True)
    try:
        await alice.connect([])
        for _ in range(100):
            if bridge.counters.dtls_failed:
                break
            await asyncio.sleep(0.05)
        assert bridge.counters.dtls_failed == 1
        assert bridge.conferences["meeting-fp"].endpoints["alice"].srtp is None
    finally:
        await alice.close()


async def test_silent_endpoints_are_reported_inactive_then_expired(bridge):
    conference = bridge.create_conference("meeting-idle", None, 0.0)
    quiet, watcher = Endpoint(conference, "quiet", now=0.0), Endpoint(conference, "watcher", now=0.0)
    conference.add_endpoint(quiet)
    conference.add_endpoint(watcher)
    seen = []
    watcher.channel = seen.append
    watcher.last_activity = 1000.0
    conference.tick(10.0)
    assert seen == []  # within the first-media grace period
    conference.tick(16.0)
    assert seen[-1] == {"colibriClass": "EndpointConnectivityStatusChangeEvent", "endpoint": "quiet",
                        "active": "false"}
    conference.tick(61.0)
    assert "quiet" not in conference.endpoints and "watcher" in conference.endpoints
    assert "meeting-idle" in bridge.conferences
    conference.tick(1061.0)
    assert "meeting-idle" not in bridge.conferences


async def test_ipv6_and_mdns_candidates_are_skipped(bridge):
    from jitsi_py.common.stanzas import colibri2 as c2
    from jitsi_py.common.stanzas.jingle import Candidate, Fingerprint, IceTransport

    from .peers import roundtrip

    alice = Peer(bridge, "meeting-v6", "alice", publish=False)
    alice.allocate(create_conference=True)
    candidates = [Candidate(1, "1", 0, "a", "::1", 5000, 1, "udp", "host"),
                  Candidate(1, "2", 0, "b", "0d1f.local", 5001, 1, "udp", "host"),
                  Candidate(1, "3", 0, "c", "127.0.0.1", 5002, 1, "udp", "host")]
    fingerprints = [Fingerprint("sha-256", "AB:CD", "active")]
    roundtrip(bridge, c2.ConferenceModify("meeting-v6", endpoints=[c2.Endpoint("alice", transport=c2.Transport(
        ice=IceTransport("ufrag", "password-password-pass", candidates, fingerprints)))]))
    assert bridge.conferences["meeting-v6"].endpoints["alice"].ice.remote_candidates == [("127.0.0.1", 5002)]
