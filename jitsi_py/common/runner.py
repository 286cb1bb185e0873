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

from ..settings import Settings, SettingsError, load, load_values
from ..settings.listing import settings_table
from . import log, sentry
from .startup import Ready, StartupError

Run = Callable[[Settings, Ready], Awaitable[None]]
STOP_GRACE = 1.5  # seconds; Ctrl-C or SIGTERM must end everything within 2 s
CANCEL_TURNS = 4
NOFILE_CEILING = 1 << 20

logger = logging.getLogger("jitsi_py")


def argument_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=description,
        epilog="Settings are docker-jitsi-meet's environment variables (and a .env file); "
               "--list-settings shows each one this command reads, with its default and current value.")
    parser.add_argument(
        "--env-file", type=Path, default=None,
        help="a docker-jitsi-meet style .env file (default: ./.env when present); "
             "the process environment overrides it",
    )
    parser.add_argument(
        "--list-settings", action="store_true",
        help="list the variables this command reads, by service, with defaults and current values "
             "(secrets masked), and exit",
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
    if args.list_settings:
        return list_settings(prog, args.env_file, base=base, generated_secrets=generate_secrets)
    return start(prog, run, args.env_file, base=base, generate_secrets=generate_secrets)


def list_settings(prog: str, env_file: Path | None, *, base: Mapping[str, str] | None,
                  generated_secrets: bool) -> int:
    """A service lists the shared settings and its own; the all-in-one lists every service's."""
    try:
        values = load_values(env_file, base=base)
    except SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    service = prog.rpartition(".")[2]
    groups = ("common", service) if service in Settings.__dataclass_fields__ else None
    print("\n".join(settings_table(values, groups, generated_secrets=generated_secrets)))
    return 0


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
    sentry.setup(settings.common.sentry, prog)
    raise_fd_limit()
    said = Said(prog)
    return serve(prog, run(settings, said.ready), said)


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


class Said:
    """What the command says of itself, under its own name (the line's prefix: the message does not
    repeat it): ready once it serves, for the operator and scripts to wait for; stopping on a signal.
    A service that finishes starting while the others stop is not announced."""

    def __init__(self, prog: str, quiet: bool = False) -> None:
        """``quiet``: a process run by another (a bridge worker), which says it for both."""
        self.log = logging.getLogger(prog)
        self.stopped = False
        self.quiet = quiet

    def ready(self, summary: str) -> None:
        if not self.stopped and not self.quiet:
            self.log.info("ready: %s", summary)

    def stopping(self) -> None:
        self.stopped = True
        if not self.quiet:
            self.log.info("stopping")


def serve(prog: str, main_coro: Awaitable[None], said: Said) -> int:
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up
    except ImportError:  # pragma: no cover - uvloop is a dependency but may be absent on odd platforms
        runner = asyncio.Runner()
    else:
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with runner:
        try:
            return runner.run(_until_signal(main_coro, said))
        except (SettingsError, StartupError, BaseExceptionGroup) as exc:
            return _explain(prog, exc)


def _explain(prog: str, exc: BaseException) -> int:
    """One line per operator's mistake (the all-in-one's task group may carry several); else re-raise."""
    leaves = _leaves(exc)
    if not all(isinstance(e, (SettingsError, StartupError)) for e in leaves):
        raise exc
    for leaf in leaves:
        print(f"{prog}: {leaf}", file=sys.stderr)
    return 2


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


async def _until_signal(main_coro: Awaitable[None], said: Said) -> int:
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
        task.cancel()
        # A cancellation reaches each service a loop turn per task group it passes (the all-in-one
        # nests two); what a service does before then (a login completing) is said before
        # "stopping", and after it a stopping service says nothing of starting.
        for _ in range(CANCEL_TURNS):
            await asyncio.sleep(0)
        said.stopping()
        done, _ = await asyncio.wait({task}, timeout=STOP_GRACE)
        if not done:
            said.log.warning("services did not stop within %.1f s", STOP_GRACE)
        elif not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        return 0
    finally:
        stop_wait.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
