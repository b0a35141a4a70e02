"""End to end: OpenAILike clients against a real llama.cpp server (SmolLM2-135M) behind a real
BM25 (or keyword) index. Skipped without xllamacpp or the SmolLM2 weights (see conftest)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from llama_index.core import Settings
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.callbacks import (
    CallbackManager,
    CBEventType,
    EventPayload,
    LlamaDebugHandler,
    TokenCountingHandler,
)
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import TextNode

from automix_core.accounting.prices import PriceTable, local_price
from automix_core.backends.local import LocalServer
from automix_llamaindex import AutoMixLLM, AutoMixQueryEngine
from automix_llamaindex.base import choice_texts
from tests.fakes.llamaindex_models import KeywordRetriever

openai_like = pytest.importorskip("llama_index.llms.openai_like")

pytestmark = pytest.mark.local

NODES = [
    TextNode(text="The Aldwick footbridge opened to walkers in 1932. Building work started in 1930.", id_="bridge"),
    TextNode(text="Paris is the capital and largest city of France.", id_="paris"),
    TextNode(text="Water boils at 100 degrees Celsius at sea level.", id_="water"),
]
QUESTION = "What is the capital of France?"


def client(server: LocalServer, **kw: Any) -> Any:
    return openai_like.OpenAILike(
        model="smollm2-135m", api_base=server.base_url + "/v1", api_key="x", is_chat_model=True,
        context_window=4096, max_tokens=64, timeout=120, **kw,
    )


def retriever() -> BaseRetriever:
    try:
        from llama_index.retrievers.bm25 import BM25Retriever  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return KeywordRetriever(NODES, top_k=1)
    bm25: BaseRetriever = BM25Retriever.from_defaults(nodes=NODES, similarity_top_k=1)
    return bm25


def automix(server: LocalServer) -> AutoMixLLM:
    prices = PriceTable(default=local_price(0.135))
    return AutoMixLLM([client(server), client(server)], names=["smollm-a", "smollm-b"], prices=prices, k=2,
                      verify_max_tokens=48, answer_max_tokens=48)


def test_live_query_engine_one_line_switch_and_token_count(
    smollm_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = TokenCountingHandler()
    monkeypatch.setattr(Settings, "_callback_manager", CallbackManager([counter]))
    llm = automix(smollm_server)
    qe = RetrieverQueryEngine.from_args(retriever(), llm=llm)
    r = qe.query(QUESTION)
    assert str(r).strip()
    assert r.source_nodes[0].node.node_id == "paris"
    total = llm.ledger.total
    # the answer and (untrained default, OpenAILike on llama.cpp) one logprob verification call at least
    assert total.calls >= 2 and total.estimated_calls == 0  # llama.cpp reports usage
    assert len(counter.llm_token_counts) == total.calls
    assert counter.total_llm_token_count == total.input_tokens + total.output_tokens


async def test_live_automix_query_engine_async(smollm_server: LocalServer) -> None:
    llm = automix(smollm_server)
    r = await AutoMixQueryEngine(retriever(), llm).aquery(QUESTION)
    assert str(r).strip()
    assert r.metadata is not None
    meta = r.metadata["automix"]
    assert meta["tier"] in (0, 1) and meta["trace"][0]["confidence"] is not None
    assert meta["cost"] == pytest.approx(llm.ledger.total_cost)
    assert r.source_nodes[0].node.node_id == "paris"


def _server_tokens(server: LocalServer, text: str) -> int:
    """How many tokens the server's own tokenizer makes of ``text`` (llama.cpp's ``/tokenize``)."""
    request = urllib.request.Request(server.base_url + "/tokenize", data=json.dumps({"content": text}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        return len(json.load(reply)["tokens"])


@pytest.mark.parametrize("use_async", [False, True])
def test_live_verify_n_counts_every_choices_tokens(smollm_server: LocalServer, use_async: bool) -> None:
    """llama.cpp reports completion_tokens for the first choice only: a verification request with n=4
    must bill the tokens of all four samples (issue 17, bug 6), exactly (not estimated)."""
    import asyncio

    debug = LlamaDebugHandler()
    tier = client(smollm_server, callback_manager=CallbackManager([debug]))
    llm = AutoMixLLM([tier, client(smollm_server)], names=["smollm-a", "smollm-b"],
                     prices=PriceTable(default=local_price(0.135)), k=4, verify_n=True, verify_max_tokens=40,
                     answer_max_tokens=16, verify_temperature=1.0, verify_mode="sample",
                     verify_defence=False)  # judged as written: SmolLM2's restatements are not faithful
    question = [ChatMessage(role=MessageRole.USER, content=QUESTION)]
    asyncio.run(llm.achat(question)) if use_async else llm.chat(question)
    verify = [u for u in llm.ledger.snapshot().entries if u.purpose == "verify" and u.tier == 0]
    assert len(verify) == 1 and verify[0].requests == 1 and not verify[0].estimated  # one request with n=4
    # the server's reply to that request, as the tier's own callback saw it
    replies = [end.payload[EventPayload.RESPONSE] for _, end in debug.get_event_pairs(CBEventType.LLM)
               if end.payload is not None and len(choice_texts(end.payload[EventPayload.RESPONSE])) > 1]
    assert len(replies) == 1
    samples = choice_texts(replies[0])
    assert len(samples) == 4
    reported = replies[0].raw.usage.completion_tokens  # llama.cpp: the first choice's tokens only
    by_text = sum(_server_tokens(smollm_server, text) for text in samples)
    # every sample's generated tokens, as the server's tokenizer counts their text (one stop token each at most)
    assert by_text - 4 <= verify[0].output_tokens <= by_text + 4
    assert verify[0].output_tokens > reported


def test_live_logprob_router_verifies_by_one_logprob_request(smollm_server: LocalServer) -> None:
    """A router calibrated on logprob/continue: the OpenAILike verifier asks llama.cpp for logprobs in one
    request and the confidence comes from them (trace: verify_mode logprob), without a fallback."""
    import warnings

    from automix_core import Router
    from automix_core.policies import ThresholdPolicy
    from automix_core.verify import VerificationMethod

    method = VerificationMethod(mode="logprob", layout="continue", k=1)
    router = Router(["smollm-a", "smollm-b"], ThresholdPolicy(2, [0.0]), n_train=10, verification=method)
    llm = AutoMixLLM([client(smollm_server), client(smollm_server)], names=["smollm-a", "smollm-b"],
                     prices=PriceTable(default=local_price(0.135)), router=router, answer_max_tokens=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        out = llm.chat([ChatMessage(role=MessageRole.USER, content="Is the sky blue on a clear day? Yes or no.")])
    assert isinstance(out.raw, dict)
    trace = out.raw["automix"]["trace"][0]
    assert trace["verify_mode"] == "logprob" and 0.0 <= trace["confidence"] <= 1.0
    entries = llm.ledger.snapshot().entries
    assert [(u.purpose, u.requests) for u in entries] == [("answer", 1), ("verify", 1)]  # one logprob request
