"""SIP transactions (RFC 3261 §17) with their timers, sans-I/O: requests and responses and ``now`` in,
bytes to send and the next deadline out.

* :class:`ClientTransaction`: INVITE (timers A, B, D; the ACK of a non-2xx final) and non-INVITE
  (timers E, F, K). A retransmitted response is absorbed; the first of each kind goes up.
* :class:`ServerTransaction`: answers a retransmitted request with the last response; INVITE non-2xx
  finals are retransmitted (timer G) until the ACK (timer H gives up, timer I absorbs late ACKs);
  non-INVITE finals are kept for timer J. A 2xx to an INVITE ends the transaction: the dialog
  retransmits it until the ACK (§13.3.1.4).

On reliable transports (TCP, TLS) nothing is retransmitted and the waiting timers are zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from .message import Request, Response

T1, T2, T4 = 0.5, 4.0, 5.0
Addr = tuple[str, int]


@dataclass
class Send:
    data: bytes
    to: Addr


class _Timed:
    """What both kinds of transaction share: their state and their three timers (retransmit, give up,
    linger), of which the earliest is the next deadline."""

    state: str
    retransmit_at: float | None
    give_up_at: float | None
    linger_until: float | None

    @property
    def done(self) -> bool:
        return self.state == "terminated"

    @property
    def deadline(self) -> float | None:
        times = [t for t in (self.retransmit_at, self.give_up_at, self.linger_until) if t is not None]
        return min(times) if times else None

    def _expire(self, now: float) -> bool:
        """Ends the transaction when its linger time is over; True when it just gave up."""
        if self.linger_until is not None and now >= self.linger_until:
            self.linger_until = None
            self.state = "terminated"
        if self.give_up_at is not None and now >= self.give_up_at:
            self.retransmit_at = self.give_up_at = None
            self.state = "terminated"
            return True
        return False


class ClientTransaction(_Timed):
    def __init__(self, request: Request, to: Addr, now: float, reliable: bool = False) -> None:
        self.request, self.to, self.reliable = request, to, reliable
        self.invite = request.method == "INVITE"
        self.key = (request.branch, request.method)
        self.state = "calling" if self.invite else "trying"
        self.data = bytes(request)
        self.interval = T1
        self.retransmit_at: float | None = None if reliable else now + T1
        self.give_up_at: float | None = now + 64 * T1
        self.linger_until: float | None = None
        self.timed_out = False
        self.outbox: list[Send] = [Send(self.data, to)]
        self._ack: bytes | None = None

    def receive(self, response: Response, now: float) -> bool:
        """True when the transaction user should see ``response`` (it is not a retransmission)."""
        if self.state in ("completed", "terminated"):
            if self._ack is not None and response.status >= 300:
                self.outbox.append(Send(self._ack, self.to))  # our ACK was lost
            return False
        if response.status < 200:
            if self.state in ("calling", "trying"):
                self.state = "proceeding"
                if self.invite:
                    self.retransmit_at = None  # timer A stops; B still runs until a final
                else:
                    self.interval = T2
            return True
        self.retransmit_at = self.give_up_at = None
        if self.invite and response.status < 300:
            self.state = "terminated"  # the 2xx's ACK is the dialog's
        elif self.invite:
            self._ack = bytes(ack_for(self.request, response))
            self.outbox.append(Send(self._ack, self.to))
            self.state = "completed"
            self.linger_until = now + (0 if self.reliable else 32.0)  # timer D
        else:
            self.state = "completed"
            self.linger_until = now + (0 if self.reliable else T4)  # timer K
        return True

    def handle_timer(self, now: float) -> bool:
        """True when the transaction just timed out (timer B or F): the request failed with 408."""
        if self._expire(now):
            self.timed_out = True
            return True
        if self.retransmit_at is not None and now >= self.retransmit_at:
            self.outbox.append(Send(self.data, self.to))
            self.interval = self.interval * 2 if self.invite else min(self.interval * 2, T2)
            self.retransmit_at = now + self.interval
        return False


def ack_for(invite: Request, response: Response) -> Request:
    """The ACK of a non-2xx final (§17.1.1.3): same branch, the response's To (with its tag)."""
    ack = Request(method="ACK", uri=invite.uri)
    ack.add("Via", invite.header_all("via")[0])
    for route in invite.header_all("route"):
        ack.add("Route", route)
    ack.add("From", invite.header("from") or "")
    ack.add("To", response.header("to") or "")
    ack.add("Call-ID", invite.call_id)
    ack.add("CSeq", f"{invite.cseq[0]} ACK")
    ack.add("Max-Forwards", "70")
    return ack


class ServerTransaction(_Timed):
    def __init__(self, request: Request, source: Addr, now: float, reliable: bool = False) -> None:
        self.request, self.source, self.reliable = request, source, reliable
        self.invite = request.method == "INVITE"
        self.state = "proceeding" if self.invite else "trying"
        self.last: bytes | None = None
        self.final_status = 0
        self.interval = T1
        self.retransmit_at: float | None = None
        self.give_up_at: float | None = None
        self.linger_until: float | None = None
        self.outbox: list[Send] = []
        self.ack_timed_out = False

    def respond(self, response: Response, now: float) -> None:
        if self.state in ("completed", "confirmed", "terminated"):
            return
        self.last = bytes(response)
        self.outbox.append(Send(self.last, self.source))
        if response.status < 200:
            self.state = "proceeding"
            return
        self.final_status = response.status
        if self.invite and response.status < 300:
            self.state = "terminated"
        elif self.invite:
            self.state = "completed"
            self.retransmit_at = None if self.reliable else now + T1  # timer G
            self.give_up_at = now + 64 * T1  # timer H
        else:
            self.state = "completed"
            self.linger_until = now + (0 if self.reliable else 64 * T1)  # timer J

    def retransmission(self) -> None:
        """The same request again: the last response again (§17.2.1, §17.2.2)."""
        if self.last is not None and self.state in ("proceeding", "completed", "trying"):
            self.outbox.append(Send(self.last, self.source))

    def ack(self, now: float) -> None:
        if self.state == "completed":
            self.state = "confirmed"
            self.retransmit_at = self.give_up_at = None
            self.linger_until = now + (0 if self.reliable else T4)  # timer I

    def handle_timer(self, now: float) -> None:
        if self._expire(now):
            self.ack_timed_out = True
        if self.retransmit_at is not None and now >= self.retransmit_at and self.last is not None:
            self.outbox.append(Send(self.last, self.source))
            self.interval = min(self.interval * 2, T2)
            self.retransmit_at = now + self.interval
