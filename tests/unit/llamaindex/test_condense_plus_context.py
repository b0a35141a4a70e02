"""``chat_mode="condense_plus_context"``: the engine formats its condense prompt itself and calls ``complete``
(no prompt template tells the step), so the step is found by its caller: one tier, unverified, like
``condense_question``'s; the answers are cascaded and verified."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine import CondensePlusContextChatEngine
from llama_index.core.schema import TextNode

from automix_core.accounting.prices import Price, PriceTable
from automix_llamaindex import AutoMixLLM, capture
from tests.fakes.llamaindex_models import KeywordRetriever, ScriptedLLM

PRICES = PriceTable(prices={"small": Price(input_per_million=1, output_per_million=2),
                            "large": Price(input_per_million=10, output_per_million=20)})
NODES = [TextNode(text="The Aldwick footbridge opened in 1932. Building work on the footbridge started in 1930.",
                  id_="bridge")]
FOLLOW_UP = "Follow Up Input:"


def reply(messages: list[ChatMessage]) -> str:
    text = messages[-1].content or ""
    if FOLLOW_UP in text:  # the condense prompt: the standalone question
        return "When did building work on the Aldwick footbridge start?"
    return "1930"


def _condense_calls(llm: ScriptedLLM) -> list[dict[str, Any]]:
    return [c for c in llm.answer_calls if FOLLOW_UP in (c["messages"][-1].content or "")]


@pytest.mark.parametrize("use_async", [False, True])
def test_condense_plus_context_condense_step_is_a_utility_call(use_async: bool) -> None:
    small = ScriptedLLM(model="small", answers=[reply] * 8)
    large = ScriptedLLM(model="large", answer="1930")
    llm = AutoMixLLM([small, large], prices=PRICES, k=2)
    engine = CondensePlusContextChatEngine.from_defaults(retriever=KeywordRetriever(NODES, top_k=1), llm=llm)
    with capture() as runs:
        if use_async:
            async def both() -> None:
                await engine.achat("When did the Aldwick footbridge open?")
                await engine.achat("And when did building work start?")
            asyncio.run(both())
        else:
            engine.chat("When did the Aldwick footbridge open?")
            engine.chat("And when did building work start?")
    assert len(_condense_calls(small)) == 1  # the second turn's (the first has no history)
    assert len(runs) == 3  # two answers and the condense step
    notes = [r.trace[0].note or "" for r in runs.results]
    assert sum("utility call" in n for n in notes) == 1
    assert len(small.verify_calls) == 2 * 2  # only the two answers are verified (k=2 each)
    assert not large.calls


def test_cascade_calls_all_still_verifies_the_condense_step() -> None:
    small = ScriptedLLM(model="small", answers=[reply] * 8)
    llm = AutoMixLLM([small, ScriptedLLM(model="large", answer="1930")], prices=PRICES, k=2, cascade_calls="all")
    engine = CondensePlusContextChatEngine.from_defaults(retriever=KeywordRetriever(NODES, top_k=1), llm=llm)
    engine.chat("When did the Aldwick footbridge open?")
    engine.chat("And when did building work start?")
    assert len(small.verify_calls) == 3 * 2


def test_capture_lists_each_run() -> None:
    llm = AutoMixLLM([ScriptedLLM(model="small", answer="1930"), ScriptedLLM(model="large", answer="1930")],
                     prices=PRICES, k=2)
    with capture() as runs:
        assert len(runs) == 0
        llm.complete("When did building work start?")
        llm.complete("When did it open?")
    assert len(runs) == 2 and list(runs) == runs.results and runs[-1] is runs.last
