"""A sans-I/O ICE agent (RFC 8445) for one endpoint on the bridge's one shared UDP port.

The bridge plays JVB's part: a full agent, controlling. Inputs are parsed STUN messages with
their raw bytes, source address and ``now``; outputs are ``(bytes, addr)`` datagrams, the next
deadline and the selected address. The STUN codec is ``aioice.stun``; the socket belongs to
``udp.py``.

Order of the responder's checks follows RFC 8445 §7.3 as aioice does: method, integrity with our
own password (enough to answer before Colibri2 brings the remote credentials), USERNAME, role
conflict, then the success response. An address becomes *validated* only by a request that
passes integrity; media from other addresses is never accepted (``udp.py`` routes by it).
"""

from __future__ import annotations

import secrets
import string
import struct
from typing import Any

from aioice import stun

CHECK_INTERVAL = 0.1  # RFC 8445 §14.2 Ta for one pair, doubled per retransmission
MAX_CHECK_TRIES = 7
KEEPALIVE_INTERVAL = 5.0
CONSENT_TIMEOUT = 30.0  # RFC 7675: no valid request or response for this long -> failed
DEFAULT_TIE_BREAKER_BITS = 64

_UFRAG_CHARS = string.ascii_letters + string.digits


def parse_stun(data: bytes) -> stun.Message | None:
    """aioice's parse, None for a malformed message: it raises ValueError, or struct.error for an
    attribute of the wrong length (PRIORITY in three bytes)."""
    try:
        return stun.parse_message(data)
    except (ValueError, struct.error):
        return None


def random_credentials(prefix: str = "") -> tuple[str, str]:
    """A local ufrag (RFC 8445 §5.3: at least 4 characters) and a 24-character password."""
    ufrag = prefix + "".join(secrets.choice(_UFRAG_CHARS) for _ in range(8))
    pwd = "".join(secrets.choice(_UFRAG_CHARS) for _ in range(24))
    return ufrag, pwd


def candidate_priority(candidate_type: str, local_pref: int = 65535, component: int = 1) -> int:
    """RFC 8445 §5.1.2.1 recommended formula (same type preferences as aioice)."""
    type_pref = {"host": 126, "prflx": 110, "srflx": 100}.get(candidate_type, 0)
    return (1 << 24) * type_pref + (1 << 8) * local_pref + 256 - component


