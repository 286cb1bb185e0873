import json
import logging

from jitsi_py.common import log


def test_json_lines(capsys):
    log.setup("info", "json")
    logging.getLogger("jitsi_py.test").info("a room %s\nwith two lines", "standup")
    logging.getLogger("jitsi_py.test").debug("not shown at info")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "info"
    assert entry["logger"] == "jitsi_py.test"
    assert entry["msg"] == "a room standup\nwith two lines"


def test_text_is_one_line_per_event(capsys):
    log.setup("debug", "text")
    logging.getLogger("jitsi_py.test").debug("first\nsecond")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "first\\nsecond" in lines[0] and "DEBUG" in lines[0]


def test_throttled_lets_a_burst_through_then_counts_what_it_held_back(caplog):
    now = [0.0]
    throttled = log.Throttled(logging.getLogger("jitsi_py.test"), burst=3, interval=10.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="jitsi_py.test")
    for i in range(8):
        throttled.log(logging.WARNING, "bad request %d", i)
    assert [r.getMessage() for r in caplog.records] == ["bad request 0", "bad request 1", "bad request 2"]
    now[0] = 10.0
    throttled.log(logging.WARNING, "bad request %d", 8)
    assert caplog.records[-1].getMessage() == "bad request 8 (5 like it suppressed)"
    throttled.log(logging.DEBUG, "not enabled: neither written nor counted")
    assert len(caplog.records) == 4
