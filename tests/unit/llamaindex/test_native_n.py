"""Verification samples in one request with ``n`` (``verify_n``) for LlamaIndex tiers, through
llama-index's OpenAILike against a local fake OpenAI server; and the detection of when it is on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("llama_index.llms.openai_like")

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.llms.openai import OpenAI
from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped]

from automix_core.accounting.prices import Price, PriceTable
from automix_core.policies import ThresholdPolicy
from automix_core.testing import is_verification_text
from automix_llamaindex import AutoMixLLM
from automix_llamaindex.base import LlamaIndexChatModel, choice_texts, supports_native_n
from tests.fakes.llamaindex_models import ScriptedLLM
from tests.fakes.openai_server import assert_one_verification_request, fake_openai

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=2.0))
QUESTION = [ChatMessage(role=MessageRole.USER, content="Is water wet?")]


def _llm(url: str, name: str) -> OpenAILike:
    return OpenAILike(model=name, api_base=url, api_key="sk-test", is_chat_model=True, max_retries=0,
                      context_window=8192)


def _verify_bodies(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in bodies if is_verification_text(b["messages"][0]["content"])]


def _trace(model: AutoMixLLM, use_async: bool) -> dict[str, Any]:
    """The AutoMix trace of one chat call (``raw["automix"]`` of the response)."""
    out = asyncio.run(model.achat(QUESTION)) if use_async else model.chat(QUESTION)
    assert isinstance(out.raw, dict)
    trace: dict[str, Any] = out.raw["automix"]
    return trace


@pytest.mark.parametrize("use_async", [False, True])
def test_verify_n_draws_the_samples_in_one_request_and_bills_its_prompt_once(use_async: bool) -> None:
    with fake_openai() as server:
        model = AutoMixLLM([_llm(server.url, "small"), _llm(server.url, "large")], prices=PRICES, k=4,
                           verify_n=True, verify_mode="sample")
        out = _trace(model, use_async)
        verify = _verify_bodies(server.bodies)
    assert [b.get("n") for b in verify] == [4] and len(server.bodies) == 2  # the answer, then one request
    trace = out["trace"][0]
    assert trace["confidence"] == 1.0 and len(trace["verdicts"]) == 4
    assert_one_verification_request(model.ledger.snapshot().entries, model.ledger.total.calls, verify[0])


@pytest.mark.parametrize("use_async", [False, True])
def test_samples_of_one_request_are_read_from_every_choice(use_async: bool) -> None:
    verdicts = iter(["correct", "incorrect", "incorrect", "correct"] * 4)

    def reply(body: dict[str, Any]) -> str:
        if is_verification_text(body["messages"][0]["content"]):
            return f"Justification: checked.\nVerdict: {next(verdicts)}"
        return "yes"

    with fake_openai(reply=reply) as server:
        model = AutoMixLLM([_llm(server.url, "small"), _llm(server.url, "large")], prices=PRICES, k=4,
                           verify_n=True, verify_mode="sample", router=ThresholdPolicy(2, [0.9]))
        out = _trace(model, use_async)
    trace = out["trace"][0]
    assert trace["verdicts"] == [True, False, False, True] and trace["confidence"] == 0.5
    assert out["tier"] == 1  # 0.5 < 0.9: escalated


@pytest.mark.parametrize("use_async", [False, True])
def test_model_refusing_n_gets_the_samples_as_separate_requests(use_async: bool) -> None:
    with fake_openai(reject_n=True) as server:
        model = AutoMixLLM([_llm(server.url, "small"), _llm(server.url, "large")], prices=PRICES, k=3,
                           verify_n=True, verify_mode="sample")
        out = _trace(model, use_async)
        verify = _verify_bodies(server.bodies)
    assert [b.get("n") for b in verify] == [3, None, None, None]  # refused (HTTP 400), then one by one
    assert out["trace"][0]["decision"] == "accept"
    assert model.ledger.total.calls == 1 + 3


@pytest.mark.parametrize("use_async", [False, True])
def test_server_ignoring_n_gets_the_missing_samples_as_separate_requests(use_async: bool) -> None:
    with fake_openai(max_n=1) as server:
        model = AutoMixLLM([_llm(server.url, "small"), _llm(server.url, "large")], prices=PRICES, k=3,
                           verify_n=True, verify_mode="sample")
        out = _trace(model, use_async)
        verify = _verify_bodies(server.bodies)
    assert [b.get("n") for b in verify] == [3, None, None]
    assert len(out["trace"][0]["verdicts"]) == 3
    assert model.ledger.total.calls == 1 + 3


def test_default_sends_k_requests_to_other_openai_compatible_servers() -> None:
    with fake_openai() as server:
        model = AutoMixLLM([_llm(server.url, "small"), _llm(server.url, "large")], prices=PRICES, k=3,
                           verify_mode="sample")
        model.chat(QUESTION)
        verify = _verify_bodies(server.bodies)
    assert [b.get("n") for b in verify] == [None] * 3  # llama.cpp & co. may miscount usage over choices


def test_untrained_default_on_an_openai_compatible_server_verifies_with_one_logprob_call() -> None:
    # llama.cpp through the adapter, no router: the cheapest method it may support, not k separate samples
    with fake_openai() as server:
        model = AutoMixLLM([_llm(server.url, "small"), _llm(server.url, "large")], prices=PRICES, k=3)
        model.chat(QUESTION)
        verify = _verify_bodies(server.bodies)
    assert len(verify) == 1 and verify[0].get("logprobs") is True and verify[0].get("n") is None


def test_native_n_is_on_by_default_only_for_openai_own_endpoint() -> None:
    hosted = OpenAI(model="gpt-4o-mini", api_key="sk-test")
    proxied = OpenAI(model="gpt-4o-mini", api_key="sk-test", api_base="http://127.0.0.1:1/v1")
    like = _llm("https://api.openai.com/v1", "gpt-4o-mini")
    scripted = ScriptedLLM(model="s")
    assert supports_native_n(hosted, None)
    assert not supports_native_n(proxied, None) and not supports_native_n(like, None)
    assert not supports_native_n(scripted, None) and supports_native_n(scripted, True)
    assert not supports_native_n(hosted, False) and not supports_native_n(None, True)
    model = AutoMixLLM([hosted, proxied], prices=PRICES)
    assert [t.verifier.supports_n for t in model.engine.tiers] == [True, False]  # type: ignore[union-attr]


def test_choice_texts_reads_objects_and_dicts_and_falls_back_to_the_message() -> None:
    msg = ChatMessage(role=MessageRole.ASSISTANT, content="first")
    as_dict = {"choices": [{"message": {"content": "a"}}, {"message": {"content": None}}, {"message": {}}]}
    assert choice_texts(ChatResponse(message=msg, raw=as_dict)) == ["a", "", ""]

    class Message:
        content = "b"

    class Choice:
        message = Message()

    class Raw:
        def __init__(self) -> None:
            self.choices = [Choice(), Choice()]

    assert choice_texts(ChatResponse(message=msg, raw=Raw())) == ["b", "b"]
    assert choice_texts(ChatResponse(message=msg, raw={"choices": []})) == ["first"]
    assert choice_texts(ChatResponse(message=msg)) == ["first"]


def test_a_failing_request_with_n_is_an_error_not_a_silent_fallback() -> None:
    tier = LlamaIndexChatModel(ScriptedLLM(model="s", answers=[RuntimeError("boom")]), native_n=True)
    with pytest.raises(Exception, match="boom"):
        tier.generate([{"role": "user", "content": "q"}], n=3)


def test_base_module_names_are_pinned() -> None:
    import automix_llamaindex.base as base

    assert sorted(base.__all__) == ["AutoMixEvent", "AutoMixLLM", "Grounding", "LlamaIndexChatModel", "choice_texts",
                                    "grounding_from_prompt", "reported_usage", "supports_native_n",
                                    "to_core_messages"]
    assert all(hasattr(base, name) for name in base.__all__)

