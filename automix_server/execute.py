"""One admitted request, run: the cascade of its route, or one call to the tier it names, both through
the core's :meth:`~automix_core.AutoMix.arun` (``tier=`` for one tier: no verification, the engine's
retries); the result (or the error, with everything it paid for) as an :class:`Outcome`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from automix_core import AllTiersFailedError, AutoMixResult, Usage
from automix_core.errors import InvalidRequestError, ModelTimeoutError

from .errors import APIError
from .metrics import Metrics
from .schema import ChatRequest, question_and_context, to_core_messages
from .service import (
    ClientKey,
    RequestLedger,
    RouteRuntime,
    Runtime,
    TierRuntime,
    automix_block,
    engine_request,
    request_budget,
    usage_block,
)
from .state import BudgetScope

__all__ = ["Admitted", "Outcome", "is_timeout", "record_metrics", "run_request"]


@dataclass
class Admitted:
    """A request past authentication, validation, rate limits and its budget reservation."""

    rid: str
    req: ChatRequest
    key: ClientKey | None
    runtime: Runtime
    route: RouteRuntime | None
    tier: TierRuntime | None
    reserved: float
    scopes: list[BudgetScope]


@dataclass
class Outcome:
    """What one request produced: the answer (or the error) and everything it paid for."""

    rid: str
    route: str
    model: str
    message: dict[str, Any]
    finish_reason: str
    usages: list[Usage]
    automix: dict[str, Any]
    result: AutoMixResult | None = None
    error: APIError | None = None
    extra_usage: list[Usage] = field(default_factory=list)
    capture: tuple[Any, ...] | None = None  # what traffic capture needs once the response is sent

    @property
    def cost(self) -> float:
        return sum(u.cost for u in self.usages)

    def usage(self) -> dict[str, Any]:
        return usage_block(self.usages)


def is_timeout(err: BaseException | None) -> bool:
    """Whether a failure was a timeout (the core's :class:`ModelTimeoutError`, or the request's own limit)."""
    return isinstance(err, (ModelTimeoutError, asyncio.TimeoutError))


async def run_request(adm: Admitted, ledger: RequestLedger) -> Outcome:
    """Run ``adm`` on its route (or the route its tier is first in), billing every call into ``ledger``."""
    req = adm.req
    if adm.route is not None:
        route, only, name = adm.route, (len(adm.route.tiers) - 1 if adm.route.learning else None), adm.route.name
    else:  # a tier by name: its home route's engine, that tier only
        assert adm.tier is not None
        route = adm.runtime.routes[adm.tier.home[0]]
        only, name = adm.tier.home[1], adm.tier.name
    core = to_core_messages(req)
    if adm.route is None and not any(m["role"] == "user" and m["content"].strip() for m in core):
        question, context = "", ""  # a tier takes the messages as they are
    else:
        question, context = question_and_context(req, core, route.config.context_from)
    answers: dict[int, dict[str, Any]] = {}  # each tier's raw choice, filled by its answering model
    request = engine_request(req, answers)
    timeout = adm.runtime.config.request_timeout
    try:
        result = await asyncio.wait_for(route.engine.arun(question, context, messages=core, tier=only,
                                                          request=request, ledger=ledger,
                                                          budget=request_budget(adm.reserved)), timeout)
    except AllTiersFailedError as exc:
        return _failed(adm, name, ledger, exc)
    except asyncio.TimeoutError:
        block = _block(adm, name, None, ledger, None)
        if adm.route is not None:
            block["usage"] = usage_block(ledger.usages)
        err = APIError(504, f"The request did not finish within {timeout:g} s.", type="upstream_error",
                       code="request_timeout", extra={"automix": block} if adm.route is not None else None)
        return Outcome(adm.rid, name, "", {}, "error", list(ledger.usages), block, error=err)
    except InvalidRequestError as exc:
        raise APIError(400, str(exc), param=exc.param or "messages", code="invalid_value") from None
    choice = answers.get(result.tier, {})
    msg = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    assert isinstance(msg, dict)
    message: dict[str, Any] = {"role": "assistant", "content": msg.get("content", result.answer) if msg
                               else result.answer}
    if msg.get("tool_calls"):
        message["tool_calls"] = msg["tool_calls"]
    message.setdefault("refusal", msg.get("refusal"))
    finish = choice.get("finish_reason") or ("tool_calls" if message.get("tool_calls") else "stop")
    block = _block(adm, name, result, ledger, None)
    job = (adm.rid, route, result, question, context, core, request, ledger, route.learning) if adm.route else None
    return Outcome(adm.rid, name, result.model, message, str(finish), list(ledger.usages), block, result=result,
                   capture=job)


def _block(adm: Admitted, name: str, result: AutoMixResult | None, ledger: RequestLedger,
           trace: Any) -> dict[str, Any]:
    block = automix_block(name if adm.route is not None else "", result, ledger.usages, adm.reserved, adm.rid, trace)
    if adm.route is None:  # a tier by name: no route, no cascade
        block.update(route=None, tier_index=0, tiers_visited=[0], passthrough=True)
    return block


def _failed(adm: Admitted, name: str, ledger: RequestLedger, exc: AllTiersFailedError) -> Outcome:
    timed_out = all(is_timeout(e) for _, e in exc.failures)
    block = _block(adm, name, None, ledger, exc.trace)
    if adm.route is None:
        _, err0 = exc.failures[-1]
        err = APIError(504 if timed_out else 502, f"tier {name} failed: {type(err0).__name__}: {err0}",
                       type="upstream_error", code="upstream_timeout" if timed_out else "upstream_error")
        return Outcome(adm.rid, name, "", {}, "error", list(ledger.usages), block, error=err)
    lines = "; ".join(f"tier {i} ({n}): {type(e).__name__}: {e}" for i, (n, e) in enumerate(exc.failures))
    block["usage"] = usage_block(ledger.usages)
    err = APIError(504 if timed_out else 502, f"Every AutoMix tier failed: {lines}", type="upstream_error",
                   code="upstream_timeout" if timed_out else "all_tiers_failed", extra={"automix": block})
    return Outcome(adm.rid, name, "", {}, "error", list(ledger.usages), block, error=err)


def record_metrics(m: Metrics, adm: Admitted, outcome: Outcome | None, usages: Sequence[Usage],
                   seconds: float) -> None:
    """A finished (or cancelled) request's counters, latencies, tokens, costs and escalations."""
    route = adm.route.name if adm.route is not None else f"tier:{adm.tier.name if adm.tier else '?'}"
    status = "cancelled" if outcome is None else ("ok" if outcome.error is None else str(outcome.error.status))
    m.requests.labels(route, status, outcome.model if outcome is not None and outcome.model else "").inc()
    m.latency.labels(route, str(adm.req.stream).lower()).observe(seconds)
    for u in usages:
        m.tokens.labels(u.model, u.purpose, "input").inc(u.input_tokens)
        m.tokens.labels(u.model, u.purpose, "output").inc(u.output_tokens)
        m.cost.labels(u.model, u.purpose).inc(u.cost)
    steps = outcome.result.trace if outcome is not None and outcome.result is not None else []
    if outcome is not None and outcome.result is None and outcome.automix.get("trace"):
        steps = []
        for t in outcome.automix["trace"]:
            if t.get("error"):
                m.upstream_errors.labels(t["model"]).inc()
    for t in steps:
        if t.confidence is not None:
            m.confidence.labels(t.model).observe(t.confidence)
        m.tier_latency.labels(t.model).observe(t.latency_ms / 1000)
        if t.error is not None:
            m.upstream_errors.labels(t.model).inc()
        if t.decision == "escalate" and t.decision_target is not None and adm.route is not None:
            target = adm.route.tiers[t.decision_target].name if t.decision_target < len(adm.route.tiers) else "?"
            m.escalations.labels(route, t.model, target).inc()
