"""One engine, many requests (issue 25): ``AutoMix.run/arun(ledger=..., budget=...)`` bill each request to its
own ledger the moment each call returns and stop its escalation at its own cap, while requests run at once;
the engine's own ledger and budget stay the defaults. A request's ``params["max_tokens"]`` sizes its answer
in the budget's estimate. Its shadow calls bill its own ledger too, on a twin engine built once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from automix_core import (
    AutoMix,
    AutoMixResult,
    Budget,
    Ledger,
    Message,
    Price,
    PriceTable,
    RequestContext,
    TrafficConfig,
)
from automix_core.testing import ScriptedModel, is_verification_text
from automix_core.traffic import read_traffic

PRICES = PriceTable(prices={"small": Price(input_per_million=1.0, output_per_million=1.0),
                            "large": Price(input_per_million=10.0, output_per_million=10.0)})


def reply(messages: Sequence[Message]) -> str:
    """A verification says "incorrect" (so every request would escalate); an answer names its question."""
    if any(is_verification_text(m["content"]) for m in messages):
        return "Justification: checked.\nVerdict: incorrect"
    return f"answer to {messages[-1]['content']}"


class ContextModel(ScriptedModel):
    """A scripted model that takes (and leaves aside) the request's context, as an adapter's models do."""

    def generate(self, messages: Sequence[Message], *, request: RequestContext | None = None,
                 **kw: Any) -> Any:
        return super().generate(messages, **kw)

    async def agenerate(self, messages: Sequence[Message], *, request: RequestContext | None = None,
                        **kw: Any) -> Any:
        return await super().agenerate(messages, **kw)


def engine(ledger: Ledger, budget: Budget | None = None) -> tuple[AutoMix, ScriptedModel, ScriptedModel]:
    small = ContextModel("small", default=reply, delay=0.01)
    large = ContextModel("large", default=reply, delay=0.01)
    return AutoMix([small, large], prices=PRICES, k=2, ledger=ledger, budget=budget, answer_max_tokens=16), \
        small, large


def test_concurrent_requests_bill_their_own_ledgers_and_stop_at_their_own_caps() -> None:
    shared = Ledger()
    am, _, large = engine(shared)
    mine, yours = Ledger(), Ledger()

    async def both() -> tuple[AutoMixResult, AutoMixResult]:
        return await asyncio.gather(
            am.arun("mine?", ledger=mine, budget=Budget(max_request_usd=0.0)),  # no escalation allowed
            am.arun("yours?", ledger=yours, budget=Budget(max_request_usd=1.0)))

    r_mine, r_yours = asyncio.run(both())
    assert r_mine.tier == 0 and r_mine.answer == "answer to mine?"
    assert "budget: escalation to tier 1" in (r_mine.trace[0].note or "")
    assert r_yours.tier == 1 and r_yours.answer == "answer to yours?"
    assert [c["messages"] for c in large.calls] == [[{"role": "user", "content": "yours?"}]]
    # each ledger has its request's calls and no other's; the engine's own ledger none of them
    assert [(e.model, e.purpose) for e in mine.snapshot().entries] == [("small", "answer"), ("small", "verify")]
    assert [(e.model, e.purpose) for e in yours.snapshot().entries] == [
        ("small", "answer"), ("small", "verify"), ("large", "answer")]
    assert mine.total_cost == sum(t.cost for t in r_mine.trace)
    assert yours.total_cost == sum(t.cost for t in r_yours.trace)
    assert shared.total.calls == 0


def test_the_engines_ledger_and_budget_are_the_defaults() -> None:
    shared = Ledger()
    am, _, large = engine(shared, Budget(max_request_usd=0.0))
    res = am.run("q?")
    assert res.tier == 0 and large.calls == [] and shared.total.calls == 2  # its budget, its ledger
    other = Ledger()
    res = am.run("q?", ledger=other, budget=Budget(max_request_usd=1.0))  # a request's own replace them
    assert res.tier == 1 and other.total.calls == 3 and shared.total.calls == 2


def test_a_requests_max_tokens_sizes_the_budgets_estimate() -> None:
    am, _, _ = engine(Ledger())
    # escalating costs the prompt and the answer at $10 per million tokens: 16 tokens (the engine's
    # answer_max_tokens) fit under the cap, 100000 (the request's own max_tokens) do not
    cap = Budget(max_request_usd=0.0005)
    long_answers = RequestContext(params={"max_tokens": 100000})
    assert am.run("q?", budget=cap).tier == 1
    res = am.run("q?", budget=cap, request=long_answers)
    assert res.tier == 0 and "est. $1.000" in (res.trace[0].note or "")
    assert am.run("q?", budget=cap, request=RequestContext(params={"max_tokens": 16})).tier == 1


def test_shadow_calls_bill_the_requests_ledger_on_a_twin_built_once(tmp_path: Path) -> None:
    small = ContextModel("small", default=lambda m: "Verdict: correct" if any(
        is_verification_text(x["content"]) for x in m) else "small answer")
    large = ContextModel("large", default="large answer")
    shared = Ledger()
    am = AutoMix([small, large], prices=PRICES, k=2, ledger=shared,
                 traffic=TrafficConfig(dir=str(tmp_path), shadow_rate=1.0))
    mine, yours = Ledger(), Ledger()
    for ledger in (mine, yours):
        assert am.run("q?", ledger=ledger).model == "small"
    assert am.traffic is not None
    am.traffic.close()
    for ledger in (mine, yours):  # the request's calls, then its shadow (the large tier's answer)
        assert [(e.model, e.purpose) for e in ledger.snapshot().entries] == [
            ("small", "answer"), ("small", "verify"), ("large", "shadow")]
    assert shared.total.calls == 0 and len(read_traffic(tmp_path)) == 2
    assert len(am.traffic._twins) == 1 and am.traffic._shadow_engine(am) is am.traffic._shadow_engine(am)
