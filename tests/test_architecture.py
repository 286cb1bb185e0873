"""The house rules that keep the services honest: they meet only on the wire."""

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jitsi_py"
SERVICES = ("xmpp", "focus", "bridge", "web", "recorder", "sip", "transcriber")
SHARED = ("common", "settings")

# Protocol cores that must stay sans-I/O: bytes/elements and ``now`` in, events, bytes and the next
# deadline out. A core neither does I/O, nor reads the clock, nor awaits: its glue does. A path
# ending in "/" is every module of that package. Every entry must exist: a core that is renamed or
# split must be listed again under its new name, or it would silently lose the check.
SANS_IO_CORES = (
    "common/xmlstream.py", "common/addresses.py", "common/jid.py", "common/stanzas/", "common/telephone_event.py",
    "xmpp/c2s.py", "xmpp/sasl.py", "xmpp/login_throttle.py", "xmpp/muc/",
    "bridge/ice.py", "bridge/dtls.py", "bridge/srtp.py", "bridge/rtp.py", "bridge/rtcp.py",
    "bridge/forwarder.py", "bridge/speaker.py", "bridge/allocation.py", "bridge/bwe.py", "bridge/temporal.py",
    "bridge/probing.py", "bridge/ssrc_pool.py", "bridge/colibri2.py", "bridge/export.py",
    "focus/conference.py", "focus/bridges.py", "focus/caps.py", "focus/jingle.py", "focus/colibri2.py",
    "focus/auth.py", "focus/relays.py", "focus/rooms.py",
    "recorder/session.py", "recorder/files.py", "transcriber/results.py",
    "sip/message.py", "sip/digest.py", "sip/transaction.py", "sip/ua.py", "sip/sdp.py", "sip/rtp.py", "sip/dtmf.py",
    "sip/jitterbuffer.py", "sip/session_timer.py", "sip/mute.py",
)

# Modules inside a core package that are its glue: they hand the core the real clock and sockets.
CORE_GLUE = ("xmpp/muc/__init__.py",)

IO_MODULES = ("asyncio", "socket", "selectors", "aiohttp", "slixmpp", "time")
CLOCK_CALLS = ("now", "utcnow", "today", "time", "monotonic", "perf_counter", "monotonic_ns", "time_ns")

# Breaches found when these rules were written, left for the owners of those packages to mend.
# The test also fails once one is mended, so the list can only shrink.
KNOWN_BREACHES: set[str] = set()


def _imports(path: Path) -> list[str]:
    """Absolute module names a file imports, relative imports resolved against its package."""
    tree = ast.parse(path.read_text(), str(path))
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.append(".".join(base + ((node.module,) if node.module else ())))
            else:
                names.append(node.module or "")
    return names


def _python_files(part: str):
    return sorted((PACKAGE / part).rglob("*.py"))


@pytest.mark.parametrize("service", SERVICES)
def test_services_import_only_shared_code(service):
    forbidden = [f"jitsi_py.{other}" for other in SERVICES if other != service]
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _python_files(service)
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]
    assert offenders == []


@pytest.mark.parametrize("shared", SHARED)
def test_shared_code_imports_no_service(shared):
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _python_files(shared)
        for name in _imports(path)
        if any(name == f"jitsi_py.{s}" or name.startswith(f"jitsi_py.{s}.") for s in SERVICES)
    ]
    assert offenders == []


def test_bench_is_a_client_only():
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "bench").rglob("*.py"))
        for name in _imports(path)
        if any(name == f"jitsi_py.{s}" or name.startswith(f"jitsi_py.{s}.") for s in ("xmpp", "focus", "bridge"))
    ]
    assert offenders == []


def _core_files(entry: str) -> list[Path]:
    path = PACKAGE / entry
    if entry.endswith("/"):
        glue = {PACKAGE / g for g in CORE_GLUE}
        return [f for f in sorted(path.glob("*.py")) if f not in glue]
    return [path]


def _breaches(path: Path) -> list[str]:
    """I/O imports, clock reads (``time.monotonic()``, ``datetime.now()``...) and ``async def``."""
    relative = path.relative_to(PACKAGE).as_posix()
    found = [f"{relative} imports {name}" for name in _imports(path) if name.split(".")[0] in IO_MODULES]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.AsyncFunctionDef):
            found.append(f"{relative} defines async def {node.name}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLOCK_CALLS:
            owner = ast.unparse(node.func.value)
            if owner.split(".")[-1] in ("time", "datetime", "date", "loop") or owner.endswith("get_running_loop()"):
                found.append(f"{relative} reads the clock: {owner.split('.')[-1]}.{node.func.attr}")
    return found


def test_sans_io_cores_exist():
    missing = [entry for entry in SANS_IO_CORES if not any(f.exists() for f in _core_files(entry))]
    assert missing == [], "a listed core is gone: list it again under its new name"


def test_mypy_checks_exactly_the_sans_io_cores_strictly():
    """pyproject.toml's strict mypy override names the same modules as SANS_IO_CORES, so a core added,
    renamed or split here cannot slip out of the strict type check (or the reverse)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    strict = next(o for o in config["tool"]["mypy"]["overrides"] if o.get("disallow_untyped_defs"))
    cores = {"jitsi_py." + core.rstrip("/").removesuffix(".py").replace("/", ".") + (".*" if core.endswith("/") else "")
             for core in SANS_IO_CORES}
    assert set(strict["module"]) == cores


def test_sans_io_cores_do_no_io_read_no_clock_and_never_await():
    found = {b for entry in SANS_IO_CORES for path in _core_files(entry) if path.exists() for b in _breaches(path)}
    assert sorted(found - KNOWN_BREACHES) == []
    assert sorted(KNOWN_BREACHES - found) == [], "fixed: drop these from KNOWN_BREACHES"


def test_the_all_in_one_imports_only_each_services_run():
    names = _imports(PACKAGE / "__main__.py")
    for service in SERVICES:
        assert f"jitsi_py.{service}" in names
    assert not [n for n in names if any(n.startswith(f"jitsi_py.{s}.") for s in SERVICES)]
