"""``python -m jitsi_py.focus`` as an operator meets it."""

import os
import subprocess
import sys


def test_refuses_to_start_without_its_password(tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CONFIG": str(tmp_path), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "jitsi_py.focus"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "JICOFO_AUTH_PASSWORD" in done.stderr and len(done.stderr.strip().splitlines()) == 1
