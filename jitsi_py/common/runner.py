"""The one way every entry point starts: parse flags, load settings, log, run until a signal."""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import signal
import sys
from pathlib import Path
from typing import Awaitable, Callable, Mapping, Sequence

from ..settings import Settings, SettingsError, load
from . import log

Run = Callable[[Settings], Awaitable[None]]
STOP_GRACE = 1.5  # seconds; Ctrl-C or SIGTERM must end everything within 2 s
NOFILE_CEILING = 1 << 20

logger = logging.getLogger("jitsi_py")


def argument_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--env-file", type=Path, default=None,
        help="a docker-jitsi-meet style .env file (default: ./.env when present); "
             "the process environment overrides it",
    )
    return parser


def main(
    prog: str,
    description: str,
    run: Run,
    argv: Sequence[str] | None = None,
    *,
    base: Mapping[str, str] | None = None,
    generate_secrets: bool = False,
) -> int:
    args = argument_parser(prog, description).parse_args(argv)
    return start(prog, run, args.env_file, base=base, generate_secrets=generate_secrets)


def start(
    prog: str,
    run: Run,
    env_file: Path | None,
    *,
    base: Mapping[str, str] | None = None,
    generate_secrets: bool = False,
) -> int:
    try:
        settings = load(env_file, base=base, generate_secrets=generate_secrets)
    except SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    log.setup(settings.common.log_level, settings.common.log_format)
    raise_fd_limit()
    return serve(prog, run(settings))


def raise_fd_limit() -> int:
    """Every connection of every service in the process draws on one open-files limit, whose soft
    value is often 1024 while the hard one is far higher: take all of it. Returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard value cannot be the soft one on Linux (fs.nr_open caps it): a million is ample.
    wanted = NOFILE_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            logger.warning("open files: cannot raise the limit from %d to %d: %s", soft, wanted, exc)
            return soft
        logger.debug("open files: limit raised from %d to %d", soft, wanted)
        return wanted
    return soft


def serve(prog: str, main_coro: Awaitable[None]) -> int:
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up
    except ImportError:  # pragma: no cover - uvloop is a dependency but may be absent on odd platforms
        runner = asyncio.Runner()
    else:
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with runner:
        try:
            return runner.run(_until_signal(prog, main_coro))
        except (SettingsError, BaseExceptionGroup) as exc:
            return _explain(prog, exc)


def _explain(prog: str, exc: BaseException) -> int:
    """One line per bad setting (the all-in-one's task group may carry several); else re-raise."""
    leaves = _leaves(exc)
    if not all(isinstance(e, SettingsError) for e in leaves):
        raise exc
    for leaf in leaves:
        print(f"{prog}: {leaf}", file=sys.stderr)
    return 2


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


async def _until_signal(prog: str, main_coro: Awaitable[None]) -> int:
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(main_coro)
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    stop_wait = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # a service that ended on its own: surface its error
            return 0
        logger.info("%s: stopping", prog)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=STOP_GRACE)
        if not done:
            logger.warning("%s: services did not stop within %.1f s", prog, STOP_GRACE)
        elif not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        return 0
    finally:
        stop_wait.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
