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

__all__ = ["DriftCheck", "Snapshot", "TrafficStats", "weighted_mean", "wilson"]


def weighted_mean(values: list[float], weights: list[float]) -> float | None:
    """The weighted mean (a Hajek estimate); None without weight."""
    total = sum(weights)
    return sum(v * w for v, w in zip(values, weights)) / total if total > 0 else None


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
        outputs: dict[str, Any] = rec.get("outputs") or {}
        served_cost = sum(float(o.get("cost") or 0.0) for o in outputs.values() if o.get("visited"))
        fired = False
        with self._lock:
            self.requests += 1
            self.served_cost += served_cost
            if any(d.get("decision") == "escalate" for d in rec.get("decisions") or []):
                self.escalated += 1
            served = outputs.get(rec.get("served") or "", {})
            ref = outputs.get(rec.get("reference_model") or "", {})
            agrees = served.get("agrees")
            if rec.get("shadow") and isinstance(agrees, bool) and ref:
                w = float(rec.get("weight") or 1.0)
                self.shadowed += 1
                self.s_weight += w
                self.s_agree += w * agrees
                self.s_agree_n += int(agrees)
                self.s_served_cost += w * served_cost
                self.s_ref_cost += w * (float(ref.get("cost") or 0.0) - float(ref.get("verifier_cost") or 0.0))
                if rec.get("served") != rec.get("reference_model"):
                    was = self.drift.drifting
                    fired = self.drift.add(agrees) and not was
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
