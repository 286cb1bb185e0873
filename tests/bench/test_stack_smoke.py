"""Tiny runs of the whole-stack workloads (`conference`, `browser`) on our services; no rates are judged."""

import subprocess
import sys

import pytest

from bench import results

pytestmark = pytest.mark.system


def bench(tmp_path, workload: str, *argv: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "results.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "bench", workload, *argv, "--results", str(out), "--plots", str(tmp_path),
         "--workdir", str(tmp_path / "work"), "--timeout", "150"],
        capture_output=True, text=True, timeout=200)
    assert out.exists(), done.stderr
    (result,) = results.load(out)
    return done, result


def test_conference_with_a_bridge_killed_midway(tmp_path):
    done, result = bench(tmp_path, "conference", "--conferences", "1", "--participants", "2", "--duration", "10",
                         "--check-every", "1", "--kill-bridge-at", "3")
    assert done.returncode == 0, done.stderr + done.stdout
    ours = result["servers"]["ours"]
    assert ours["muc_join_ms"]["count"] == 2 and ours["first_media_ms"]["count"] == 2
    assert ours["offers"] >= 4  # everyone offered again after the kill
    assert ours["recovery_s"] is not None
    assert set(ours["server"]) == {"xmpp", "focus", "bridge", "total"}


def test_browser_sees_a_remote_frame(tmp_path):
    done, result = bench(tmp_path, "browser", "--runs", "1")
    assert done.returncode == 0, done.stderr + done.stdout
    assert result["servers"]["ours"]["first_remote_frame_ms"]["count"] == 1
    assert list(tmp_path.glob("browser-*.png"))
