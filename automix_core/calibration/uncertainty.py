"""Bootstrap uncertainty of the cost-region ΔIBC, alone and for differences between methods.

The settings each method chose in each cost region (on train) stay fixed; what is resampled is the
test queries, with replacement. Every method is scored on the *same* resamples, so a difference
between two methods is paired: the noise the two share (which queries happened to be in the test
part) cancels, and what is left is the uncertainty of the difference itself.

A setting's outcome on some records is its per-query cost and quality (:data:`Outcome`); a
resample is a row of counts over the queries (:func:`resample_counts`), so the mean cost and quality
of every setting under every resample is one matrix product.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .metrics import EPS

__all__ = [
    "CaseDifference",
    "Outcome",
    "PooledDifference",
    "boot_region_dibc",
    "interval",
    "pool_cases",
    "resample_counts",
    "wilson",
]

Outcome = tuple[np.ndarray, np.ndarray]
"""Per-query (cost, quality) of one setting on some records, two arrays of the same length."""


def resample_counts(n: int, boot: int, seed: int = 0) -> np.ndarray:
    """``boot`` bootstrap resamples of ``n`` queries as counts, shape ``(boot, n)``: row ``b`` says how
    many times each query was drawn (each row sums to ``n``)."""
    if n < 1 or boot < 1:
        raise ValueError(f"need n >= 1 and boot >= 1, got n={n}, boot={boot}")
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=boot).astype(float)


def _means(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    total = counts.sum(axis=1)
    out: np.ndarray = (counts @ values) / np.where(total > 0, total, 1.0)
    return out


def boot_region_dibc(
    settings: Sequence[Outcome | None], small: Outcome, large: Outcome, counts: np.ndarray
) -> np.ndarray:
    """ΔIBC in % of each region's setting under each resample, shape ``(boot, regions)``.

    ``settings[r]`` is region ``r``'s chosen setting (None: the region was empty, scored 0 as
    :func:`~.metrics.region_dibc` does); ``small`` and ``large`` the reference points of
    :func:`~.evaluate.refs` per query; ``counts`` resample rows over the same queries
    (:func:`resample_counts`, or its columns for a subset). Within each resample the formula is
    :func:`~.metrics.delta_ibc`'s, with its conventions: 0 for a point at or below the small model's
    cost, and 0 (as an empty region) where the base slope is not positive.
    """
    cs, qs = _means(counts, small[0]), _means(counts, small[1])
    cl, ql = _means(counts, large[0]), _means(counts, large[1])
    dl = cl - cs
    base = np.where(dl > EPS, (ql - qs) / np.where(dl > EPS, dl, 1.0), 0.0)
    out = np.zeros((counts.shape[0], len(settings)))
    for r, s in enumerate(settings):
        if s is None:
            continue
        c, q = _means(counts, s[0]), _means(counts, s[1])
        dc = c - cs
        ok = (dc > EPS) & (base > EPS)
        slope = (q - qs) / np.where(ok, dc, 1.0)
        out[:, r] = np.where(ok, 100.0 * (slope - base) / np.where(ok, base, 1.0), 0.0)
    return out


def wilson(successes: float, n: float, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of a share ``successes / n``; (0, 1) when ``n`` is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, round(centre + half, 12))


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central percentile interval of ``samples`` at ``level``."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    tail = 100.0 * (1.0 - level) / 2.0
    lo, hi = np.percentile(np.asarray(samples, dtype=float), [tail, 100.0 - tail])
    return float(lo), float(hi)


def _first_region_dropped(regions: np.ndarray) -> np.ndarray:
    out: np.ndarray = regions[..., 1:].mean(axis=-1) if regions.shape[-1] > 1 else regions.mean(axis=-1)
    return out


@dataclass(frozen=True)
class CaseDifference:
    """A − B in ΔIBC on one case: the point values per region (``regions``), and the same under
    every resample of the case's test queries (``samples``, shape ``(boot, regions)``), both
    methods scored on the same resamples."""

    regions: np.ndarray
    samples: np.ndarray

    @classmethod
    def of(cls, a_regions: Sequence[float], b_regions: Sequence[float],
           a_samples: np.ndarray, b_samples: np.ndarray) -> CaseDifference:
        """The paired difference of method A and method B (point values and resampled values)."""
        if np.shape(a_samples) != np.shape(b_samples):
            raise ValueError("a paired difference needs both methods scored on the same resamples")
        return cls(np.asarray(a_regions, float) - np.asarray(b_regions, float),
                   np.asarray(a_samples, float) - np.asarray(b_samples, float))

    @property
    def mean(self) -> float:
        """Mean over all regions."""
        return float(self.regions.mean())

    @property
    def mean_2_5(self) -> float:
        """Mean over the regions but the first (which rests on a handful of train queries)."""
        return float(_first_region_dropped(self.regions))

    def ci(self, level: float = 0.95, *, skip_first: bool = False) -> tuple[float, float]:
        """Percentile interval of the mean over all regions (or, ``skip_first``, over regions 2 on)."""
        s = _first_region_dropped(self.samples) if skip_first else self.samples.mean(axis=1)
        return interval(s, level)

    def sign(self, level: float = 0.95, *, skip_first: bool = False) -> int:
        """+1 when the interval lies above 0, -1 below, 0 when it contains 0."""
        lo, hi = self.ci(level, skip_first=skip_first)
        return 1 if lo > 0 else -1 if hi < 0 else 0


@dataclass(frozen=True)
class PooledDifference:
    """A − B averaged over cases, with the interval of that average and the count of cases whose
    own interval lies above 0, below 0, or contains 0."""

    mean: float
    ci: tuple[float, float]
    regions: list[float]
    above: int
    below: int
    across: int

    def to_json(self) -> dict[str, object]:
        return {"mean": round(self.mean, 6), "ci95": [round(self.ci[0], 6), round(self.ci[1], 6)],
                "regions": [round(v, 6) for v in self.regions],
                "cases_above_0": self.above, "cases_below_0": self.below, "cases_across_0": self.across}


def pool_cases(cases: Sequence[CaseDifference], level: float = 0.95, *, skip_first: bool = False) -> PooledDifference:
    """The mean difference over ``cases`` (each case weighs the same) and its interval.

    Each case's test queries were resampled independently of the others', so resample ``b`` of the
    average is the average of the cases' resamples ``b``: the interval is that of the average over
    these cases, with their train fits as they were (the cases themselves are not resampled)."""
    if not cases:
        raise ValueError("no cases to pool")
    boots = {c.samples.shape[0] for c in cases}
    if len(boots) != 1:
        raise ValueError(f"cases have different numbers of resamples: {sorted(boots)}")
    if skip_first:
        samples = np.mean([_first_region_dropped(c.samples) for c in cases], axis=0)
        point = float(np.mean([c.mean_2_5 for c in cases]))
    else:
        samples = np.mean([c.samples.mean(axis=1) for c in cases], axis=0)
        point = float(np.mean([c.mean for c in cases]))
    signs = [c.sign(level, skip_first=skip_first) for c in cases]
    return PooledDifference(point, interval(samples, level), np.mean([c.regions for c in cases], axis=0).tolist(),
                            signs.count(1), signs.count(-1), signs.count(0))
