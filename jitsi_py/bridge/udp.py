"""The one UDP media port every endpoint shares (docs/bridge-media.md §1).

Demultiplexing, in this order: a datagram from an address some endpoint validated goes to that
endpoint (RTP/RTCP straight to its hot path, DTLS to its DTLS session, STUN to its ICE agent);
a STUN request names its endpoint by the local ufrag in USERNAME; a STUN response comes back from
an address we sent a check to. Everything else is dropped and counted.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import socket

from .ice import parse_stun, stun_local_ufrag
from .sendmmsg import Batch
from .srtp import BUFFER_SIZE as SRTP_BUFFER_SIZE

log = logging.getLogger(__name__)

# Linux's privileged variants that ignore net.core.rmem_max/wmem_max; Python does not name them.
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
# Linux's IP_MTU_DISCOVER and its "set DF, never fragment" mode; Python does not name them.
IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
IP_PMTUDISC_PROBE = getattr(socket, "IP_PMTUDISC_PROBE", 3)


def set_buffer_sizes(sock: socket.socket, size: int) -> tuple[int, int]:
    """Ask for ``size``-byte receive and send buffers: forced past the sysctl cap when we may
    (root or CAP_NET_ADMIN), else the capped request. Returns the effective (receive, send) sizes
    as the kernel reports them (Linux doubles the request for its bookkeeping)."""
    for forced, plain in ((SO_RCVBUFFORCE, socket.SO_RCVBUF), (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, forced, size)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, plain, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)


def open_media_socket(port: int, host: str | None = None) -> socket.socket:
    """The media socket: one dual-stack socket on ``[::]:port`` so IPv4 and IPv6 share one demux
    and one ``sendto`` (IPv4 peers appear as ``::ffff:a.b.c.d``); IPv4 only on ``0.0.0.0`` where
    the kernel has no IPv6. ``host`` binds one address instead (tests: ``::1``, ``127.0.0.1``)."""
    if host is None:
        try:
            return _bound(socket.AF_INET6, ("::", port), dual_stack=True)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise  # the port, not the family: IPv4 would be refused the same
            log.info("bridge: no IPv6 media socket (%s); IPv4 only", exc)
            host = "0.0.0.0"
    return _bound(socket.AF_INET6 if ":" in host else socket.AF_INET, (host, port))


def _bound(family: int, address: tuple[str, int], dual_stack: bool = False) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if dual_stack:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def kernel_drops(sock: socket.socket) -> int | None:
    """Datagrams the kernel dropped on this socket (full receive buffer), from the ``drops``
    column of /proc/net/udp{,6} for the socket's inode: read on demand, never on the packet path
    (SO_RXQ_OVFL would need recvmsg per datagram, which asyncio's transport does not use).
    None where /proc does not tell."""
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
    except OSError:
        return None
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as lines:
                next(lines, None)
                for line in lines:
                    fields = line.split()
                    if len(fields) >= 13 and fields[9] == inode:
                        return int(fields[12])
        except OSError:
            continue
    return None


class MediaPort(asyncio.DatagramProtocol):
    def __init__(self, counters, clock=None) -> None:
        self._counters = counters
        self._by_ufrag: dict[str, object] = {}
        self._by_addr: dict[tuple[str, int], object] = {}
        self._checks_to: dict[tuple[str, int], object] = {}
        self._discovery: dict[bytes, asyncio.Future] = {}  # STUN transaction id -> waiter (stun.py)
        self.transport: asyncio.DatagramTransport | None = None
        self.socket = None
        self._clock = clock
        self.sendto = self._not_bound
        # Where forwarded RTP is protected and sent from (sendmmsg.py), on a handle of ours to the
        # socket; while one inbound media datagram is handled, its copies wait there to leave together.
        self.batch: Batch | None = None
        self._sender: socket.socket | None = None
        self.ipv6 = False  # IPv6 peers reachable
        self.dual_stack = False  # IPv4 peers are named ::ffff:a.b.c.d

    @staticmethod
    def _not_bound(data, addr) -> None:
        raise RuntimeError("the media port is not bound yet")

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.socket = transport.get_extra_info("socket")
        self.sendto = transport.sendto
        sock = self.socket
        if sock is not None:
            self._sender = socket.socket(fileno=os.dup(sock.fileno()))
            self._sender.setblocking(False)
            self._dont_fragment()
            self.batch = Batch(self._sender, SRTP_BUFFER_SIZE, self._counters, self._queue_copy)
        self.ipv6 = sock is not None and sock.family == socket.AF_INET6
        self.dual_stack = self.ipv6 and sock.getsockname()[0] == "::" and not sock.getsockopt(
            socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
        if self._clock is None:
            self._clock = asyncio.get_running_loop().time

    def _dont_fragment(self) -> None:
        """DF on IPv4 (the dual-stack socket's IPv4 peers included, which the kernel's default left
        without it): the kernel then writes IP ID 0 instead of drawing one from its shared counters,
        ~2 % of the forwarding CPU; media packets stay under the MTU, so nothing needs fragments."""
        try:
            self._sender.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)
        except OSError as exc:  # an IPv6-only socket has no IPv4 options
            log.debug("bridge: media socket keeps the kernel's fragmentation default (%s)", exc)

    def connection_lost(self, exc) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None
            self.batch = None

    def _queue_copy(self, data: bytes, addr) -> None:
        self.transport.sendto(data, addr)

    def datagram_received(self, data: bytes, addr) -> None:
        addr = addr[:2]
        endpoint = self._by_addr.get(addr)
        first = data[0] if data else 255
        if endpoint is not None and 128 <= first <= 191:
            batch = self.batch
            batch.hold()
            try:
                endpoint.receive_media(data)
            finally:
                batch.release()
            return
        if first < 4:
            if endpoint is None:
                ufrag = stun_local_ufrag(data)
                endpoint = self._by_ufrag.get(ufrag) if ufrag else self._checks_to.get(addr)
            if endpoint is None:
                if self._discovery and self._discovery_response(data):
                    return
                self._counters.unknown_address += 1
                return
            endpoint.receive_stun(data, addr, self._clock())
            return
        if endpoint is not None and 20 <= first <= 63:
            endpoint.receive_dtls(data, self._clock())
            return
        self._counters.unknown_address += 1

    def peer_address(self, host: str) -> str | None:
        """``host`` (an IP literal, e.g. a remote ICE candidate) as this socket names its peers,
        so it matches the addresses datagrams come from; None when this socket cannot reach it."""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return None  # a name (mDNS .local): JVB does not resolve remote candidates either
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.version == 6:
            # A link-local address is unreachable without the scope id a candidate does not carry.
            return ip.compressed if self.ipv6 and not ip.is_link_local else None
        if self.dual_stack:
            return f"::ffff:{ip}"
        return None if self.ipv6 else str(ip)

    def set_buffer_sizes(self, size: int) -> None:
        receive, send = set_buffer_sizes(self.socket, size)
        # Linux reports twice what it grants for payload; below the request means the sysctl cap won.
        capped = receive < size or send < size
        log.log(logging.WARNING if capped else logging.DEBUG,  # only a cap is worth an operator's look
                "bridge: media socket buffers asked %d KiB; the kernel reports %d KiB receive, %d KiB send%s",
                size // 1024, receive // 1024, send // 1024,
                " (capped by net.core.rmem_max/wmem_max: raise them or run with CAP_NET_ADMIN)" if capped else "")

    def kernel_drops(self) -> int | None:
        return None if self.socket is None else kernel_drops(self.socket)

    def _discovery_response(self, data: bytes) -> bool:
        waiter = self._discovery.get(data[8:20])
        if waiter is None or waiter.done():
            return False
        message = parse_stun(data)
        if message is None:
            return False
        waiter.set_result(message)
        return True

    def expect_stun_response(self, transaction_id: bytes, waiter: asyncio.Future) -> None:
        self._discovery[transaction_id] = waiter

    def forget_stun_response(self, transaction_id: bytes) -> None:
        self._discovery.pop(transaction_id, None)

    def error_received(self, exc) -> None:
        # ICMP errors (a peer went away) are expected; consent freshness handles them.
        pass

    def sendto_stun(self, data: bytes, addr, endpoint) -> None:
        self._checks_to[addr] = endpoint
        self.sendto(data, addr)

    def bind_ufrag(self, ufrag: str, endpoint) -> None:
        self._by_ufrag[ufrag] = endpoint

    def unbind_ufrag(self, ufrag: str, endpoint) -> None:
        if self._by_ufrag.get(ufrag) is endpoint:
            del self._by_ufrag[ufrag]
        for addr in [a for a, e in self._checks_to.items() if e is endpoint]:
            del self._checks_to[addr]

    def bind_address(self, addr, endpoint) -> None:
        """A validated address (a request with valid integrity came from it) now routes here."""
        self._by_addr[addr] = endpoint

    def unbind_address(self, addr, endpoint) -> None:
        if self._by_addr.get(addr) is endpoint:
            del self._by_addr[addr]
