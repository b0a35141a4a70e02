"""What recorded traffic says about the promise "the large model's quality for less": the figures of
``automix report`` (and the replay benchmark), each with its interval.

* **Agreement of served answers**: on shadowed requests (a uniform sample, so unbiased), the share whose
  served answer agrees with the reference tier's answer (the reference agrees with itself): the quality
  kept against always calling the reference; Wilson interval.
* **Cost**: what was served (every visited tier, verification included) against what always calling
  the reference would have cost, both on the shadowed requests (the reference's cost is measured only
  there); savings = 1 - served / always-reference, bootstrap interval over the shadowed requests.
* **Escalation rate**: share of all requests served past the first tier; Wilson interval.
* Over time: the same per time bin. Confidence histograms of the first tier's answers that agree and
  that do not (the verifier's separation, AUROC beside).
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
    """A share with its count and Wilson interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else float("nan")

    @property
    def ci(self) -> tuple[float, float]:
        return wilson(self.k, self.n)

    def to_json(self) -> dict[str, Any]:
        return {"value": None if not self.n else round(self.value, 4), "k": self.k, "n": self.n,
                "ci95": [round(x, 4) for x in self.ci]}


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
    ref = getattr(rec, "reference", None)
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
    confidence_agree: list[float] = field(default_factory=list)
    confidence_disagree: list[float] = field(default_factory=list)
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


def _savings(served: np.ndarray, ref: np.ndarray, boot: int, seed: int) -> tuple[float, tuple[float, float]]:
    if len(served) == 0 or ref.sum() <= 0:
        return float("nan"), (float("nan"), float("nan"))
    value = 1.0 - served.sum() / ref.sum()
    counts = resample_counts(len(served), boot, seed)
    r = counts @ ref
    samples = 1.0 - (counts @ served) / np.where(r > 0, r, 1.0)
    return float(value), interval(samples)


def summarize_traffic(records: Sequence[Record], *, bins: int = 8, boot: int = 300, seed: int = 0) -> TrafficSummary:
    """The figures of recorded traffic of one cascade (see the module docs)."""
    if not records:
        raise ValueError("no traffic records to summarize")
    models = list(records[0].models)
    shadow = [r for r in records if getattr(r, "shadow", False) is True]
    agree_flags = [served_agrees(r) for r in shadow]
    known = [(r, a) for r, a in zip(shadow, agree_flags) if a is not None]
    agreement = Share(sum(a for _, a in known), len(known))
    escalated = sum(str(getattr(r, "served", models[0])) != models[0] for r in records)
    escalation = Share(escalated, len(records))
    served = np.array([_served_cost(r) for r, _ in known])
    ref = np.array([r.outputs[_reference(r)].cost for r, _ in known])
    savings, savings_ci = _savings(served, ref, boot, seed)
    times = [t for r in records if isinstance(t := getattr(r, "timestamp", None), (int, float))]
    span = (float(min(times)), float(max(times))) if times else None
    over_time: list[dict[str, Any]] = []
    if span is not None and known:
        edges = np.linspace(span[0], span[1] + 1e-9, bins + 1)
        for b in range(bins):
            part = [(r, a) for r, a in known if edges[b] <= float(getattr(r, "timestamp", span[0])) < edges[b + 1]]
            if not part:
                continue
            share = Share(sum(a for _, a in part), len(part))
            s = np.array([_served_cost(r) for r, _ in part])
            rc = np.array([r.outputs[_reference(r)].cost for r, _ in part])
            sv, sv_ci = _savings(s, rc, boot, seed + b + 1)
            over_time.append({"start": float(edges[b]), "end": float(edges[b + 1]), "n": len(part),
                              "agreement": share.value, "agreement_ci95": list(share.ci), "savings": sv,
                              "savings_ci95": list(sv_ci)})
    first, reference = models[0], models[-1]
    conf_a: list[float] = []
    conf_d: list[float] = []
    for r in records:
        o = r.outputs.get(first)
        a = _agrees(r, first, _reference(r)) if first != reference else None
        if o is None or o.confidence is None or a is None:
            continue
        (conf_a if a else conf_d).append(float(o.confidence))
    return TrafficSummary(models, len(records), len(shadow), agreement, escalation,
                          float(served.mean()) if len(served) else float("nan"),
                          float(ref.mean()) if len(ref) else float("nan"), savings, savings_ci, span, over_time,
                          conf_a, conf_d, _auroc(conf_a, conf_d))
