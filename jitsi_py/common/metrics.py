"""Prometheus helpers: one registry per service instance, hot-path counters as plain integers.

Hot paths (stanza routing, packet forwarding) must not take a lock per event, so they bump
plain ``int`` attributes that :class:`Sampled` reads only when ``/metrics`` is scraped.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable, Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Sampled:
    """A collector whose values are read at scrape time from ``read()`` -> {labels tuple: value}."""

    def __init__(self, name: str, doc: str, kind: str, labels: tuple[str, ...],
                 read: Callable[[], dict[tuple[str, ...], float]]) -> None:
        self.name, self.doc, self.kind, self.labels, self.read = name, doc, kind, labels, read

    def collect(self) -> Iterable[Metric]:
        family_cls = CounterMetricFamily if self.kind == "counter" else GaugeMetricFamily
        family = family_cls(self.name, self.doc, labels=list(self.labels))
        for label_values, value in self.read().items():
            family.add_metric(list(label_values), value)
        yield family

    def describe(self) -> Iterable[Metric]:
        return []


class LoopMonitor:
    """Event-loop lag and asyncio task count of the service's loop, for its ``/metrics``.

    One probe sleeps ``interval`` and records how late it woke: nothing runs per packet or
    stanza. The lag gauge is the worst of the last ``window`` probes, so that a scrape every
    few seconds still sees a stall that happened between two scrapes. The task count is read
    when scraped. ``attach`` runs the probe for as long as an aiohttp application runs.
    """

    def __init__(self, registry: CollectorRegistry, interval: float = 0.25, window: int = 20) -> None:
        self.interval = interval
        self._lags: collections.deque[float] = collections.deque(maxlen=window)
        registry.register(Sampled("jitsi_py_event_loop_lag_seconds",
                                  "Worst lateness of the event loop's periodic probe over the last few seconds",
                                  "gauge", (), lambda: {(): max(self._lags, default=0.0)}))
        registry.register(Sampled("jitsi_py_asyncio_tasks", "Asyncio tasks alive in the service's loop",
                                  "gauge", (), lambda: {(): float(len(asyncio.all_tasks()))}))

    async def probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval)
            self._lags.append(max(0.0, loop.time() - before - self.interval))

    async def running(self, _app: object) -> AsyncIterator[None]:
        """For ``app.cleanup_ctx``: the probe starts with the application and stops with it."""
        task = asyncio.ensure_future(self.probe())
        yield
        task.cancel()
        await asyncio.wait([task])

    def attach(self, app) -> None:
        app.cleanup_ctx.append(self.running)


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


__all__ = ["CONTENT_TYPE", "CollectorRegistry", "LoopMonitor", "Sampled", "render"]
