"""Bad input and faults: empty query, no nodes, oversized nodes, tiers that raise or time out."""

from __future__ import annotations

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.base.response.schema import Response
from llama_index.core.schema import TextNode

from automix_core import AllTiersFailedError
from automix_core.accounting.prices import Price, PriceTable
from automix_core.accounting.tokens import count_messages
from automix_core.models import Message
from automix_llamaindex import EMPTY_RESPONSE, AutoMixLLM, AutoMixQueryEngine
from tests.fakes.llamaindex_models import KeywordRetriever, ScriptedLLM

PRICES = PriceTable(default=Price(input_per_million=1, output_per_million=1))
NODES = [TextNode(text="The Aldwick footbridge opened in 1932. Building work started in 1930.", id_="bridge")]
QUESTION = "When did building work on the Aldwick footbridge start?"


def automix(small: ScriptedLLM, large: ScriptedLLM | None = None, **kw: object) -> AutoMixLLM:
    return AutoMixLLM([small, large or ScriptedLLM(model="large", answer="1930")], prices=PRICES, k=2,
                      **kw)  # type: ignore[arg-type]


def test_empty_query_is_a_clear_error() -> None:
    small = ScriptedLLM(model="small")
    qe = AutoMixQueryEngine(KeywordRetriever(NODES), automix(small))
    with pytest.raises(ValueError, match="empty query"):
        qe.query("   ")
    with pytest.raises(ValueError, match="empty question"):
        automix(small).chat([ChatMessage(role=MessageRole.USER, content="")])
    with pytest.raises(ValueError, match="empty question"):
        automix(small).complete("")
    assert not small.calls


def test_no_nodes_empty_response_or_answer_without_context() -> None:
    small = ScriptedLLM(model="small", answer="I do not know.")
    r = AutoMixQueryEngine(KeywordRetriever(NODES), automix(small)).query("Who painted it?")
    assert isinstance(r, Response) and r.response == EMPTY_RESPONSE and r.source_nodes == []
    assert r.metadata == {"automix": None} and not small.calls
    r = AutoMixQueryEngine(KeywordRetriever(NODES), automix(small), no_nodes="answer").query("Who painted it?")
    assert isinstance(r, Response) and r.response == "I do not know."
    assert r.metadata is not None and r.metadata["automix"]["tier"] == 0
    assert "⟦context⟧" not in (small.verify_calls[0]["messages"][-1].content or "")
    with pytest.raises(ValueError, match="no_nodes"):
        AutoMixQueryEngine(KeywordRetriever(NODES), automix(small), no_nodes="skip")  # type: ignore[arg-type]


def test_node_larger_than_the_windows_is_truncated_not_crashed() -> None:
    huge = TextNode(text="Aldwick footbridge. " + "filler words about bridges " * 4000 + "Work started 1930.",
                    id_="huge")
    small = ScriptedLLM(model="small", window=1024, answer="1930")
    large = ScriptedLLM(model="large", window=2048)
    llm = AutoMixLLM([small, large], prices=PRICES, k=2, answer_max_tokens=64, verify_max_tokens=64)
    r = AutoMixQueryEngine(KeywordRetriever([huge]), llm).query(QUESTION)
    assert str(r) == "1930" and r.source_nodes[0].node.node_id == "huge"
    for call in small.calls:
        msgs: list[Message] = [{"role": "user", "content": m.content or ""} for m in call["messages"]]
        assert count_messages(msgs, "small") <= 1024  # both the answer and the verification prompts fit
    assert "Aldwick footbridge" in (small.answer_calls[0]["messages"][-1].content or "")


def test_tier_raising_escalates_and_is_traced() -> None:
    small = ScriptedLLM(model="small", answers=[RuntimeError("backend exploded")])
    r = automix(small).chat([ChatMessage(role=MessageRole.USER, content=QUESTION)])
    assert r.message.content == "1930" and r.additional_kwargs["tier"] == 1
    assert isinstance(r.raw, dict)
    first = r.raw["automix"]["trace"][0]
    assert "backend exploded" in first["error"] and first["note"] == "tier failed"


def test_transient_error_is_retried() -> None:
    small = ScriptedLLM(model="small", answers=[TimeoutError("slow"), "1930"])
    r = automix(small, retries=1).chat([ChatMessage(role=MessageRole.USER, content=QUESTION)])
    assert r.message.content == "1930" and r.additional_kwargs["tier"] == 0
    assert len(small.answer_calls) == 2


def test_verifier_failure_counts_as_unverified() -> None:
    small = ScriptedLLM(model="small", answer="1932", verdicts=[RuntimeError("verifier down")])
    r = automix(small).chat([ChatMessage(role=MessageRole.USER, content=QUESTION)])
    assert r.additional_kwargs["tier"] == 1
    assert isinstance(r.raw, dict) and "verifier down" in r.raw["automix"]["trace"][0]["error"]


def test_every_tier_failing_raises_with_each_reason() -> None:
    small = ScriptedLLM(model="small", answers=[RuntimeError("small is down")])
    large = ScriptedLLM(model="large", answers=[RuntimeError("large is down")])
    qe = AutoMixQueryEngine(KeywordRetriever(NODES), automix(small, large))
    with pytest.raises(AllTiersFailedError, match=r"(?s)small is down.*large is down"):
        qe.query(QUESTION)


async def test_tier_timing_out_escalates_on_async_path() -> None:
    small = ScriptedLLM(model="small", delay=5.0)
    llm = automix(small, timeout=0.2, retries=0)
    r = await AutoMixQueryEngine(KeywordRetriever(NODES), llm).aquery(QUESTION)
    assert str(r) == "1930"
    assert r.metadata is not None
    first = r.metadata["automix"]["trace"][0]
    assert "no reply within 0.2 s" in first["error"]
