"""The threshold family: ``threshold``, ``self-consistency`` and ``double-threshold``.

- ``threshold``: accept tier t's answer when its confidence >= theta_t, else go to t+1.
- ``double-threshold``: escalate only when lo <= confidence < hi; below ``lo`` the query is judged
  too hard to be worth the larger model's price and the current answer is kept.
- ``self-consistency``: accept when the confidence is more than 0.5 (most verifier samples agree; a tie,
  e.g. 4 of 8, escalates).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..calibration.records import RecordArrays
from ..errors import PolicyError
from .base import Decision, Observation, Policy

__all__ = ["DoubleThresholdPolicy", "SelfConsistencyPolicy", "ThresholdPolicy"]


def _quantile_grid(values: np.ndarray, grid: int) -> list[float]:
    qs = np.quantile(values, np.linspace(0.0, 1.0, grid))
    pts = sorted({float(x) for x in qs} | {0.0, 1.0 + 1e-9})
    return pts


class _SweepGrid:
    """The threshold values one candidate sweep draws from. Confidences with the same number of
    grid values at or below them compare alike with every threshold of the sweep, so records with
    the same such counts (in the tiers that are compared) are routed alike by every candidate."""

    def __init__(self, values: Sequence[float]) -> None:
        self.values = np.asarray(values, dtype=float)
        self._cache: tuple[np.ndarray, int, np.ndarray | None] | None = None

    def key(self, confidence: np.ndarray, cols: int) -> np.ndarray | None:
        hit = self._cache
        if hit is not None and hit[0] is confidence and hit[1] == cols:
            return hit[2]
        base = len(self.values) + 1
        key = None
        if cols * math.log2(base) < 62:
            below = np.searchsorted(self.values, confidence[:, :cols], side="right")
            key = np.asarray((below * (base ** np.arange(cols, dtype=np.int64))[None, :]).sum(axis=1))
        self._cache = (confidence, cols, key)
        return key


def _swept(policies: Sequence[ThresholdPolicy | DoubleThresholdPolicy], values: Sequence[float]) -> list[Policy]:
    """``policies`` of one sweep over the threshold ``values``, each told the grid (see :class:`_SweepGrid`)."""
    sweep = _SweepGrid(values)
    for p in policies:
        p._sweep = sweep
    return list(policies)


class ThresholdPolicy(Policy):
    """Accept tier t's answer when its confidence >= ``thresholds[t]``, else escalate to t + 1."""

    name = "threshold"
    strict = False
    """Accept only above the threshold (``>``) rather than at it (``>=``)."""

    def __init__(self, n_tiers: int, thresholds: Sequence[float]) -> None:
        super().__init__(n_tiers)
        if len(thresholds) != n_tiers - 1:
            raise PolicyError(f"threshold policy needs {n_tiers - 1} thresholds, got {len(thresholds)}")
        self.thresholds = [float(t) for t in thresholds]
        self._sweep: _SweepGrid | None = None  # set by candidates(): the grid the thresholds came from

    def route_key(self, confidence: np.ndarray) -> np.ndarray | None:
        return None if self._sweep is None else self._sweep.key(confidence, self.n_tiers - 1)

    def _decide(self, observations: Sequence[Observation]) -> Decision:
        tier, conf = observations[-1]
        th = self.thresholds[tier] if tier < self.n_tiers - 1 else -math.inf
        if tier == self.n_tiers - 1 or conf > th or (conf == th and not self.strict):
            return Decision("accept", tier)
        return Decision("escalate", tier + 1)

    def route(self, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = confidence.shape[1]
        th = np.asarray([*self.thresholds, -np.inf])
        ok = confidence > th[None, :] if self.strict else confidence >= th[None, :]
        answer = np.argmax(ok, axis=1)
        visited = np.arange(m)[None, :] <= answer[:, None]
        return answer, visited

    def params(self) -> dict[str, Any]:
        return {"thresholds": self.thresholds}

    @classmethod
    def from_params(cls, n_tiers: int, params: dict[str, Any]) -> Policy:
        return cls(n_tiers, params["thresholds"])

    @classmethod
    def candidates(cls, train: RecordArrays, *, grid: int = 200) -> list[Policy]:
        m = len(train.models)
        pts = _quantile_grid(train.confidence[:, : m - 1].ravel(), grid)
        return _swept([cls(m, [t] * (m - 1)) for t in pts], pts)


class SelfConsistencyPolicy(ThresholdPolicy):
    """Accept when the confidence is more than 0.5: when most verifier samples say "correct" (a tie escalates)."""

    name = "self-consistency"
    strict = True

    def __init__(self, n_tiers: int, thresholds: Sequence[float] | None = None) -> None:
        super().__init__(n_tiers, [0.5] * (n_tiers - 1) if thresholds is None else thresholds)

    @classmethod
    def from_params(cls, n_tiers: int, params: dict[str, Any]) -> Policy:
        return cls(n_tiers, params.get("thresholds"))

    @classmethod
    def candidates(cls, train: RecordArrays, *, grid: int = 200) -> list[Policy]:
        return [cls(len(train.models))]


class DoubleThresholdPolicy(Policy):
    """Escalate from tier t only when ``lo[t] <= confidence < hi[t]``; otherwise keep tier t's answer.

    Confidence below ``lo`` marks a query likely too hard for the larger tiers as well, so paying
    for them is not worth it; ``lo = 0`` gives the single threshold policy.
    """

    name = "double-threshold"

    def __init__(self, n_tiers: int, lo: Sequence[float], hi: Sequence[float]) -> None:
        super().__init__(n_tiers)
        if len(lo) != n_tiers - 1 or len(hi) != n_tiers - 1:
            raise PolicyError(f"double-threshold needs {n_tiers - 1} lo and hi values")
        self.lo = [float(x) for x in lo]
        self.hi = [float(x) for x in hi]
        self._sweep: _SweepGrid | None = None  # set by candidates(): the grid lo and hi came from

    def route_key(self, confidence: np.ndarray) -> np.ndarray | None:
        return None if self._sweep is None else self._sweep.key(confidence, self.n_tiers - 1)

    def _decide(self, observations: Sequence[Observation]) -> Decision:
        tier, conf = observations[-1]
        if tier == self.n_tiers - 1 or not (self.lo[tier] <= conf < self.hi[tier]):
            return Decision("accept", tier)
        return Decision("escalate", tier + 1)

    def route(self, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = confidence.shape[1]
        lo = np.asarray([*self.lo, np.inf])
        hi = np.asarray([*self.hi, -np.inf])
        stop = ~((confidence >= lo[None, :]) & (confidence < hi[None, :]))
        stop[:, -1] = True
        answer = np.argmax(stop, axis=1)
        visited = np.arange(m)[None, :] <= answer[:, None]
        return answer, visited

    def params(self) -> dict[str, Any]:
        return {"lo": self.lo, "hi": self.hi}

    @classmethod
    def from_params(cls, n_tiers: int, params: dict[str, Any]) -> Policy:
        return cls(n_tiers, params["lo"], params["hi"])

    @classmethod
    def candidates(cls, train: RecordArrays, *, grid: int = 200) -> list[Policy]:
        m = len(train.models)
        side = max(4, int(math.sqrt(grid * 2)))
        pts = _quantile_grid(train.confidence[:, : m - 1].ravel(), side)
        return _swept([cls(m, [lo] * (m - 1), [hi] * (m - 1)) for lo, hi in itertools.combinations(pts, 2)], pts)
