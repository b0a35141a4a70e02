"""Live proof of value from traffic records: what share of served answers agree with the reference
tier (with a Wilson interval), what was served against what always-the-reference would have cost, how
often the cascade escalated, and a drift check on the agreement of accepted cheaper answers.

Estimates over shadowed records are Horvitz-Thompson means (each record weighted by ``weight``, the
inverse of its inclusion probability); under uniform sampling the weights are equal and these are plain
means over a uniform sample of all requests.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from ..calibration.uncertainty import wilson

__all__ = ["DriftCheck", "RecordFigures", "Snapshot", "TrafficStats", "record_figures", "weighted_mean", "wilson"]


def weighted_mean(values: list[float], weights: list[float]) -> float | None:
    """The weighted mean (a Hajek estimate); None without weight."""
    total = sum(weights)
    return sum(v * w for v, w in zip(values, weights)) / total if total > 0 else None


@dataclass(frozen=True)
class RecordFigures:
    """What one traffic record says for the live figures (unweighted). ``agrees`` and ``reference_cost`` are
    set only on a shadowed record whose served answer was compared with the reference tier's."""

    served_cost: float
    escalated: bool
    agrees: bool | None = None
    reference_cost: float | None = None
    """What the reference tier alone would have cost (its answer; alone it verifies nothing)."""


def record_figures(rec: dict[str, Any]) -> RecordFigures:
    """The figures of one traffic record, read once for both the live stats and the server's counters."""
    outputs: dict[str, Any] = rec.get("outputs") or {}
    served_cost = sum(float(o.get("cost") or 0.0) for o in outputs.values() if o.get("visited"))
    escalated = any(d.get("decision") == "escalate" for d in rec.get("decisions") or [])
    served = outputs.get(rec.get("served") or "", {})
    ref = outputs.get(rec.get("reference_model") or "", {})
    agrees = served.get("agrees")
    if not (rec.get("shadow") and isinstance(agrees, bool) and ref):
        return RecordFigures(served_cost, escalated)
    ref_cost = float(ref.get("cost") or 0.0) - float(ref.get("verifier_cost") or 0.0)
    return RecordFigures(served_cost, escalated, agrees, ref_cost)


@dataclass(frozen=True)
class Snapshot:
    """The figures at one moment (None where there is nothing to estimate from yet)."""

    requests: int
    shadowed: int
    escalation_rate: float | None
    agreement: float | None
    agreement_low: float | None
    agreement_high: float | None
    served_cost_usd: float
    always_reference_cost_usd: float | None
    cost_ratio: float | None
    drift: bool


class DriftCheck:
    """Agreement of accepted non-reference answers over the last ``window`` shadowed ones, against ``floor``."""

    def __init__(self, floor: float | None, window: int) -> None:
        self.floor = floor
        self.recent: deque[bool] = deque(maxlen=window)

    def add(self, agrees: bool) -> bool:
        """Count one answer; True when the window is full and its agreement is below the floor."""
        self.recent.append(agrees)
        return self.drifting

    @property
    def share(self) -> float | None:
        return sum(self.recent) / len(self.recent) if self.recent else None

    @property
    def drifting(self) -> bool:
        share = self.share
        full = self.recent.maxlen is not None and len(self.recent) == self.recent.maxlen
        return self.floor is not None and full and share is not None and share < self.floor


class TrafficStats:
    """Running sums over records (thread-safe); :meth:`snapshot` gives the current figures."""

    def __init__(self, drift_floor: float | None = None, drift_window: int = 200) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.escalated = 0
        self.served_cost = 0.0
        self.shadowed = 0
        self.s_weight = 0.0  # shadowed records: sum of weights
        self.s_agree = 0.0  # ... of weights of records whose served answer agrees with the reference
        self.s_agree_n = 0  # ... unweighted count (for the interval)
        self.s_served_cost = 0.0  # ... weighted served cost
        self.s_ref_cost = 0.0  # ... weighted cost of the reference tier's answer alone
        self.drift = DriftCheck(drift_floor, drift_window)

    def observe(self, rec: dict[str, Any]) -> bool:
        """Count one record; returns whether the drift check fires now."""
        f = record_figures(rec)
        fired = False
        with self._lock:
            self.requests += 1
            self.served_cost += f.served_cost
            self.escalated += int(f.escalated)
            if f.agrees is not None and f.reference_cost is not None:
                w = float(rec.get("weight") or 1.0)
                self.shadowed += 1
                self.s_weight += w
                self.s_agree += w * f.agrees
                self.s_agree_n += int(f.agrees)
                self.s_served_cost += w * f.served_cost
                self.s_ref_cost += w * f.reference_cost
                if rec.get("served") != rec.get("reference_model"):
                    was = self.drift.drifting
                    fired = self.drift.add(f.agrees) and not was
        return fired

    def snapshot(self) -> Snapshot:
        with self._lock:
            agreement = self.s_agree / self.s_weight if self.s_weight else None
            lo, hi = wilson(self.s_agree_n, self.shadowed) if self.shadowed else (None, None)
            ref_mean = self.s_ref_cost / self.s_weight if self.s_weight else None
            always = ref_mean * self.requests if ref_mean is not None else None
            ratio = self.s_served_cost / self.s_ref_cost if self.s_ref_cost > 0 else None
            return Snapshot(self.requests, self.shadowed, self.escalated / self.requests if self.requests else None,
                            agreement, lo, hi, self.served_cost, always, ratio, self.drift.drifting)
