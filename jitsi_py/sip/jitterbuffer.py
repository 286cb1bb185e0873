"""The SIP side's jitter buffer: packets in by sequence number, one frame out per 20 ms tick.

A ring of ``capacity`` slots indexed by ``seq % capacity``; playout starts once ``delay`` frames are
queued and then takes one slot per tick, so late packets are dropped and a gap is reported as
``None`` for the caller to conceal. When the next packet has not come yet, the tick is concealed
without moving on (the packet is late, not lost); when more than ``delay + slack`` frames are
queued, the oldest are skipped, so the delay never creeps up. A sender silent for longer than the
delay, or a jump of more than the capacity (a new stream), starts buffering afresh. Counters say what
happened.
"""

from __future__ import annotations

from .rtp import seq_delta


class JitterBuffer:
    def __init__(self, capacity: int = 32, delay: int = 2, slack: int = 2) -> None:
        if capacity & (capacity - 1) or not 0 < delay < capacity:
            raise ValueError("capacity must be a power of two greater than the delay")
        self.capacity, self.delay, self.slack = capacity, delay, slack
        self._waited = 0  # ticks concealed in a row, waiting for the next packet
        self._slots: list[bytes | None] = [None] * capacity
        self._seqs: list[int] = [-1] * capacity
        self._next: int | None = None  # the sequence number the next tick plays
        self._highest: int | None = None
        self._buffering = True
        self.received = self.late = self.lost = self.concealed = self.skipped = 0

    def put(self, seq: int, payload: bytes) -> None:
        self.received += 1
        if self._next is None or self._highest is None:
            self._next = self._highest = seq
        ahead = seq_delta(seq, self._next)
        if ahead < 0:
            if ahead < -self.capacity:
                self._reset(seq)
            else:
                self.late += 1
                return
        elif ahead >= self.capacity:
            self._reset(seq)
        index = seq % self.capacity
        self._slots[index], self._seqs[index] = payload, seq
        if seq_delta(seq, self._highest) > 0:
            self._highest = seq

    def _reset(self, seq: int) -> None:
        self._slots = [None] * self.capacity
        self._seqs = [-1] * self.capacity
        self._next = self._highest = seq
        self._buffering = True

    @property
    def depth(self) -> int:
        if self._next is None or self._highest is None:
            return 0
        return seq_delta(self._highest, self._next) + 1

    @property
    def next_seq(self) -> int | None:
        """The sequence number the next tick plays, while playing (what a latency probe follows)."""
        return None if self._buffering or self._next is None else self._next

    def pop(self) -> tuple[bool, bytes | None]:
        """(playing, payload): ``playing`` false while (re)buffering; a None payload while playing is a
        lost packet to conceal."""
        if self._next is None:
            return False, None
        if self._buffering:
            if self.depth < self.delay:
                return False, None
            self._buffering = False
        depth = self.depth
        if depth <= 0:
            self._waited += 1
            if self._waited > self.delay:
                self._buffering = True  # the sender paused or stopped: buffer again
                return False, None
            self.concealed += 1
            return True, None
        self._waited = 0
        if depth > self.delay + self.slack:
            skip = depth - self.delay
            self.skipped += skip
            for _ in range(skip):
                self._slots[self._next % self.capacity] = None
                self._next = (self._next + 1) & 0xFFFF
        index = self._next % self.capacity
        payload = self._slots[index] if self._seqs[index] == self._next else None
        self._slots[index] = None
        self._next = (self._next + 1) & 0xFFFF
        if payload is None:
            self.lost += 1
        return True, payload
