"""A bridge in memory for the fuzz tests: one conference, two endpoints and a relay, no sockets.

alice sends audio (SSRC 11) and three simulcast video layers (1001-1003, RTX 2001); carol, behind
the relay, sends one video layer (3001, RTX 3002). bob receives without SSRC rewriting, so the
media SSRCs in crafted feedback name his projections and reach the NACK and key-frame paths.
Nothing is sent anywhere: without a selected ICE pair the endpoints drop what they would send.
The media port is connected to a UDP socket of its own (never sent to) so its demultiplexer and
send batch are the real ones.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from jitsi_py.bridge.conference import Conference, Endpoint
from jitsi_py.bridge.forwarder import Source
from jitsi_py.bridge.relay import Relay
from jitsi_py.bridge.videobridge import Videobridge

PAYLOAD_TYPES = {100: "VP8", 98: "VP9", 102: "H264", 45: "AV1"}
RTX_PAYLOAD_TYPES = {101: 100, 99: 98, 103: 102, 46: 45}
AUDIO_PT = 111
AUDIO_LEVEL_ID, TRANSPORT_CC_ID = 1, 3

_bridge: Videobridge | None = None


class _Transport:
    """What the media port reads from its datagram transport, on a socket nobody sends to."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))

    def get_extra_info(self, name: str):
        return self.socket if name == "socket" else None

    def sendto(self, data: bytes, addr) -> None:
        pass


@dataclass
class Memory:
    bridge: Videobridge
    conference: Conference
    alice: Endpoint
    bob: Endpoint
    relay: Relay

    def close(self) -> None:
        self.bridge.expire_conference(self.conference)


def bridge_in_memory() -> Memory:
    """A fresh conference (about 2 ms) on a bridge made once (its certificate is the slow part)."""
    global _bridge
    if _bridge is None:
        _bridge = Videobridge(candidates=[], relays_enabled=True, sctp_enabled=True)
        _bridge.port._clock = lambda: 0.0  # no event loop to take the time from
        _bridge.port.connection_made(_Transport())
    bridge = _bridge
    conference = bridge.create_conference("fuzz", None, 0.0)
    forwarder = conference.forwarder
    forwarder.set_video_payload_types(PAYLOAD_TYPES, RTX_PAYLOAD_TYPES)
    alice, bob = Endpoint(conference, "alice"), Endpoint(conference, "bob")
    for endpoint in (alice, bob):
        conference.add_endpoint(endpoint)
        endpoint.audio_pts = {AUDIO_PT}
        endpoint.audio_level_id = AUDIO_LEVEL_ID
        endpoint.transport_cc_id = endpoint.receiver.transport_cc_id = TRANSPORT_CC_ID
    conference.set_sources(alice, [Source("alice-a0", "alice", "audio", [11]),
                                   Source("alice-v0", "alice", "video", [1001, 1002, 1003], {1001: 2001})])
    relay = Relay(conference, "relay", ice_controlling=True, now=0.0)
    conference.add_relay(relay)
    relay.audio_pts = {AUDIO_PT}
    relay.audio_level_id = AUDIO_LEVEL_ID
    relay.transport_cc_id = TRANSPORT_CC_ID
    relay.set_endpoint("carol", [Source("carol-v0", "carol", "video", [3001], {3001: 3002})])
    return Memory(bridge, conference, alice, bob, relay)
