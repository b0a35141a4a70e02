"""From recorded traffic to a router, without labels (``automix calibrate --from-traffic DIR``).

Traffic records (one JSON line per served request, AutoMix records v1 extended; written by the
server's traffic capture) hold, for a shadowed request, every tier's answer (or, when text is not
stored, each answer's ``agrees`` with the reference tier's, computed at capture time), confidence and
cost. Only the shadowed records are used, each weighted by its ``weight`` (1/rate): they are the
uniform sample of all requests that the capture drew, escalated ones included (a drawn request the
cascade ran to the last tier is shadowed with nothing left to run). An unshadowed request the cascade
escalated to the end also holds every tier's answer, but it is not in the sample: counting it would
tilt the fit towards the escalated requests (a unit test shows the bias on synthetic traffic).

Labels: each tier's answer against the reference tier's (:func:`~.agreement.label_by_agreement`),
the reference counted correct. Weights: a record counts ``weight`` times (relative to the lightest
record), which also keeps a shadow rate that changed over time from biasing the fit. Costs: a traffic
output's ``cost`` holds answer and verification; the fit bills them apart, as collected records do.

Validation: the records are split by id hash into train and validation (``validation`` share); the
router is fitted on train and its ΔIBC measured on validation against the same agreement labels,
with a bootstrap interval over the validation records. A current router is measured on the same
validation records, so the two figures compare.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from ..errors import RecordError, RouterError
from ..router import Router, calibrate
from .agreement import AgreementStats, agree, label_by_agreement
from .evaluate import ref_outcomes, route_outcome
from .records import Record, RecordArrays, _describe, read_records, to_arrays
from .uncertainty import Outcome, boot_region_dibc, interval, resample_counts

__all__ = [
    "MIN_TRAFFIC_RECORDS",
    "TrafficFit",
    "fit_from_traffic",
    "read_traffic",
    "records_to_traffic",
    "router_dibc",
    "router_outcome",
    "shadowed",
    "traffic_arrays",
]

MIN_TRAFFIC_RECORDS = 100
"""Shadowed records needed by default: with 30% held out, 70 to fit and 30 to validate on."""


def read_traffic(path: str | os.PathLike[str]) -> list[Record]:
    """Every traffic record under ``path``: a traffic folder as the capture writes it (its ``traffic-*``
    and ``spool-*`` files read by :func:`automix_core.traffic.read_traffic`: a torn last line skipped, a
    record replayed from a spool kept once), or one records file. Raises :class:`RecordError` naming
    the problem (no folder, no record files, a record that is not valid)."""
    p = Path(path)
    if p.is_file():
        return read_records(p)
    if not p.is_dir():
        raise RecordError(f"traffic directory not found: {p} (record traffic with automix serve --traffic {p})")
    from ..traffic.writer import read_traffic as read_rows
    from ..traffic.writer import traffic_files

    if not traffic_files(p):
        raise RecordError(f"no traffic files (traffic-*.jsonl) in {p}: record traffic with automix serve --traffic {p}")
    out = []
    for row in read_rows(p):
        try:
            out.append(Record.model_validate(row))
        except ValidationError as exc:
            raise RecordError(f"{p}: traffic record {row.get('id', '?')!r}: {_describe(exc)}") from None
    return out


def shadowed(records: Iterable[Record], models: Sequence[str] | None = None) -> list[Record]:
    """The records in the shadowed sample (``shadow`` true) that hold an output of every one of
    ``models`` (default each record's own ``models``)."""
    out = []
    for r in records:
        need = list(models) if models is not None else r.models
        if getattr(r, "shadow", False) is True and all(m in r.outputs for m in need):
            out.append(r)
    return out


def _weight(rec: Record) -> float:
    w = getattr(rec, "weight", None)
    return float(w) if isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) and w > 0 else 1.0


def traffic_arrays(records: Sequence[Record], models: Sequence[str]) -> tuple[RecordArrays, np.ndarray]:
    """Labelled traffic records as arrays (answer and verification costs apart) and their weights."""
    data = to_arrays(records, models)
    answer_cost = np.clip(data.cost - data.verifier_cost, 0.0, None)
    data = RecordArrays(data.models, data.ids, data.score, data.confidence, answer_cost, data.verifier_cost)
    return data, np.array([_weight(r) for r in records])


