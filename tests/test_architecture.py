"""The house rules that keep the services honest: they meet only on the wire."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jitsi_py"
SERVICES = ("xmpp", "focus", "bridge", "web")
SHARED = ("common", "settings")

# Protocol cores that must stay sans-I/O: bytes/elements and time in, events and bytes out.
SANS_IO_CORES = (
    "common/xmlstream.py", "common/jid.py", "xmpp/c2s.py", "xmpp/sasl.py", "xmpp/muc/room.py",
    "bridge/ice.py", "bridge/dtls.py", "bridge/rtp.py", "bridge/rtcp.py", "bridge/forwarder.py",
    "bridge/speaker.py", "focus/conference.py", "focus/bridges.py", "focus/jingle.py", "focus/colibri2.py",
    "focus/auth.py", "focus/relays.py", "focus/rooms.py", "focus/caps.py",
)


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


def test_sans_io_cores_do_no_io():
    offenders = []
    for relative in SANS_IO_CORES:
        path = PACKAGE / relative
        if not path.exists():
            continue
        for name in _imports(path):
            if name.split(".")[0] in ("asyncio", "socket", "aiohttp", "slixmpp", "selectors"):
                offenders.append(f"{relative} imports {name}")
    assert offenders == []


def test_the_all_in_one_imports_only_each_services_run():
    names = _imports(PACKAGE / "__main__.py")
    for service in SERVICES:
        assert f"jitsi_py.{service}" in names
    assert not [n for n in names if any(n.startswith(f"jitsi_py.{s}.") for s in SERVICES)]
