"""The whole cascade end to end on a real local model: llama.cpp serving SmolLM2-135M.

Asserts behaviour, not a weak model's accuracy: samples come back, confidences are in [0, 1],
escalation happens exactly when the policy says so, and the ledger equals the usage of every call
made (as counted from the server's responses). Skips without xllamacpp or the weights
(`make test` installs both first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from automix_core import AutoMix, Generation, Ledger, Message, PriceTable, ThresholdPolicy
from automix_core.local import MODELS, LocalServer
from automix_core.openai_compat import OpenAICompatibleModel

pytestmark = pytest.mark.local


class Recording:
    """Wraps a client and keeps every Generation it returned."""

    def __init__(self, inner: OpenAICompatibleModel) -> None:
        self.inner = inner
        self.seen: list[Generation] = []

    name = property(lambda self: self.inner.name)
    supports_n = property(lambda self: self.inner.supports_n)
    context_window = property(lambda self: self.inner.context_window)

    def generate(self, messages: Sequence[Message], **kw: Any) -> Generation:
        g = self.inner.generate(messages, **kw)
        self.seen.append(g)
        return g

    async def agenerate(self, messages: Sequence[Message], **kw: Any) -> Generation:
        g = await self.inner.agenerate(messages, **kw)
        self.seen.append(g)
        return g


def test_cascade_on_real_server(smollm_server: LocalServer) -> None:
    small = Recording(smollm_server.model(name="small"))
    large = Recording(smollm_server.model(name="large"))
    price = MODELS["smollm2-135m"].price
    prices = PriceTable(prices={"small": price, "large": price})
    ledger = Ledger()
    # threshold above 1: always escalate; threshold 0: never
    always = AutoMix([small, large], router=ThresholdPolicy(2, [1.1]), prices=prices, ledger=ledger, k=4,
                     answer_max_tokens=16, verify_max_tokens=24)
    res = always.run("Is the sky blue on a clear day?", context="On clear days the sky looks blue.")
    assert [t.tier for t in res.trace] == [0, 1] and res.tier == 1 and res.model == "large"
    conf = res.trace[0].confidence
    assert conf is not None and 0.0 <= conf <= 1.0
    assert len(res.trace[0].samples) == 4 and len(res.trace[0].verdicts) == 4
    never = AutoMix([small, large], router=ThresholdPolicy(2, [0.0]), prices=prices, ledger=ledger, k=2,
                    answer_max_tokens=16, verify_max_tokens=24)
    res2 = asyncio.run(never.arun("What is 2 + 2?"))
    assert [t.tier for t in res2.trace] == [0] and res2.tier == 0
    calls = small.seen + large.seen
    assert len(calls) == 2 + 1 + 2  # answer+verify+answer, then answer+verify
    assert all(g.input_tokens and g.output_tokens is not None for g in calls)
    assert ledger.total.calls == len(calls) and ledger.total.estimated_calls == 0
    assert ledger.total.input_tokens == sum(g.input_tokens or 0 for g in calls)
    assert ledger.total.output_tokens == sum(g.output_tokens or 0 for g in calls)
    assert ledger.total.cost == pytest.approx(res.cost + res2.cost)
    assert ledger.total.cost == pytest.approx(price.cost(ledger.total.input_tokens, ledger.total.output_tokens))