def _replicate(data: RecordArrays, weights: np.ndarray) -> RecordArrays:
    """Each record repeated in proportion to its weight (relative to the lightest; at most 100 times)."""
    reps = np.clip(np.rint(weights / weights.min()), 1, 100).astype(int)
    return data if (reps == 1).all() else data.subset(np.repeat(np.arange(len(data)), reps))


def router_outcome(router: Router, data: RecordArrays) -> Outcome:
    """Per-query expected cost and quality of ``router`` (a mixture at its probability)."""
    cost, quality = route_outcome(router.policy, data)
    if router.mix is None:
        return cost, quality
    c2, q2 = route_outcome(router.mix[0], data)
    p = router.mix[1]
    return (1 - p) * cost + p * c2, (1 - p) * quality + p * q2


def router_dibc(router: Router, data: RecordArrays, weights: np.ndarray | None = None, *, boot: int = 500,
                seed: int = 0) -> tuple[float, tuple[float, float]]:
    """ΔIBC in % of ``router`` on ``data`` (weighted), with a 95% bootstrap interval over the records."""
    if list(router.models) != list(data.models):
        raise RouterError(f"the router is for {router.models}, the traffic for {list(data.models)}")
    w = np.ones(len(data)) if weights is None else np.asarray(weights, float)
    counts = np.vstack([w, resample_counts(len(data), boot, seed) * w])
    small, large = ref_outcomes(data)
    vals = boot_region_dibc([router_outcome(router, data)], small, large, counts)[:, 0]
    return float(vals[0]), interval(vals[1:])


