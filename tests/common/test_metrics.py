"""LoopMonitor: the lag gauge sees a stall between scrapes, the task gauge counts the loop's tasks."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from jitsi_py.common.metrics import CollectorRegistry, LoopMonitor, render


def gauge(registry: CollectorRegistry, name: str) -> float:
    for line in render(registry).decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not rendered")


async def test_lag_shows_a_blocking_call_until_it_leaves_the_window():
    registry = CollectorRegistry()
    monitor = LoopMonitor(registry, interval=0.02, window=5)
    probe = asyncio.ensure_future(monitor.probe())
    try:
        await asyncio.sleep(0.1)
        assert gauge(registry, "jitsi_py_event_loop_lag_seconds") < 0.1
        time.sleep(0.3)  # noqa: ASYNC251 - the stall under test: the loop is blocked, the probe wakes late
        await asyncio.sleep(0.03)
        assert gauge(registry, "jitsi_py_event_loop_lag_seconds") >= 0.25
        await asyncio.sleep(0.3)  # five more probes: the stall has left the window
        assert gauge(registry, "jitsi_py_event_loop_lag_seconds") < 0.1
    finally:
        probe.cancel()


async def test_task_gauge_counts_tasks():
    registry = CollectorRegistry()
    LoopMonitor(registry)
    before = gauge(registry, "jitsi_py_asyncio_tasks")
    sleepers = [asyncio.ensure_future(asyncio.sleep(10)) for _ in range(7)]
    try:
        assert gauge(registry, "jitsi_py_asyncio_tasks") == before + 7
    finally:
        for task in sleepers:
            task.cancel()


async def test_attach_runs_the_probe_while_the_application_runs():
    registry = CollectorRegistry()
    monitor = LoopMonitor(registry, interval=0.01)
    app = web.Application()
    monitor.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    await asyncio.sleep(0.05)
    assert monitor._lags  # probes were taken
    await runner.cleanup()
    count = len(monitor._lags)
    await asyncio.sleep(0.05)
    assert len(monitor._lags) == count  # and stopped with the application
