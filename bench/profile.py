"""Where the bridge's per-packet instructions go: callgrind counts of the hot-path harness.

``python -m bench.profile`` runs ``python -m tests.bridge.test_hotpath --callgrind`` (a conference
fed pre-protected packets through the media port's ``datagram_received``, real SRTP, real sockets)
under ``valgrind --tool=callgrind``, counting instructions only while the measured packets are fed
(inside the harness's ``COLLECT`` function), and prints them per forwarded packet: by stage of the
path, then the functions that execute them. Instruction counts do not depend on what else loads the
machine, so two versions of the code compare in one run each, however busy the machine is; they
leave out the kernel (``sendmmsg``'s copy and delivery) and memory stalls, which only ``bench
media`` shows. The bench does not import the bridge: the harness runs in a child process.

    python -m bench.profile [--participants 20] [--seconds 1] [--max-height 720] [--rewrite-ssrcs] [--keep DIR]

About a minute and a half at the defaults (valgrind runs Python some 50 times slower). For a
Python-level breakdown by function (time-based, so noisy on a shared machine):
``python -m tests.bridge.test_hotpath --profile``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict

COLLECT = "functools_reduce"  # tests/bridge/test_hotpath.py's COLLECT
# Stages of the path by the C functions that do them, counted inclusively, less the functions they
# call that are a stage of their own (no two stages overlap); the interpreter's own work, the
# bytecode of our Python, is ``_PyEval_EvalFrameDefault``'s.
STAGES = (
    ("SRTP unprotect (libsrtp, OpenSSL)", ("srtp_unprotect", "srtp_unprotect_rtcp"), ()),
    ("SRTP protect (libsrtp, OpenSSL)", ("srtp_protect",), ()),
    ("calls into libsrtp (cffi: arguments, GIL)", ("_cffi_f_srtp_protect", "_cffi_f_srtp_unprotect"),
     ("srtp_protect", "srtp_unprotect")),
    ("sendmmsg (cffi call, libc; user side)", ("cdata_call",), ()),
    ("RTP header rewrite (struct.pack_into)", ("s_pack_into",), ()),
    ("memoryview stores: copies, slot lengths and addresses", ("memory_ass_sub",), ()),
)
LINE = re.compile(r"^\s*([\d,]+)\s+\([\s\d.]+%\)\s+(.*?):([^\s:]+?)('\d+)?(?:\s+\[(.*)\])?\s*$")


def _annotate(path: str, inclusive: bool) -> dict[str, int]:
    out = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100",
                          path], capture_output=True, text=True, check=True).stdout
    return costs(out, inclusive)


def costs(annotated: str, inclusive: bool) -> dict[str, int]:
    """Instructions by function name from ``callgrind_annotate``'s listing: the largest entry per
    name when inclusive (inlined fragments repeat the whole), the sum of its fragments when not."""
    found: dict[str, int] = defaultdict(int)
    for line in annotated.splitlines():
        match = LINE.match(line)
        if match is None or match.group(2) == "" or "PROGRAM TOTALS" in line:
            continue
        name, count = match.group(3), int(match.group(1).replace(",", ""))
        if inclusive:
            if match.group(4) is None:  # a recursion level ('2) counts its callers' costs again
                found[name] = max(found[name], count)
        else:
            found[name] += count
    return dict(found)


def _total(path: str) -> int:
    with open(path) as lines:
        for line in lines:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    raise ValueError(f"{path}: no totals")


def profile(args: argparse.Namespace, workdir: str) -> dict:
    out = os.path.join(workdir, "callgrind.out")
    command = ["valgrind", "--tool=callgrind", "--collect-atstart=no", f"--toggle-collect={COLLECT}",
               f"--callgrind-out-file={out}", sys.executable, "-m", "tests.bridge.test_hotpath", "--callgrind",
               "--participants", str(args.participants), "--seconds", str(args.seconds)]
    if args.max_height is not None:
        command += ["--max-height", str(args.max_height)]
    if args.rewrite_ssrcs:
        command.append("--rewrite-ssrcs")
    # A fixed hash seed: dict and set probes, and so the counts, are the same from run to run.
    env = dict(os.environ, PYTHONHASHSEED="0")
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=args.timeout)
    if run.returncode:
        raise SystemExit(f"the harness failed under valgrind:\n{run.stderr[-3000:]}")
    counts = json.loads(run.stdout.strip().splitlines()[-1])
    total = _total(out)
    inclusive, exclusive = _annotate(out, True), _annotate(out, False)
    forwarded = counts["forwarded"]
    stages = [(label, sum(inclusive.get(name, 0) for name in plus) - sum(inclusive.get(name, 0) for name in minus))
              for label, plus, minus in STAGES]
    stages.append(("interpreter: the bytecode of our Python", exclusive.get("_PyEval_EvalFrameDefault", 0)))
    stages.append(("the rest: CPython objects and calls, cffi", total - sum(count for _, count in stages)))
    top = sorted(exclusive.items(), key=lambda item: -item[1])[:args.top]
    return {"participants": args.participants, "max_height": args.max_height, "rewrite_ssrcs": args.rewrite_ssrcs,
            **counts,
            "instructions": total, "per_forwarded": round(total / forwarded),
            "stages": {label: round(count / forwarded) for label, count in stages},
            "functions": {name: round(count / forwarded) for name, count in top}}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds of traffic fed (default %(default)s)")
    parser.add_argument("--max-height", type=int, default=None, help="every receiver's video constraint")
    parser.add_argument("--rewrite-ssrcs", action="store_true", help="every receiver rewrites SSRCs")
    parser.add_argument("--top", type=int, default=25, help="functions listed (default %(default)s)")
    parser.add_argument("--keep", metavar="DIR", help="keep callgrind's output in DIR (for callgrind_annotate)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before giving up")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        result = profile(args, args.keep)
    else:
        with tempfile.TemporaryDirectory() as workdir:
            result = profile(args, workdir)
    if args.json:
        print(json.dumps(result))
        return
    forwarded = result["forwarded"]
    print(f"{result['inbound']} packets in, {forwarded} forwarded ({forwarded / result['inbound']:.2f} per packet "
          f"in); {result['instructions']:,} instructions, {result['per_forwarded']:,} per forwarded packet\n")
    print(f"{'stage':<50} {'per forwarded':>14} {'share':>7}")
    for label, count in result["stages"].items():
        print(f"{label:<50} {count:>14,} {count / result['per_forwarded']:>7.1%}")
    print(f"\n{'function (exclusive)':<50} {'per forwarded':>14}")
    for name, count in result["functions"].items():
        print(f"{name:<50} {count:>14,}")


if __name__ == "__main__":
    main()
