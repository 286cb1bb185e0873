"""A tiny `python -m bench sip` run: two calls' media through the gateway's media path both ways; no
rates are judged."""

import subprocess
import sys

from bench import results


def test_two_calls_of_g711_through_the_gateways_media_path(tmp_path):
    out = tmp_path / "results.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "sip", "--calls", "2", "--seconds", "2", "--codec", "pcmu",
         "--results", str(out), "--no-plots", "--workdir", str(tmp_path / "work"), "--timeout", "60"],
        capture_output=True, text=True, timeout=90)
    (result,) = results.load(out)
    assert result["ok"], done.stderr
    figures = result["servers"]["gateway"]["pcmu"]
    assert figures["calls"] == 2 and figures["cpu_s_per_call_s"] > 0
    assert figures["phone_to_meeting_delivery"] > 0.9 and figures["meeting_to_phone_delivery"] > 0.9
    assert figures["added_latency_ms"]["count"] > 0
