"""What recorded traffic says about the promise "the large model's quality for less": the figures of
``automix report`` (and the replay benchmark), each with its interval.

Estimates use the shadowed requests (the capture's uniform sample, every tier answered), each
weighted by ``weight`` (the inverse of its chance of being shadowed; see :mod:`.from_traffic`):
weighted means over them stand for all requests (Hajek estimates).

* **Agreement of served answers**: the share whose served answer agrees with the reference tier's
  answer (the reference agrees with itself): the quality kept against always calling the reference;
  Wilson interval at the weights' effective sample size.
* **Cost**: what was served (every visited tier, verification included) against what always calling
  the reference would have cost (its answer alone); savings = 1 - served / always-reference, bootstrap
  interval over the shadowed requests.
* **Escalation rate**: share of all requests served past the first tier; Wilson interval.
* Over time: the same per time bin. Confidence histograms of the first tier's answers that agree and
  that do not (weighted), and the verifier's AUROC (unweighted, shadowed requests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .records import Record
from .uncertainty import interval, resample_counts, wilson

__all__ = ["Share", "TrafficSummary", "served_agrees", "summarize_traffic"]


@dataclass(frozen=True)
class Share:
    """A (weighted) share with its Wilson interval; ``k`` of ``records`` records were successes."""

    value: float
    lo: float
    hi: float
    k: int
    records: int

    @classmethod
    def of(cls, flags: Sequence[bool], weights: Sequence[float] | np.ndarray | None = None) -> Share:
        f = np.asarray(flags, float)
        w = np.ones(len(f)) if weights is None else np.asarray(weights, float)
        if len(f) == 0 or w.sum() <= 0:
            return cls(float("nan"), 0.0, 1.0, 0, 0)
        p = float((w * f).sum() / w.sum())
        n_eff = float(w.sum() ** 2 / (w * w).sum())
        lo, hi = wilson(p * n_eff, n_eff)
        return cls(p, lo, hi, int(f.sum()), len(f))

    @property
    def ci(self) -> tuple[float, float]:
        return self.lo, self.hi

    def to_json(self) -> dict[str, Any]:
        return {"value": None if not self.records else round(self.value, 4), "k": self.k, "records": self.records,
                "ci95": [round(self.lo, 4), round(self.hi, 4)]}


def _agrees(rec: Record, model: str, reference: str) -> bool | None:
    if model == reference:
        return True
    o = rec.outputs.get(model)
    if o is None:
        return None
    carried = getattr(o, "agrees", None)
    if isinstance(carried, bool):
        return carried
    ref = rec.outputs.get(reference)
    if o.answer is None or ref is None or ref.answer is None:
        return None
    from .agreement import agree

    return agree(rec.query, o.answer, ref.answer)


def served_agrees(rec: Record) -> bool | None:
    """Whether the answer a request was served agrees with the reference tier's (None: unknown)."""
    served = getattr(rec, "served", None) or rec.models[0]
    return _agrees(rec, str(served), _reference(rec))


def _reference(rec: Record) -> str:
    ref = getattr(rec, "reference_model", None)
    return ref if isinstance(ref, str) and ref in rec.models else rec.models[-1]


def _served_cost(rec: Record) -> float:
    return float(sum(o.cost for o in rec.outputs.values() if getattr(o, "visited", True) is not False))


@dataclass
class TrafficSummary:
    models: list[str]
    n_requests: int
    n_shadowed: int
    agreement: Share
    escalation: Share
    served_cost: float
    reference_cost: float
    savings: float
    savings_ci: tuple[float, float]
    span: tuple[float, float] | None
    over_time: list[dict[str, Any]] = field(default_factory=list)
    confidence_agree: list[tuple[float, float]] = field(default_factory=list)  # (confidence, weight)
    confidence_disagree: list[tuple[float, float]] = field(default_factory=list)
    auroc: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"models": self.models, "requests": self.n_requests, "shadowed": self.n_shadowed,
                "agreement": self.agreement.to_json(), "escalation": self.escalation.to_json(),
                "served_cost_per_request": self.served_cost, "reference_cost_per_request": self.reference_cost,
                "savings": round(self.savings, 4), "savings_ci95": [round(x, 4) for x in self.savings_ci],
                "auroc_first_tier": None if self.auroc is None else round(self.auroc, 4),
                "over_time": self.over_time}


