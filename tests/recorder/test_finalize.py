"""The finalize script: run with the session directory, its output logged, killed past the time limit."""

import logging
import os
import time

from jitsi_py.recorder.finalize import SCRIPT_OUTPUT_LIMIT, finalize


def script(tmp_path, body: str):
    path = tmp_path / "finalize.sh"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


async def test_the_script_gets_the_directory_and_its_output_is_logged(tmp_path, caplog):
    caplog.set_level(logging.INFO, "jitsi_py.recorder.finalize")
    session = tmp_path / "s1"
    session.mkdir()
    done = await finalize(script(tmp_path, 'ls "$1" > "$1/../seen"; echo uploaded "$#"\n'), session, 10, "s1")
    (session / "x").touch()
    assert done
    assert (tmp_path / "seen").exists()
    assert "exited with 0: uploaded 1" in caplog.text


async def test_a_failing_script_is_an_error_line_with_the_end_of_its_output(tmp_path, caplog):
    body = f"yes a | head -c {SCRIPT_OUTPUT_LIMIT * 50} | tr -d '\\n'; echo; echo no credentials >&2; exit 3\n"
    assert await finalize(script(tmp_path, body), tmp_path, 10, "s1")
    [record] = [r for r in caplog.records if "finalize script" in r.getMessage()]
    assert record.levelno == logging.ERROR and record.getMessage().endswith("exited with 3: " + "a" * (
        SCRIPT_OUTPUT_LIMIT - len("\nno credentials\n")) + "\nno credentials")


async def test_a_script_that_hangs_is_killed_with_what_it_started(tmp_path, caplog):
    pid_file = tmp_path / "child"
    started = time.monotonic()
    done = await finalize(script(tmp_path, f"sleep 600 & echo $! > {pid_file}; wait\n"), tmp_path, 1.0, "s1")
    assert not done and time.monotonic() - started < 5
    assert "still ran after 1 s" in caplog.text and "killed" in caplog.text
    child = int(pid_file.read_text())
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the script's child outlived it")


async def test_a_missing_script_is_one_error_line(tmp_path, caplog):
    assert await finalize(tmp_path / "nope.sh", tmp_path, 1, "s1")
    assert "cannot run the finalize script" in caplog.text
