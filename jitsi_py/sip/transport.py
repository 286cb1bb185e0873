"""SIP over the network (RFC 3261 §18): the gateway's signalling sockets.

UDP: one socket, a datagram is a message. TCP and TLS: a listener for peers that connect to us (TLS
with our certificate), and connections we open to a peer we must reach (the SIP server: registration
and calls go over it, so they also bring its requests back); each stream is framed by Content-Length
(:func:`message.frame_length`), CRLF keep-alives skipped. A stream whose framing breaks is closed;
nothing else is touched.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any, Callable

from .message import SipSyntaxError, frame_length

log = logging.getLogger(__name__)

Addr = tuple[str, int]
Receive = Callable[[bytes, Addr], None]
MAX_PENDING = 64  # messages queued for a connection being opened


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, receive: Receive) -> None:
        self.receive = receive

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.receive(data, (addr[0], addr[1]))


class _Stream(asyncio.Protocol):
    def __init__(self, owner: Signalling) -> None:
        self.owner = owner
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: Addr = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = (peer[0], peer[1])
        self.owner.streams[self.peer] = self

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            while self.buffer[:2] == b"\r\n":
                del self.buffer[:2]
            try:
                size = frame_length(self.buffer)
            except SipSyntaxError as exc:
                log.warning("sip: closing the stream from %s:%d: %s", *self.peer, exc.reason)
                if self.transport is not None:
                    self.transport.close()
                return
            if size is None:
                return
            message = bytes(self.buffer[:size])
            del self.buffer[:size]
            self.owner.receive(message, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        lost = [addr for addr, stream in self.owner.streams.items() if stream is self]
        for addr in lost:
            del self.owner.streams[addr]
        for addr in lost:
            self.owner.on_lost(addr)


class Signalling:
    """``send`` a message to an address; what arrives goes to ``receive`` with its source."""

    def __init__(self, kind: str, receive: Receive, tls: ssl.SSLContext | None = None,
                 on_lost: Callable[[Addr], None] = lambda _addr: None, server_tls: ssl.SSLContext | None = None,
                 ) -> None:
        """``tls``: for the connections we open; ``server_tls``: for the TLS listener (our certificate)."""
        self.kind, self.receive, self.tls, self.on_lost = kind, receive, tls, on_lost
        self.server_tls = server_tls
        self.streams: dict[Addr, _Stream] = {}
        self._datagrams: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._pending: dict[Addr, list[bytes]] = {}

    async def open(self, bind: Addr) -> None:
        loop = asyncio.get_running_loop()
        if self.kind == "UDP":
            self._datagrams, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self.receive),
                                                                     local_addr=bind)
        elif self.kind == "TCP" or self.server_tls is not None:
            self._server = await loop.create_server(lambda: _Stream(self), bind[0], bind[1], ssl=self.server_tls)
        # TLS without a certificate: only the connections we open; the SIP server reaches us through them.

    def send(self, data: bytes, to: Addr) -> None:
        if self._datagrams is not None:
            self._datagrams.sendto(data, to)
            return
        stream = self.streams.get(to)
        if stream is not None and stream.transport is not None and not stream.transport.is_closing():
            stream.transport.write(data)
            return
        pending = self._pending.get(to)
        if pending is not None:
            if len(pending) < MAX_PENDING:
                pending.append(data)
            return
        self._pending[to] = [data]
        asyncio.ensure_future(self._connect(to))

    async def _connect(self, to: Addr) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, stream = await asyncio.wait_for(loop.create_connection(
                lambda: _Stream(self), to[0], to[1], ssl=self.tls,
                server_hostname=to[0] if self.tls is not None else None), 10)
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
            log.warning("sip: cannot reach %s:%d over %s: %s", to[0], to[1], self.kind, exc)
            self._pending.pop(to, None)  # the transactions time out and say so
            return
        # The peer may know us by the address it sees, or we by the one we dialled: both find it.
        self.streams[to] = stream
        assert stream.transport is not None
        for data in self._pending.pop(to, []):
            stream.transport.write(data)

    def close(self) -> None:
        self.on_lost = lambda _addr: None
        if self._datagrams is not None:
            self._datagrams.close()
        if self._server is not None:
            self._server.close()
        for stream in list(self.streams.values()):
            if stream.transport is not None:
                stream.transport.close()