class IceAgent:
    """ICE for one endpoint: answer checks, check and nominate the browser's addresses.

    ``selected`` is the nominated remote address (media goes there); ``validated`` holds every
    address that sent a request with valid integrity (media from those is accepted).
    """

    def __init__(self, local_ufrag: str, local_pwd: str, *, controlling: bool = True) -> None:
        self.local_ufrag = local_ufrag
        self.local_pwd = local_pwd
        self._local_key = local_pwd.encode()
        self.controlling = controlling
        self.tie_breaker = secrets.randbits(DEFAULT_TIE_BREAKER_BITS)
        self.remote_ufrag: str | None = None
        self.remote_pwd: str | None = None
        self.remote_candidates: list[tuple[str, int]] = []
        self.validated: set[tuple[str, int]] = set()
        self.selected: tuple[str, int] | None = None
        self.failed = False
        self.last_valid: float | None = None  # time of the last authenticated request or response
        self.stun_rejected = 0
        # transaction id -> [addr, nominate, tries, next deadline, bytes]
        self._checks: dict[bytes, list[Any]] = {}
        self._checked: set[tuple[str, int]] = set()
        self._out: list[tuple[bytes, tuple[str, int]]] = []
        self._next_keepalive: float | None = None
        self.keepalive_interval = KEEPALIVE_INTERVAL
        self._restarting = False
        self.events: list[str] = []  # "selected", "failed"

    # --- inputs ----------------------------------------------------------------------------------

    def set_remote_credentials(self, ufrag: str, pwd: str, now: float) -> None:
        if self.remote_ufrag is not None and ufrag != self.remote_ufrag:
            # The browser restarted ICE: check and nominate again; media keeps flowing to the
            # current address until a new one is selected ("make before break").
            self._checked.clear()
            self._checks.clear()
            self._restarting = True
        self.remote_ufrag, self.remote_pwd = ufrag, pwd
        for addr in list(self.validated) + self.remote_candidates:
            self._start_check(addr, now)

    def add_remote_candidate(self, host: str, port: int, now: float) -> None:
        addr = (host, port)
        if addr not in self.remote_candidates:
            self.remote_candidates.append(addr)
            self._start_check(addr, now)

    def handle_stun(self, data: bytes, addr: tuple[str, int], now: float) -> None:
        """A STUN datagram from ``addr``; anything unauthenticated is dropped and counted."""
        message = parse_stun(data)
        if message is None:
            self.stun_rejected += 1
            return
        if message.message_method != stun.Method.BINDING:
            self.stun_rejected += 1
            return
        if message.message_class == stun.Class.REQUEST:
            self._request_received(message, addr, now)
        elif message.message_class in (stun.Class.RESPONSE, stun.Class.ERROR):
            self._response_received(message, addr, now)
        # Binding indications are keep-alives: nothing to answer.

    def handle_timer(self, now: float) -> None:
        for tid, check in list(self._checks.items()):
            addr, nominate, tries, deadline, raw = check
            if deadline > now:
                continue
            if tries >= MAX_CHECK_TRIES:
                del self._checks[tid]
                continue
            check[2] = tries + 1
            check[3] = now + CHECK_INTERVAL * (1 << tries)
            self._out.append((raw, addr))
        if self.selected is not None and self._next_keepalive is not None and now >= self._next_keepalive:
            self._next_keepalive = now + self.keepalive_interval
            self._send_check(self.selected, now, nominate=False)
        if self.last_valid is not None and now - self.last_valid > CONSENT_TIMEOUT and not self.failed:
            self.failed = True
            self.events.append("failed")

    # --- outputs ---------------------------------------------------------------------------------

    def datagrams_to_send(self) -> list[tuple[bytes, tuple[str, int]]]:
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        deadlines = [check[3] for check in self._checks.values()]
        if self._next_keepalive is not None:
            deadlines.append(self._next_keepalive)
        if self.last_valid is not None and not self.failed:
            deadlines.append(self.last_valid + CONSENT_TIMEOUT)
        return min(deadlines) if deadlines else None

    # --- internals -------------------------------------------------------------------------------

    def _request_received(self, message: stun.Message, addr: tuple[str, int], now: float) -> None:
        if not message.check_message_integrity(self._local_key):
            self.stun_rejected += 1
            return
        username = message.attributes.get("USERNAME", "")
        local, _, remote = username.partition(":")
        if local != self.local_ufrag or (self.remote_ufrag is not None and remote != self.remote_ufrag):
            self.stun_rejected += 1
            return
        if self.controlling and "ICE-CONTROLLING" in message.attributes:
            # RFC 8445 §7.3.1.1: both controlling; the larger tie-breaker keeps the role.
            if self.tie_breaker >= message.attributes["ICE-CONTROLLING"]:
                self._respond_error(message, addr, 487, "Role Conflict")
                return
            self.controlling = False
        elif not self.controlling and "ICE-CONTROLLED" in message.attributes:
            if self.tie_breaker < message.attributes["ICE-CONTROLLED"]:
                self._respond_error(message, addr, 487, "Role Conflict")
                return
            self.controlling = True
        response = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, message.transaction_id,
                                {"XOR-MAPPED-ADDRESS": reflexive_address(addr)})
        response.add_message_integrity(self._local_key)
        self._out.append((bytes(response), addr))
        self.last_valid = now
        if addr not in self.validated:
            self.validated.add(addr)
            self._start_check(addr, now)
        if not self.controlling and "USE-CANDIDATE" in message.attributes and self.selected is None:
            self._select(addr, now)

    def _respond_error(self, message: stun.Message, addr: tuple[str, int], code: int, reason: str) -> None:
        response = stun.Message(stun.Method.BINDING, stun.Class.ERROR, message.transaction_id,
                                {"ERROR-CODE": (code, reason)})
        response.add_message_integrity(self._local_key)
        self._out.append((bytes(response), addr))

    def _response_received(self, message: stun.Message, addr: tuple[str, int], now: float) -> None:
        check = self._checks.get(message.transaction_id)
        if check is None or check[0] != addr or self.remote_pwd is None:
            self.stun_rejected += 1
            return
        if not message.check_message_integrity(self.remote_pwd.encode()):
            self.stun_rejected += 1
            return
        del self._checks[message.transaction_id]
        if message.message_class == stun.Class.ERROR:
            if message.error_code == 487:
                self.controlling = not self.controlling
                self._send_check(addr, now, nominate=self.controlling and self.selected is None)
            return
        self.last_valid = now
        self.validated.add(addr)
        if (self.selected is None or self._restarting) and self.controlling:
            if check[1]:
                self._select(addr, now)
            else:
                self._send_check(addr, now, nominate=True)

    def _select(self, addr: tuple[str, int], now: float) -> None:
        self.selected = addr
        self._restarting = False
        self._next_keepalive = now + self.keepalive_interval
        self.events.append("selected")

    def _start_check(self, addr: tuple[str, int], now: float) -> None:
        if self.remote_pwd is None or addr in self._checked or (self.selected is not None and not self._restarting):
            return
        self._checked.add(addr)
        self._send_check(addr, now, nominate=False)

    def _send_check(self, addr: tuple[str, int], now: float, *, nominate: bool) -> None:
        if self.remote_pwd is None or self.remote_ufrag is None:
            return
        attributes = {
            "USERNAME": f"{self.remote_ufrag}:{self.local_ufrag}",
            "PRIORITY": candidate_priority("prflx"),
        }
        if self.controlling:
            attributes["ICE-CONTROLLING"] = self.tie_breaker
            if nominate:
                attributes["USE-CANDIDATE"] = None
        else:
            attributes["ICE-CONTROLLED"] = self.tie_breaker
        request = stun.Message(stun.Method.BINDING, stun.Class.REQUEST, attributes=attributes)
        request.add_message_integrity(self.remote_pwd.encode())
        raw = bytes(request)
        self._checks[request.transaction_id] = [addr, nominate, 1, now + CHECK_INTERVAL, raw]
        self._out.append((raw, addr))


def stun_local_ufrag(data: bytes) -> str | None:
    """The local ufrag of a STUN request's USERNAME ("<local>:<remote>"), without a full parse."""
    n = len(data)
    pos = 20
    while pos + 4 <= n:
        attr_type = (data[pos] << 8) | data[pos + 1]
        length = (data[pos + 2] << 8) | data[pos + 3]
        if attr_type == 0x0006:
            value = data[pos + 4:pos + 4 + length]
            local, sep, _ = value.partition(b":")
            return local.decode("utf-8", "replace") if sep else None
        pos += 4 + length + (-length % 4)
    return None


def reflexive_address(addr: tuple[str, int]) -> tuple[str, int]:
    """The address a peer is told it has: an IPv4 peer reaching a dual-stack socket is named
    ``::ffff:a.b.c.d`` there, but it knows itself (and pairs candidates) by ``a.b.c.d``."""
    host = addr[0]
    if host.startswith("::ffff:") and "." in host:
        return host[7:], addr[1]
    return addr
