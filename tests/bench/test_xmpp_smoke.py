"""Tiny runs of `python -m bench xmpp` through its command line; figures are checked for shape only."""

import subprocess
import sys

import pytest

from bench import results
from bench.servers.base import Process, Server, ServerFailed

pytestmark = pytest.mark.system


def bench(tmp_path, *argv: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "results.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "xmpp", *argv, "--results", str(out), "--plots", str(tmp_path),
         "--workdir", str(tmp_path / "work"), "--timeout", "120"],
        capture_output=True, text=True, timeout=180)
    assert out.exists(), done.stderr
    (result,) = results.load(out)
    return done, result


def test_chat_over_websocket_on_ours_and_both_anchors(tmp_path):
    done, result = bench(tmp_path, "--against", "prosody", "--against", "ejabberd",
                         "--clients", "6", "--rooms", "2", "--messages", "2", "--rate", "5")
    assert done.returncode == 0, done.stderr
    assert result["ok"] and set(result["servers"]) == {"ours", "prosody", "ejabberd"}
    assert set(result["ratios"]) == {"prosody", "ejabberd"}
    for figures in result["servers"].values():
        assert figures["login_ms"]["count"] == 6 and figures["join_ms"]["count"] == 6
        assert figures["messages_sent"] == 12
        assert figures["deliveries"] == figures["deliveries_expected"] == 36
        assert figures["server"]["total"]["peak_rss_mb"] > 0
    assert list(tmp_path.glob("xmpp-chat-websocket-*.png"))
    assert "ejabberd" in done.stdout and "fanout_per_s" in done.stdout


def test_big_room_over_bosh_on_ours_and_prosody(tmp_path):
    done, result = bench(tmp_path, "--against", "prosody", "--transport", "bosh", "--big-room",
                         "--occupants", "8", "--newcomers", "2")
    assert done.returncode == 0, done.stderr
    for figures in result["servers"].values():
        assert figures["newcomer_all_presences_ms"]["count"] == 2
        assert figures["join_ms"]["count"] == 8


def test_a_server_that_will_not_start_fails_the_run_visibly(tmp_path):
    (tmp_path / "work" / "round0" / "prosody").mkdir(parents=True)
    (tmp_path / "work" / "round0" / "prosody" / "data").write_text("a file where prosody wants a directory")
    done, result = bench(tmp_path, "--no-ours", "--against", "prosody", "--clients", "2", "--rooms", "1",
                         "--messages", "1")
    assert done.returncode == 1
    assert not result["ok"] and result["errors"][0].startswith("prosody")
    assert "error: prosody" in done.stderr


class Crashing(Server):
    name = "crashing"

    def plan(self):
        script = "import sys; print('no such service'); sys.exit(3)"
        return [Process("crashing", [sys.executable, "-c", script], {}, self.workdir)]


async def test_a_server_that_exits_while_starting_reports_its_log(tmp_path):
    async def never(server):
        raise OSError("not yet")

    server = Crashing(tmp_path)
    with pytest.raises(ServerFailed, match=r"(?s)crashing exited while starting \(exit 3\).*no such service"):
        await server.start(never)
    await server.stop()


def test_chat_and_big_room_over_tcp_on_ours_beside_prosody(tmp_path):
    done, result = bench(tmp_path, "--transport", "tcp", "--against", "prosody",
                         "--clients", "6", "--rooms", "2", "--messages", "2", "--rate", "5")
    assert done.returncode == 0, done.stderr
    ours = result["servers"]["ours"]
    assert ours["deliveries"] == ours["deliveries_expected"] == 36
    assert ours["server"]["xmpp"]["peak_rss_mb"] > 0
    assert "login_ms.p50" in result["ratios"]["prosody"]
    (tmp_path / "results.jsonl").unlink()
    done, result = bench(tmp_path, "--transport", "tcp", "--big-room", "--occupants", "6", "--newcomers", "1")
    assert done.returncode == 0, done.stderr
    assert result["servers"]["ours"]["newcomer_all_presences_ms"]["count"] == 1


def test_focus_mode_sends_the_conference_request_before_each_join(tmp_path):
    done, result = bench(tmp_path, "--transport", "tcp", "--focus", "--clients", "4", "--rooms", "2",
                         "--messages", "1", "--rate", "5")
    assert done.returncode == 0, done.stderr
    ours = result["servers"]["ours"]
    assert ours["conference_request_ms"]["count"] == ours["join_ms"]["count"] == 4
    assert set(ours["server"]) == {"xmpp", "focus", "total"}


def test_focus_mode_refuses_an_anchor():
    done = subprocess.run([sys.executable, "-m", "bench", "xmpp", "--focus", "--against", "prosody"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "no anchor has a focus" in done.stderr
