"""Fit every policy on train records, score it on test records, under the cost-region protocol."""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..policies import POLICIES, Policy, get_policy_class
from .metrics import EPS, Point, Selection, auc_normalized, cost_to_recover, region_dibc
from .records import RecordArrays, group_by
from .uncertainty import Outcome, boot_region_dibc, interval, resample_counts

__all__ = [
    "DEFAULT_METHODS",
    "DIBC_DEFINITION",
    "MethodResult",
    "baseline_problem",
    "cost_range",
    "cv_folds",
    "evaluate",
    "evaluate_cv",
    "evaluate_selections",
    "mix_frontier",
    "mixtures",
    "ref_outcomes",
    "refs",
    "route_outcome",
    "route_point",
    "route_points",
    "verification_note",
]

DEFAULT_METHODS = ("pomdp", "greedy", "threshold", "double-threshold", "self-consistency")


def route_point(policy: Policy, data: RecordArrays) -> Point:
    """Mean cost and quality of ``policy`` routing the records in ``data``.

    A route costs the calls of every tier it visited, plus the verification of every tier whose
    confidence the policy read (all visited tiers but the last one for a policy that never looks at
    the last tier's confidence).
    """
    key = policy.route_key(data.confidence)
    if key is not None:  # route one record per group of records the policy cannot tell apart
        g = group_by(data, key)
        answer, visited = policy.route(g.confidence)
        observed = _observed(policy, visited)
        cost = float((visited * g.cost).sum() + (observed * g.verifier_cost).sum())
        quality = float(g.score[np.arange(len(answer)), answer].sum())
        return Point(cost / g.n, quality / g.n)
    answer, visited = policy.route(data.confidence)
    observed = _observed(policy, visited)
    cost_each = (visited * data.cost).sum(axis=1) + (observed * data.verifier_cost).sum(axis=1)
    quality_each = data.score[np.arange(len(answer)), answer]
    return Point(float(cost_each.mean()), float(quality_each.mean()))


def route_outcome(policy: Policy, data: RecordArrays) -> Outcome:
    """Per-query cost and quality of ``policy`` routing ``data``, billed as :func:`route_point` bills
    (their means are :func:`route_point`'s point, up to rounding)."""
    answer, visited = policy.route(data.confidence)
    observed = _observed(policy, visited)
    cost = (visited * data.cost).sum(axis=1) + (observed * data.verifier_cost).sum(axis=1)
    return cost.astype(float), data.score[np.arange(len(answer)), answer].astype(float)


def route_points(policies: Sequence[Policy], data: RecordArrays) -> list[Point]:
    """:func:`route_point` of each policy, at once where the policy class knows how
    (:meth:`Policy.batch_points`; the same points up to floating-point rounding)."""
    if not policies:
        return []
    fast = type(policies[0]).batch_points(policies, data)
    return fast if fast is not None else [route_point(p, data) for p in policies]


def _observed(policy: Policy, visited: np.ndarray) -> np.ndarray:
    """The tiers whose confidence ``policy`` read: every visited tier but, for a policy that never
    looks at the last tier's confidence, the last one it visited (tier 0 always)."""
    observed = np.array(visited, dtype=bool)
    if not policy.observes_last:
        last = visited.shape[1] - 1 - np.argmax(visited[:, ::-1], axis=1)
        observed[np.arange(len(last)), last] = False
        observed[:, 0] = True
    return observed


def _always(data: RecordArrays, tier: int) -> Point:
    # calling a tier directly: its answer cost only (no verification, no cheaper tiers)
    return Point(float(data.cost[:, tier].mean()), float(data.score[:, tier].mean()))


DIBC_DEFINITION = (
    "ΔIBC = 100 (IBC - IBC_base) / IBC_base, IBC(x) = (quality(x) - quality(small)) / (cost(x) - cost(small)), "
    "IBC_base = IBC(large), as in the paper: small = tier 0's answer alone (its verification not included, "
    "so every method pays its own verification out of its gain), large = the last tier called alone"
)
"""ΔIBC as every table states it (:func:`refs` gives the two reference points)."""