def _in_validation(rid: str, share: float, seed: int) -> bool:
    h = int(hashlib.sha256(f"{seed}:{rid}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return h < share


@dataclass
class TrafficFit:
    """A router fitted on traffic, its validation ΔIBC (and a current router's on the same records)."""

    router: Router
    models: list[str]
    n_records: int
    n_used: int
    n_train: int
    n_validation: int
    validation_dibc: float
    validation_ci: tuple[float, float]
    labels: AgreementStats
    current_dibc: float | None = None
    current_ci: tuple[float, float] | None = None

    @property
    def current_is_better(self) -> bool:
        """Whether the current router validated better than the new one."""
        return self.current_dibc is not None and self.current_dibc > self.validation_dibc

    def to_json(self) -> dict[str, object]:
        def r(x: float) -> float:
            return round(x, 3)

        return {"models": self.models, "records": self.n_records, "shadowed_used": self.n_used,
                "train": self.n_train, "validation": self.n_validation,
                "validation_dibc": r(self.validation_dibc), "validation_ci95": [r(x) for x in self.validation_ci],
                "current_dibc": None if self.current_dibc is None else r(self.current_dibc),
                "current_ci95": None if self.current_ci is None else [r(x) for x in self.current_ci],
                "labels": self.labels.describe()}


def _models_of(records: Sequence[Record], route: str | None) -> tuple[list[Record], list[str]]:
    if route is not None:
        records = [r for r in records if r.task == route or getattr(r, "route", None) == route]
        if not records:
            raise RecordError(f"no traffic records of route {route!r}")
    kinds = Counter(tuple(r.models) for r in records)
    if len(kinds) > 1 and route is None:
        routes = sorted({str(r.task) for r in records})
        raise RecordError(f"the traffic holds several cascades ({len(kinds)} model lists; routes {routes}): "
                          "choose one with --route")
    models = list(kinds.most_common(1)[0][0])
    return [r for r in records if r.models == models], models


def fit_from_traffic(records: Sequence[Record], *, policy: str = "pomdp", validation: float = 0.3, seed: int = 0,
                     min_records: int = MIN_TRAFFIC_RECORDS, rule: str = "auto", reference: str | None = None,
                     route: str | None = None, current: Router | None = None, boot: int = 500,
                     grid: int = 200) -> TrafficFit:
    """Fit a router on the shadowed ``records`` labelled by agreement (see the module docs).

    Raises :class:`RecordError` naming how many shadowed records are needed when there are fewer than
    ``min_records`` (or too few to leave both a train and a validation part).
    """
    if not 0.0 < validation < 1.0:
        raise ValueError(f"validation share must be in (0, 1), got {validation}")
    if not records:
        raise RecordError("no traffic records")
    recs, models = _models_of(records, route)
    used = shadowed(recs, models)
    if len(used) < max(min_records, 2):
        raise RecordError(
            f"{len(used)} shadowed traffic records for {models} (of {len(recs)} recorded); at least {min_records} "
            f"are needed to fit and validate a router: serve with --shadow-rate R until R x requests >= {min_records}")
    if reference is None:  # the records name their reference tier; else the last tier
        reference = next((m for r in used if (m := getattr(r, "reference_model", None)) in models), models[-1])
    labelled, stats = label_by_agreement(used, reference=reference, rule=rule)
    data, weights = traffic_arrays(labelled, models)
    val = np.array([_in_validation(r.id, validation, seed) for r in labelled])
    if val.all() or not val.any():
        raise RecordError(f"{len(used)} shadowed records leave no train or no validation part; more are needed")
    train = _replicate(data.subset(~val), weights[~val])
    router = calibrate(train, policy, grid=grid)
    router.n_train = int((~val).sum())
    dibc, ci = router_dibc(router, data.subset(val), weights[val], boot=boot, seed=seed)
    fit = TrafficFit(router, models, len(records), len(used), int((~val).sum()), int(val.sum()), dibc, ci, stats)
    if current is not None:
        fit.current_dibc, fit.current_ci = router_dibc(current, data.subset(val), weights[val], boot=boot, seed=seed)
    return fit


def records_to_traffic(records: Sequence[Record], models: Sequence[str], *, shadow_rate: float, seed: int = 0,
                       router: Router | None = None, route: str = "default", start: float = 1.7e9,
                       interval_s: float = 60.0) -> list[dict[str, Any]]:
    """Collected records (every tier answered and verified) replayed as traffic records: the live
    cascade of ``router`` (default: escalate while the verifier's confidence is below 0.5) decides each
    request, a uniform ``shadow_rate`` share is shadowed (every tier kept, weight 1/rate), the others
    keep the visited tiers only (a drawn request the cascade ran to the last tier is shadowed with
    nothing left to run, as the capture writes it); ``agrees`` is computed
    against the last tier's answer, gold scores kept. For benchmarks and tests: the server's capture
    writes the same format."""
    if not 0.0 < shadow_rate <= 1.0:
        raise ValueError(f"shadow_rate must be in (0, 1], got {shadow_rate}")
    rng = np.random.default_rng(seed)
    models = list(models)
    data = to_arrays(records, models)
    if router is not None:
        key = rng.random(len(records))
        served = [router.policy_for(k).route(data.confidence[i:i + 1])[0][0] for i, k in enumerate(key)]
    else:
        low = data.confidence[:, :-1] < 0.5
        served = [int(np.argmin(row)) if not row.all() else len(models) - 1 for row in low]
    out = []
    for i, rec in enumerate(records):
        top = int(served[i])
        shadow = bool(rng.random() < shadow_rate)
        ref = rec.outputs[models[-1]].answer
        outputs: dict[str, Any] = {}
        for j, m in enumerate(models):
            if j > top and not shadow:
                continue
            o = rec.outputs[m]
            verified = j < len(models) - 1
            ver = o.verifier_cost or 0.0
            outputs[m] = {"answer": o.answer, "confidence": o.confidence if verified else None,
                          "cost": o.cost + (ver if verified else 0.0), "verifier_cost": ver if verified else 0.0,
                          "input_tokens": o.input_tokens, "output_tokens": o.output_tokens,
                          "latency_ms": o.latency_ms, "visited": j <= top, "score": o.score,
                          "agrees": None if o.answer is None or ref is None else agree(rec.query, o.answer, ref)}
        decisions = [{"model": models[j], "confidence": data.confidence[i, j],
                      "decision": "final" if j == len(models) - 1 else ("accept" if j == top else "escalate")}
                     for j in range(top + 1)]
        out.append({"id": f"req-{i}", "request_id": f"req-{i}", "timestamp": start + i * interval_s,
                    "route": route, "task": route, "query": rec.query, "context": rec.context, "store_text": True,
                    "models": models, "served": models[top], "decisions": decisions, "shadow": shadow,
                    "weight": 1.0 / shadow_rate if shadow else 1.0, "reference_model": models[-1],
                    "router": "untrained" if router is None else "router", "outputs": outputs})
    return out