def _auroc(pos: Sequence[float], neg: Sequence[float]) -> float | None:
    if not pos or not neg:
        return None
    p, n = np.asarray(pos), np.asarray(neg)
    return float(((p[:, None] > n[None, :]).sum() + 0.5 * (p[:, None] == n[None, :]).sum()) / (len(p) * len(n)))


def _savings(served: np.ndarray, ref: np.ndarray, w: np.ndarray, boot: int,
             seed: int) -> tuple[float, tuple[float, float]]:
    if len(served) == 0 or (w * ref).sum() <= 0:
        return float("nan"), (float("nan"), float("nan"))
    value = 1.0 - (w * served).sum() / (w * ref).sum()
    counts = resample_counts(len(served), boot, seed) * w
    r = counts @ ref
    samples = 1.0 - (counts @ served) / np.where(r > 0, r, 1.0)
    return float(value), interval(samples)


def _ref_cost(rec: Record) -> float:
    o = rec.outputs[_reference(rec)]
    return max(0.0, o.cost - (o.verifier_cost or 0.0))  # the reference called alone verifies nothing


def summarize_traffic(records: Sequence[Record], *, bins: int = 8, boot: int = 300, seed: int = 0) -> TrafficSummary:
    """The figures of recorded traffic of one cascade (see the module docs)."""
    from .from_traffic import _weight, shadowed

    if not records:
        raise ValueError("no traffic records to summarize")
    models = list(records[0].models)
    full = shadowed(records, models)
    known = [(r, a, _weight(r)) for r in full if (a := served_agrees(r)) is not None]
    w = np.array([x[2] for x in known])
    agreement = Share.of([a for _, a, _ in known], w)
    escalation = Share.of([str(getattr(r, "served", models[0])) != models[0] for r in records])
    served = np.array([_served_cost(r) for r, _, _ in known])
    ref = np.array([_ref_cost(r) for r, _, _ in known])
    savings, savings_ci = _savings(served, ref, w, boot, seed)
    times = [t for r in records if isinstance(t := getattr(r, "timestamp", None), (int, float))]
    span = (float(min(times)), float(max(times))) if times else None
    over_time: list[dict[str, Any]] = []
    if span is not None and known:
        edges = np.linspace(span[0], span[1] + 1e-9, bins + 1)
        stamps = np.array([float(getattr(r, "timestamp", span[0])) for r, _, _ in known])
        for b in range(bins):
            idx = np.flatnonzero((stamps >= edges[b]) & (stamps < edges[b + 1]))
            if not len(idx):
                continue
            share = Share.of([known[i][1] for i in idx], w[idx])
            sv, sv_ci = _savings(served[idx], ref[idx], w[idx], boot, seed + b + 1)
            over_time.append({"start": float(edges[b]), "end": float(edges[b + 1]), "n": len(idx),
                              "agreement": share.value, "agreement_ci95": list(share.ci), "savings": sv,
                              "savings_ci95": list(sv_ci)})
    first, reference = models[0], models[-1]
    conf: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for r in full:
        o = r.outputs.get(first)
        a = _agrees(r, first, _reference(r)) if first != reference else None
        if o is not None and o.confidence is not None and a is not None:
            conf[a].append((float(o.confidence), _weight(r)))
    pos, neg = [c for c, _ in conf[True]], [c for c, _ in conf[False]]
    return TrafficSummary(models, len(records), len(full), agreement, escalation,
                          float(np.average(served, weights=w)) if len(served) else float("nan"),
                          float(np.average(ref, weights=w)) if len(ref) else float("nan"), savings, savings_ci, span,
                          over_time, conf[True], conf[False], _auroc(pos, neg))