def refs(data: RecordArrays) -> tuple[Point, Point]:
    """The (small, large) reference points of ΔIBC (:data:`DIBC_DEFINITION`): tier 0's answer alone and
    the last tier's answer alone, neither with its verification. As in the paper (and its package),
    IBC starts from the small model alone, so a method's cost, which includes every verification it
    asked for, pays for verification out of its gain: a router that verifies and then accepts every
    answer scores -100% wherever verification costs anything."""
    return _always(data, 0), _always(data, len(data.models) - 1)


def ref_outcomes(data: RecordArrays) -> tuple[Outcome, Outcome]:
    """:func:`refs` per query: ((cost, quality) of tier 0 alone, (cost, quality) of the last tier alone)."""
    last = len(data.models) - 1
    return (data.cost[:, 0], data.score[:, 0]), (data.cost[:, last], data.score[:, last])


def cost_range(data: RecordArrays) -> tuple[float, float]:
    """[cost of always tier 0 (verified), cost of calling every tier and verifying every tier but the
    last]: the costs a router that escalates on the confidences reaches on ``data`` (the last tier's
    verification decides no escalation; a policy that also reads it may go beyond)."""
    small = float((data.cost[:, 0] + data.verifier_cost[:, 0]).mean())
    every = float((data.cost.sum(axis=1) + data.verifier_cost[:, :-1].sum(axis=1)).mean())
    return small, every


def baseline_problem(data: RecordArrays) -> str | None:
    """Why ΔIBC is undefined on ``data`` (every method would score 0), or None when it is defined.

    ΔIBC measures a method against the slope from tier 0 alone to the last tier called alone; when
    the last tier costs no more than tier 0 or is no better, that slope has no meaning.
    """
    small, large = refs(data)
    if large.cost - small.cost <= EPS:
        return (
            f"{data.models[-1]} costs {large.cost:.6g} per query, not more than {data.models[0]} ({small.cost:.6g}): "
            "ΔIBC is undefined for every method (it would print 0.0 throughout). Evaluate with relative costs "
            "instead, e.g. --unit-costs 1,15 (a tier-0 call costs 1, a large-tier call 15)"
        )
    if large.quality - small.quality <= EPS:
        return (f"{data.models[-1]} scores no better than {data.models[0]} on these records "
                f"({large.quality:.3f} vs {small.quality:.3f}): ΔIBC is undefined for every method")
    return None


def verification_note(data: RecordArrays) -> str | None:
    """A warning when tier 0 with its verification already costs at least the last tier called alone
    (then every route that verifies tier 0 is dearer than the large model, and no method can score
    above 0), or None."""
    small, large = refs(data)
    verified = cost_range(data)[0]
    if verified - small.cost > EPS and verified >= large.cost - EPS:
        return (f"note: {data.models[0]} with its verification costs {verified:.6g} per query, at least "
                f"{data.models[-1]} called alone ({large.cost:.6g}): every route that verifies tier 0 is dearer "
                "than the large model alone. --unit-costs scores the paper's protocol (verification free)")
    return None


def _oracle(data: RecordArrays) -> Point:
    best = data.score.max(axis=1, keepdims=True)
    first = np.argmax(data.score >= best - 1e-12, axis=1)
    m = data.cost.shape[1]
    visited = np.arange(m)[None, :] <= first[:, None]
    return Point(float((visited * data.cost).sum(axis=1).mean()), float(best.mean()))


