"""Slow and idle HTTP clients, as an attacker holds a listener's connections: each says how long the
server let it live, and a flood says how many connections the server refused at once. ``source`` is
the attacker's address: any of 127.0.0.0/8 is loopback, so 127.0.0.2 attacks while 127.0.0.1 meets."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field

HEAD = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"a" * 64 + b"\r\n"
REFUSED_WITHIN = 0.3  # a connection the server closes this soon after the accept was refused
ATTACKER = "127.0.0.2"


async def _connect(port: int, source: str, tls: ssl.SSLContext | None = None):
    return await asyncio.open_connection("127.0.0.1", port, ssl=tls, local_addr=(source, 0),
                                         server_hostname="localhost" if tls is not None else None)


async def _closed(reader: asyncio.StreamReader, limit: float) -> bool:
    """Wait up to ``limit`` for the server to close; True when it did."""
    try:
        async with asyncio.timeout(limit):
            while await reader.read(4096):
                pass
    except TimeoutError:
        return False
    except (ConnectionError, ssl.SSLError):
        pass
    return True


async def lifetime_slowloris(port: int, *, interval: float, limit: float, tls: ssl.SSLContext | None = None,
                             source: str = ATTACKER) -> float:
    """One header byte every ``interval`` seconds, never the blank line: seconds until the server
    closed (``limit`` if it never did)."""
    reader, writer = await _connect(port, source, tls)
    start = time.monotonic()
    try:
        for byte in HEAD * 100:
            writer.write(bytes([byte]))
            if await _closed(reader, interval):
                return time.monotonic() - start
            if time.monotonic() - start >= limit:
                return limit
        return limit
    finally:
        writer.transport.abort()


async def lifetime_idle(port: int, *, limit: float, tls: ssl.SSLContext | None = None,
                        source: str = ATTACKER) -> float:
    """Connect and send nothing: seconds until the server closed (``limit`` if it never did)."""
    reader, writer = await _connect(port, source, tls)
    start = time.monotonic()
    try:
        return time.monotonic() - start if await _closed(reader, limit) else limit
    finally:
        writer.transport.abort()


@dataclass
class Flood:
    """Connections opened at once and left idle, each watched from the start until the server closes it."""

    held: list[asyncio.StreamWriter] = field(default_factory=list)
    refused: int = 0
    watchers: list[asyncio.Task[float]] = field(default_factory=list)

    async def lifetimes(self) -> list[float]:
        """Seconds each held connection lived (the flood's ``limit`` when still open then)."""
        return list(await asyncio.gather(*self.watchers))

    def close(self) -> None:
        for writer in self.held:
            writer.transport.abort()
        for watcher in self.watchers:
            watcher.cancel()


async def idle_flood(port: int, count: int, *, limit: float, source: str = ATTACKER) -> Flood:
    """Open ``count`` idle connections; those the server closes at once count as refused."""
    start = time.monotonic()

    async def lifetime(reader: asyncio.StreamReader) -> float:
        closed = await _closed(reader, limit)
        return time.monotonic() - start if closed else limit

    flood = Flood()
    opened = [await _connect(port, source) for _ in range(count)]
    closed = await asyncio.gather(*(_closed(reader, REFUSED_WITHIN) for reader, _ in opened))
    for (reader, writer), was_closed in zip(opened, closed):
        if was_closed:
            flood.refused += 1
            writer.transport.abort()
        else:
            flood.held.append(writer)
            flood.watchers.append(asyncio.ensure_future(lifetime(reader)))
    return flood
