"""A tiny `python -m bench media` run on our bridge (Prosody as the hub): media must flow; no rates are judged."""

import subprocess
import sys

import pytest

from bench import results

pytestmark = pytest.mark.system


def test_one_small_step_of_media_through_our_bridge(tmp_path):
    out = tmp_path / "results.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "media", "--steps", "2", "--step-seconds", "1", "--ceiling-seconds", "0.1",
         "--results", str(out), "--plots", str(tmp_path), "--workdir", str(tmp_path / "work"), "--timeout", "120"],
        capture_output=True, text=True, timeout=180)
    (result,) = results.load(out)
    assert all("loss under the limit" in e for e in result["errors"]), done.stderr
    step = result["servers"]["bridge"]["steps"][-1]  # a step over the loss limit runs twice
    assert step["participants"] == 2 and step["forwarded_pps"] > 0 and step["audio_delivery"] > 0
    assert step["latency_ms"]["count"] > 0
    assert result["servers"]["ceiling"]["protect_sendto_video"]["pps"] > 0
    assert list(tmp_path.glob("media-sweep-*.png"))


def test_one_small_step_beside_janus_in_the_same_run(tmp_path):
    """`--against janus`: the same endpoints through Debian's Janus VideoRoom, in the run's own network
    namespace; both servers forward, and the ratios ours/Janus are reported."""
    out = tmp_path / "results.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "media", "--steps", "2", "--step-seconds", "1", "--ceiling-seconds", "0.1",
         "--against", "janus", "--results", str(out), "--plots", str(tmp_path), "--workdir", str(tmp_path / "work"),
         "--timeout", "150"],
        capture_output=True, text=True, timeout=240)
    (result,) = results.load(out)
    assert all("loss under the limit" in e for e in result["errors"]), done.stderr
    janus = result["servers"]["janus"]
    assert janus["version"].startswith("1.")
    step = janus["steps"][-1]
    # each receiver gets the other publisher's audio and its lowest simulcast layer, as from our bridge
    assert step["participants"] == 2 and step["forwarded_pps"] > 0 and step["audio_delivery"] > 0.9
    assert step["latency_ms"]["count"] > 0 and step["undecryptable"] == 0
    assert 0.05 * 50 < step["forwarded_pps"] - step["audio_share"] * step["forwarded_pps"] < 2 * 2 * 15
    assert set(result["ratios"]["janus"]) >= {"forwarded_pps", "pps_per_cpu_s", "latency_p50", "knee_participants"}