@dataclass
class MethodResult:
    """One method's scores: mean ΔIBC over the cost regions, per-region values, AUC, test curve."""

    mean_dibc: float
    dibc_regions: list[float]
    auc: float
    points: list[list[float]]
    cost_to_50: float | None = None
    cost_to_80: float | None = None
    chosen: list[str | None] = field(default_factory=list)
    dibc_ci95: tuple[float, float] | None = None
    """95% bootstrap interval of ``mean_dibc`` over test queries (the chosen settings fixed on train)."""
    outcomes: Callable[[RecordArrays], list[Outcome | None]] | None = field(default=None, repr=False, compare=False)
    """Each region's chosen setting (None: empty region) measured per query on other records, for
    bootstraps and paired differences (:mod:`.uncertainty`); not serialized."""

    @property
    def mean_dibc_2_5(self) -> float:
        """The mean over regions 2 to R: the first region rests on a handful of train queries."""
        return float(np.mean(self.dibc_regions[1:])) if len(self.dibc_regions) > 1 else self.mean_dibc

    def to_json(self) -> dict[str, Any]:
        def r(x: float) -> float | None:
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)

        return {
            "mean_dibc": r(self.mean_dibc),
            "dibc_regions": [r(v) for v in self.dibc_regions],
            "auc": r(self.auc),
            "points": [[r(c), r(q)] for c, q in self.points],
            "cost_to_50": None if self.cost_to_50 is None else r(self.cost_to_50),
            "cost_to_80": None if self.cost_to_80 is None else r(self.cost_to_80),
            "chosen": self.chosen,
            "mean_dibc_regions_2_5": r(self.mean_dibc_2_5),
            "dibc_ci95": None if self.dibc_ci95 is None else [r(self.dibc_ci95[0]), r(self.dibc_ci95[1])],
        }


Measure = Callable[[int, RecordArrays], Outcome]
"""The per-query outcome of setting ``i`` on some records (for bootstraps)."""


def _score(
    train_pts: list[Point], test_pts: list[Point], train: RecordArrays, test: RecordArrays, regions: int,
    labels: list[str] | None = None, *, prefer: Literal["costliest", "cheapest"] = "costliest",
    measure: Measure | None = None, boot: int = 0,
) -> MethodResult:
    tr_refs, te_refs = refs(train), refs(test)
    vals, chosen = region_dibc(train_pts, test_pts, tr_refs, te_refs, cost_range(train), regions, prefer)

    def outcomes(data: RecordArrays) -> list[Outcome | None]:
        assert measure is not None
        return [None if c is None else measure(c, data) for c in chosen]

    found = None if measure is None else outcomes
    return MethodResult(
        mean_dibc=float(np.mean(vals)),
        dibc_regions=vals,
        auc=auc_normalized(test_pts, *te_refs, cost_range(test)),
        points=[[p.cost, p.quality] for p in sorted(test_pts, key=lambda p: p.cost)],
        cost_to_50=cost_to_recover(test_pts, *te_refs, 0.5),
        cost_to_80=cost_to_recover(test_pts, *te_refs, 0.8),
        chosen=[None if c is None or labels is None else labels[c] for c in chosen],
        dibc_ci95=None if found is None or boot < 1 else _bootstrap(found(test), test, boot),
        outcomes=found,
    )


