"""One ``sendmmsg(2)`` for the copies of one inbound packet (Linux), through cffi's ABI mode.

Python's ``sendto`` parses the address tuple and enters the kernel once per datagram; the fan-out
of one packet to N receivers goes out here in one call instead. Each receiver's datagram stays in
its SRTP context's buffer until the batch is sent: the context holds a ``struct iovec`` over that
buffer, and the receiver a :class:`Route` (its ``sockaddr`` and a ``struct mmsghdr`` naming that
iovec), so queueing one datagram is a length write and a 64-byte copy. A context lent to the
batch calls its ``pending`` (the batch's flush) before it writes its buffer again.

Where libc has no ``sendmmsg`` (not Linux), :data:`AVAILABLE` is False and the media port keeps
sending each datagram with ``sendto``.
"""

from __future__ import annotations

import errno
import socket
import struct

from cffi import FFI

ffi = FFI()
ffi.cdef("""
struct iovec { void *iov_base; size_t iov_len; };
struct msghdr { void *msg_name; unsigned int msg_namelen; struct iovec *msg_iov; size_t msg_iovlen;
                void *msg_control; size_t msg_controllen; int msg_flags; };
struct mmsghdr { struct msghdr msg_hdr; unsigned int msg_len; };
int sendmmsg(int sockfd, struct mmsghdr *msgvec, unsigned int vlen, int flags);
""")
try:
    _sendmmsg = ffi.dlopen(None).sendmmsg
except (AttributeError, OSError):
    _sendmmsg = None
AVAILABLE = _sendmmsg is not None
_memmove = ffi._backend.memmove  # ffi.memmove is a Python-level wrapper around it: once per datagram

CAPACITY = 64  # datagrams per call; a fan-out to more receivers takes several
MMSGHDR = ffi.sizeof("struct mmsghdr")
SOCKADDR_IN = struct.Struct("=H")  # sa_family in host order; the rest is network order
RETRY = (errno.EINTR,)
BLOCKED = (errno.EAGAIN, errno.EWOULDBLOCK)  # what sendto raises as BlockingIOError


def sockaddr(family: int, addr: tuple) -> bytes:
    """``addr`` (host, port) as the kernel's ``sockaddr_in6``/``sockaddr_in`` for a socket of ``family``."""
    host, port = addr[0], addr[1]
    if family == socket.AF_INET6:
        return SOCKADDR_IN.pack(socket.AF_INET6) + struct.pack("!HI16sI", port, 0, socket.inet_pton(socket.AF_INET6, host), 0)
    return SOCKADDR_IN.pack(socket.AF_INET) + struct.pack("!H4s8x", port, socket.inet_pton(socket.AF_INET, host))


def iovec(buffer) -> object:
    """A ``struct iovec *`` over ``buffer`` (a cffi array that must outlive it); length set per datagram."""
    iov = ffi.new("struct iovec *")
    iov.iov_base = buffer
    return iov


class Route:
    """One receiver's address and SRTP context (``owner``: its ``iov`` is the datagram buffer) as a
    prebuilt ``struct mmsghdr``."""

    __slots__ = ("addr", "owner", "iov", "header", "_name")

    def __init__(self, family: int, addr: tuple, owner) -> None:
        self.addr = addr
        self.owner = owner
        self.iov = iov = owner.iov
        name = sockaddr(family, addr)
        self._name = ffi.new("char[]", name)
        self.header = ffi.new("struct mmsghdr *")
        hdr = self.header.msg_hdr
        hdr.msg_name = self._name
        hdr.msg_namelen = len(name)
        hdr.msg_iov = iov
        hdr.msg_iovlen = 1


class BatchSender:
    """Datagrams queued by :meth:`add`, sent by :meth:`flush` with as few ``sendmmsg`` as fit.

    ``blocked(data, addr)`` takes a copy of a datagram the full send buffer refused (the media
    port queues it on its transport); any other error drops that one datagram. ``counters`` gets
    ``packets_sent``/``bytes_sent`` for what the kernel took and ``send_errors`` for those drops."""

    def __init__(self, fd: int, family: int, counters, blocked) -> None:
        self.fd = fd
        self.family = family
        self._counters = counters
        self._blocked = blocked
        self._msgs = ffi.new("struct mmsghdr[]", CAPACITY)
        self._slots = [self._msgs + k for k in range(CAPACITY)]
        self._routes: list[Route] = []  # of each queued datagram
        self._flush = self.flush  # what a lent context calls (one bound method, not one per datagram)
        self._octets = 0
        self.count = 0

    def route(self, addr: tuple, owner) -> Route:
        return Route(self.family, addr, owner)

    def add(self, route: Route, length: int) -> None:
        """Queue the first ``length`` bytes of ``route``'s context's buffer to its address."""
        count = self.count
        route.iov.iov_len = length
        _memmove(self._slots[count], route.header, MMSGHDR)
        route.owner.pending = self._flush
        self._routes.append(route)
        self._octets += length
        self.count = count + 1
        if count + 1 == CAPACITY:
            self.flush()

    def flush(self) -> None:
        count = self.count
        if not count:
            return
        self.count = 0
        msgs = self._msgs
        octets = self._octets
        failed = 0
        start = 0
        while start < count:
            sent = _sendmmsg(self.fd, self._slots[start], count - start, 0)
            if sent > 0:
                start += sent
                continue
            error = ffi.errno
            if error in RETRY:
                continue
            if error in BLOCKED:
                for k in range(start, count):  # the kernel takes none now; the transport queues them
                    iov = msgs[k].msg_hdr.msg_iov
                    self._blocked(ffi.buffer(iov.iov_base, iov.iov_len)[:], self._routes[k].addr)
                    octets -= iov.iov_len
                failed += count - start
                break
            octets -= msgs[start].msg_hdr.msg_iov.iov_len
            self._counters.send_errors += 1  # a gone peer is ICE consent's business
            failed += 1
            start += 1
        for route in self._routes:
            route.owner.pending = None
        self._routes.clear()
        self._octets = 0
        counters = self._counters
        counters.packets_sent += count - failed
        counters.bytes_sent += octets
