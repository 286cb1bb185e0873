"""One JSON object per run, appended as a line to a results file; its schema and its checks."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import socket
from pathlib import Path
from typing import Any

SCHEMA = 1
DEFAULT_DIR = Path(__file__).resolve().parent / "results"
WORKLOADS = ("xmpp", "media", "conference", "browser", "soak", "recording", "sip", "transcription")
REQUIRED = {
    "schema": int,
    "workload": str,
    "started": str,
    "duration_s": (int, float),
    "machine": dict,
    "params": dict,
    "servers": dict,
    "ratios": dict,
    "ok": bool,
    "errors": list,
}
MACHINE_FIELDS = ("hostname", "cpu", "cores", "mem_gb", "kernel", "python")


class ResultError(ValueError):
    """A result that does not follow the schema."""


def machine() -> dict:
    """What the figures came from: they mean little without it."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "loadavg": load,  # other work on a shared machine makes absolute figures noisy
        "hostname": socket.gethostname(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gb": mem_gb,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def new(workload: str, params: dict) -> dict:
    return {
        "schema": SCHEMA,
        "workload": workload,
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": 0.0,
        "machine": machine(),
        "params": params,
        "servers": {},
        "ratios": {},
        "ok": True,
        "errors": [],
    }


def validate(result: Any) -> dict:
    """The result itself, or ResultError naming the first field that is wrong."""
    if not isinstance(result, dict):
        raise ResultError("a result is a JSON object")
    for name, kind in REQUIRED.items():
        if name not in result:
            raise ResultError(f"missing field {name!r}")
        if not isinstance(result[name], kind) or (kind is int and isinstance(result[name], bool)):
            raise ResultError(f"field {name!r} has type {type(result[name]).__name__}")
    if result["schema"] != SCHEMA:
        raise ResultError(f"schema {result['schema']} is not {SCHEMA}")
    if result["workload"] not in WORKLOADS:
        raise ResultError(f"unknown workload {result['workload']!r}")
    for name in MACHINE_FIELDS:
        if name not in result["machine"]:
            raise ResultError(f"machine lacks {name!r}")
    for server, metrics in result["servers"].items():
        if not isinstance(metrics, dict):
            raise ResultError(f"servers[{server!r}] is not an object")
    for anchor, ratios in result["ratios"].items():
        if anchor not in result["servers"]:
            raise ResultError(f"ratios against {anchor!r}, which has no figures")
        if not isinstance(ratios, dict):
            raise ResultError(f"ratios[{anchor!r}] is not an object")
    for error in result["errors"]:
        if not isinstance(error, str):
            raise ResultError("errors holds strings")
    if result["ok"] and result["errors"]:
        raise ResultError("a run with errors is not ok")
    return result


def append(result: dict, path: Path) -> Path:
    """Validate, then append one line; a run's result is never half-written into the file."""
    line = json.dumps(validate(result), sort_keys=True, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")
    return path


def load(path: Path) -> list[dict]:
    """Every result in a results file, each validated; a bad line raises with its number."""
    results = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                results.append(validate(json.loads(line)))
            except (ValueError, ResultError) as exc:
                raise ResultError(f"{path}:{number}: {exc}") from exc
    return results