def _bootstrap(settings: list[Outcome | None], test: RecordArrays, boot: int, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean region ΔIBC over ``boot`` resamples of the test queries, with
    each region's setting fixed as chosen on train (the uncertainty of the test score, not of the choice)."""
    counts = resample_counts(len(test), boot, seed)
    return interval(boot_region_dibc(settings, *ref_outcomes(test), counts).mean(axis=1))


def _labels(cands: Sequence[Policy]) -> list[str]:
    """Each candidate's exact description, made unique (by its index in the sweep) where two read alike."""
    text = [p.describe() for p in cands]
    seen: dict[str, int] = {}
    for t in text:
        seen[t] = seen.get(t, 0) + 1
    return [t if seen[t] == 1 else f"{t} #{i}" for i, t in enumerate(text)]


def evaluate(
    train: RecordArrays,
    test: RecordArrays,
    methods: Sequence[str] = DEFAULT_METHODS,
    *,
    regions: int = 5,
    grid: int = 200,
    mix: bool = True,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    selection: Selection = "extended",
    bootstrap: int = 0,
) -> dict[str, MethodResult]:
    """Fit each method's candidates on ``train``, measure them on both splits, score by cost region.

    ``options`` maps a method name to keyword arguments of its ``candidates`` (for example
    ``{"pomdp": {"kernel_scale": 1.0}}``). ``selection`` (see :data:`~.metrics.Selection`):
    ``extended`` (default) fills regions with mixtures and breaks ties toward the costliest setting;
    ``paper`` uses deterministic settings only, ties to the cheapest, as the paper does. With
    ``bootstrap`` > 0 each method's ``dibc_ci95`` is a percentile interval over that many resamples of
    the test queries.

    Also scores the references: ``random`` (calling the small model, then the large one at random,
    without verification), ``always-<model>`` for each tier, and ``oracle`` (stop at the first tier
    with the best score).
    """
    return evaluate_selections(train, test, methods, (selection,), regions=regions, grid=grid, mix=mix,
                               options=options, bootstrap=bootstrap)[selection]


def evaluate_selections(
    train: RecordArrays,
    test: RecordArrays,
    methods: Sequence[str] = DEFAULT_METHODS,
    selections: Sequence[Selection] = ("paper", "extended"),
    *,
    regions: int = 5,
    grid: int = 200,
    mix: bool = True,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    bootstrap: int = 0,
) -> dict[Selection, dict[str, MethodResult]]:
    """:func:`evaluate` under each of ``selections``, fitting each method once."""
    out: dict[Selection, dict[str, MethodResult]] = {sel: {} for sel in selections}
    for name in methods:
        cls = get_policy_class(name)
        cands = cls.candidates(train, grid=grid, **(options or {}).get(name, {}))
        tr0 = route_points(cands, train)
        te0 = route_points(cands, test)
        labels0 = _labels(cands)
        for sel in selections:
            tr, te, labels = tr0, te0, labels0
            mixes: list[tuple[int, int, float]] = []
            if mix and sel == "extended":
                mixes = mixtures(tr, cost_range(train), grid)
                tr, te, labels = mix_frontier(tr, te, labels, cost_range(train), grid)
            out[sel][name] = _score(tr, te, train, test, regions, labels, measure=_measure(cands, mixes),
                                    prefer="cheapest" if sel == "paper" else "costliest", boot=bootstrap)
    # references
    m = len(train.models)
    ps = np.linspace(0.0, 1.0, 101)

    def mixing(d: RecordArrays) -> list[Point]:
        s, big = refs(d)
        c_big = float(d.cost[:, m - 1].mean())
        return [Point(s.cost + p * c_big, s.quality + p * (big.quality - s.quality)) for p in ps]

    refs_out = {"random": _score(mixing(train), mixing(test), train, test, regions)}
    for t, name in enumerate(train.models):
        refs_out[f"always-{name}"] = _score([_always(train, t)], [_always(test, t)], train, test, regions)
    refs_out["oracle"] = _score([_oracle(train)], [_oracle(test)], train, test, regions)
    for sel in selections:
        out[sel].update(refs_out)
    return out


def _measure(cands: Sequence[Policy], mixes: Sequence[tuple[int, int, float]]) -> Measure:
    """Setting ``i`` of :func:`evaluate`'s list (a candidate, then the mixtures of
    :func:`mix_frontier`) measured per query on other records; a mixture is counted at its expectation."""
    def measure(i: int, data: RecordArrays) -> Outcome:
        if i < len(cands):
            return route_outcome(cands[i], data)
        a, b, p = mixes[i - len(cands)]
        (ca, qa), (cb, qb) = route_outcome(cands[a], data), route_outcome(cands[b], data)
        return (1 - p) * ca + p * cb, (1 - p) * qa + p * qb
    return measure


def mixtures(points: Sequence[Point], cost_range: tuple[float, float], grid: int) -> list[tuple[int, int, float]]:
    """Randomized mixtures ``(a, b, p)`` of operating points that fill the cost gaps of a frontier.

    Queries with tied confidences get the same decision, so a deterministic policy can jump from
    one cost to a much larger one. Following policy ``a`` with probability ``1 - p`` and ``b``
    with probability ``p`` (one draw per query) reaches every cost in between, at the expected
    point ``(1 - p) * A + p * B`` on any data. Mixtures are taken between neighbours on the upper
    frontier of ``points`` (quality strictly rising with cost) and from its top to the most
    expensive point, one every ``(hi - lo) / grid`` of cost.
    """
    lo, hi = cost_range
    step = (hi - lo) / max(grid, 1)
    order = sorted(range(len(points)), key=lambda i: (points[i].cost, -points[i].quality))
    chain: list[int] = []
    for i in order:  # the upper frontier: quality strictly rising with cost
        if not chain or points[i].quality > points[chain[-1]].quality:
            chain.append(i)
    if order and points[order[-1]].cost > points[chain[-1]].cost:
        chain.append(order[-1])  # and on to the most expensive point
    out: list[tuple[int, int, float]] = []
    for a, b in itertools.pairwise(chain):
        # (a gap of exactly j steps, up to rounding, gets j - 1 mixtures whichever way its last bit fell)
        k = math.ceil((points[b].cost - points[a].cost) / step - 1e-9) - 1 if step > 0 else 0
        out.extend((a, b, j / (k + 1)) for j in range(1, k + 1))
    return out


def mix_frontier(
    train_pts: list[Point], test_pts: list[Point], labels: list[str], cost_range: tuple[float, float], grid: int
) -> tuple[list[Point], list[Point], list[str]]:
    """The points plus their :func:`mixtures` (chosen on train), measured on train and on test."""
    tr, te, lab = list(train_pts), list(test_pts), list(labels)
    for a, b, p in mixtures(train_pts, cost_range, grid):
        tr.append(train_pts[a].mix(train_pts[b], p))
        te.append(test_pts[a].mix(test_pts[b], p))
        lab.append(f"mix({labels[a]}, {labels[b]}, p={p!r})")
    return tr, te, lab


def cv_folds(ids: Sequence[str], k: int, seed: int = 0) -> np.ndarray:
    """A deterministic fold number in 0..k-1 per id (by hash, so folds are stable across runs);
    another ``seed`` gives another split."""
    if k < 2:
        raise ValueError(f"cross-validation needs k >= 2 folds, got {k}")
    salt = f"{seed}:" if seed else ""
    return np.array([int(hashlib.sha256(f"{salt}{i}".encode()).hexdigest()[:8], 16) % k for i in ids])


def evaluate_cv(
    data: RecordArrays,
    k: int = 5,
    methods: Sequence[str] = DEFAULT_METHODS,
    *,
    regions: int = 5,
    grid: int = 200,
    repeats: int = 1,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    selection: Selection = "extended",
    train_data: RecordArrays | None = None,
) -> dict[str, MethodResult]:
    """k-fold cross-validation of :func:`evaluate`, repeated over ``repeats`` different splits:
    per-region ΔIBC and AUC averaged over every fold of every repeat, and the costs to recover 50%
    and 80% of the gap averaged over the folds where some operating point recovers it. With
    ``train_data`` (the same records, other labels: e.g. agreement labels) each fold is fitted on it
    and scored on ``data``."""
    fit_on = data if train_data is None else train_data
    if fit_on.ids != data.ids:
        raise ValueError("train_data must hold the same records as data, in the same order")
    per: list[dict[str, MethodResult]] = []
    for rep in range(repeats):
        folds = cv_folds(data.ids, k, seed=rep)
        for f in range(k):
            te = folds == f
            per.append(evaluate(fit_on.subset(~te), data.subset(te), methods, regions=regions, grid=grid,
                                options=options, selection=selection))
    out: dict[str, MethodResult] = {}

    def mean_of(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return float(np.mean(known)) if known else None

    for name in per[0]:
        regs = np.mean([p[name].dibc_regions for p in per], axis=0).tolist()
        out[name] = MethodResult(
            mean_dibc=float(np.mean(regs)),
            dibc_regions=regs,
            auc=float(np.nanmean([p[name].auc for p in per])),
            points=per[0][name].points,
            cost_to_50=mean_of([p[name].cost_to_50 for p in per]),  # over the folds that reach it
            cost_to_80=mean_of([p[name].cost_to_80 for p in per]),
        )
    return out


assert set(DEFAULT_METHODS) <= set(POLICIES)
