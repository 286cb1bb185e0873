"""A throwaway Etherpad (npm's ep_etherpad-lite, pinned in tests/etherpad/package.json) on a loopback port.

The npm package is Etherpad's ``src/`` directory: at start it takes the parent of the real
directory its code lives in as the Etherpad root, when that directory is called ``src``, and runs
``npm ls`` there to find its plugins, itself among them. So each run assembles a root of its own:
``root/src/`` holds a copy of the package, ``root/node_modules/ep_etherpad-lite`` points back at
it, and a generated settings file keeps pads in a dirty-db file under the root. The dependencies
are linked one directory up, where node finds them and ``npm ls`` does not read them all (three
times faster than beside the package), but for the few libraries Etherpad serves to browsers
from ``src/node_modules``. Its start-up update check fails against the closed network; Etherpad
logs that and carries on. Usage::

    async with running_etherpad(tmp_path) as pad:
        pad.url            # http://127.0.0.1:<port>, for ETHERPAD_URL_BASE
        await pad.ready()  # answering HTTP
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from tests.support.prosody import free_port

INSTALL = Path(__file__).resolve().parents[1] / "etherpad"
PACKAGE = "ep_etherpad-lite"
PAD_TEXT = "Notes of this meeting\n"
# the libraries Etherpad 1.8 serves to browsers from src/node_modules (its Minify.js whitelist)
CLIENT_LIBRARIES = ("async", "js-cookie", "security", "split-grid", "tinycon", "underscore", "unorm")


@dataclass
class Etherpad:
    root: Path
    port: int
    process: asyncio.subprocess.Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self, timeout: float = 90.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await _answers(self.port):
            if self.process.returncode is not None:
                raise RuntimeError(f"Etherpad exited with {self.process.returncode}:\n{self.log()}")
            if loop.time() > deadline:
                raise RuntimeError(f"Etherpad did not answer on {self.port} in {timeout:.0f} s:\n{self.log()}")
            await asyncio.sleep(0.2)

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "etherpad.log").read_text(errors="replace")[-4000:]
        return ""


def _assemble(directory: Path, port: int) -> Path:
    installed = INSTALL / "node_modules"
    if not (installed / PACKAGE / "node" / "server.js").is_file():
        raise RuntimeError(f"{PACKAGE} is not installed in {INSTALL} (make node-deps)")
    dependencies = directory / "node_modules"
    dependencies.mkdir(parents=True)
    for entry in installed.iterdir():
        if entry.name != PACKAGE:
            (dependencies / entry.name).symlink_to(entry)
    root = directory / "root"
    shutil.copytree(installed / PACKAGE, root / "src", symlinks=True)
    (root / "src" / "node_modules").mkdir()
    for name in CLIENT_LIBRARIES:
        (root / "src" / "node_modules" / name).symlink_to(installed / name)
    (root / "node_modules").mkdir()
    (root / "node_modules" / PACKAGE).symlink_to(Path("..") / "src")
    # where Etherpad looks first for the npm it depends on (npm 6), which lists its plugins
    (root / "node_modules" / ".bin").symlink_to(dependencies / ".bin")
    (root / "var").mkdir()
    (root / "settings.json").write_text(json.dumps({
        "title": "Etherpad", "ip": "127.0.0.1", "port": port,
        "dbType": "dirty", "dbSettings": {"filename": str(root / "var" / "dirty.db")},
        "skinName": "colibris", "defaultPadText": PAD_TEXT, "suppressErrorsInPadText": True,
        "minify": False,  # two cores: no minifying workers on the first page load
        "loglevel": "WARN",
    }, indent=1))
    return root


async def _answers(port: int) -> bool:
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            await writer.drain()
            status = await reader.readline()
            writer.close()
            return status.startswith(b"HTTP/1.1 200")
    return False


@contextlib.asynccontextmanager
async def running_etherpad(directory: Path):
    """Starts Etherpad and yields at once (it takes seconds to start; the meeting can get going
    meanwhile): :meth:`Etherpad.ready` waits for it."""
    port = free_port()
    root = _assemble(Path(directory) / "etherpad", port)
    with open(root / "etherpad.log", "wb") as log:
        process = await asyncio.create_subprocess_exec(
            "node", "src/node/server.js", "--settings", str(root / "settings.json"),
            "--apikey", str(root / "APIKEY.txt"), "--sessionkey", str(root / "SESSIONKEY.txt"),
            cwd=root, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)
    try:
        yield Etherpad(root, port, process)
    finally:
        await _stop(process)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 5)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
