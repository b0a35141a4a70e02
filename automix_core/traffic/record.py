"""One request as a traffic record (AutoMix records v1, extended; the fields are documented in
``docs/serving-traffic.md``): what the live cascade did, what the shadow added, and each answer's
agreement with the reference tier's answer, computed at capture time so that label-free calibration
works even when no text is kept."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..accounting.ledger import Usage
from ..calibration import agreement
from ..cascade.result import AutoMixResult, TierTrace

__all__ = ["ShadowOutput", "agreement_rule", "build_record"]


@dataclass
class ShadowOutput:
    """What the shadow learnt about one tier the live cascade did not answer with."""

    answer: str
    usage: list[Usage] = field(default_factory=list)
    confidence: float | None = None
    verify_mode: str | None = None
    latency_ms: float = 0.0


Agree = Callable[[str | None, str, str], bool]


def agreement_rule(rule: str = "auto") -> Agree:
    """The offline agreement rule ``rule`` of :mod:`automix_core.calibration.agreement`."""
    def agree(question: str | None, answer: str, reference: str) -> bool:
        return agreement.agree(question, answer, reference, rule=rule)

    return agree


def _output(answer: str | None, confidence: float | None, usage: Sequence[Usage], latency_ms: float, visited: bool,
            method: str | None) -> dict[str, Any]:
    """One tier's output: costs include verification (``verifier_cost`` is that part)."""
    return {"answer": answer, "confidence": confidence, "cost": sum(u.cost for u in usage),
            "verifier_cost": sum(u.cost for u in usage if u.purpose == "verify"),
            "input_tokens": sum(u.input_tokens for u in usage), "output_tokens": sum(u.output_tokens for u in usage),
            "latency_ms": round(latency_ms, 3), "visited": visited, "verify_method": method}


def _decision(t: TierTrace, last: int) -> str:
    if t.decision == "escalate":
        return "escalate"
    return "final" if t.tier == last and t.confidence is None else "accept"


def build_record(result: AutoMixResult, models: Sequence[str], *, rid: str, route: str, question: str,
                 context: str, store_text: bool, shadow: dict[int, ShadowOutput] | None, weight: float,
                 reference: int | None = None, router: str = "untrained", agree: Agree | None = None,
                 timestamp: float | None = None) -> dict[str, Any]:
    """The record of ``result`` (and of the ``shadow`` outputs, by tier index, when it was shadowed)."""
    last = len(models) - 1
    ref = last if reference is None else reference
    outputs: dict[int, dict[str, Any]] = {}
    for t in result.trace:
        if t.answer is not None and t.answer.strip():
            outputs[t.tier] = _output(t.answer, t.confidence, t.usage, t.latency_ms, True, t.verify_mode)
    for i, s in (shadow or {}).items():  # shadow None: not shadowed; {}: shadowed, nothing left to run
        if i in outputs:
            continue
        outputs[i] = _output(s.answer, s.confidence, s.usage, s.latency_ms, False, s.verify_mode)
    ref_answer = outputs.get(ref, {}).get("answer")
    rule = agree or agreement_rule()
    for i, o in outputs.items():
        if i == ref:
            o["agrees"] = True
        elif isinstance(ref_answer, str) and isinstance(o["answer"], str):
            o["agrees"] = rule(question or None, o["answer"], ref_answer)
        else:
            o["agrees"] = None
        if not store_text:
            o["answer"] = None
    return {
        "id": rid, "request_id": rid, "timestamp": time.time() if timestamp is None else timestamp,
        "route": route, "task": route, "query": question if store_text else None,
        "context": context if store_text else None, "store_text": store_text, "models": list(models),
        "served": result.model, "served_tier": result.tier,
        "decisions": [{"model": t.model, "confidence": t.confidence, "decision": _decision(t, last)}
                      for t in result.trace if t.decision is not None],
        "shadow": shadow is not None, "weight": weight, "reference_model": models[ref], "router": router,
        "outputs": {models[i]: outputs[i] for i in sorted(outputs)},
    }
