"""AutoMix records v1: reading, validating, writing, and turning records into arrays.

One JSON object per line; per query, every model's ``answer``, ``score`` (quality in [0, 1];
null or absent = unlabelled, e.g. recorded traffic),
``confidence`` (verifier confidence in [0, 1]), ``cost`` (USD) and token counts. Extra fields are
kept (``extra="allow"``) so files written by :mod:`automix_core.calibration.collect` with raw verification
samples load here too.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import RecordError

__all__ = [
    "GroupedArrays",
    "ModelOutput",
    "Record",
    "RecordArrays",
    "RecordError",
    "append_record",
    "filter_records",
    "group_by",
    "read_records",
    "to_arrays",
]




class ModelOutput(BaseModel):
    """One model's outcome on one query."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    answer: str | None = None
    score: float | None = Field(default=None, ge=0.0, le=1.0)  # None: unlabelled (e.g. recorded traffic)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)  # None: never verified (a last tier)
    cost: float = Field(default=0.0, ge=0.0)
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    latency_ms: float | None = Field(default=None, ge=0.0)
    verifier_cost: float | None = Field(default=None, ge=0.0)


class Record(BaseModel):
    """One query answered by every model of a cascade (AutoMix records v1)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    id: str = Field(min_length=1)
    task: str | None = None
    group: str | None = None
    split: str | None = None
    query: str | None = None
    context: str | None = None
    reference: str | None = None
    models: list[str] = Field(min_length=1)
    outputs: dict[str, ModelOutput]

    @field_validator("outputs")
    @classmethod
    def _outputs_nonempty(cls, v: dict[str, ModelOutput]) -> dict[str, ModelOutput]:
        if not v:
            raise ValueError("outputs is empty")
        return v


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"])
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def _iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                yield lineno, line


def read_records(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Record]:
    """Read and validate one or more records files.

    Raises :class:`RecordError` naming the file, the line, the record id and the field for a line
    that is not JSON, fails validation (NaN, a score or confidence outside [0, 1], a missing
    field), or repeats an id already read.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Record] = []
    seen: dict[str, str] = {}
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise RecordError(f"records file not found: {path}")
        for lineno, line in _iter_lines(path):
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line, parse_constant=_reject_constant)
            except (json.JSONDecodeError, ValueError) as exc:
                raise RecordError(f"{where}: not valid JSON ({exc})") from None
            if not isinstance(obj, dict):
                raise RecordError(f"{where}: expected a JSON object, got {type(obj).__name__}")
            rid = obj.get("id", "?")
            try:
                rec = Record.model_validate(obj)
            except ValidationError as exc:
                raise RecordError(f"{where} (record {rid!r}): {_describe(exc)}") from None
            if rec.id in seen:
                raise RecordError(f"{where}: duplicate record id {rec.id!r} (first seen at {seen[rec.id]})")
            seen[rec.id] = where
            out.append(rec)
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def append_record(path: str | os.PathLike[str], record: Record | dict[str, Any]) -> None:
    """Append one record as one line and flush it to disk at once (crash-safe append).

    The line is written with a single ``write`` of the whole line followed by ``fsync``, so a crash
    can at worst leave a final line without its newline, which :func:`read_records` would report;
    :mod:`automix_core.calibration.collect` repairs such a tail before resuming.
    """
    obj = record.model_dump(exclude_none=True) if isinstance(record, Record) else record
    line = json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n"
    fd = os.open(os.fspath(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def filter_records(
    records: Iterable[Record],
    *,
    task: str | None = None,
    group: str | None = None,
    split: str | None = None,
) -> list[Record]:
    """Keep the records whose ``task``, ``group`` and ``split`` match the given values (None = any)."""
    return [
        r
        for r in records
        if (task is None or r.task == task)
        and (group is None or r.group == group)
        and (split is None or r.split == split)
    ]


@dataclass(frozen=True)
class RecordArrays:
    """Per-record, per-tier arrays for a chosen list of models (cheapest first).

    ``score``, ``confidence``, ``cost`` and ``verifier_cost`` have shape ``(n_records, n_tiers)``.
    """

    models: tuple[str, ...]
    ids: tuple[str, ...]
    score: np.ndarray
    confidence: np.ndarray
    cost: np.ndarray
    verifier_cost: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx: np.ndarray) -> RecordArrays:
        """The rows ``idx`` (an index or boolean array)."""
        return RecordArrays(
            self.models,
            tuple(np.asarray(self.ids, dtype=object)[idx].tolist()),
            self.score[idx],
            self.confidence[idx],
            self.cost[idx],
            self.verifier_cost[idx],
        )

    def with_unit_costs(self, unit_costs: Sequence[float]) -> RecordArrays:
        """The same records with each tier's cost replaced by a fixed per-call cost (and no verifier cost)."""
        if len(unit_costs) != len(self.models):
            raise ValueError(f"--unit-costs has {len(unit_costs)} values for {len(self.models)} models")
        if any(not math.isfinite(c) or c < 0 for c in unit_costs):
            raise ValueError(f"unit costs must be finite and >= 0, got {list(unit_costs)}")
        cost = np.broadcast_to(np.asarray(unit_costs, dtype=float), self.cost.shape).copy()
        return RecordArrays(self.models, self.ids, self.score, self.confidence, cost, np.zeros_like(cost))


@dataclass(frozen=True)
class GroupedArrays:
    """Records grouped by a routing key: one representative confidence row per group and the
    group's sums of score, cost and verifier cost per tier (``n`` is the number of records)."""

    confidence: np.ndarray  # (G, m)
    score: np.ndarray  # (G, m) sums
    cost: np.ndarray  # (G, m) sums
    verifier_cost: np.ndarray  # (G, m) sums
    n: int


_GROUPS: dict[int, tuple[np.ndarray, RecordArrays, GroupedArrays]] = {}
_GROUPS_MAX = 16


def group_by(data: RecordArrays, key: np.ndarray) -> GroupedArrays:
    """``data`` grouped by ``key`` (one integer per record); cached for the same arrays."""
    hit = _GROUPS.get(id(key))
    if hit is not None and hit[0] is key and hit[1] is data:
        return hit[2]
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    g, m = len(first), data.score.shape[1]

    def sums(x: np.ndarray) -> np.ndarray:
        return np.stack([np.bincount(inverse, weights=x[:, t], minlength=g) for t in range(m)], axis=1)

    out = GroupedArrays(data.confidence[first], sums(data.score), sums(data.cost), sums(data.verifier_cost),
                        len(key))
    if len(_GROUPS) >= _GROUPS_MAX:
        _GROUPS.pop(next(iter(_GROUPS)))
    _GROUPS[id(key)] = (key, data, out)
    return out


def to_arrays(records: Sequence[Record], models: Sequence[str]) -> RecordArrays:
    """Stack the outcomes of ``models`` (cheapest first) into arrays.

    Raises :class:`RecordError` when fewer than two models are given, a model is repeated, or a
    record lacks one of the models.
    """
    models = list(models)
    if len(models) < 2:
        raise RecordError(f"need at least two models (cheapest first), got {models}")
    if len(set(models)) != len(models):
        raise RecordError(f"model list has duplicates: {models}")
    if not records:
        raise RecordError("no records to use (check --task/--group/--split filters)")
    n, m = len(records), len(models)
    score = np.empty((n, m))
    conf = np.empty((n, m))
    cost = np.empty((n, m))
    vcost = np.zeros((n, m))
    for i, r in enumerate(records):
        for j, name in enumerate(models):
            o = r.outputs.get(name)
            if o is None:
                raise RecordError(
                    f"record {r.id!r} has no output for model {name!r} (it has: {sorted(r.outputs)})"
                )
            if o.score is None:
                raise RecordError(
                    f"record {r.id!r} has no score for model {name!r} (unlabelled, e.g. recorded traffic): "
                    "label the records by agreement with the reference tier (--labels agreement, "
                    "--train-labels agreement, or automix calibrate --from-traffic)"
                )
            score[i, j] = o.score
            if o.confidence is None and j < m - 1:
                raise RecordError(f"record {r.id!r} has no confidence for model {name!r}, which is not the last tier")
            # a last tier left unverified (as a live cascade leaves it) reads 1.0; only a policy that observes the
            # last tier's confidence (pomdp with select_answer) would see it
            conf[i, j] = 1.0 if o.confidence is None else o.confidence
            cost[i, j] = o.cost
            vcost[i, j] = o.verifier_cost or 0.0
    return RecordArrays(tuple(models), tuple(r.id for r in records), score, conf, cost, vcost)
