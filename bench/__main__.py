"""python -m bench <workload> [options]: run one workload, append its result, draw its plots."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Sequence

from .workloads import browser, conference, media, recording, sip, soak, transcription, xmpp

WORKLOADS = {"xmpp": xmpp, "media": media, "conference": conference, "browser": browser, "soak": soak,
             "recording": recording, "sip": sip, "transcription": transcription}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split(": ", 1)[1])
    sub = top.add_subparsers(dest="workload", required=True, metavar="<workload>")
    for name, module in WORKLOADS.items():
        doc = module.__doc__ or name
        p = sub.add_parser(name, help=doc.split("\n", 1)[0].split(": ", 1)[-1], description=doc,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        import uvloop  # noqa: PLC0415 - a faster loop for thousands of clients in one process
    except ImportError:
        runner = asyncio.Runner()
    else:
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with runner:
        return runner.run(WORKLOADS[args.workload].run(args))


if __name__ == "__main__":
    sys.exit(main())
