"""The AutoMix POMDP (see :class:`POMDPPolicy`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..calibration.metrics import Point
from ..calibration.records import RecordArrays, group_by
from ..errors import PolicyError
from .base import Decision, Observation, Policy
from .observation import _MEMO_SIZE, KERNEL_SCALE, _kernel_scale, _normalise_log, _ObservationModel
from .sweep import _pair_lambdas, _sweep_lambda

__all__ = ["POMDPPolicy"]


class POMDPPolicy(Policy):
    """The AutoMix POMDP meta-verifier over N tiers.

    - Hidden state: which tiers answer this query well (2**N states).
    - Observation: each visited tier's verifier confidence, continuous or a k-sample fraction
      (the likelihood model of :class:`_ObservationModel`).
    - Actions: escalate to any later tier (of ``tiers``, default all), or accept the current
      tier's answer; with
      ``select_answer=True``, accept the answer of any visited tier (this reads the last tier's
      confidence too, so the last tier's answer is verified as well and that is billed).
    - Reward: the expected quality of the accepted answer minus ``lam`` times the cost spent
      (each tier's mean call cost plus its verification cost).
    - Belief: Bayes' rule after every observation.
    - Solution: exact dynamic programming over the remaining tiers up to ``horizon`` escalations
      ahead; the unknown future confidences are integrated over ``n_bins`` bins of each tier's
      observation density. Beyond the horizon, a tier is valued as if accepted unverified.

    With two tiers and one confidence per query, the POMDP acts as a threshold on that confidence:
    the decision after the small tier depends on the confidence alone, through a posterior that the
    fitted densities make (close to) monotone, so some cut-off separates accept from escalate. Its
    gains over a finely swept :class:`~.threshold.ThresholdPolicy` come from three or more tiers
    (which tier to jump to, given what each has said) and from richer observations; on two tiers
    expect it level with the threshold, as the routing benchmark shows.
    """

    name = "pomdp"

    def __init__(
        self,
        n_tiers: int,
        model: _ObservationModel,
        tier_costs: Sequence[float],
        lam: float,
        *,
        horizon: int = 2,
        n_bins: int = 12,
        select_answer: bool = False,
        tiers: Sequence[int] | None = None,
    ) -> None:
        super().__init__(n_tiers)
        if len(tier_costs) != n_tiers:
            raise PolicyError(f"POMDP needs {n_tiers} tier costs, got {len(tier_costs)}")
        if not math.isfinite(lam):
            raise PolicyError(f"POMDP lam must be finite, got {lam}")
        self.model = model
        self.tier_costs = np.asarray(tier_costs, dtype=float)
        self.lam = float(lam)
        self.horizon = int(horizon)
        self.select_answer = bool(select_answer)
        allowed = sorted(set(range(n_tiers) if tiers is None else (int(t) for t in tiers)))
        if not allowed or allowed[0] != 0 or allowed[-1] >= n_tiers or len(allowed) < 2:
            raise PolicyError(f"POMDP tiers must start at 0, lie in 0..{n_tiers - 1} and name two or more, got {tiers}")
        self.tiers = allowed
        self.observes_last = self.select_answer
        self.n_bins = int(n_bins)
        self._bin_lik = self.model.bin_likelihoods(self.n_bins)
        self._memo: dict[tuple[tuple[int, int], ...], Decision] = {}
        self._last_route: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._state_names = self.model.state_names

    # ---- dynamic programming (vectorised over beliefs)

    def _value(self, belief: np.ndarray, visited: tuple[int, ...], depth: int) -> np.ndarray:
        """Optimal value (excluding sunk cost) of beliefs (n, S) with ``visited`` tiers observed."""
        q = self.model.quality
        accept = (belief @ q[:, self._acceptable(visited)]).max(axis=1)
        best = accept
        last = visited[-1]
        for j in self.tiers:
            if j <= last:
                continue
            best = np.maximum(best, self._escalate_value(belief, visited, j, depth))
        return np.asarray(best)

    def _acceptable(self, visited: tuple[int, ...]) -> list[int]:
        return list(visited) if self.select_answer else [visited[-1]]

    def _escalate_value(self, belief: np.ndarray, visited: tuple[int, ...], j: int, depth: int) -> np.ndarray:
        cost = self.lam * self.tier_costs[j]
        if depth <= 0:
            q = self.model.quality
            return np.asarray((belief @ q[:, [j]])[:, 0] - cost)
        L = self._bin_lik[j]  # (S, B)
        joint = belief[:, :, None] * L[None, :, :]  # (n, S, B)
        p_obs = joint.sum(axis=1)  # (n, B)
        post = joint / np.maximum(p_obs[:, None, :], 1e-300)
        n, S, B = post.shape
        flat = post.transpose(0, 2, 1).reshape(n * B, S)
        v = self._value(flat, (*visited, j), depth - 1).reshape(n, B)
        return np.asarray((p_obs * v).sum(axis=1) - cost)

    def _decide_beliefs(self, belief: np.ndarray, visited: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Best action per belief row: returns (action_tier, is_escalate) arrays."""
        q = self.model.quality
        vis = self._acceptable(visited)
        acc_vals = belief @ q[:, vis]
        best_acc = acc_vals.argmax(axis=1)
        best_val = acc_vals.max(axis=1)
        tier = np.asarray(vis)[best_acc]
        for j in self.tiers:
            if j <= visited[-1]:
                continue
            v = self._escalate_value(belief, visited, j, self.horizon - 1)
            better = v > best_val + 1e-12
            best_val = np.where(better, v, best_val)
            tier = np.where(better, j, tier)
        esc = tier > visited[-1]
        return tier, esc

    @property
    def _pair(self) -> int | None:
        """Tier j when the policy routes over tiers 0 and j only, without answer selection: its one
        decision (at tier 0) is then escalate iff the expected gain exceeds ``lam * cost_j``, the
        dynamic programme's answer in closed form (used by :meth:`route` and :meth:`decide` alike)."""
        return self.tiers[1] if len(self.tiers) == 2 and not self.select_answer else None

    def _pair_escalates(self, cells: np.ndarray, j: int) -> np.ndarray:
        return np.asarray(self.model.escalation_gain(j)[cells] - self.lam * self.tier_costs[j] > 1e-12)

    def _decide(self, observations: Sequence[Observation]) -> Decision:
        # the decision depends on the observations only through their grid cells: memoise it
        key = tuple((t, self.model.grid_index(t, c)) for t, c in observations)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        belief = _normalise_log(self.model.log_posterior(key))[None, :]
        j = self._pair
        if j is not None:
            esc = self._pair_escalates(np.asarray([key[0][1]]), j) if len(key) == 1 else np.asarray([False])
            tier = np.asarray([j if esc[0] else key[-1][0]])
        else:
            tier, esc = self._decide_beliefs(belief, tuple(t for t, _ in key))
        bel = {s: float(p) for s, p in zip(self._state_names, belief[0])}
        d = Decision("escalate" if bool(esc[0]) else "accept", int(tier[0]), belief=bel)
        if len(self._memo) < _MEMO_SIZE:
            self._memo[key] = d
        return d

    @classmethod
    def batch_points(cls, policies: Sequence[Policy], data: RecordArrays) -> list[Point] | None:
        # two-tier policies of one model differ only in lam: each escalates the observation cells
        # whose expected gain exceeds lam * cost_j, so every point is a prefix sum over the cells
        # sorted by gain
        first = policies[0] if policies else None
        if not isinstance(first, POMDPPolicy) or first._pair is None:
            return None
        j = first._pair
        if not all(isinstance(p, POMDPPolicy) and p.model is first.model and p._pair == j
                   and p.tier_costs[j] == first.tier_costs[j] for p in policies):
            return None
        key = first.route_key(data.confidence)
        if key is None:
            return None
        g = group_by(data, key)
        gain = first.model.escalation_gain(j)[first.model.obs_index(g.confidence[:, :1])[:, 0]]
        order = np.argsort(-gain, kind="stable")
        ascending = gain[order][::-1]
        cum_cost = np.concatenate([[0.0], np.cumsum(g.cost[order, j])])
        cum_gain = np.concatenate([[0.0], np.cumsum(g.score[order, j] - g.score[order, 0])])
        base_cost = float((g.cost[:, 0] + g.verifier_cost[:, 0]).sum())
        base_quality = float(g.score[:, 0].sum())
        cost_j = float(first.tier_costs[j])
        out = []
        for p in policies:
            assert isinstance(p, POMDPPolicy)
            # cells escalated: gain - lam * cost_j > 1e-12, the same test as _pair_escalates
            limit = p.lam * cost_j + 1e-12
            k = len(ascending) - int(np.searchsorted(ascending, limit, side="right"))
            out.append(Point((base_cost + float(cum_cost[k])) / g.n, (base_quality + float(cum_gain[k])) / g.n))
        return out

    def route_key(self, confidence: np.ndarray) -> np.ndarray | None:
        # routing reads confidences only through their grid cells, and the last tier's only when
        # it may pick among answers
        cols = tuple(range(self.n_tiers if self.observes_last else self.n_tiers - 1))
        return self.model.route_keys(confidence, cols)

    def route(self, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        last = self._last_route
        if last is not None and last[0] is confidence:  # the same array routed again (calibration)
            return last[1], last[2]
        n, m = confidence.shape
        idx = self.model.cell_indices(confidence)  # (n, m), rank-transformed grid indices (cached)
        j = self._pair
        if j is not None:
            esc = self._pair_escalates(idx[:, 0], j)
            visited = np.zeros((n, m), dtype=bool)
            visited[:, 0] = True
            visited[:, j] = esc
            answer = np.where(esc, j, 0).astype(np.int64)
            self._last_route = (confidence, answer, visited)
            return answer, visited
        ll = self.model.loglik  # (m, S, G)
        log_prior = np.log(self.model.prior)
        answer = np.full(n, -1, dtype=np.int64)
        visited = np.zeros((n, m), dtype=bool)
        visited[:, 0] = True
        active: dict[tuple[int, ...], np.ndarray] = {(0,): np.arange(n)}
        while active:
            nxt: dict[tuple[int, ...], list[np.ndarray]] = {}
            for vis, rows in active.items():
                # the decision depends on the observed grid cells only: solve each distinct cell
                # combination once (at most 201 per observed tier) and map the answers back
                cells, inverse = self.model.distinct_cells(idx, rows, vis)
                logp = log_prior + sum(ll[t][:, cells[:, c]].T for c, t in enumerate(vis))
                u_tier, u_esc = self._decide_beliefs(_normalise_log(np.asarray(logp)), vis)
                tier, esc = u_tier[inverse], u_esc[inverse]
                done = ~esc
                answer[rows[done]] = tier[done]
                for j in np.unique(tier[esc]):
                    r = rows[esc & (tier == j)]
                    visited[r, j] = True
                    nxt.setdefault((*vis, int(j)), []).append(r)
            active = {k: np.concatenate(v) for k, v in nxt.items()}
        self._last_route = (confidence, answer, visited)
        return answer, visited

    # ---- persistence and fitting

    def params(self) -> dict[str, Any]:
        return {
            "lam": self.lam,
            "horizon": self.horizon,
            "select_answer": self.select_answer,
            "tiers": self.tiers,
            "n_bins": self.n_bins,
            "tier_costs": [float(c) for c in self.tier_costs],
            "model": self.model.to_dict(),
        }

    def describe(self) -> str:
        sub = "" if len(self.tiers) == self.n_tiers else f", tiers={self.tiers}"
        return f"pomdp(lam={float(self.lam)!r}, horizon={self.horizon}{sub})"  # exact: it names the setting

    @classmethod
    def from_params(cls, n_tiers: int, params: dict[str, Any]) -> Policy:
        model = _ObservationModel.from_dict(n_tiers, params["model"])
        return cls(
            n_tiers, model, params["tier_costs"], float(params["lam"]),
            horizon=int(params.get("horizon", 2)), n_bins=int(params.get("n_bins", 12)),
            select_answer=bool(params.get("select_answer", False)),
            tiers=params.get("tiers"),
        )

    @classmethod
    def fit(cls, train: RecordArrays, lam: float, *, kernel_scale: float = KERNEL_SCALE, **kw: Any) -> POMDPPolicy:
        """The POMDP at one ``lam``; ``kernel_scale`` sets the observation kernels' width (see
        :class:`_ObservationModel`: smaller keeps narrow features of the confidence, larger
        smooths away noise)."""
        model = _ObservationModel.fit(train.score, train.confidence, bw_scale=_kernel_scale(kernel_scale))
        costs = (train.cost + train.verifier_cost).mean(axis=0)
        return cls(len(train.models), model, costs, lam, **kw)

    @classmethod
    def candidates(
        cls, train: RecordArrays, *, grid: int = 200, kernel_scale: float = KERNEL_SCALE, **kw: Any
    ) -> list[Policy]:
        model = _ObservationModel.fit(train.score, train.confidence, bw_scale=_kernel_scale(kernel_scale))
        costs = (train.cost + train.verifier_cost).mean(axis=0)
        m = len(train.models)
        # with three or more tiers, the sub-cascades "tier 0, then tier j" are candidates too, so
        # the calibrated frontier is never worse (on train) than the best two-tier pair's
        subsets: list[list[int] | None] = [None] + ([[0, j] for j in range(1, m)] if m > 2 else [])
        out: list[Policy] = []
        for sub in subsets:

            def make(lam: float, sub: list[int] | None = sub) -> Policy:
                return cls(m, model, costs, lam, tiers=sub, **kw)

            j = (sub or [0, m - 1])[1]
            pair = (sub is not None or m == 2) and not kw.get("select_answer", False) and costs[j] > 0
            lams = _pair_lambdas(model, j, float(costs[j]), train, grid) if pair else None
            out += [make(lam) for lam in lams] if lams is not None else _sweep_lambda(make, train, grid)
        return out
