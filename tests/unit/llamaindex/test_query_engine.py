"""AutoMixQueryEngine: retrieve, answer with tier 0 over the nodes, verify against them, escalate.
Offline, with a keyword retriever (and BM25 when llama-index-retrievers-bm25 is installed)."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core import Settings
from llama_index.core.base.response.schema import AsyncStreamingResponse, Response, StreamingResponse
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.schema import TextNode

from automix_core.accounting.prices import Price, PriceTable
from automix_llamaindex import AutoMixLLM, AutoMixQueryEngine
from tests.fakes.llamaindex_models import KeywordRetriever, ScriptedLLM, fence

PRICES = PriceTable(prices={"small": Price(input_per_million=1, output_per_million=2),
                            "large": Price(input_per_million=10, output_per_million=20)})
NODES = [
    TextNode(text="The Aldwick footbridge opened in 1932. Building work started in 1930.", id_="bridge"),
    TextNode(text="Priya sowed fourteen tomato seeds and nine pepper seeds in April.", id_="garden"),
    TextNode(text="The museum reading room is open on weekdays from nine to five.", id_="museum"),
]
QUESTION = "When did building work on the Aldwick footbridge start?"


def engine(small: ScriptedLLM, large: ScriptedLLM | None = None, **kw: Any) -> AutoMixQueryEngine:
    llm = AutoMixLLM([small, large or ScriptedLLM(model="large", answer="1930")], prices=PRICES, k=3)
    return AutoMixQueryEngine(KeywordRetriever(NODES), llm, **kw)


def test_answers_with_tier0_over_nodes_and_verifies_against_them() -> None:
    small = ScriptedLLM(model="small", answer="1930")
    qe = engine(small)
    r = qe.query(QUESTION)
    assert isinstance(r, Response) and r.response == "1930"
    assert [n.node.node_id for n in r.source_nodes] == ["bridge"]
    assert r.metadata is not None
    meta = r.metadata["automix"]
    assert meta["tier"] == 0 and meta["tiers_visited"] == [0]
    assert meta["trace"][0]["confidence"] == 1.0 and meta["trace"][0]["decision"] == "accept"
    assert meta["input_tokens"] > 0 and meta["cost"] > 0
    prompt = "\n".join(m.content or "" for m in small.answer_calls[0]["messages"])
    assert "Building work started in 1930" in prompt and QUESTION in prompt
    case = small.verify_calls[0]["messages"][-1].content
    assert fence(case, "question") == QUESTION
    assert "Building work started in 1930" in (fence(case, "context") or "")
    assert "tomato" not in case  # only the retrieved node


def test_escalates_per_policy_and_reports_both_tiers() -> None:
    small = ScriptedLLM(model="small", answer="1932", verdict="incorrect")
    large = ScriptedLLM(model="large", answer="1930")
    r = engine(small, large).query(QUESTION)
    assert str(r) == "1930"
    assert r.metadata is not None
    meta = r.metadata["automix"]
    assert meta["tier"] == 1 and meta["tiers_visited"] == [0, 1]
    assert [t["decision"] for t in meta["trace"]] == ["escalate", "accept"]
    assert meta["trace"][0]["confidence"] == 0.0
    # the large tier answered the same grounded prompt
    assert "Building work started in 1930" in (large.answer_calls[0]["messages"][-1].content or "")


async def test_async_query() -> None:
    small = ScriptedLLM(model="small", answer="1932", verdict="incorrect")
    r = await engine(small).aquery(QUESTION)
    assert isinstance(r, Response) and r.response == "1930"
    assert r.metadata is not None and r.metadata["automix"]["tier"] == 1
    assert len(small.verify_calls) == 3


def test_streaming_yields_final_answer_once() -> None:
    r = engine(ScriptedLLM(model="small", answer="1930"), streaming=True).query(QUESTION)
    assert isinstance(r, StreamingResponse)
    assert list(r.response_gen) == ["1930"]
    assert r.metadata is not None and r.metadata["automix"]["tier"] == 0
    assert [n.node.node_id for n in r.source_nodes] == ["bridge"]


async def test_async_streaming() -> None:
    r = await engine(ScriptedLLM(model="small", answer="1930"), streaming=True).aquery(QUESTION)
    assert isinstance(r, AsyncStreamingResponse)
    assert [t async for t in r.async_response_gen()] == ["1930"]
    assert r.metadata is not None and r.metadata["automix"]["answer"] == "1930"


def test_postprocessors_and_prompts() -> None:
    small = ScriptedLLM(model="small", answer="1930")
    qe = engine(small, node_postprocessors=[SimilarityPostprocessor(similarity_cutoff=100.0)])
    r = qe.query(QUESTION)
    assert str(r) == "Empty Response" and not small.calls  # every node filtered out
    assert set(qe.get_prompts()) == {"text_qa_template"}


def test_token_counting_through_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = TokenCountingHandler()
    small = ScriptedLLM(model="small", answer="1932", verdict="incorrect")
    qe = engine(small)
    monkeypatch.setattr(Settings, "_callback_manager", CallbackManager([counter]))
    qe.llm.callback_manager = Settings.callback_manager
    qe.query(QUESTION)
    total = qe.llm.ledger.total
    assert len(counter.llm_token_counts) == total.calls == 3 + 1 + 1
    assert counter.total_llm_token_count == total.input_tokens + total.output_tokens


def test_with_bm25_retriever() -> None:
    bm25 = pytest.importorskip("llama_index.retrievers.bm25")
    retriever = bm25.BM25Retriever.from_defaults(nodes=NODES, similarity_top_k=1)
    small = ScriptedLLM(model="small", answer="1930")
    llm = AutoMixLLM([small, ScriptedLLM(model="large")], prices=PRICES, k=2)
    r = AutoMixQueryEngine(retriever, llm).query(QUESTION)
    assert str(r) == "1930" and [n.node.node_id for n in r.source_nodes] == ["bridge"]
