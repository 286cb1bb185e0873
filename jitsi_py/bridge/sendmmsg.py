"""The media port's outgoing RTP: datagrams written into the slots of a :class:`Batch` and sent
with one ``sendmmsg(2)`` per batch (Linux), through cffi's ABI mode.

Python's ``sendto`` parses the address tuple and enters the kernel once per datagram; the copies of
one inbound packet (one per receiver) instead go out in one call once the inbound packet has been
handled. Each slot is a buffer with its ``struct iovec`` and ``struct mmsghdr``, laid out once. A
forwarded copy is written into the next free slot, SRTP-protected there in place, and queued with
the receiver's ``sockaddr`` (``Endpoint.deliver``, which does it inline: it runs once per forwarded
packet), so it is copied once, from the forwarder's buffer into the slot, and the kernel reads it
there. ``slots[count]`` is what filling one takes: ``(view, length, buffer, header)``, where

- ``view[:size] = packet`` copies the datagram into ``buffer``;
- ``iov_len[count] = size`` sets the slot's ``iov_len`` (a memoryview over the ``iovec`` array's
  lengths: a Python int written there costs a third of a store through cffi);
- ``length`` is an ``int *`` over that ``iov_len`` (its low half: x86-64 and arm64 are
  little-endian), handed to libsrtp as the in/out length, so the protected length lands in the
  ``iovec`` with no copy;
- ``msg_name[count] = address`` addresses it: the address of a :func:`sockaddr` (the filler
  keeps that alive), as :meth:`Batch.address` gives it, written through a memoryview over the
  headers' ``msg_name`` pointers (``header.msg_name = name`` is the same through cffi, dearer);
  ``count += 1`` queues it, and the filler calls :meth:`Batch.flush` when ``count`` reaches
  ``limit``.

While the media port handles an inbound datagram ``limit`` is :data:`CAPACITY`; otherwise (timers:
probes, retransmissions) it is 1, and each datagram leaves as it is queued. Where libc has no
``sendmmsg`` (not Linux), :data:`AVAILABLE` is False and a batch sends its slots one ``sendto`` each.
"""

from __future__ import annotations

import errno
import socket
import struct
import sys

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
if sys.byteorder != "little":  # see ``lengths`` above
    raise ImportError("the media port's batch assumes a little-endian machine")

CAPACITY = 64  # datagrams per call; a fan-out to more receivers takes several
SOCKADDR_FAMILY = struct.Struct("=H")  # sa_family in host order; the rest is network order
SOCKADDR_IN6 = struct.Struct("!HI16sI")  # port, flow info, address, scope id
SOCKADDR_IN = struct.Struct("!H4s8x")  # port, address, padding
RETRY = (errno.EINTR,)
BLOCKED = (errno.EAGAIN, errno.EWOULDBLOCK)  # what sendto raises as BlockingIOError
WORD = ffi.sizeof("void *")



def sockaddr(family: int, addr: tuple) -> object:
    """``addr`` (host, port) as the kernel's ``sockaddr_in6``/``sockaddr_in`` for a socket of
    ``family``, in memory cffi keeps alive with the returned object (a ``msg_name``)."""
    host, port = addr[0], addr[1]
    if family == socket.AF_INET6:
        name = SOCKADDR_FAMILY.pack(family) + SOCKADDR_IN6.pack(port, 0, socket.inet_pton(family, host), 0)
    else:
        name = SOCKADDR_FAMILY.pack(family) + SOCKADDR_IN.pack(port, socket.inet_pton(family, host))
    return ffi.new("char[]", name)


def _address(family: int, name) -> tuple[str, int]:
    """What :func:`sockaddr` made, back as (host, port): for the rare datagram that is not sent."""
    if family == socket.AF_INET6:
        port, _, packed, _ = SOCKADDR_IN6.unpack(ffi.buffer(name, 2 + SOCKADDR_IN6.size)[2:])
    else:
        port, packed = SOCKADDR_IN.unpack(ffi.buffer(name, 2 + SOCKADDR_IN.size)[2:])
    return socket.inet_ntop(family, packed), port


