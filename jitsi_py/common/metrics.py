"""Prometheus helpers: one registry per service instance, hot-path counters as plain integers.

Hot paths (stanza routing, packet forwarding) must not take a lock per event, so they bump
plain ``int`` attributes that :class:`Sampled` reads only when ``/metrics`` is scraped.
"""

from __future__ import annotations

from typing import Callable, Iterable

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


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


__all__ = ["CollectorRegistry", "Sampled", "render", "CONTENT_TYPE"]
