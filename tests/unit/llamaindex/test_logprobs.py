"""Logprob verification through OpenAI/OpenAILike tiers (a router calibrated on logprob/continue), on the
fake OpenAI server: one verification request asking for logprobs, its confidence read from them with the
core's parser (the chosen token included), no fallback; and the continue layout's messages as they are."""

from __future__ import annotations

import asyncio
import math
import warnings
from typing import Any

import pytest

pytest.importorskip("llama_index.llms.openai_like")

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.llms.openai import OpenAI
from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped]

from automix_core import Router
from automix_core.accounting.prices import Price, PriceTable
from automix_core.policies import ThresholdPolicy
from automix_core.verify import CONTINUE_LOGPROB_INSTRUCTION, VerificationMethod
from automix_llamaindex import AutoMixLLM
from automix_llamaindex.tiers import LlamaIndexChatModel, _response_logprobs, supports_logprobs
from tests.fakes.llamaindex_models import ScriptedLLM
from tests.fakes.openai_server import fake_openai

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=2.0))
QUESTION = [ChatMessage(role=MessageRole.SYSTEM, content="Answer briefly."),
            ChatMessage(role=MessageRole.USER, content="Capital of France?")]


def _router(mode: str = "logprob", k: int = 1) -> Router:
    method = VerificationMethod(mode=mode, layout="continue", k=k)  # type: ignore[arg-type]
    return Router(["small", "large"], ThresholdPolicy(2, thresholds=[0.5]), n_train=10, verification=method)


def _llm(url: str, name: str) -> OpenAILike:
    return OpenAILike(model=name, api_base=url, api_key="sk-test", is_chat_model=True, max_retries=0,
                      context_window=8192)


def _reply(body: dict[str, Any]) -> str:
    return "correct" if body.get("logprobs") else "Paris"


def _trace(model: AutoMixLLM, use_async: bool) -> dict[str, Any]:
    out = asyncio.run(model.achat(QUESTION)) if use_async else model.chat(QUESTION)
    assert isinstance(out.raw, dict) and out.message.content == "Paris"
    trace: dict[str, Any] = out.raw["automix"]["trace"][0]
    return trace


@pytest.mark.parametrize("use_async", [False, True])
def test_logprob_router_verifies_openai_like_tiers_by_one_logprob_request(use_async: bool) -> None:
    with fake_openai(reply=_reply, alternatives={"incorrect": math.log(0.3)}) as server:
        model = AutoMixLLM(tiers=[_llm(server.url, "small"), _llm(server.url, "large")], prices=PRICES,
                           router=_router())
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no fallback warning
            trace = _trace(model, use_async)
        bodies = list(server.bodies)
    assert len(bodies) == 2  # the answer, then ONE verification request
    verify = bodies[1]
    assert verify["logprobs"] is True and verify["top_logprobs"] == 10 and verify.get("n") in (None, 1)
    answer = bodies[0]["messages"]
    assert verify["messages"][:len(answer) + 1] == [*answer, {"role": "assistant", "content": "Paris"}]
    assert verify["messages"][-1]["content"] == CONTINUE_LOGPROB_INSTRUCTION
    p = math.exp(-0.1)
    assert trace["verify_mode"] == "logprob"
    assert trace["confidence"] == pytest.approx(p / (p + 0.3))
    assert [u.purpose for u in model.ledger.snapshot().entries] == ["answer", "verify"]


def test_logprobs_are_read_with_the_core_parser() -> None:
    """From the raw response (the OpenAI SDK's objects through a real client; a dict otherwise) with the
    core's parser: the sampled token counts even where the server lists no alternatives (llama-index's
    ``ChatResponse.logprobs`` drops such positions)."""
    with fake_openai(reply=lambda b: "correct") as server:
        verifier = LlamaIndexChatModel(_llm(server.url, "small"), purpose="verify")
        gen = verifier.generate([{"role": "user", "content": "Verdict?"}], max_tokens=4, logprobs=5)
    assert gen.token_logprobs == [[{"correct": -0.1}]]
    bare = {"choices": [{"logprobs": {"content": [{"token": " ", "logprob": -0.5, "top_logprobs": []},
                                                  {"token": "correct", "logprob": -0.2, "top_logprobs": []}]}}]}
    response = ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=" correct"), raw=bare)
    assert _response_logprobs(response) == [{" ": -0.5}, {"correct": -0.2}]


def test_supports_logprobs_by_llm() -> None:
    url = "http://127.0.0.1:1/v1"
    assert supports_logprobs(OpenAILike(model="x", api_base=url, api_key="k", is_chat_model=True)) is None  # tried
    assert supports_logprobs(OpenAILike(model="x", api_base=url, api_key="k")) is False  # completions endpoint
    assert supports_logprobs(OpenAI(model="gpt-4o-mini", api_key="k"), sampling_kwargs=False) is False
    assert supports_logprobs(OpenAI(model="gpt-4o-mini", api_key="k")) is True
    assert supports_logprobs(ScriptedLLM()) is False  # not an OpenAI model: no logprobs argument to honour


def test_continue_layout_in_sample_mode_sends_the_answer_messages_as_they_are() -> None:
    with fake_openai(reply=lambda b: "Verdict: correct" if len(b["messages"]) > 2 else "Paris") as server:
        model = AutoMixLLM(tiers=[_llm(server.url, "small"), _llm(server.url, "large")], prices=PRICES,
                           router=_router("sample", 2))
        trace = _trace(model, False)
        bodies = list(server.bodies)
    answer = bodies[0]["messages"]
    assert [b["messages"][:len(answer) + 1] for b in bodies[1:]] == [
        [*answer, {"role": "assistant", "content": "Paris"}]] * 2
    assert trace["verify_mode"] == "sample" and trace["confidence"] == 1.0


def test_server_without_logprobs_falls_back_to_sampling_with_a_warning_once() -> None:
    with fake_openai(reply=lambda b: "Verdict: correct" if len(b["messages"]) > 2 else "Paris",
                     logprobs=False) as server:
        model = AutoMixLLM(tiers=[_llm(server.url, "small"), _llm(server.url, "large")], prices=PRICES,
                           router=_router(), k=2)
        with pytest.warns(UserWarning, match="returned no logprobs"):
            assert _trace(model, False)["verify_mode"] == "sample"
        assert [bool(b.get("logprobs")) for b in server.bodies] == [False, True, False, False]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert _trace(model, False)["verify_mode"] == "sample"  # remembered: no failed call
        assert [bool(b.get("logprobs")) for b in server.bodies[4:]] == [False, False, False]