class Batch:
    """The slots of one socket's outgoing datagrams; :meth:`flush` sends them with as few
    ``sendmmsg`` as fit.

    ``blocked(data, addr)`` takes a copy of a datagram the full send buffer refused (the media port
    queues it on its transport); any other error drops that one datagram. ``counters`` gets
    ``packets_sent``/``bytes_sent`` for what the kernel took and ``send_errors`` for those drops."""

    def __init__(self, sock: socket.socket, slot_size: int, counters, blocked, *,
                 use_sendmmsg: bool = AVAILABLE) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        self.family = sock.family
        self._counters = counters
        self._blocked = blocked
        self._memory = ffi.new("unsigned char[]", CAPACITY * slot_size)
        self._buffers = [self._memory + k * slot_size for k in range(CAPACITY)]  # each ``slot_size`` bytes
        self._iovs = ffi.new("struct iovec[]", CAPACITY)
        self._msgs = ffi.new("struct mmsghdr[]", CAPACITY)
        self._slots = [self._msgs + k for k in range(CAPACITY)]
        namelen = 2 + (SOCKADDR_IN6.size if self.family == socket.AF_INET6 else SOCKADDR_IN.size)
        for k in range(CAPACITY):
            self._iovs[k].iov_base = self._buffers[k]
            header = self._msgs[k].msg_hdr
            header.msg_iov = self._iovs + k
            header.msg_iovlen = 1
            header.msg_namelen = namelen
        views = [memoryview(ffi.buffer(buffer, slot_size)) for buffer in self._buffers]
        lengths = [ffi.cast("int *", ffi.addressof(self._iovs[k], "iov_len")) for k in range(CAPACITY)]
        # Each iovec is two machine words, base then length: the odd words are the lengths.
        self.iov_len = memoryview(ffi.buffer(self._iovs)).cast("N")[1::2]
        self._headers = [ffi.addressof(self._msgs[k], "msg_hdr") for k in range(CAPACITY)]
        # msg_name is each header's first word.
        self.msg_name = memoryview(ffi.buffer(self._msgs)).cast("P")[::ffi.sizeof("struct mmsghdr") // WORD]
        self.slots = list(zip(views, lengths, self._buffers, self._headers))  # see the module's docstring
        self._send = self._sendmmsg if use_sendmmsg else self._sendto
        self.count = 0
        self.limit = 1

    def hold(self) -> None:
        """Queue what is filled until :meth:`release` (or a full batch)."""
        self.limit = CAPACITY

    def release(self) -> None:
        self.limit = 1
        if self.count:
            self.flush()

    def sockaddr(self, addr: tuple) -> object:
        return sockaddr(self.family, addr)

    @staticmethod
    def address(name: object) -> int:
        """Where a :func:`sockaddr` is in memory, for ``msg_name``."""
        return int(ffi.cast("uintptr_t", name))

    def flush(self) -> None:
        count = self.count
        if not count:
            return
        self.count = 0
        octets = sum(self.iov_len[:count])
        failed = 0
        start = 0
        while start < count:
            sent = self._send(start, count)
            if sent > 0:
                start += sent
                continue
            error = -sent
            if error in RETRY:
                continue
            if error in BLOCKED:
                for k in range(start, count):  # the kernel takes none now; the transport queues them
                    data, addr = self._datagram(k)
                    self._blocked(data[:], addr)
                    octets -= len(data)
                failed += count - start
                break
            octets -= self.iov_len[start]
            self._counters.send_errors += 1  # a gone peer is ICE consent's business
            failed += 1
            start += 1
        counters = self._counters
        counters.packets_sent += count - failed
        counters.bytes_sent += octets

    def _datagram(self, k: int) -> tuple[object, tuple[str, int]]:
        """Slot ``k``'s datagram (a cffi buffer over it) and address, for the paths that do not
        hand the slots to ``sendmmsg``."""
        return ffi.buffer(self._buffers[k], self.iov_len[k]), _address(self.family, self._headers[k].msg_name)

    def _sendmmsg(self, start: int, count: int) -> int:
        """How many of the slots from ``start`` the kernel took, or -errno."""
        sent = _sendmmsg(self._fd, self._slots[start], count - start, 0)
        return sent if sent > 0 else -ffi.errno

    def _sendto(self, start: int, count: int) -> int:
        """The same contract, one ``sendto`` per slot, where libc has no ``sendmmsg``."""
        for k in range(start, count):
            try:
                self._sock.sendto(*self._datagram(k))
            except OSError as exc:
                return k - start if k > start else -(exc.errno or errno.EIO)
        return count - start
