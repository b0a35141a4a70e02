"""Sweeps of the cost weight lambda, shared by the POMDP and the greedy policy."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..calibration.records import RecordArrays, group_by
from .base import Policy
from .observation import _ObservationModel

__all__ = []


def _pair_lambdas(
    model: _ObservationModel, j: int, cost_j: float, train: RecordArrays, grid: int
) -> list[float] | None:
    """Every distinct two-tier POMDP policy on ``train``, as lambda values: one above the largest
    gain per unit cost of tier 0's observed cells, one between each pair of neighbouring values, one
    below the smallest (thinned evenly to ``grid + 2`` when there are more)."""
    cells = np.unique(model.cell_indices(train.confidence)[:, 0])
    vals = np.unique(model.escalation_gain(j)[cells] / cost_j)[::-1]  # descending
    top, bottom = float(vals[0]), float(vals[-1])
    lams = [top + max(1.0, abs(top)), *((vals[:-1] + vals[1:]) / 2).tolist(), bottom - max(1.0, abs(bottom))]
    if len(lams) > grid + 2:
        lams = [lams[i] for i in np.unique(np.linspace(0, len(lams) - 1, grid + 2).round().astype(int))]
    return lams


def _lambda_scale(train: RecordArrays) -> float:
    costs = (train.cost + train.verifier_cost).mean(axis=0)
    q = train.score.mean(axis=0)
    return max(float(q.max() - q.min()), 1e-3) / max(float(costs[1:].sum()), 1e-12)


def _sweep_lambda(make: Callable[[float], Policy], train: RecordArrays, grid: int) -> list[Policy]:
    """Policies whose train costs spread evenly over the whole cost range, by bisecting on lambda.

    lambda runs over ``scale * sinh(x)``: large positive values never escalate; negative values
    reward spending, which orders queries by expected gain past the quality-optimal point, so the
    frontier also covers the costly part of the range (where the cost-region protocol still scores).
    """
    scale = _lambda_scale(train)
    cost_w = train.cost + train.verifier_cost

    def cost_of(p: Policy) -> float:
        key = p.route_key(train.confidence)
        if key is None:
            _, visited = p.route(train.confidence)
            return float((visited * cost_w).sum(axis=1).mean())
        g = group_by(train, key)  # one record per group the policy cannot tell apart
        _, visited = p.route(g.confidence)
        return float((visited * (g.cost + g.verifier_cost)).sum() / g.n)

    xs = list(np.linspace(-12.0, 12.0, 25))
    pols = [make(scale * math.sinh(x)) for x in xs]
    cs = [cost_of(p) for p in pols]
    span = max(cs) - min(cs)
    target = span / max(grid, 1)
    budget = grid
    while budget > 0 and span > 0:
        gaps = [abs(cs[i + 1] - cs[i]) if xs[i + 1] - xs[i] > 1e-4 else 0.0 for i in range(len(xs) - 1)]
        i = int(np.argmax(gaps))
        if gaps[i] <= target:
            break
        x = 0.5 * (xs[i] + xs[i + 1])
        p = make(scale * math.sinh(x))
        xs.insert(i + 1, x)
        pols.insert(i + 1, p)
        cs.insert(i + 1, cost_of(p))
        budget -= 1
    return pols
