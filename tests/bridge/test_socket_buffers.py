"""The media socket's buffer sizes and the kernel's drop counter."""

import os
import socket

from jitsi_py.bridge.udp import kernel_drops, set_buffer_sizes
from jitsi_py.settings import Settings


def test_buffer_setting_defaults_and_parses():
    assert Settings.from_values({}).bridge.socket_buffer == 4 * 1024 * 1024
    assert Settings.from_values({"JITSI_PY_JVB_SOCKET_BUFFER": "8mb"}).bridge.socket_buffer == 8 * 1024 * 1024
    assert Settings.from_values({}).bridge.trust_bwe is True
    assert Settings.from_values({"JVB_CC_TRUST_BWE": "false"}).bridge.trust_bwe is False


def test_buffers_grow_beyond_default_and_drops_are_readable():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        default = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        receive, send = set_buffer_sizes(sock, 4 * 1024 * 1024)
        assert receive > default
        if os.geteuid() == 0:  # forced past net.core.rmem_max; Linux reports twice the request
            assert receive >= 4 * 1024 * 1024 and send >= 4 * 1024 * 1024
        assert kernel_drops(sock) == 0


def test_a_full_buffer_shows_as_kernel_drops():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as source:
        sink.bind(("127.0.0.1", 0))
        sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for _ in range(200):
            source.sendto(bytes(1000), sink.getsockname())
        assert kernel_drops(sink) > 0


def test_without_privilege_the_capped_request_is_made():
    from jitsi_py.bridge.udp import SO_RCVBUFFORCE, SO_SNDBUFFORCE

    class Unprivileged:
        def __init__(self):
            self.set = {}

        def setsockopt(self, level, option, value):
            if option in (SO_RCVBUFFORCE, SO_SNDBUFFORCE):
                raise PermissionError("operation not permitted")
            self.set[option] = value

        def getsockopt(self, level, option):
            return 2 * min(self.set[option], 212992)

    sock = Unprivileged()
    assert set_buffer_sizes(sock, 1 << 20) == (425984, 425984)
    assert sock.set == {socket.SO_RCVBUF: 1 << 20, socket.SO_SNDBUF: 1 << 20}


async def test_bridge_stats_report_kernel_drops_of_the_media_socket():
    import asyncio

    from jitsi_py.bridge.videobridge import Videobridge

    bridge = Videobridge(candidates=[])
    assert "total_udp_kernel_drops" not in bridge.stats()  # no socket yet: nothing to say
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: bridge.port, local_addr=("127.0.0.1", 0))
    try:
        bridge.port.set_buffer_sizes(1 << 20)
        assert bridge.stats()["total_udp_kernel_drops"] == 0
    finally:
        transport.close()
