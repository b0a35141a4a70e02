"""What a cascade is made of and what it returns: :class:`Tier`, :class:`TierTrace`, :class:`AutoMixResult`,
the :class:`Event` hooks are told about, and the :data:`Screen` type.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..accounting.ledger import Usage
from ..models import ChatModel, Generation

__all__ = ["AutoMixResult", "Event", "Hook", "Screen", "Tier", "TierTrace"]


class Event(str, enum.Enum):
    """What a :class:`Hook` is told about."""

    ANSWER = "answer"  # a tier answered (payload: tier, model, answer, usage)
    VERIFY = "verify"  # a tier's answer was verified (payload: tier, confidence, verdicts)
    DECIDE = "decide"  # the policy decided (payload: tier, action, target)
    FAILURE = "failure"  # a call failed after its retries (payload: tier, stage, error)


class Hook(Protocol):
    """A callback for cascade events; exceptions it raises are swallowed, never break a request."""

    def __call__(self, event: Event, payload: dict[str, Any]) -> None: ...


Screen = Callable[[int, Generation], Literal["accept", "escalate"] | None]
"""Looks at a tier's answer before verification: ``"accept"`` it unverified, ``"escalate"`` without
verifying it, or ``None`` to carry on as usual. Adapters use it for answers that are not plain text
(e.g. tool calls)."""




@dataclass
class Tier:
    """One level of the cascade: the model that answers and the model that verifies its answers."""

    model: ChatModel
    verifier: ChatModel | None = None

    @property
    def name(self) -> str:
        return self.model.name


@dataclass
class TierTrace:
    """Everything that happened at one visited tier."""

    tier: int
    model: str
    answer: str | None = None
    error: str | None = None
    confidence: float | None = None
    verified: bool = False
    verdicts: list[bool | None] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    decision: str | None = None
    decision_target: int | None = None
    belief: dict[str, float] | None = None
    note: str | None = None
    usage: list[Usage] = field(default_factory=list)
    latency_ms: float = 0.0
    neutralised: list[dict[str, str]] = field(default_factory=list)
    """What the verifier's screen found in this tier's case (place, reason, rule, excerpt); a finding lowers
    the confidence, nothing is removed (the name is kept for the trace's readers)."""
    claim: str | None = None
    """What the verifier judged in place of this tier's answer (the answer itself when it is one short plain
    line, else the verifying model's restatement of it); None when the answer was not verified."""
    verify_mode: str | None = None
    """How the confidence was made ("sample", "sequential", "logprob"; "sample" after a logprob call that
    fell back); None when this tier's answer was not verified."""

    @property
    def cost(self) -> float:
        return sum(u.cost for u in self.usage)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "model": self.model,
            "answer": self.answer,
            "error": self.error,
            "confidence": self.confidence,
            "verified": self.verified,
            "verdicts": self.verdicts,
            "decision": self.decision,
            "decision_target": self.decision_target,
            "belief": self.belief,
            "note": self.note,
            "input_tokens": sum(u.input_tokens for u in self.usage),
            "output_tokens": sum(u.output_tokens for u in self.usage),
            "cost": self.cost,
            "estimated_usage": any(u.estimated for u in self.usage),
            "latency_ms": round(self.latency_ms, 3),
            "neutralised": self.neutralised,
            "claim": self.claim,
            "verify_mode": self.verify_mode,
        }


@dataclass
class AutoMixResult:
    """The final answer, the tier that gave it, and the trace of every visited tier."""

    answer: str
    tier: int
    model: str
    trace: list[TierTrace]

    @property
    def usage(self) -> list[Usage]:
        return [u for t in self.trace for u in t.usage]

    @property
    def input_tokens(self) -> int:
        return sum(u.input_tokens for u in self.usage)

    @property
    def output_tokens(self) -> int:
        return sum(u.output_tokens for u in self.usage)

    @property
    def cost(self) -> float:
        return sum(u.cost for u in self.usage)

    @property
    def escalated(self) -> bool:
        return len(self.trace) > 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "tier": self.tier,
            "model": self.model,
            "tiers_visited": [t.tier for t in self.trace],
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": self.cost,
            "trace": [t.to_dict() for t in self.trace],
        }
