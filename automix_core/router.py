"""A fitted router: a policy at a chosen operating point, calibrated from records, saved as JSON.

Calibration sweeps a policy's parameters into a train cost-quality frontier (plus randomized
mixtures of neighbouring points where ties leave cost gaps) and picks one operating point:

- ``select="dibc"`` (default): the best train ΔIBC among points that recover at least
  ``min_gap_recovered`` (default 50%) of the small→large quality gap;
- ``budget=B``: the best train quality among points whose mean cost per query is <= B;
- ``target=Q``: the cheapest point whose train quality is >= Q.

The JSON file carries a schema name and version; loading validates every field and never runs
code (no ``eval``, no pickle). Saving is atomic: a crash mid-write leaves the previous file intact.
Version 2 adds ``verification``: the method (mode, layout, k) the confidences it was calibrated on
were made with, which :class:`~automix_core.AutoMix` then uses (see
:func:`~automix_core.verify.method.resolve_method`); version-1 files are still read (no method
recorded: they were all calibrated on few-shot samples).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .calibration.metrics import Point, best_level, delta_ibc
from .calibration.records import RecordArrays
from .errors import RouterError
from .policies import Decision, Observation, Policy, PolicyError, SelfConsistencyPolicy, get_policy_class
from .verify.method import VerificationMethod

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "OperatingPoint",
    "Router",
    "RouterError",
    "calibrate",
    "coerce_router",
    "frontier",
    "measure",
]

SCHEMA = "automix.router"
SCHEMA_VERSION = 2
_READABLE_VERSIONS = (1, 2)




class _PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: str
    params: dict[str, Any]


class _MixSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    policy: _PolicySpec
    p: float = Field(ge=0.0, le=1.0)


class OperatingPoint(BaseModel):
    """Where the router sits on the train cost-quality plane."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    cost: float
    quality: float
    dibc: float | None = None
    selection: str = "manual"


