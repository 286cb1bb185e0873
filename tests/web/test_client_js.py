"""The browser client's pure protocol modules, tested in node (``node --test``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .conftest import NODE

JS_TESTS = Path(__file__).parent / "js"


def test_client_protocol_modules_in_node():
    assert NODE, "node is a system dependency (scripts/install-system-deps.sh)"
    tests = sorted(str(p) for p in JS_TESTS.glob("*.test.mjs"))
    out = subprocess.run([NODE, "--test", *tests], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
