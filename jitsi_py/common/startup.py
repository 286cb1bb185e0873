"""What every service's start shares: the readiness signal and the one-line start errors.

A service's ``run(settings, ready)`` calls ``ready(summary)`` once, when it serves: its listeners
bound and, for an XMPP client, logged in. The entry point that started it says so in one line.
An operator's mistake met while starting (a port taken, a key file missing or unreadable) is a
:class:`StartupError` or a :class:`SettingsError`: one line naming the file or the variable.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from typing import Callable, Iterator

from ..settings import SettingsError

Ready = Callable[[str], None]


def unobserved(_summary: str) -> None:
    """The ready signal of a service nobody waits for (tests that start one service in-process)."""


class StartupError(Exception):
    """A start refused for a reason outside the settings' values; the message is the one line to show."""


@contextmanager
def binding(setting: str, port: int) -> Iterator[None]:
    """Listeners bound for ``setting``: a port in use (or not allowed) is that variable's error."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
            raise
        raise SettingsError(setting, str(port), os.strerror(exc.errno).lower()) from None