class _RouterFile(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    schema_: Literal["automix.router"] = Field(alias="schema")
    version: int
    models: list[str] = Field(min_length=2)
    policy: _PolicySpec
    mix: _MixSpec | None = None
    operating_point: OperatingPoint | None = None
    n_train: int | None = Field(default=None, ge=0)
    verification: VerificationMethod | None = None


@dataclass
class Router:
    """A policy (optionally mixed at random with a second one) over named tiers, cheapest first.

    With ``mix``, each query follows ``mix[0]`` with probability ``mix[1]`` and ``policy``
    otherwise; the engine draws one key per query and passes it to every :meth:`decide` call.
    """

    models: list[str]
    policy: Policy
    mix: tuple[Policy, float] | None = None
    operating_point: OperatingPoint | None = None
    n_train: int | None = None
    verification: VerificationMethod | None = None
    """The verification method of the confidences it was calibrated on (None: not recorded)."""

    def __post_init__(self) -> None:
        if len(self.models) < 2:
            raise RouterError(f"a router needs at least two models, got {self.models}")
        if self.policy.n_tiers != len(self.models):
            raise RouterError(f"policy is for {self.policy.n_tiers} tiers but {len(self.models)} models are named")
        if self.mix is not None and (self.mix[0].n_tiers != len(self.models) or not 0.0 <= self.mix[1] <= 1.0):
            raise RouterError("mixed policy must have the same tiers and a probability in [0, 1]")

    @classmethod
    def default(cls, models: Sequence[str]) -> Router:
        """The untrained default: accept when most verifier samples say "correct" (self-consistency)."""
        return cls(list(models), SelfConsistencyPolicy(len(models)))

    @property
    def fitted(self) -> bool:
        """False for the untrained default (:meth:`default`), True for any other policy."""
        return not (isinstance(self.policy, SelfConsistencyPolicy) and self.mix is None and self.n_train is None)

    @property
    def observes_last(self) -> bool:
        return self.policy.observes_last or (self.mix is not None and self.mix[0].observes_last)

    def policy_for(self, key: float) -> Policy:
        """The policy a query with random ``key`` in [0, 1) follows."""
        if self.mix is not None and key < self.mix[1]:
            return self.mix[0]
        return self.policy

    def decide(self, observations: Sequence[Observation], key: float = 0.5) -> Decision:
        return self.policy_for(key).decide(observations)

    @staticmethod
    def new_key() -> float:
        return random.random()

    def point(self, data: RecordArrays) -> Point:
        """Expected mean cost and quality of routing the records in ``data`` (a mixture counted at its
        probability); ``data.models`` must be this router's models."""
        from .calibration.evaluate import route_point

        self._check_models(data)
        a = route_point(self.policy, data)
        return a if self.mix is None else a.mix(route_point(self.mix[0], data), self.mix[1])

    def escalation_rate(self, data: RecordArrays) -> float:
        """Expected share of the records in ``data`` that go past the first tier."""
        self._check_models(data)

        def rate(policy: Policy) -> float:
            _, visited = policy.route(data.confidence)
            return float(visited[:, 1:].any(axis=1).mean())

        r = rate(self.policy)
        return r if self.mix is None else (1 - self.mix[1]) * r + self.mix[1] * rate(self.mix[0])

    def _check_models(self, data: RecordArrays) -> None:
        if list(data.models) != list(self.models):
            raise RouterError(f"records are for models {list(data.models)}, the router for {list(self.models)}")

    # ---- persistence

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "models": list(self.models),
            "policy": {"name": self.policy.name, "params": self.policy.params()},
            "mix": None
            if self.mix is None
            else {"policy": {"name": self.mix[0].name, "params": self.mix[0].params()}, "p": self.mix[1]},
            "operating_point": None if self.operating_point is None else self.operating_point.model_dump(),
            "n_train": self.n_train,
            "verification": None if self.verification is None else self.verification.model_dump(),
        }
        return d

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the router as JSON atomically (temp file in the same folder, fsync, rename)."""
        path = Path(path)
        text = json.dumps(self.to_dict(), allow_nan=False, indent=1)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def from_dict(cls, obj: Any, *, source: str = "router") -> Router:
        if not isinstance(obj, dict):
            raise RouterError(f"{source}: expected a JSON object, got {type(obj).__name__}")
        if obj.get("schema") != SCHEMA:
            raise RouterError(f"{source}: field 'schema' must be {SCHEMA!r}, got {obj.get('schema')!r}")
        if obj.get("version") not in _READABLE_VERSIONS:
            raise RouterError(
                f"{source}: field 'version' is {obj.get('version')!r}; this automix reads versions "
                f"{', '.join(map(str, _READABLE_VERSIONS))}"
            )
        if obj.get("version") == 1 and "verification" in obj:
            raise RouterError(f"{source}: field 'verification' is not part of router version 1")
        try:
            spec = _RouterFile.model_validate(obj)
        except ValidationError as exc:
            fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise RouterError(f"{source}: {fields}") from None
        n = len(spec.models)
        try:
            policy = get_policy_class(spec.policy.name).from_params(n, spec.policy.params)
            mix = None
            if spec.mix is not None:
                mix = (get_policy_class(spec.mix.policy.name).from_params(n, spec.mix.policy.params), spec.mix.p)
        except PolicyError as exc:
            raise RouterError(f"{source}: policy: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise RouterError(f"{source}: policy params invalid ({type(exc).__name__}: {exc})") from None
        return cls(spec.models, policy, mix, spec.operating_point, spec.n_train, spec.verification)

    @classmethod
    def shipped(cls, name: str = "pubmedqa-qwen-pair") -> Router:
        """A router shipped with the package, by name (:data:`automix_core.shipped.SHIPPED_ROUTERS`):
        ``"pubmedqa-qwen-pair"`` (Qwen2.5-Coder 0.5B -> 1.5B, one logprob call continuing the answer) or
        ``"pubmedqa-qwen-pair-k8"`` (the same pair, k=8 few-shot samples). An unknown name raises
        :class:`~automix_core.errors.AutoMixError` naming the shipped routers."""
        from .shipped import shipped_router_path

        return cls.load(shipped_router_path(name))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Router:
        """Load and validate a router file; :class:`RouterError` names the problem and the field."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RouterError(f"router file not found: {p}") from None
        except UnicodeDecodeError as exc:
            raise RouterError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except OSError as exc:
            raise RouterError(f"{p}: cannot read the router file ({exc.strerror or exc})") from None
        try:
            obj = json.loads(text, parse_constant=_reject)
        except (json.JSONDecodeError, ValueError) as exc:
            raise RouterError(f"{p}: not valid JSON ({exc})") from None
        return cls.from_dict(obj, source=str(p))


