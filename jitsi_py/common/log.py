"""Logging to stdout, one line per event; JSON lines when ``LOG_FORMAT=json``."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Callable

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        # Multi-line messages would break "one line per event" for log collectors.
        return super().format(record).replace("\n", "\\n")


def setup(level: str = "info", fmt: str = "text", tag: str | None = None) -> None:
    """``tag`` names the process in every line (``logger[tag]``): the bridge's workers log as one."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    if tag is not None:
        handler.addFilter(_Tagged(tag))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    # Library chatter at info level is per-connection noise, not events an operator acts on.
    for noisy in ("aiohttp.access", "slixmpp", "aioice", "aiortc", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, _LEVELS[level]))


class _Tagged(logging.Filter):
    def __init__(self, tag: str) -> None:
        super().__init__()
        self.suffix = f"[{tag}]"

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.endswith(self.suffix):
            record.name += self.suffix
        return True


class Throttled:
    """A log line per event that clients can cause at will (bad requests, refused connections): at
    most ``burst`` lines per ``interval`` seconds, the rest counted and the count told with the next
    line let through, so a client cannot flood the log or the disk under it."""

    __slots__ = ("logger", "burst", "interval", "_clock", "_window", "_lines", "_suppressed")

    def __init__(self, logger: logging.Logger, burst: int = 10, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.burst = burst
        self.interval = interval
        self._clock = clock
        self._window = float("-inf")
        self._lines = 0
        self._suppressed = 0

    def log(self, level: int, msg: str, *args: object, exc_info: BaseException | None = None) -> None:
        if not self.logger.isEnabledFor(level):
            return
        now = self._clock()
        if now - self._window >= self.interval:
            self._window, self._lines = now, 0
        if self._lines >= self.burst:
            self._suppressed += 1
            return
        self._lines += 1
        if self._suppressed:
            msg += " (%d like it suppressed)"
            args = (*args, self._suppressed)
            self._suppressed = 0
        self.logger.log(level, msg, *args, exc_info=exc_info)
