"""The soak's judgement on synthetic series (a leak fails, a flat run passes), and a 2-minute soak of the stack."""

import subprocess
import sys

import pytest

from bench import results
from bench.workloads.soak import SERVICES, Bounds, judge, parse_metrics

BOUNDS = Bounds()


def series(n: int = 40, rss=lambda i: 60.0, fds=lambda i: 30, tasks=lambda i: 15, lag=lambda i: 0.005) -> list[dict]:
    return [{"rss_mb": rss(i), "fds": fds(i), "tasks": tasks(i), "lag_s": lag(i)} for i in range(n)]


IDLE = {"rss_mb": 58.0, "fds": 25, "tasks": 9}


def test_a_flat_run_passes():
    # load comes and goes: fds and tasks swing with the participants, memory wobbles a little
    flat = series(rss=lambda i: 60 + (i % 3) * 0.5, fds=lambda i: 25 + (i % 4) * 3, tasks=lambda i: 9 + (i % 4) * 4)
    figures, failures = judge("xmpp", flat, IDLE, dict(IDLE, fds=27, tasks=11), BOUNDS)
    assert failures == []
    assert figures["rss_mb_first"] == figures["rss_mb_last"] == 60.5
    assert figures["fds_peak"] == 34 and figures["loop_lag_ms"]["p99"] == pytest.approx(5.0)


def test_a_memory_leak_fails():
    leaking = series(rss=lambda i: 60 + 2.0 * i)  # 2 MB a sample: medians 67 MB (first fifth) and 131 MB (last)
    _, failures = judge("bridge", leaking, IDLE, IDLE, BOUNDS)
    assert failures == [("bridge: RSS grew from 67.0 MB to 131.0 MB (median of the first and the last fifth), "
                         "over the bound 100.4 MB (+20% + 20 MB)")]


def test_growth_within_the_stated_bound_passes():
    # +20 % + 20 MB of 100 MB is 140 MB: a cache filling up to 139 MB is allowed
    _, failures = judge("focus", series(rss=lambda i: 100 if i < 20 else 139), IDLE, IDLE, BOUNDS)
    assert failures == []
    _, failures = judge("focus", series(rss=lambda i: 100 if i < 20 else 141), IDLE, IDLE, BOUNDS)
    assert len(failures) == 1


def test_fds_and_tasks_must_come_back_once_everyone_left():
    _, failures = judge("web", series(), IDLE, dict(IDLE, fds=IDLE["fds"] + 11), BOUNDS)
    assert failures == ["web: open fds at 36 once everyone left, baseline 25 (allowed +10)"]
    _, failures = judge("web", series(), IDLE, dict(IDLE, tasks=IDLE["tasks"] + 21), BOUNDS)
    assert failures == ["web: asyncio tasks at 30 once everyone left, baseline 9 (allowed +20)"]
    _, failures = judge("web", series(), IDLE, dict(IDLE, fds=35, tasks=29), BOUNDS)
    assert failures == []


def test_loop_lag_p99_over_the_bound_fails():
    stalls = series(n=50, lag=lambda i: 0.3 if i % 10 == 0 else 0.005)  # one sample in ten saw a 300 ms stall
    _, failures = judge("xmpp", stalls, IDLE, IDLE, BOUNDS)
    assert len(failures) == 1 and "event-loop lag p99" in failures[0]
    _, failures = judge("xmpp", stalls, IDLE, IDLE, Bounds(loop_lag=0.5))
    assert failures == []


def test_loop_lag_the_whole_machine_saw_is_not_the_services():
    stalls = series(n=50, lag=lambda i: 0.3 if i % 10 == 0 else 0.005)
    _, failures = judge("web", stalls, IDLE, IDLE, BOUNDS, control_lag_p99=0.28)  # the idle control stalled too
    assert failures == []
    _, failures = judge("web", stalls, IDLE, IDLE, BOUNDS, control_lag_p99=0.15)
    assert failures == [("web: event-loop lag p99 300 ms under load, the idle control process's 150 ms, "
                         "over the bound 100 ms")]


def test_missing_figures_fail_rather_than_pass():
    _, failures = judge("xmpp", series(n=4), IDLE, IDLE, BOUNDS)
    assert failures and "too few to judge" in failures[0]
    blind = [dict(s, lag_s=None) for s in series()]
    _, failures = judge("xmpp", blind, {"rss_mb": 1.0, "fds": 3}, IDLE, BOUNDS)
    assert "xmpp: no asyncio tasks figure at the baseline or at the end" in failures
    assert "xmpp: no event-loop lag figures from its /metrics" in failures


def test_parse_metrics_reads_the_two_gauges():
    text = ("# HELP jitsi_py_event_loop_lag_seconds lateness\n# TYPE jitsi_py_event_loop_lag_seconds gauge\n"
            "jitsi_py_event_loop_lag_seconds 0.0125\njitsi_py_asyncio_tasks 17.0\njitsi_conferences 2\n")
    assert parse_metrics(text) == {"lag_s": 0.0125, "tasks": 17}


@pytest.mark.system
@pytest.mark.timeout(480)  # two minutes of soak, the start, the last wave and the settling
def test_two_minute_soak_passes(tmp_path):
    out = tmp_path / "results.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "soak", "--minutes", "2", "--results", str(out), "--plots", str(tmp_path),
         "--workdir", str(tmp_path / "work")],
        check=False, capture_output=True, text=True, timeout=450)
    assert out.exists(), done.stderr
    (result,) = results.load(out)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    assert "soak: verdict PASS" in done.stdout
    for service in SERVICES:
        figures = result["servers"][service]
        assert figures["loop_lag_ms"]["count"] >= 5 and figures["tasks_final"] is not None
    assert result["servers"]["control"]["loop_lag_ms"]["count"] >= 5
    churn = result["servers"]["churn"]
    assert churn["waves"] >= 4 and churn["joins"] >= 12 and churn["media_packets"] > 0
    assert churn["chat_delivered"] == churn["chat_expected"] > 0
    assert list(tmp_path.glob("soak-*.png"))
