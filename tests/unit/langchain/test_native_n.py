"""Verification samples in one request with ``n`` (``verify_n``), through langchain-openai's ChatOpenAI."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("langchain_openai")

from langchain_openai import ChatOpenAI

from automix_core.accounting.prices import Price, PriceTable
from automix_core.testing import is_verification_text
from automix_langchain import AutoMixChatModel
from automix_langchain.tiers import supports_native_n
from tests.fakes.langchain_models import ScriptedChatModel
from tests.fakes.openai_server import assert_one_verification_request, fake_openai

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=2.0))


def _chat(url: str, name: str) -> ChatOpenAI:
    return ChatOpenAI(model=name, base_url=url, api_key="sk-test", max_retries=0)  # type: ignore[arg-type]


def _verify_bodies(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in bodies if is_verification_text(b["messages"][0]["content"])]


@pytest.mark.parametrize("use_async", [False, True])
def test_verify_n_draws_the_samples_in_one_request_and_bills_its_prompt_once(use_async: bool) -> None:
    with fake_openai() as server:
        model = AutoMixChatModel(tiers=[_chat(server.url, "small"), _chat(server.url, "large")], prices=PRICES,
                                 k=4, verify_n=True, verify_mode="sample")
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
                                 k=3, verify_n=True, verify_mode="sample")
        out = asyncio.run(model.ainvoke("Is water wet?")) if use_async else model.invoke("Is water wet?")
        verify = _verify_bodies(server.bodies)
    assert [b.get("n") for b in verify] == [3, None, None, None]  # refused (HTTP 400), then one by one
    assert out.response_metadata["automix"]["trace"][0]["decision"] == "accept"
    assert model.ledger.total.calls == 1 + 3


def test_server_ignoring_n_gets_the_missing_samples_as_separate_requests() -> None:
    with fake_openai(max_n=1) as server:
        model = AutoMixChatModel(tiers=[_chat(server.url, "small"), _chat(server.url, "large")], prices=PRICES,
                                 k=3, verify_n=True, verify_mode="sample")
        out = model.invoke("Is water wet?")
        verify = _verify_bodies(server.bodies)
    assert [b.get("n") for b in verify] == [3, None, None]
    assert len(out.response_metadata["automix"]["trace"][0]["verdicts"]) == 3
    assert model.ledger.total.calls == 1 + 3


def test_default_sends_k_requests_to_other_openai_compatible_servers() -> None:
    with fake_openai() as server:
        model = AutoMixChatModel(tiers=[_chat(server.url, "small"), _chat(server.url, "large")], prices=PRICES, k=3,
                                 verify_mode="sample")
        model.invoke("Is water wet?")
        verify = _verify_bodies(server.bodies)
    assert [b.get("n") for b in verify] == [None] * 3  # llama.cpp & co. may miscount usage over choices


def test_untrained_default_on_an_openai_compatible_server_verifies_with_one_logprob_call() -> None:
    # llama.cpp through the adapter, no router: the cheapest method it may support, not k separate samples
    with fake_openai() as server:
        model = AutoMixChatModel(tiers=[_chat(server.url, "small"), _chat(server.url, "large")], prices=PRICES, k=3)
        model.invoke("Is water wet?")
        verify = _verify_bodies(server.bodies)
    assert len(verify) == 1 and verify[0].get("logprobs") is True and verify[0].get("n") is None


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

    assert sorted(tiers.__all__) == ["ChildCallbacks", "RequestState", "RunnableTier", "ToolCallPolicy",
                                     "UsageCollector", "supports_native_n", "tier_name"]
    assert all(hasattr(tiers, name) for name in tiers.__all__)



# -- issue 17, bug 6: a server counting the first choice's tokens only (llama.cpp) ------------------------

def _varied() -> Any:
    """Replies whose choices differ in length: verification samples of 1, 2, 3, ... words before the verdict."""
    count = iter(range(1, 1000))

    def reply(body: dict[str, Any]) -> str:
        if not is_verification_text(body["messages"][0]["content"]):
            return "yes"
        return "Justification: " + " ".join(["fine"] * next(count)) + "\nVerdict: correct"

    return reply


@pytest.mark.parametrize("use_async", [False, True])
def test_verify_n_on_a_first_choice_server_bills_every_choice(use_async: bool) -> None:
    with fake_openai(reply=_varied(), first_choice_usage=True) as server:
        model = AutoMixChatModel(tiers=[_chat(server.url, "small"), _chat(server.url, "large")], prices=PRICES,
                                 k=4, verify_mode="sample", verify_n=True)
        asyncio.run(model.ainvoke("Is water wet?")) if use_async else model.invoke("Is water wet?")
        (body,) = _verify_bodies(server.bodies)
    assert (body["n"], body["logprobs"], body["top_logprobs"]) == (4, True, 1)  # to count every choice
    (entry,) = [e for e in model.ledger.snapshot().entries if e.purpose == "verify"]
    words = sum(len(f"Justification: {' '.join(['fine'] * i)}\nVerdict: correct".split()) for i in (1, 2, 3, 4))
    assert (entry.output_tokens, entry.estimated, entry.requests) == (words, False, 1)  # not choice 0's 4


def test_verify_n_without_logprobs_from_a_first_choice_server_is_estimated_and_marked() -> None:
    with fake_openai(reply=_varied(), first_choice_usage=True, logprobs=False) as server:
        model = AutoMixChatModel(tiers=[_chat(server.url, "small"), _chat(server.url, "large")], prices=PRICES,
                                 k=4, verify_mode="sample", verify_n=True)
        model.invoke("Is water wet?")
    (entry,) = [e for e in model.ledger.snapshot().entries if e.purpose == "verify"]
    assert entry.estimated and entry.output_tokens > 4  # the undercount (choice 0's 4 tokens) is not billed


def test_usage_scope_all_choices_trusts_the_reported_count() -> None:
    with fake_openai(reply=_varied()) as server:
        model = AutoMixChatModel(tiers=[_chat(server.url, "small"), _chat(server.url, "large")], prices=PRICES,
                                 k=4, verify_mode="sample", verify_n=True, usage_scope="all_choices")
        model.invoke("Is water wet?")
        (body,) = _verify_bodies(server.bodies)
    assert "logprobs" not in body  # nothing asked beyond the samples
    (entry,) = [e for e in model.ledger.snapshot().entries if e.purpose == "verify"]
    assert not entry.estimated and entry.output_tokens == 4 + 5 + 6 + 7


# -- issue 17, bug 5: astream_events makes the requests invoke makes ------------------------------------------

@pytest.mark.parametrize("verify_n", [True, False])
async def test_astream_events_makes_the_same_requests_as_invoke(verify_n: bool) -> None:
    async def run(events: bool) -> tuple[list[dict[str, Any]], Any, Any]:
        with fake_openai() as server:
            model = AutoMixChatModel(tiers=[_chat(server.url, "small"), _chat(server.url, "large")], prices=PRICES,
                                     k=3, verify_mode="sample", verify_n=verify_n)
            if events:
                seen = [e async for e in model.astream_events("Is water wet?", version="v2")]
                streamed = [e for e in seen if e["event"] == "on_chat_model_stream"]
                assert all("automix" not in e.get("tags", []) for e in streamed)
                out = [e for e in seen if e["event"] == "on_chat_model_end" and "automix" not in e.get("tags", [])]
                msg = out[-1]["data"]["output"]
            else:
                msg = await model.ainvoke("Is water wet?")
            return [{k: v for k, v in b.items() if k in ("n", "stream", "logprobs")} for b in server.bodies], msg, model

    invoked, expected, _ = await run(False)
    streamed, msg, model = await run(True)
    assert sorted(map(str, streamed)) == sorted(map(str, invoked))  # the same requests, none streamed
    assert len(invoked) == (2 if verify_n else 4)
    assert msg.usage_metadata == expected.usage_metadata and model.ledger.total.estimated_calls == 0


def test_usage_scope_default_trusts_only_openai_own_endpoint() -> None:
    hosted = ChatOpenAI(model="gpt-4o-mini", api_key="sk-test")  # type: ignore[arg-type]
    local = ChatOpenAI(model="local", base_url="http://127.0.0.1:1/v1", api_key="sk-test")  # type: ignore[arg-type]
    tiers: list[Any] = [ScriptedChatModel(model_name="a"), ScriptedChatModel(model_name="b")]
    plan = AutoMixChatModel(tiers=tiers, prices=PRICES, verify_n=True).verify_n_plan
    assert plan(hosted) == {"native_n": True, "usage_scope": "all_choices"}  # OpenAI counts every choice
    assert plan(local) == {"native_n": True, "usage_scope": "first_choice"}  # llama.cpp & co.: count them
    default = AutoMixChatModel(tiers=tiers, prices=PRICES).verify_n_plan
    assert default(hosted) == {"native_n": True, "usage_scope": "all_choices"}
    assert default(local)["native_n"] is False
    given = AutoMixChatModel(tiers=tiers, prices=PRICES, verify_n=True, usage_scope="all_choices").verify_n_plan
    assert given(local)["usage_scope"] == "all_choices"
