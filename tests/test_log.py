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
