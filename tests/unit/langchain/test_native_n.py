"""Verification samples in one request with ``n`` (``verify_n``), through langchain-openai's ChatOpenAI."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("langchain_openai")

from langchain_openai import ChatOpenAI

from automix_core.accounting.prices import Price, PriceTable
from automix_langchain import AutoMixChatModel
from automix_langchain.tiers import supports_native_n
from tests.fakes.langchain_models import ScriptedChatModel
from tests.fakes.openai_server import assert_one_verification_request, fake_openai

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=2.0))


def _chat(url: str, name: str) -> ChatOpenAI:
    return ChatOpenAI(model=name, base_url=url, api_key="sk-test", max_retries=0)  # type: ignore[arg-type]


def _verify_bodies(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in bodies if "You check proposed answers" in str(b["messages"][0]["content"])]


@pytest.mark.parametrize("use_async", [False, True])
def test_verify_n_draws_the_samples_in_one_request_and_bills_its_prompt_once(use_async: bool) -> None:
    with fake_openai() as server:
        model = AutoMixChatModel(tiers=[_chat(server.url, "small"), _chat(server.url, "large")], prices=PRICES,
                                 k=4, verify_n=True)
        out = asyncio.run(model.ainvoke("Is water wet?")) if use_async else model.invoke("Is water wet?")
        verify = _verify_bodies(server.bodies)
    assert [b.get("n") for b in verify] == [4] and len(server.bodies) == 2  # the answer, then one request
    trace = out.response_metadata["automix"]["trace"][0]
    assert trace["confidence"] == 1.0 and len(trace["verdicts"]) == 4
    assert_one_verification_request(model.ledger.snapshot().entries, model.ledger.total.calls, verify[0])


@pytest.mark.parametrize("use_async", [False, True])
def test_model_refusing_n_gets_the_samples_as_separate_requests(use_async: bool) -> None:
    with fake_openai(reject_n=True) as server:
        model = AutoMixChatModel(tiers=[_chat(server.url, "small"), _chat(server.url, "large")], prices=PRICES,
                                 k=3, verify_n=True)
        out = asyncio.run(model.ainvoke("Is water wet?")) if use_async else model.invoke("Is water wet?")
        verify = _verify_bodies(server.bodies)
    assert [b.get("n") for b in verify] == [3, None, None, None]  # refused (HTTP 400), then one by one
    assert out.response_metadata["automix"]["trace"][0]["decision"] == "accept"
    assert model.ledger.total.calls == 1 + 3


def test_server_ignoring_n_gets_the_missing_samples_as_separate_requests() -> None:
    with fake_openai(max_n=1) as server:
        model = AutoMixChatModel(tiers=[_chat(server.url, "small"), _chat(server.url, "large")], prices=PRICES,
                                 k=3, verify_n=True)
        out = model.invoke("Is water wet?")
        verify = _verify_bodies(server.bodies)
    assert [b.get("n") for b in verify] == [3, None, None]
    assert len(out.response_metadata["automix"]["trace"][0]["verdicts"]) == 3
    assert model.ledger.total.calls == 1 + 3


def test_default_sends_k_requests_to_other_openai_compatible_servers() -> None:
    with fake_openai() as server:
        model = AutoMixChatModel(tiers=[_chat(server.url, "small"), _chat(server.url, "large")], prices=PRICES, k=3)
        model.invoke("Is water wet?")
        verify = _verify_bodies(server.bodies)
    assert [b.get("n") for b in verify] == [None] * 3  # llama.cpp & co. may miscount usage over choices


def test_native_n_is_on_by_default_only_for_openai_own_endpoint() -> None:
    hosted = ChatOpenAI(model="gpt-4o-mini", api_key="sk-test")  # type: ignore[arg-type]
    local = ChatOpenAI(model="local", base_url="http://127.0.0.1:1/v1", api_key="sk-test")  # type: ignore[arg-type]
    scripted = ScriptedChatModel(model_name="s")
    assert supports_native_n(hosted, None) and not supports_native_n(local, None)
    assert supports_native_n(local, True) and not supports_native_n(hosted, False)
    assert not supports_native_n(scripted, True)  # no `n` parameter: never
    assert not supports_native_n(None, True)


def test_tiers_module_names_are_pinned() -> None:
    import automix_langchain.tiers as tiers

    assert sorted(tiers.__all__) == ["ChildCallbacks", "RequestInput", "RunnableTier", "ToolCallPolicy",
                                     "UsageCollector", "supports_native_n", "tier_name"]
    assert all(hasattr(tiers, name) for name in tiers.__all__)

