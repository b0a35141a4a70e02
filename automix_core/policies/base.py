"""Meta-verifiers: policies that decide, after each tier's self-verification, to accept or escalate.

Every policy works over N >= 2 tiers, cheapest first, and answers one question through
:meth:`Policy.decide`: given the observations so far (``(tier, verifier confidence)`` pairs, in the
order the tiers were visited), accept the answer of a visited tier, or escalate to a later tier.
:meth:`Policy.route` runs the same rule over many records at once (used for calibration and
evaluation); the two always agree (tested).

Policies (the registry maps names to classes, like RouteLLM's routers):

- ``threshold``: accept tier t's answer when its confidence >= theta_t, else go to t+1.
- ``double-threshold``: escalate only when lo <= confidence < hi; below ``lo`` the query is judged
  too hard to be worth the larger model's price and the current answer is kept.
- ``self-consistency``: the threshold policy at 0.5 (accept when most verifier samples agree).
- ``greedy``: a myopic rule: escalate when the expected quality gain of the next tier, estimated
  from the current tier's confidence alone, exceeds lambda times its cost.
- ``pomdp``: the AutoMix POMDP (see :class:`POMDPPolicy`).
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from ..calibration.metrics import Point
from ..calibration.records import RecordArrays, group_by

__all__ = [
    "KERNEL_SCALE",
    "POLICIES",
    "Decision",
    "DoubleThresholdPolicy",
    "GreedyPolicy",
    "POMDPPolicy",
    "Policy",
    "PolicyError",
    "SelfConsistencyPolicy",
    "ThresholdPolicy",
    "get_policy_class",
]

Observation = tuple[int, float]


class PolicyError(ValueError):
    """A policy was misconfigured, misused, or loaded from invalid data."""


@dataclass(frozen=True)
class Decision:
    """What a policy decided after the latest observation.

    ``action`` is ``"accept"`` (return the answer of tier ``tier``, which was visited) or
    ``"escalate"`` (call tier ``tier`` next). ``belief`` is the POMDP's posterior over hidden
    states when the policy keeps one, and ``values`` the value of each action it compared.
    """

    action: Literal["accept", "escalate"]
    tier: int
    belief: dict[str, float] | None = None
    values: dict[str, float] = field(default_factory=dict)


def _check_observations(observations: Sequence[Observation], n_tiers: int) -> None:
    if not observations:
        raise PolicyError("decide() needs at least one observation (tier, confidence)")
    prev = -1
    for tier, conf in observations:
        if not 0 <= tier < n_tiers:
            raise PolicyError(f"observation tier {tier} is outside 0..{n_tiers - 1}")
        if tier <= prev:
            raise PolicyError(f"observations must be in increasing tier order, got {list(observations)}")
        if not (isinstance(conf, (int, float)) and math.isfinite(conf) and 0.0 <= conf <= 1.0):
            raise PolicyError(f"confidence for tier {tier} must be a number in [0, 1], got {conf!r}")
        prev = tier


class Policy(ABC):
    """Base class of every meta-verifier. Subclasses set ``name`` and implement three methods."""

    name: ClassVar[str]
    #: whether the policy reads the last tier's confidence (it then pays for that verification)
    observes_last: bool = False

    def __init__(self, n_tiers: int) -> None:
        if n_tiers < 2:
            raise PolicyError(f"a policy needs at least two tiers, got {n_tiers}")
        self.n_tiers = n_tiers

    @classmethod
    def batch_points(cls, policies: Sequence[Policy], data: RecordArrays) -> list[Point] | None:
        """Mean (cost, quality) of each of ``policies`` on ``data`` at once, when a subclass knows a
        faster way than routing each (see :func:`automix_core.calibration.evaluate.route_points`); else None."""
        return None

    def route_key(self, confidence: np.ndarray) -> np.ndarray | None:
        """An integer per record such that records with equal keys are routed alike, or None.

        Evaluation then routes one record per key and weighs it by its group (same result, less
        work: a calibration sweep routes the same records hundreds of times).
        """
        return None

    def decide(self, observations: Sequence[Observation]) -> Decision:
        """Decide after the latest observation. ``observations``: (tier, confidence), increasing tiers."""
        _check_observations(observations, self.n_tiers)
        return self._decide(observations)

    @abstractmethod
    def _decide(self, observations: Sequence[Observation]) -> Decision: ...

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The policy's parameters as JSON-compatible values (what :meth:`from_params` takes)."""

    @classmethod
    @abstractmethod
    def from_params(cls, n_tiers: int, params: dict[str, Any]) -> Policy:
        """Rebuild a policy from :meth:`params`."""

    @classmethod
    @abstractmethod
    def candidates(cls, train: RecordArrays, *, grid: int = 200) -> list[Policy]:
        """Policies spanning this policy's cost-quality frontier, fitted on ``train``."""

    def route(self, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the policy over records. ``confidence``: (n, n_tiers), every tier's confidence.

        Returns ``(answer_tier, visited)``: the tier whose answer is returned per record, and an
        (n, n_tiers) boolean array of the tiers called. The default loops over :meth:`decide`.
        """
        n = confidence.shape[0]
        answer = np.empty(n, dtype=np.int64)
        visited = np.zeros(confidence.shape, dtype=bool)
        for i in range(n):
            obs: list[Observation] = [(0, float(confidence[i, 0]))]
            visited[i, 0] = True
            while True:
                d = self._decide(obs)
                if d.action == "accept":
                    answer[i] = d.tier
                    break
                visited[i, d.tier] = True
                obs.append((d.tier, float(confidence[i, d.tier])))
        return answer, visited

    def describe(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.params().items())})"


# --------------------------------------------------------------------------- threshold family


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
        if tier == self.n_tiers - 1 or conf >= self.thresholds[tier]:
            return Decision("accept", tier)
        return Decision("escalate", tier + 1)

    def route(self, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = confidence.shape[1]
        th = np.asarray([*self.thresholds, -np.inf])
        ok = confidence >= th[None, :]
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
    """The threshold policy at 0.5: accept when the majority of verifier samples say "correct"."""

    name = "self-consistency"

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


# --------------------------------------------------------------------------- observation model

GRID = 201  # points on [0, 1] where densities are tabulated
KNOTS = 201  # quantiles kept per tier for the rank transform
_MEMO_SIZE = 200_000
_KDE_BINS = 1000  # histogram bins behind each kernel density estimate


def _kde_bin(x: np.ndarray) -> np.ndarray:
    """The KDE histogram bin of each value of ``x`` (clipped to [0, 1]; 1.0 goes to the last bin)."""
    return np.asarray(np.minimum((np.clip(x, 0.0, 1.0) * _KDE_BINS).astype(np.int64), _KDE_BINS - 1))


def _kde_from_counts(counts: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian KDE on the fixed grid, reflected at 0 and 1 so mass stays inside [0, 1], of points
    given as counts in 1,000 bins (0.001 wide, far below any bandwidth used; see :func:`_kde_bin`),
    so the cost does not grow with the number of records. A flat density for no points."""
    n = float(counts.sum())
    if n <= 0:
        return np.full(GRID, 1.0)
    dens = _kernel_matrix(bandwidth) @ counts.astype(float)
    return np.asarray(dens / (n * bandwidth * math.sqrt(2 * math.pi)))


# grid point i sits at 5i/1000 (i * _STEP bins) and bin j's centre at (j + 0.5)/1000: the offsets between them and
# the centres' reflections at 0 and 1 are half-integers (in thousandths) of three index patterns
_STEP = _KDE_BINS // (GRID - 1)  # the grid step in bins (5)
assert _STEP * (GRID - 1) == _KDE_BINS
_GI = _STEP * np.arange(GRID)[:, None]
_BJ = np.arange(_KDE_BINS)[None, :]
_OFFSETS = (_GI - _BJ - 1, _GI + _BJ, _GI + _BJ - 2 * _KDE_BINS)  # offset t means (t + 0.5)/1000
_KERNELS: dict[float, np.ndarray] = {}


def _kernel_matrix(bandwidth: float) -> np.ndarray:
    """(GRID, 1000) Gaussian weights from each bin centre (and its reflections) to each grid point,
    from one table of 4,001 values (cached per bandwidth)."""
    hit = _KERNELS.get(bandwidth)
    if hit is not None:
        return hit
    lo = -2 * _KDE_BINS
    t = (np.arange(lo, 2 * _KDE_BINS + 1) + 0.5) / _KDE_BINS / bandwidth
    phi = np.exp(-0.5 * t * t)
    k = np.asarray(phi[_OFFSETS[0] - lo] + phi[_OFFSETS[1] - lo] + phi[_OFFSETS[2] - lo])
    if len(_KERNELS) >= 64:
        _KERNELS.clear()
    _KERNELS[bandwidth] = k
    return k


KERNEL_SCALE = 3.0  # the POMDP's default kernel width, in multiples of Silverman's rule (see _ObservationModel)


def _kernel_scale(value: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise PolicyError(f"POMDP kernel_scale must be a finite number > 0, got {value!r}")
    return float(value)


def _bandwidth(x: np.ndarray) -> float:
    n = max(len(x), 2)
    sd = float(np.std(x))
    iqr = float(np.subtract(*np.percentile(x, [75, 25]))) / 1.349 if len(x) > 1 else 0.0
    spread = min(sd, iqr) if iqr > 0 else sd
    return float(np.clip(0.9 * max(spread, 0.05) * n ** (-0.2), 0.01, 0.25))


class _ObservationModel:
    """Hidden states and the likelihood of each tier's confidence under each state.

    A hidden state is the vector of which tiers answer this query well (score >= 0.5), so there
    are 2**N states. The prior over states comes from the training counts with add-``alpha``
    smoothing. The likelihood of tier i's confidence under state s is a Gaussian kernel density
    fitted on the training records in state s, shrunk toward the density of the records that
    agree with s on tier i alone (and that in turn toward tier i's overall density), with the
    shrinkage weight ``kappa`` (default 40) acting as a pseudo-count. With ~50 records the shrunk
    densities are close to the per-tier ones; with thousands the joint-state densities dominate,
    and the model picks up how one tier's confidence speaks about the other tiers' correctness.
    Densities live on the rank scale of the training confidences (see :func:`_rank`). kappa = 40
    scored better than 10 or 100 under repeated 2-fold cross-validation on the cascade data. The
    kernel bandwidth is ``bw_scale`` (default 3) times Silverman's rule on that scale: wide kernels
    keep sampling noise in a few hundred records out of the escalation order. Under repeated 2-, 3-
    and 5-fold cross-validation on the cascade data, mean ΔIBC rose from 98 / 102 / 81 (scale 1)
    to 101 / 107 / 93 (scale 3); scales 2 to 4 scored alike and 0.5 worse.
    """

    def __init__(
        self, n_tiers: int, prior: np.ndarray, quality: np.ndarray, loglik: np.ndarray, knots: np.ndarray
    ) -> None:
        self.n_tiers = n_tiers
        self.knots = knots  # (N, K): confidence quantiles of each tier, for the rank transform
        self.states = np.array(list(itertools.product([0, 1], repeat=n_tiers)), dtype=np.int8)
        self.state_names = ["".join(map(str, st)) for st in self.states.tolist()]
        self.prior = prior  # (S,)
        self.quality = quality  # (S, N) expected score of tier i in state s
        self.loglik = loglik  # (N, S, GRID)
        self.lik = np.exp(loglik)
        self._tables = [_rank_table(k) for k in knots]
        self._cell_cache: tuple[np.ndarray, np.ndarray] | None = None
        self._first_cells: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._key_cache: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._bins_cache: dict[int, np.ndarray] = {}
        self._gain_cache: dict[int, np.ndarray] = {}

    @classmethod
    def fit(
        cls, score: np.ndarray, conf: np.ndarray, *, alpha: float = 0.5, kappa: float = 40.0,
        bw_scale: float = KERNEL_SCALE,
    ) -> _ObservationModel:
        m = score.shape[1]
        original = conf
        knots = np.quantile(conf, np.linspace(0.0, 1.0, KNOTS), axis=0).T  # (m, KNOTS)
        conf = np.stack([_rank(conf[:, i], knots[i]) for i in range(m)], axis=1)
        states = np.array(list(itertools.product([0, 1], repeat=m)), dtype=np.int8)
        bits = (score >= 0.5).astype(np.int64)
        code = (bits * (1 << np.arange(m - 1, -1, -1))).sum(axis=1)
        S = len(states)
        counts = np.bincount(code, minlength=S).astype(float)
        prior = (counts + alpha) / (counts.sum() + alpha * S)
        # expected quality of tier i in state s: mean score of matching records, shrunk to the
        # mean score of records with the same bit for tier i (continuous scores keep their value)
        quality = np.empty((S, m))
        for i in range(m):
            for b in (0, 1):
                sel = bits[:, i] == b
                base = float(score[sel, i].mean()) if sel.any() else float(b)
                for s in range(S):
                    if states[s, i] != b:
                        continue
                    rows = code == s
                    k = rows.sum()
                    quality[s, i] = (score[rows, i].sum() + 2.0 * base) / (k + 2.0)
        loglik = np.empty((m, S, GRID))
        for i in range(m):
            x = conf[:, i]
            bw = _bandwidth(x) * bw_scale
            # one histogram per state, from a single pass over the records
            hist = np.bincount(code * _KDE_BINS + _kde_bin(x), minlength=S * _KDE_BINS).reshape(S, _KDE_BINS)
            overall = _kde_from_counts(hist.sum(axis=0), bw)
            per_bit: dict[int, np.ndarray] = {}
            for b in (0, 1):
                of_bit = hist[states[:, i] == b].sum(axis=0)
                kb = float(of_bit.sum())
                per_bit[b] = (kb * _kde_from_counts(of_bit, bw) + 2.0 * overall) / (kb + 2.0)
            for s in range(S):
                k = float(counts[s])
                ref = per_bit[int(states[s, i])]
                dens = (k * _kde_from_counts(hist[s], bw) + kappa * ref) / (k + kappa) if k else ref
                dens = dens / (dens.mean())  # normalise to a density on [0, 1]
                loglik[i, s] = np.log(np.maximum(dens, 1e-12))
        model = cls(m, prior, quality, loglik, knots)
        # the training confidences' grid cells, from the rank transform just done (calibration
        # routes these same records next)
        model._cell_cache = (original, np.clip(np.rint(conf * (GRID - 1)).astype(np.int64), 0, GRID - 1))
        return model

    def obs_index(self, conf: np.ndarray) -> np.ndarray:
        """Grid index of each confidence (columns = tiers 0..k-1), after the rank transform."""
        conf = np.asarray(conf, dtype=float)
        u = np.stack([_interp(conf[..., i], self._tables[i]) for i in range(conf.shape[-1])], axis=-1)
        return np.asarray(np.clip(np.rint(u * (GRID - 1)).astype(np.int64), 0, GRID - 1))

    def cell_indices(self, conf: np.ndarray) -> np.ndarray:
        """:meth:`obs_index` of a whole confidence array, cached for the last array seen (the
        policies of one calibration sweep share this model and route the same records)."""
        cached = self._cell_cache
        if cached is not None and cached[0] is conf:
            return cached[1]
        out = self.obs_index(conf)
        self._cell_cache = (conf, out)
        return out

    def route_keys(self, conf: np.ndarray, cols: tuple[int, ...]) -> np.ndarray | None:
        """One integer per row naming its grid cells in the tiers ``cols`` (cached per array), or
        None when the combined cell number would not fit 63 bits."""
        if len(cols) > 8:
            return None
        hit = self._key_cache.get(cols)
        if hit is not None and hit[0] is conf:
            return hit[1]
        idx = self.cell_indices(conf)
        key = np.asarray((idx[:, list(cols)] * (GRID ** np.arange(len(cols), dtype=np.int64))[None, :]).sum(axis=1))
        self._key_cache[cols] = (conf, key)
        return key

    def escalation_gain(self, j: int) -> np.ndarray:
        """E[score of tier j - score of tier 0 | tier 0's confidence in grid cell c], for every cell
        (cached): with only tiers 0 and j, the POMDP escalates exactly where this exceeds
        ``lam * cost_j``."""
        hit = self._gain_cache.get(j)
        if hit is None:
            belief = _normalise_log(np.log(self.prior)[None, :] + self.loglik[0].T)  # (GRID, S)
            hit = np.asarray(belief @ (self.quality[:, j] - self.quality[:, 0]))
            self._gain_cache[j] = hit
        return hit

    def bin_likelihoods(self, n_bins: int) -> np.ndarray:
        """P(observation bin | state) per tier: (N, S, n_bins), bins of equal prior mass (cached)."""
        hit = self._bins_cache.get(n_bins)
        if hit is not None:
            return hit
        lik = self.lik  # (N, S, G)
        N, S, G = lik.shape
        out = np.empty((N, S, n_bins))
        for i in range(N):
            marg = self.prior @ lik[i]
            cdf = np.cumsum(marg) / marg.sum()
            edges = np.searchsorted(cdf, np.linspace(0, 1, n_bins + 1)[1:-1])
            idx = np.concatenate([[0], edges, [G]])
            for b in range(n_bins):
                lo, hi = idx[b], max(idx[b + 1], idx[b] + 1)
                out[i, :, b] = lik[i, :, lo:hi].sum(axis=1)
            out[i] /= out[i].sum(axis=1, keepdims=True)
        self._bins_cache[n_bins] = out
        return out

    def distinct_cells(
        self, idx: np.ndarray, rows: np.ndarray, vis: tuple[int, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The distinct grid-cell combinations of ``rows`` over the tiers ``vis``, and each row's one.

        The first step (every row, tier 0 only) is the same for every policy of a sweep: cached.
        """
        first = vis == (0,) and len(rows) == len(idx)
        if first and self._first_cells is not None and self._first_cells[0] is idx:
            return self._first_cells[1], self._first_cells[2]
        sub = idx[rows][:, list(vis)]
        key = (sub * (GRID ** np.arange(len(vis)))[None, :]).sum(axis=1)
        _, pick, inverse = np.unique(key, return_index=True, return_inverse=True)
        cells = sub[pick]
        if first:
            self._first_cells = (idx, cells, inverse)
        return cells, inverse

    def grid_index(self, tier: int, conf: float) -> int:
        """Grid index of one confidence of ``tier`` (scalar fast path of :meth:`obs_index`)."""
        xs, us = self._tables[tier]
        u = float(np.interp(conf, xs, us)) if len(xs) > 1 else 0.5
        return min(max(round(u * (GRID - 1)), 0), GRID - 1)

    def log_posterior(self, indices: Sequence[tuple[int, int]]) -> np.ndarray:
        """Unnormalised log belief after observing grid ``indices`` ((tier, index) pairs)."""
        lp: np.ndarray = np.log(self.prior)
        for tier, i in indices:
            lp = lp + self.loglik[tier, :, i]
        return lp

    def to_dict(self) -> dict[str, Any]:
        return {
            "prior": [round(float(x), 10) for x in self.prior],
            "quality": [[round(float(x), 8) for x in row] for row in self.quality],
            "loglik": [[[round(float(x), 6) for x in row] for row in tier] for tier in self.loglik],
            "knots": [[float(x) for x in row] for row in self.knots],
        }

    @classmethod
    def from_dict(cls, n_tiers: int, d: dict[str, Any]) -> _ObservationModel:
        S = 2**n_tiers
        prior = np.asarray(d["prior"], dtype=float)
        quality = np.asarray(d["quality"], dtype=float)
        loglik = np.asarray(d["loglik"], dtype=float)
        knots = np.asarray(d["knots"], dtype=float)
        if knots.ndim != 2 or knots.shape[0] != n_tiers or np.any(np.diff(knots, axis=1) < 0):
            raise PolicyError(f"POMDP knots must be {n_tiers} non-decreasing rows, got shape {knots.shape}")
        if prior.shape != (S,) or quality.shape != (S, n_tiers) or loglik.shape != (n_tiers, S, GRID):
            raise PolicyError(
                f"POMDP model arrays have the wrong shape for {n_tiers} tiers: prior {prior.shape}, "
                f"quality {quality.shape}, loglik {loglik.shape}"
            )
        if not (np.all(np.isfinite(prior)) and np.all(np.isfinite(quality)) and np.all(np.isfinite(loglik))):
            raise PolicyError("POMDP model arrays contain NaN or infinite values")
        if np.any(prior <= 0) or abs(prior.sum() - 1.0) > 1e-6:
            raise PolicyError("POMDP prior must be positive and sum to 1")
        return cls(n_tiers, prior, quality, loglik, knots)


def _rank_table(knots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u = np.linspace(0.0, 1.0, len(knots))
    xs, inv = np.unique(knots, return_inverse=True)
    us = np.bincount(inv, weights=u) / np.bincount(inv)
    return xs, us


def _interp(x: np.ndarray, table: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    xs, us = table
    if len(xs) == 1:
        return np.full(np.shape(x), 0.5)
    return np.asarray(np.interp(x, xs, us))


def _rank(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Map confidences to [0, 1] through the training quantiles (mid-rank where quantiles tie).

    Confidences are often piled up near 0 or 1 (a probability of 0.9999997 next to 0.9990);
    smoothing on this scale keeps those differences, which a fixed grid on [0, 1] would erase.
    """
    return _interp(x, _rank_table(knots))


def _normalise_log(lp: np.ndarray) -> np.ndarray:
    lp = lp - lp.max(axis=-1, keepdims=True)
    p = np.exp(lp)
    return np.asarray(p / p.sum(axis=-1, keepdims=True))


# --------------------------------------------------------------------------- POMDP


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
        return f"pomdp(lam={self.lam:.4g}, horizon={self.horizon}{sub})"

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


POLICIES: dict[str, type[Policy]] = {
    p.name: p for p in (ThresholdPolicy, DoubleThresholdPolicy, SelfConsistencyPolicy, GreedyPolicy, POMDPPolicy)
}


def get_policy_class(name: str) -> type[Policy]:
    """The policy class registered under ``name``; a clear error lists the known names."""
    try:
        return POLICIES[name]
    except KeyError:
        raise PolicyError(f"unknown policy {name!r}; known policies: {', '.join(sorted(POLICIES))}") from None