_WARNED_UNTRAINED: set[tuple[str, ...]] = set()


def warn_untrained(router: Router) -> bool:
    """Log, once per process for each list of tiers, a WARNING that ``router`` is the untrained default.

    Without a calibrated router a cascade pays for verification on every query and escalates on a
    rule that small models defeat by rating their own wrong answers at confidence 1.0, so it can cost
    more than always calling the largest tier. Returns whether it logged (False: fitted, or said before).
    """
    key = tuple(router.models)
    if router.fitted or key in _WARNED_UNTRAINED:
        return False
    _WARNED_UNTRAINED.add(key)
    logging.getLogger("automix").warning(
        "AutoMix over %s has no calibrated router: the untrained rule (accept when the verifier's confidence is "
        "more than 0.5) cannot tell a small model's confident wrong answers from its right ones, and verification is "
        "paid on every query, so this cascade can cost more than always calling %s. Fix: calibrate a router on "
        "your own data (automix collect ..., then automix calibrate ... -o router.json; router=\"router.json\"), "
        "or learn it from live traffic first (automix serve ... --traffic DIR --shadow-rate 1, then "
        "automix calibrate --from-traffic DIR); for Qwen2.5-Coder 0.5B -> 1.5B use Router.shipped().",
        " -> ".join(key), key[-1])
    return True


RouterSpec = Router | Policy | str | os.PathLike[str] | Mapping[str, Any] | None
"""What ``router=`` takes everywhere: a fitted :class:`Router`, a :class:`Policy`, a router JSON
path, its parsed dict, or None (:meth:`Router.default`)."""


def coerce_router(router: RouterSpec, names: Sequence[str]) -> Router:
    """The :class:`Router` for tiers named ``names`` from any :data:`RouterSpec`; a router for another
    number of tiers raises :class:`RouterError` (a ``ValueError``) naming both; one calibrated on other
    model names (or another order) warns (a ``UserWarning`` naming both lists)."""
    if router is None:
        out = Router.default(names)
    elif isinstance(router, Router):
        out = router
    elif isinstance(router, Policy):
        out = Router(list(names), router)
    elif isinstance(router, Mapping):
        out = Router.from_dict(router)
    elif isinstance(router, (str, os.PathLike)):
        out = Router.load(router)
    else:
        raise RouterError(f"router must be a Router, a Policy, a router JSON path or dict, or None; "
                          f"got {type(router).__name__}")
    if len(out.models) != len(names):
        raise RouterError(f"router is for {len(out.models)} tiers ({out.models}) but {len(names)} were given "
                          f"({list(names)})")
    if list(out.models) != list(names):
        warnings.warn(f"router was calibrated on models {list(out.models)} but the tiers are {list(names)}: its "
                      "thresholds describe the other models' verifiers; calibrate on records of these tiers "
                      "(automix calibrate) or check the tier order", UserWarning, stacklevel=2)
    return out


