"""Prometheus metrics (prometheus-client), correct with several worker processes.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``automix serve --workers N`` sets it to a fresh directory for
its workers), every worker writes its samples there and ``/metrics`` aggregates all workers' files,
whichever worker answers. Without it, the process's own registry is served.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client import multiprocess as prom_multiprocess

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_CONF_BUCKETS = (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)


class Metrics:
    """The server's metrics, in a registry of their own (so tests can build many apps in one process)."""

    def __init__(self) -> None:
        # no *_created series (they would double the output for every label set)
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("automix_requests", "Chat-completion requests by route, status and answering tier",
                                ["route", "status", "tier"], registry=r)
        self.escalations = Counter("automix_escalations", "Escalations, by the tier escalated from and to",
                                   ["route", "tier", "to_tier"], registry=r)
        self.confidence = Histogram("automix_confidence", "Self-verification confidence per tier", ["tier"],
                                    buckets=_CONF_BUCKETS, registry=r)
        self.latency = Histogram("automix_request_latency_seconds", "Request latency (cascade and response)",
                                 ["route", "stream"], buckets=_LATENCY_BUCKETS, registry=r)
        self.tier_latency = Histogram("automix_tier_latency_seconds", "Time spent at one tier of a cascade",
                                      ["tier"], buckets=_LATENCY_BUCKETS, registry=r)
        self.tokens = Counter("automix_tokens", "Tokens billed, by tier, purpose (answer/verify) and kind",
                              ["tier", "purpose", "kind"], registry=r)
        self.cost = Counter("automix_cost_usd", "USD billed, by tier and purpose", ["tier", "purpose"], registry=r)
        self.upstream_errors = Counter("automix_upstream_errors", "Upstream calls that failed after retries",
                                       ["tier"], registry=r)
        self.refused = Counter("automix_refused",
                               "Requests refused before any call (auth, invalid_request: HTTP 400, budget, rate_limit)",
                               ["reason"], registry=r)

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            reg = CollectorRegistry()
            prom_multiprocess.MultiProcessCollector(reg)  # type: ignore[no-untyped-call]
            return generate_latest(reg)
        return generate_latest(self.registry)
