"""Throttling of password guessing: failed logins counted per client address and per account.

Without I/O: every call takes ``now``; the c2s session asks before a password login starts, asks how
long to hold the verdict once the account is known, and reports how the login ended.

- Per address: every password login from an address counts against it from the moment it starts
  (so a burst of parallel connections cannot slip past the count) until it succeeds. With
  ``per_address`` of them within ``window`` seconds, the next one is refused at once with SASL's
  ``temporary-auth-failure`` (RFC 6120 §6.5), before any password is checked: guessing from one
  address is bounded at ``per_address`` per ``window``. A success forgives the failures from that
  address on the account that logged in (a user who mistyped), not those on other accounts, so an
  attacker with an account of his own cannot launder his guesses at someone else's.
- Per account: past ``per_account`` failures within the window, the verdict of every login on that
  account, from anywhere, is held back 1 s, then 2 s, 4 s... up to ``max_delay``. That slows guessing
  spread over many addresses but never locks the account: the right password still logs in, later.
  Anonymous logins are not counted at all (there is nothing to guess), nor are logins the auth
  backend could not judge (an LDAP outage must not lock anyone out once it is over).
- The trusted proxies' own addresses (``PROSODY_TRUSTED_PROXIES``, loopback by default) are never
  refused: what comes through a proxy is counted under the client's address, so what is left on
  them is the local services (the focus, the bridge), which one of them with a wrong password must
  not lock out of the server. The per-account delay still applies to them.

Both tables hold at most ``table_size`` keys; the key whose last failure is oldest goes first, and a
key whose failures all left the window is dropped as soon as the table is next written.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Callable, Container, Generic, TypeVar

from ..common.addresses import subscriber
from ..common.jid import MAX_PART
from .auth.base import AuthFailure

T = TypeVar("T")


@dataclass(frozen=True)
class ThrottleLimits:
    per_address: int = 10  # failed logins per window from one address (0: no limit)
    per_account: int = 30  # failed logins per window on one account before its logins slow down (0: never)
    window: float = 60.0
    max_delay: float = 5.0
    table_size: int = 10_000
    exempt: Container[str] = frozenset()  # addresses never refused (the trusted proxies)


class Guess:
    """One password login in progress; it counts against its address until it succeeds."""

    __slots__ = ("address", "at", "account")

    def __init__(self, address: str | None, at: float) -> None:
        self.address = address
        self.at = at
        self.account: str | None = None


class LoginThrottle:
    def __init__(self, limits: ThrottleLimits) -> None:
        self.limits = limits
        self._addresses: _Table[Guess] = _Table(limits, lambda guess: guess.at)
        self._accounts: _Table[float] = _Table(limits, float)
        # Failures past the point where the delay stops growing change nothing: not kept.
        self._account_keep = limits.per_account + max(0, math.ceil(math.log2(max(limits.max_delay, 1.0)))) + 1

    def start(self, ip: str | None, now: float) -> Guess:
        """A password login from ``ip`` begins; raises ``temporary-auth-failure`` past the limit."""
        key = subscriber(ip)
        guess = Guess(key, now)
        limit = self.limits.per_address
        if key is None or not limit or ip in self.limits.exempt:
            return guess
        guesses = self._addresses.get(key, now)
        if guesses is None:
            guesses = deque()
        elif len(guesses) >= limit:
            wait = math.ceil(guesses[0].at + self.limits.window - now)
            raise AuthFailure("temporary-auth-failure",
                              f"too many failed logins from this address; try again in {max(wait, 1)} s")
        guesses.append(guess)
        self._addresses.write(key, guesses, now)
        return guess

    def delay(self, guess: Guess, account: str | None, now: float) -> float:
        """Seconds to hold the verdict of ``guess`` on ``account`` (``user@domain``), known at last."""
        if account is None or len(account.encode()) > 2 * MAX_PART + 1:
            return 0.0  # no such account can exist (RFC 7622 lengths): nothing to protect
        guess.account = account.lower()
        failures = self._accounts.get(guess.account, now)
        if failures is None or not self.limits.per_account:
            return 0.0
        excess = len(failures) - self.limits.per_account
        return 0.0 if excess < 0 else min(self.limits.max_delay, 2.0 ** excess)

    def failed(self, guess: Guess, now: float) -> None:
        """The login was refused; against its address it already counts since it started."""
        account = guess.account
        if account is None or not self.limits.per_account:
            return
        failures = self._accounts.get(account, now) or deque(maxlen=self._account_keep)
        failures.append(now)
        self._accounts.write(account, failures, now)

    def succeeded(self, guess: Guess) -> None:
        """The login succeeded: this guess and the address's failures on the same account are forgiven."""
        self._forget(guess, guess.account)

    def withdraw(self, guess: Guess) -> None:
        """The password was never judged (the auth backend failed): the guess does not count."""
        self._forget(guess, None)

    def _forget(self, guess: Guess, account: str | None) -> None:
        if guess.address is None:
            return
        guesses = self._addresses.entries.get(guess.address)
        if guesses is None:
            return
        kept = [g for g in guesses if g is not guess and (account is None or g.account != account)]
        if not kept:
            del self._addresses.entries[guess.address]
        elif len(kept) != len(guesses):
            guesses.clear()
            guesses.extend(kept)

    def __len__(self) -> int:
        return len(self._addresses.entries) + len(self._accounts.entries)


class _Table(Generic[T]):
    """Keys to entries in time order, at most ``table_size`` keys, the least recently written first out."""

    def __init__(self, limits: ThrottleLimits, time_of: Callable[[T], float]) -> None:
        self.limits = limits
        self.time_of = time_of
        self.entries: OrderedDict[str, deque[T]] = OrderedDict()

    def get(self, key: str, now: float) -> deque[T] | None:
        """The entries of ``key`` still within the window."""
        entries = self.entries.get(key)
        if entries is not None:
            horizon = now - self.limits.window
            while entries and self.time_of(entries[0]) <= horizon:
                entries.popleft()
        return entries

    def write(self, key: str, entries: deque[T], now: float) -> None:
        """``key`` was written at ``now``: it moves to the young end; the old end is pruned."""
        table = self.entries
        table[key] = entries
        table.move_to_end(key)
        horizon = now - self.limits.window
        while table:
            oldest_key, oldest = next(iter(table.items()))
            if len(table) <= self.limits.table_size and oldest and self.time_of(oldest[-1]) > horizon:
                break
            del table[oldest_key]