def _reject(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class _Candidate:
    policy: Policy
    mix: tuple[Policy, float] | None
    point: Point


def measure(candidate: _Candidate, data: RecordArrays) -> Point:
    """Expected mean cost and quality of a candidate (a policy, or a random mixture of two) on ``data``."""
    from .calibration.evaluate import route_point

    a = route_point(candidate.policy, data)
    if candidate.mix is None:
        return a
    return a.mix(route_point(candidate.mix[0], data), candidate.mix[1])


def frontier(
    policy: str, train: RecordArrays, *, grid: int = 200, options: Mapping[str, Any] | None = None
) -> list[_Candidate]:
    """Every candidate operating point of ``policy`` on ``train``, mixtures included; ``options`` are
    keyword arguments of the policy's ``candidates`` (e.g. ``{"kernel_scale": 1.0}`` for the POMDP)."""
    from .calibration.evaluate import cost_range, mixtures, route_points

    cands = get_policy_class(policy).candidates(train, grid=grid, **(options or {}))
    pts = route_points(cands, train)
    out = [_Candidate(p, None, pt) for p, pt in zip(cands, pts)]
    for a, b, p in mixtures(pts, cost_range(train), grid):
        out.append(_Candidate(cands[a], (cands[b], p), pts[a].mix(pts[b], p)))
    return out


def calibrate(
    train: RecordArrays,
    policy: str = "pomdp",
    *,
    budget: float | None = None,
    target: float | None = None,
    min_gap_recovered: float = 0.5,
    grid: int = 200,
    options: Mapping[str, Any] | None = None,
    verification: VerificationMethod | None = None,
) -> Router:
    """Fit ``policy`` on ``train`` (with ``options``, see :func:`frontier`) and pick an operating
    point (see the module docstring); ``verification`` is the method the confidences in ``train`` were
    made with, recorded in the router."""
    if budget is not None and target is not None:
        raise RouterError("give a cost budget or a quality target, not both")
    if budget is not None and not (math.isfinite(budget) and budget >= 0):
        raise RouterError(f"budget must be a finite cost >= 0, got {budget}")
    if target is not None and not (math.isfinite(target) and 0 <= target <= 1):
        raise RouterError(f"target quality must be in [0, 1], got {target}")
    cands = frontier(policy, train, grid=grid, options=options)
    from .calibration.evaluate import refs

    small, large = refs(train)
    if budget is not None:
        ok = [c for c in cands if c.point.cost <= budget + 1e-12]
        if not ok:
            cheapest = min(c.point.cost for c in cands)
            raise RouterError(f"no operating point costs <= {budget:.6g} per query (cheapest: {cheapest:.6g})")
        best = max(ok, key=lambda c: (c.point.quality, -c.point.cost))
        how = f"budget<={budget:.6g}"
    elif target is not None:
        ok = [c for c in cands if c.point.quality >= target - 1e-12]
        if not ok:
            top = max(c.point.quality for c in cands)
            raise RouterError(f"no operating point reaches quality {target:.4g} on train (best: {top:.4g})")
        best = min(ok, key=lambda c: (c.point.cost, -c.point.quality))
        how = f"quality>={target:.4g}"
    else:
        need = small.quality + min_gap_recovered * (large.quality - small.quality)
        ok = [c for c in cands if c.point.quality >= need - 1e-12] or cands
        scores = [_finite(delta_ibc(c.point, small, large)) for c in ok]
        if math.isfinite(max(scores)):  # the rule of the evaluation's cost regions
            best = ok[best_level(scores, [c.point.cost for c in ok])]
        else:  # no point has a ΔIBC (the large model is no better): spend nothing extra
            best = min(ok, key=lambda c: c.point.cost)
        how = f"dibc(min_gap_recovered={min_gap_recovered:g})"
    d = delta_ibc(best.point, small, large)
    op = OperatingPoint(
        cost=best.point.cost, quality=best.point.quality, dibc=None if math.isnan(d) else d, selection=how
    )
    mix = None if best.mix is None else (best.mix[0], best.mix[1])
    return Router(list(train.models), best.policy, mix, op, len(train), verification)


def _finite(x: float) -> float:
    return -math.inf if math.isnan(x) else x
