"""Session timers (RFC 4028), sans-I/O: what Session-Expires and Min-SE say, who refreshes, and when.

A call that negotiated a timer is refreshed by one side (the refresher, ``uac`` or ``uas`` of the
request that last refreshed it) with a re-INVITE or UPDATE before the interval runs out. When we refresh,
we do it at half the interval; when the peer does and its refresh does not come, we send the BYE before
the session expires, at the interval minus a third of it or 32 s, whichever is less (both RFC 4028 §10).
"""

from __future__ import annotations

from dataclasses import dataclass

from .message import Message, SipSyntaxError

TIMER = "timer"  # the option tag, in Supported and Require


def parse_session_expires(value: str) -> tuple[int, str | None]:
    """``delta-seconds[;refresher=uac|uas]``: the interval and the refresher (None when not named)."""
    delta, *params = [part.strip() for part in value.split(";")]
    if not delta.isdigit() or int(delta) == 0:
        raise SipSyntaxError(f"bad Session-Expires {value[:40]!r}")
    refresher = None
    for param in params:
        name, _, given = param.partition("=")
        if name.strip().lower() == "refresher":
            refresher = given.strip().lower()
            if refresher not in ("uac", "uas"):
                raise SipSyntaxError(f"bad refresher in Session-Expires {value[:40]!r}")
    return int(delta), refresher


def parse_min_se(value: str) -> int:
    delta = value.split(";")[0].strip()
    if not delta.isdigit():
        raise SipSyntaxError(f"bad Min-SE {value[:40]!r}")
    return int(delta)


def supports_timer(message: Message) -> bool:
    return any(TIMER == tag.strip().lower() for name in ("supported", "require") for tag in message.header_all(name))


@dataclass
class SessionTimer:
    """A call's negotiated timer. ``refresher`` is as on the wire, relative to the request that set it;
    ``ours`` whether that is us. The deadlines are ``refresh_at`` (ours to refresh) and ``expire_at``
    (the BYE)."""

    interval: int
    refresher: str
    ours: bool
    require: bool = False  # the peer supports timers: our 2xx says Require: timer (RFC 4028 §9)
    refresh_at: float | None = None
    expire_at: float | None = None

    def restart(self, now: float) -> None:
        """The session was refreshed (or just set up) at ``now``."""
        if self.ours:
            self.refresh_at = now + self.interval / 2
            self.expire_at = now + self.interval
        else:
            self.refresh_at = None
            self.expire_at = now + self.interval - min(32.0, self.interval / 3)

    @property
    def deadline(self) -> float | None:
        times = [t for t in (self.refresh_at, self.expire_at) if t is not None]
        return min(times) if times else None

    def header(self) -> str:
        return f"{self.interval};refresher={self.refresher}"


def answer_request(request: Message, expires: int, min_se: int, current: SessionTimer | None,
                   ) -> SessionTimer | int | None:
    """As the UAS of ``request`` (an INVITE, re-INVITE or UPDATE): the timer our 2xx sets, or the Min-SE
    to refuse it with (422) when its Session-Expires is below ours. Without a Session-Expires the timer
    stays as it was (None for a new call: no timer), so a hold re-INVITE does not turn it off."""
    value = request.header("session-expires")
    if value is None:
        if current is None:
            return None
        # The refresher stays who it was (the label is relative to this request, whose UAC is the peer),
        # unless that is the peer and this request does not say it supports timers: then we refresh (RFC 4028 §9).
        peer_refreshes = not current.ours and supports_timer(request)
        return SessionTimer(current.interval, "uac" if peer_refreshes else "uas", not peer_refreshes,
                            require=peer_refreshes)
    interval, refresher = parse_session_expires(value)
    if interval < min_se:
        return min_se
    theirs = request.header("min-se")
    floor = max(min_se, parse_min_se(theirs) if theirs is not None else 0)
    interval = max(min(interval, expires), floor)  # we may shorten it (RFC 4028 §9), never below either Min-SE
    peer_supports = supports_timer(request)
    if refresher is None:
        refresher = "uac" if peer_supports else "uas"  # a UAC without timers cannot refresh (RFC 4028 §9)
    return SessionTimer(interval, refresher, ours=refresher == "uas", require=peer_supports)


def from_response(response: Message) -> SessionTimer | None:
    """As the UAC of a request whose 2xx came: the timer it sets, None when it carries no Session-Expires
    (then the session has no timer, RFC 4028 §7.2)."""
    value = response.header("session-expires")
    if value is None:
        return None
    interval, refresher = parse_session_expires(value)
    refresher = refresher or "uac"  # a UAS that names none left it to us (RFC 4028 §7.2)
    return SessionTimer(interval, refresher, ours=refresher == "uac")
