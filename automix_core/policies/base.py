"""The policy interface: :class:`Policy`, its :class:`Decision`, and the observation type.

Every policy works over N >= 2 tiers, cheapest first, and answers one question through
:meth:`Policy.decide`: given the observations so far (``(tier, verifier confidence)`` pairs, in the
order the tiers were visited), accept the answer of a visited tier, or escalate to a later tier.
:meth:`Policy.route` runs the same rule over many records at once (used for calibration and
evaluation); the two always agree (tested).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from ..calibration.metrics import Point
from ..calibration.records import RecordArrays
from ..errors import PolicyError

__all__ = ["Decision", "Observation", "Policy"]

Observation = tuple[int, float]




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
