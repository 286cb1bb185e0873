import io

from bench import harness, plots, results
from bench.progress import Progress


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_redraws_in_place_on_a_terminal():
    out = Tty()
    bar = Progress("ours: login", 4, out=out, min_interval=0)
    for _ in range(4):
        bar.advance(note="x")
    bar.close()
    text = out.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n")
    assert "[" + "#" * 30 + "] 4/4" in text


def test_progress_prints_lines_when_not_a_terminal():
    out = io.StringIO()
    bar = Progress("join", 2, out=out)
    bar.advance()
    bar.advance()
    lines = out.getvalue().split("\n")
    assert "\r" not in out.getvalue()
    assert "1/2" in lines[0] and "2/2" in lines[1] and lines[2] == ""


def test_digest_puts_servers_and_ratios_side_by_side():
    result = results.new("xmpp", {})
    result["servers"] = {"ours": {"login_ms": {"count": 2, "p50": 2.0, "p99": 3.0}, "lost": 0, "version": "x"},
                         "prosody": {"login_ms": {"count": 2, "p50": 1.0, "p99": 1.5}, "lost": 1}}
    result["ratios"] = {"prosody": {"login_ms.p50": 2.0}}
    table = harness.digest(result).splitlines()
    assert table[0].split() == ["ours", "prosody", "ours/prosody"]
    assert table[1].split() == ["login_ms.p50", "2", "1", "2"]
    assert ["lost", "0", "1", "-"] in [line.split() for line in table]


def test_plots_are_png_files(tmp_path):
    pngs = plots.xmpp(tmp_path, "chat", "websocket", {
        "ours": {"login": [0.001, 0.002], "join": [0.01], "e2e": [0.003] * 50},
        "prosody": {"login": [0.002], "join": [0.02, 0.03], "e2e": []},
    })
    steps = [{"participants_total": n, "forwarded_pps": 10.0 * n, "loss": 0.0, "cpu_us_per_packet": 9.0}
             for n in (2, 4)]
    pngs.append(plots.media_sweep(tmp_path, steps, {"protect_sendto_video": {"pps": 250000},
                                                    "forward_video": {"pps": 150000}}))
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_tables_show_the_latest_run_of_each_kind(tmp_path):
    from bench import report

    older = results.new("xmpp", {"clients": 2, "rooms": 1, "transport": "tcp", "big_room": False, "focus": False})
    older["servers"] = {"ours": {"login_ms": {"count": 2, "p50": 9.0, "p99": 9.5}}}
    newer = results.new("xmpp", dict(older["params"]))
    newer["servers"] = {"ours": {"version": "abc", "login_ms": {"count": 2, "p50": 1.0, "p99": 1.5}, "lost": 0},
                        "prosody": {"login_ms": {"count": 2, "p50": 2.0, "p99": 3.0}, "lost": 0}}
    newer["ratios"] = {"prosody": {"login_ms.p50": 0.5}}
    text = report.tables([older, newer])
    assert text.count("**xmpp chat, tcp, 2 clients/1 rooms**") == 1
    assert "| ours abc | 1 / 1.5 | 0 |" in text
    assert "ours / prosody: login_ms.p50 0.5" in text


def test_xmpp_merges_usage_over_rounds():
    from bench.workloads.xmpp import merge_usage

    first = {"xmpp": {"cpu_s": 1.0, "peak_rss_mb": 50.0}, "total": {"cpu_s": 1.0, "peak_rss_mb": 50.0}}
    second = {"xmpp": {"cpu_s": 0.5, "peak_rss_mb": 60.0}, "total": {"cpu_s": 0.5, "peak_rss_mb": 60.0}}
    assert merge_usage(None, first) is first
    assert merge_usage(first, second)["xmpp"] == {"cpu_s": 1.5, "peak_rss_mb": 60.0}


def test_xmpp_fanout_rate_spans_every_round():
    import argparse

    from bench.workloads.xmpp import Tally, digest

    tally = Tally(delivered=2000, expected=2000, sent=100, chat_seconds=2.0)  # two rounds of 1 s
    figures = digest(tally, argparse.Namespace(focus=False, big_room=False))
    assert figures["fanout_per_s"] == 1000.0 and figures["lost"] == 0
