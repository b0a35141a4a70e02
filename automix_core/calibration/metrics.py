"""Cost-quality metrics of the AutoMix paper and a few more.

- IBC (incremental benefit per cost) of a point (c, q) against the small model's point (c0, q0):
  ``(q - q0) / (c - c0)``.
- ΔIBC (in %): the relative lift of a router's IBC over the baseline slope from the small to the
  large model: ``100 * (IBC_router - IBC_base) / IBC_base`` (defined only when the slope is positive).
- Cost-region protocol: split the cost range into R equal regions, pick in each region, on train,
  the operating point with the best train ΔIBC, score it on test, and average.
- Normalized AUC and the cost needed to recover a share of the small-to-large quality gap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "Point",
    "Selection",
    "auc_normalized",
    "best_level",
    "cost_to_recover",
    "delta_ibc",
    "ibc",
    "region_dibc",
]

EPS = 1e-12


@dataclass(frozen=True)
class Point:
    """A (mean cost per query, mean quality) operating point."""

    cost: float
    quality: float

    def mix(self, other: Point, p: float) -> Point:
        """The expected point of following ``other`` with probability ``p`` and this one otherwise."""
        return Point((1 - p) * self.cost + p * other.cost, (1 - p) * self.quality + p * other.quality)


def ibc(point: Point, small: Point) -> float:
    """Incremental benefit per cost of ``point`` relative to ``small``. 0 when no cost was added."""
    dc = point.cost - small.cost
    if dc <= EPS:
        return 0.0
    return (point.quality - small.quality) / dc


def delta_ibc(point: Point, small: Point, large: Point) -> float:
    """ΔIBC in percent of ``point`` against the small→large slope, as the paper defines it:
    ``100 * (IBC(point) - IBC(large)) / IBC(large)``, where ``IBC(x) = (quality(x) - quality(small)) /
    (cost(x) - cost(small))`` and the base slope ``IBC(large)`` runs from the small model to the large
    model called alone. ``small`` is the small model's answer alone, without its verification, as in
    the paper (:func:`~automix_core.calibration.evaluate.refs` gives both points); a method's cost
    includes the verification it asked for, so it pays for verification out of its gain.

    A point at (or below) the small model's cost scores 0. Returns NaN when the large model is
    not better than the small one (the baseline slope is not positive), where ΔIBC has no meaning.
    """
    base = ibc(large, small)
    if base <= EPS:
        return math.nan
    if point.cost - small.cost <= EPS:
        return 0.0
    return 100.0 * (ibc(point, small) - base) / base


Selection = Literal["extended", "paper"]
"""How an operating point is chosen in a cost region: ``extended`` (mixtures fill the regions, ties go
to the costliest setting) or ``paper`` (deterministic settings only, ties to the cheapest, as in the
AutoMix paper)."""


def best_level(dibc: Sequence[float] | np.ndarray, costs: Sequence[float] | np.ndarray,
               prefer: Literal["costliest", "cheapest"] = "costliest") -> int:
    """The index of the best of finite ``dibc`` values; among those level with the best (up to
    rounding: collinear settings, such as escalating one, two or three more queries that all turned
    right, differ only in their last bits) the costliest, the one resting on the most escalated
    queries (or, with ``prefer="cheapest"``, the cheapest). So the last bit of a cost never decides
    which setting is chosen."""
    values = np.asarray(dibc, dtype=float)
    top = float(values.max())
    level = np.flatnonzero(values >= top - 1e-9 * max(1.0, abs(top)))
    level_costs = np.asarray(costs, dtype=float)[level]
    return int(level[np.argmax(level_costs) if prefer == "costliest" else np.argmin(level_costs)])


def region_dibc(
    train_points: Sequence[Point],
    test_points: Sequence[Point],
    train_refs: tuple[Point, Point],
    test_refs: tuple[Point, Point],
    cost_range: tuple[float, float],
    regions: int = 5,
    prefer: Literal["costliest", "cheapest"] = "costliest",
) -> tuple[list[float], list[int | None]]:
    """ΔIBC per cost region (the NeurIPS protocol).

    ``train_points[i]`` and ``test_points[i]`` are the same parameter setting measured on train and
    on test; ``*_refs`` are (small, large) on each split. The cost range [lo, hi] (train) is split
    into ``regions`` equal closed parts; in each, the setting with the best train ΔIBC whose train
    cost lies in the region (edges included, up to rounding; among settings level with the best,
    the costliest, or the cheapest with ``prefer``, see :func:`best_level`) is scored on test. A region
    with no setting scores 0: no method reaches it, and 0 is the score of a point on the small→large
    line (random mixing of the two *unverified* calls; mixing the verified small tier with the large
    one scores below 0, since its small end already paid for verification). Returns the per-region
    test ΔIBC and the chosen index (None when empty).
    """
    if len(train_points) != len(test_points):
        raise ValueError("train_points and test_points must pair up")
    if regions < 1:
        raise ValueError(f"regions must be >= 1, got {regions}")
    lo, hi = cost_range
    edges = np.linspace(lo, hi, regions + 1)
    # regions are closed: a point on the edge between two (escalating exactly 20% of the queries at
    # fixed unit costs, say) belongs to both, whichever way the last bit of its cost was rounded
    tol = 1e-9 * max(hi - lo, 0.0) + EPS
    tr = np.array([delta_ibc(p, *train_refs) for p in train_points]) if train_points else np.zeros(0)
    costs = np.array([p.cost for p in train_points])
    values: list[float] = []
    chosen: list[int | None] = []
    for r in range(regions):
        a, b = edges[r], edges[r + 1]
        inside = (costs >= a - tol) & (costs <= b + tol)
        inside &= np.isfinite(tr)
        if not inside.any():
            values.append(0.0)
            chosen.append(None)
            continue
        cand = np.flatnonzero(inside)
        best = int(cand[best_level(tr[cand], costs[cand], prefer)])
        v = delta_ibc(test_points[best], *test_refs)
        values.append(0.0 if math.isnan(v) else v)
        chosen.append(best)
    return values, chosen


def _envelope(points: Sequence[Point], start: Point) -> tuple[np.ndarray, np.ndarray]:
    pts = sorted([start, *points], key=lambda p: (p.cost, -p.quality))
    xs, ys = [], []
    best = -math.inf
    for p in pts:
        if p.quality > best:
            best = p.quality
            xs.append(p.cost)
            ys.append(best)
    return np.asarray(xs), np.asarray(ys)


def auc_normalized(points: Sequence[Point], small: Point, large: Point, cost_range: tuple[float, float]) -> float:
    """Area under the best-so-far cost-quality step curve over ``cost_range``, normalized.

    The curve at cost c is the best quality among ``points`` (and the small model) costing at most
    c. The area above the small model's quality is divided by the area of the rectangle
    ``(hi - lo) * (q_large - q_small)``: 0 means never better than the small model; the straight
    line to the large model scores about 0.5; reaching the large model's quality at once scores 1.
    """
    lo, hi = cost_range
    gap = large.quality - small.quality
    if hi - lo <= EPS or gap <= EPS:
        return math.nan
    xs, ys = _envelope(points, small)
    grid = np.linspace(lo, hi, 2001)
    idx = np.searchsorted(xs, grid, side="right") - 1
    q = np.where(idx >= 0, ys[np.clip(idx, 0, None)], small.quality)
    return float(np.mean(q - small.quality) / gap)


def cost_to_recover(points: Sequence[Point], small: Point, large: Point, share: float) -> float | None:
    """Least cost among ``points`` whose quality recovers ``share`` of the small→large gap (None if none)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be in [0, 1], got {share}")
    target = small.quality + share * (large.quality - small.quality)
    ok = [p.cost for p in points if p.quality >= target - EPS]
    return min(ok) if ok else None
