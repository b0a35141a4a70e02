"""``greedy``: escalate when the expected quality gain of the next tier, estimated from the current
tier's confidence alone, exceeds lambda times its cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..calibration.records import RecordArrays
from ..errors import PolicyError
from .base import Decision, Observation, Policy
from .observation import _KDE_BINS, GRID, _bandwidth
from .sweep import _sweep_lambda

__all__ = ["GreedyPolicy"]


class GreedyPolicy(Policy):
    """Myopic rule: escalate when E[next tier's quality] - P(current tier right | confidence) > lam * cost.

    P(current tier right | confidence) is a kernel-smoothed regression of the score on the
    confidence (per tier); the next tier's quality is its unconditional mean. Unlike the POMDP it
    looks one step ahead, ignores what the current confidence says about the next tier, and never
    goes back to an earlier answer.
    """

    name = "greedy"

    def __init__(self, n_tiers: int, p_right: np.ndarray | Sequence[Sequence[float]],
                 mean_quality: np.ndarray | Sequence[float], tier_costs: np.ndarray | Sequence[float],
                 lam: float) -> None:
        super().__init__(n_tiers)
        self.p_right = np.asarray(p_right, dtype=float)
        if self.p_right.shape != (n_tiers, GRID):
            raise PolicyError(f"greedy p_right must have shape ({n_tiers}, {GRID})")
        self.mean_quality = np.asarray(mean_quality, dtype=float)
        self.tier_costs = np.asarray(tier_costs, dtype=float)
        self.lam = float(lam)

    def _gain(self, tier: int, conf: np.ndarray) -> np.ndarray:
        idx = np.clip(np.rint(conf * (GRID - 1)).astype(np.int64), 0, GRID - 1)
        return np.asarray(self.mean_quality[tier + 1] - self.p_right[tier, idx] - self.lam * self.tier_costs[tier + 1])

    def _decide(self, observations: Sequence[Observation]) -> Decision:
        tier, conf = observations[-1]
        if tier == self.n_tiers - 1 or self._gain(tier, np.asarray(conf)) <= 0:
            return Decision("accept", tier)
        return Decision("escalate", tier + 1)

    def route(self, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, m = confidence.shape
        stop = np.ones((n, m), dtype=bool)
        for t in range(m - 1):
            stop[:, t] = self._gain(t, confidence[:, t]) <= 0
        answer = np.argmax(stop, axis=1)
        return answer, np.arange(m)[None, :] <= answer[:, None]

    def params(self) -> dict[str, Any]:
        return {
            "lam": self.lam,
            "tier_costs": self.tier_costs.tolist(),
            "mean_quality": self.mean_quality.tolist(),
            "p_right": [[round(float(x), 6) for x in row] for row in self.p_right],
        }

    @classmethod
    def from_params(cls, n_tiers: int, params: dict[str, Any]) -> Policy:
        return cls(n_tiers, params["p_right"], params["mean_quality"], params["tier_costs"], params["lam"])

    @staticmethod
    def _p_right(train: RecordArrays) -> np.ndarray:
        """Per tier, the kernel regression of the score on the confidence, over the grid (binned)."""
        m = len(train.models)
        g = np.linspace(0, 1, GRID)
        p_right = np.empty((m, GRID))
        for t in range(m):
            x, y = np.clip(train.confidence[:, t], 0.0, 1.0), train.score[:, t]
            bw = _bandwidth(x)
            n_b, edges = np.histogram(x, bins=_KDE_BINS, range=(0.0, 1.0))
            s_b, _ = np.histogram(x, bins=_KDE_BINS, range=(0.0, 1.0), weights=y)
            keep = n_b > 0
            centers = ((edges[:-1] + edges[1:]) / 2)[keep]
            w = np.exp(-0.5 * ((g[:, None] - centers[None, :]) / bw) ** 2)
            prior = float(y.mean())
            p_right[t] = (w @ s_b[keep] + 1.0 * prior) / (w @ n_b[keep] + 1.0)
        return p_right

    @classmethod
    def fit(cls, train: RecordArrays, lam: float) -> GreedyPolicy:
        costs = (train.cost + train.verifier_cost).mean(axis=0)
        return cls(len(train.models), cls._p_right(train), train.score.mean(axis=0), costs, lam)

    @classmethod
    def candidates(cls, train: RecordArrays, *, grid: int = 200) -> list[Policy]:
        m = len(train.models)
        p_right = cls._p_right(train)
        costs = (train.cost + train.verifier_cost).mean(axis=0)
        q = train.score.mean(axis=0)
        return _sweep_lambda(lambda lam: cls(m, p_right, q, costs, lam), train, grid)
