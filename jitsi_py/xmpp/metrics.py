"""The XMPP server's Prometheus metrics (served on ``/metrics`` of the HTTP port)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge

from ..common.metrics import CollectorRegistry, Sampled

if TYPE_CHECKING:
    from .router import Router


class XmppMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.stream_errors = Counter("xmpp_stream_errors", "Streams closed with a stream error", ["condition"],
                                     registry=r)
        self.auth_success = Counter("xmpp_auth_success", "Successful SASL logins", ["mechanism"], registry=r)
        self.auth_failures = Counter("xmpp_auth_failures", "Failed SASL logins", ["condition"], registry=r)
        self.sessions_hibernating = Gauge("xmpp_sessions_hibernating", "XEP-0198 sessions waiting for resumption",
                                          registry=r)
        self.connections = Counter("xmpp_connections", "Connections accepted", ["transport"], registry=r)

    def watch(self, router: "Router") -> None:
        def sessions() -> dict[tuple[str, ...], float]:
            counts: dict[tuple[str, ...], float] = {("tcp",): 0, ("websocket",): 0, ("bosh",): 0}
            for session in router.sessions.values():
                counts[(session.transport,)] = counts.get((session.transport,), 0) + 1
            return counts

        self.registry.register(Sampled("xmpp_sessions", "Bound client sessions", "gauge", ("transport",), sessions))
        self.registry.register(Sampled("xmpp_stanzas_in", "Stanzas routed", "counter", (),
                                       lambda: {(): router.stanzas_in}))
        self.registry.register(Sampled("xmpp_stanzas_out", "Stanzas delivered to sessions", "counter", (),
                                       lambda: {(): router.stanzas_out}))
        self.registry.register(Sampled("xmpp_components", "Hosted and external components", "gauge", (),
                                       lambda: {(): len(router.components)}))
