"""What every workload shares: the common flags, the run deadline, servers side by side, output."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Awaitable, Callable

from . import results
from .results import DEFAULT_DIR

MAX_RUN_SECONDS = 1800  # no flag can make a run longer than this


def add_common(parser: argparse.ArgumentParser, timeout: float, ceiling: str = f"at most {MAX_RUN_SECONDS}") -> None:
    parser.add_argument("--results", type=Path, default=DEFAULT_DIR / "results.jsonl",
                        help="append the run's JSON result to this file (default: %(default)s)")
    parser.add_argument("--plots", type=Path, default=DEFAULT_DIR,
                        help="write PNG plots into this directory (default: %(default)s)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep server configurations and logs here (default: a temporary directory)")
    parser.add_argument("--timeout", type=float, default=timeout,
                        help="stop the whole run after this many seconds "
                             f"(default: %(default)s, {ceiling})")


def workdir(args: argparse.Namespace) -> Path:
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return args.workdir
    return Path(tempfile.mkdtemp(prefix=f"bench-{args.workload}-"))


async def bounded(args: argparse.Namespace, body: Callable[[dict], Awaitable[None]], params: dict,
                  ceiling: float = MAX_RUN_SECONDS) -> dict:
    """Run `body(result)` under the run deadline; whatever it filled in is kept on failure. Only a
    workload bounded by its own length (the soak) passes another `ceiling`."""
    result = results.new(args.workload, params)
    started = time.monotonic()
    try:
        await asyncio.wait_for(body(result), min(args.timeout, ceiling))
    except asyncio.TimeoutError:
        result["errors"].append(f"run stopped at its {args.timeout:.0f} s deadline")
    except Exception as exc:  # noqa: BLE001 - reported in the result and on stderr, exit code 1
        result["errors"].append(f"{type(exc).__name__}: {exc}")
    result["duration_s"] = round(time.monotonic() - started, 2)
    result["ok"] = not result["errors"]
    return result


def finish(args: argparse.Namespace, result: dict, plot: Callable[[Path], list[Path]] | None) -> int:
    """Append the result, draw the plots, print a readable digest; exit code 0 only if ok."""
    path = results.append(result, args.results)
    print(f"result appended to {path}", file=sys.stderr)
    if plot is not None and not args.no_plots:
        try:
            for png in plot(args.plots):
                print(f"plot: {png}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - a plot never hides the figures
            print(f"plots failed: {exc}", file=sys.stderr)
    print(digest(result))
    for error in result["errors"]:
        print(f"error: {error}", file=sys.stderr)
    return 0 if result["ok"] else 1


def _flat(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        if "count" in value and "p50" in value:  # a latency summary: its median and tail are enough here
            out[f"{prefix}.p50"] = value["p50"]
            out[f"{prefix}.p99"] = value["p99"]
            return
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else key, inner, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[prefix] = value


def digest(result: dict) -> str:
    """A table: one column per server, then one per ratio set (ours / anchor)."""
    columns = {name: {} for name in result["servers"]}
    for name, figures in result["servers"].items():
        _flat("", {k: v for k, v in figures.items() if k not in ("errors", "version")}, columns[name])
    for anchor, ratios in result["ratios"].items():
        columns[f"ours/{anchor}"] = dict(ratios)
    rows = sorted({key for column in columns.values() for key in column})
    if not rows:
        return f"{result['workload']}: no figures"
    width = max(len(r) for r in rows)
    lines = [" " * width + "".join(f"{name:>16}" for name in columns)]
    for row in rows:
        cells = "".join(f"{_cell(columns[name].get(row)):>16}" for name in columns)
        lines.append(f"{row:<{width}}{cells}")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


async def in_child(module: str, job: dict, what: str) -> dict:
    """``module.child(job)`` in a Python process of its own (its CPU and RSS are its own); its JSON."""
    root = Path(__file__).resolve().parents[1]
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", f"from {module} import child; child({json.dumps(json.dumps(job))})",
        cwd=root, stdout=asyncio.subprocess.PIPE)
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"the {what} child exited with {child.returncode}")
    return json.loads(out)


def ms(seconds: list[float]) -> list[float]:
    return [s * 1000 for s in seconds]
