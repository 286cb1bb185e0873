"""The finalize script (``JIBRI_FINALIZE_RECORDING_SCRIPT_PATH``), run as Jibri runs it, with a time limit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

log = logging.getLogger(__name__)

SCRIPT_OUTPUT_LIMIT = 4096  # bytes of the script's output kept for the log


async def finalize(script: Path, directory: Path, limit: float, session_id: str) -> bool:
    """Runs the finalize script with the directory as its one argument, as Jibri does; False when it
    had to be killed for running past ``limit`` (its whole process group, so nothing it started lingers)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            str(script), str(directory), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        log.error("recorder: session %s: cannot run the finalize script %s: %s", session_id, script,
                  exc.strerror or exc)
        return True
    tail = bytearray()

    async def read() -> None:
        assert proc.stdout is not None
        while chunk := await proc.stdout.read(SCRIPT_OUTPUT_LIMIT):
            tail.extend(chunk)
            del tail[:-SCRIPT_OUTPUT_LIMIT]
        await proc.wait()

    try:
        await asyncio.wait_for(read(), limit)
    except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):  # the service stops: nothing of it outlives us
            raise
        log.error("recorder: session %s: the finalize script %s still ran after %g s "
                  "(JITSI_PY_RECORDER_FINALIZE_TIMEOUT): killed", session_id, script, limit)
        return False
    text = bytes(tail).decode(errors="replace").strip()
    level = logging.INFO if proc.returncode == 0 else logging.ERROR
    log.log(level, "recorder: session %s: the finalize script exited with %s%s", session_id, proc.returncode,
            f": {text}" if text else "")
    return True
