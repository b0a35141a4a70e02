"""Prometheus metrics (prometheus-client), correct with several worker processes.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``automix serve --workers N`` sets it to a fresh directory for
its workers), every worker writes its samples there and ``/metrics`` aggregates all workers' files,
whichever worker answers. Without it, the process's own registry is served.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client import multiprocess as prom_multiprocess

from automix_core.traffic import record_figures

if TYPE_CHECKING:
    from automix_core import Usage
    from automix_core.traffic import Traffic

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

        self._shadow(r)

    def _shadow(self, r: CollectorRegistry) -> None:
        """The ``automix_shadow_*`` series: counters summed over workers, gauges per worker (``pid`` label)."""
        self.shadow_records = Counter("automix_shadow_records", "Traffic records written, by route and whether "
                                      "shadowed", ["route", "shadowed"], registry=r)
        self.shadow_agreeing = Counter("automix_shadow_agreeing", "Shadowed requests whose served answer agrees "
                                       "with the reference tier's", ["route"], registry=r)
        self.shadow_served_cost = Counter("automix_shadow_served_cost_usd", "USD the cascade spent on shadowed "
                                          "requests (verification included)", ["route"], registry=r)
        self.shadow_reference_cost = Counter("automix_shadow_reference_cost_usd", "USD the reference tier alone "
                                             "(always-large) spent answering the shadowed requests", ["route"],
                                             registry=r)
        self.shadow_escalated = Counter("automix_shadow_escalated", "Recorded requests the cascade escalated",
                                        ["route"], registry=r)
        self.shadow_spend = Counter("automix_shadow_spend_usd", "USD spent by shadow calls (their own budget)",
                                    ["tier"], registry=r)
        self.shadow_drift_warnings = Counter("automix_shadow_drift_warnings", "Times the agreement of accepted "
                                             "cheaper answers fell below the drift floor", registry=r)
        self.shadow_router_swaps = Counter("automix_shadow_router_swaps", "Routers learnt from traffic and swapped "
                                           "in (learn first)", ["route"], registry=r)
        g: dict[str, Any] = {"registry": r, "multiprocess_mode": "liveall"}
        self.shadow_learning = Gauge("automix_shadow_learning", "1 while a route serves its reference tier to learn "
                                     "a router from its traffic", ["route"], **g)
        self.shadow_agreement = Gauge("automix_shadow_agreement", "Share of served answers agreeing with the "
                                      "reference on this worker's shadowed requests, with its 95% Wilson bounds",
                                      ["bound"], **g)
        self.shadow_cost_ratio = Gauge("automix_shadow_cost_ratio", "Served cost / always-reference cost on this "
                                       "worker's shadowed requests", **g)
        self.shadow_escalation_rate = Gauge("automix_shadow_escalation_rate", "Share of this worker's recorded "
                                            "requests that escalated", **g)
        self.shadow_drift = Gauge("automix_shadow_drift", "1 while the agreement of the last accepted cheaper "
                                  "answers is below the configured floor", **g)

    def observe_traffic(self, rec: dict[str, Any], usages: Sequence[Usage], traffic: Traffic) -> None:
        """Count one traffic record (and the shadow calls' usage); refresh the gauges from ``traffic.stats``."""
        route = str(rec.get("route"))
        self.shadow_records.labels(route, str(bool(rec.get("shadow"))).lower()).inc()
        f = record_figures(rec)
        if f.escalated:
            self.shadow_escalated.labels(route).inc()
        if f.agrees is not None and f.reference_cost is not None:
            self.shadow_agreeing.labels(route).inc(int(f.agrees))
            self.shadow_served_cost.labels(route).inc(f.served_cost)
            self.shadow_reference_cost.labels(route).inc(f.reference_cost)
        for u in usages:
            self.shadow_spend.labels(u.model).inc(u.cost)
        snap = traffic.stats.snapshot()
        if snap.agreement is not None:
            self.shadow_agreement.labels("estimate").set(snap.agreement)
            self.shadow_agreement.labels("low").set(snap.agreement_low or 0.0)
            self.shadow_agreement.labels("high").set(snap.agreement_high or 0.0)
        if snap.cost_ratio is not None:
            self.shadow_cost_ratio.set(snap.cost_ratio)
        if snap.escalation_rate is not None:
            self.shadow_escalation_rate.set(snap.escalation_rate)
        self.shadow_drift.set(int(snap.drift))
        new = traffic.drift_warnings - getattr(self, "_drift_seen", 0)
        if new > 0:
            self.shadow_drift_warnings.inc(new)
            self._drift_seen = traffic.drift_warnings

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            reg = CollectorRegistry()
            prom_multiprocess.MultiProcessCollector(reg)  # type: ignore[no-untyped-call]
            return generate_latest(reg)
        return generate_latest(self.registry)
