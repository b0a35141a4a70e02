"""What a LangChain user hits first (issue 17): prices, timeouts, programming errors, streaming events,
structured output, progress events, router names, from_config on local endpoints."""

from __future__ import annotations

import time
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda

from automix_core.accounting.prices import Price, PriceTable, UnknownPriceError
from automix_langchain import AutoMixChatModel, AutoMixRunnable
from tests.fakes.langchain_models import ScriptedChatModel

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=1.0))


def make(small: ScriptedChatModel | None = None, large: ScriptedChatModel | None = None,
         **kwargs: Any) -> AutoMixChatModel:
    small = small or ScriptedChatModel(model_name="small", answer="small answer")
    large = large or ScriptedChatModel(model_name="large", answer="large answer")
    return AutoMixChatModel(tiers=[small, large], **{"prices": PRICES, "k": 2, **kwargs})


# -- bug 1: prices -----------------------------------------------------------------------------------

def test_local_catalog_models_are_priced_by_default() -> None:
    small = ScriptedChatModel(model_name="smollm2-135m", answer="a")
    model = AutoMixChatModel(tiers=[small, ScriptedChatModel(model_name="qwen2.5-coder-1.5b")], k=1)
    msg = model.invoke("q?")
    assert msg.response_metadata["automix"]["cost"] > 0


def test_unknown_price_fails_at_construction_naming_the_tier_and_the_fix() -> None:
    small = ScriptedChatModel(model_name="smollm2-135m")
    mystery = ScriptedChatModel(model_name="mystery-7b")
    with pytest.raises(UnknownPriceError) as info:
        AutoMixChatModel(tiers=[small, mystery])
    text = str(info.value)
    assert "tier 1 ('mystery-7b')" in text and "with_prices" in text and "PriceTable(default=" in text
    assert mystery.calls == [] and small.calls == []  # nothing was paid
    with pytest.raises(UnknownPriceError, match="tier 1"):
        AutoMixRunnable(tiers=[small, mystery])
    AutoMixChatModel(tiers=[small, mystery], prices=PriceTable(default=Price(input_per_million=0,
                                                                              output_per_million=0)))


# -- bug 3: timeout on the sync path -------------------------------------------------------------------

def test_sync_invoke_honours_timeout() -> None:
    slow = ScriptedChatModel(model_name="small", answer="slow answer", delay=3.0)
    model = make(small=slow, timeout=0.3, retries=0)
    start = time.perf_counter()
    msg = model.invoke("q?")
    assert time.perf_counter() - start < 2.0
    assert msg.content == "large answer"
    tr = msg.response_metadata["automix"]["trace"][0]
    assert "no reply within 0.3 s" in tr["error"]


async def test_async_invoke_honours_timeout() -> None:
    slow = ScriptedChatModel(model_name="small", answer="slow answer", delay=3.0)
    model = make(small=slow, timeout=0.3, retries=0)
    start = time.perf_counter()
    msg = await model.ainvoke("q?")
    assert time.perf_counter() - start < 2.0
    assert msg.content == "large answer"


def test_sync_timeout_is_retryable() -> None:
    slow = ScriptedChatModel(model_name="small", answer="slow answer", delay=0.6)
    make(small=slow, timeout=0.2, retries=1).invoke("q?")
    time.sleep(0.8)  # the abandoned calls finish in their threads
    assert len([c for c in slow.calls if c["purpose"] == "answer"]) == 2


# -- bug 7: programming errors --------------------------------------------------------------------------

def test_type_error_in_a_tier_chain_surfaces_unchanged() -> None:
    bug = TypeError("unsupported operand type(s) for +: 'int' and 'str'")
    calls: list[str] = []

    def broken(_: Any) -> str:
        calls.append("small")
        raise bug

    large = ScriptedChatModel(model_name="large", answer="large answer")
    chain = AutoMixRunnable(tiers=[RunnableLambda(broken), large], verifiers=[large, large],
                            names=["small", "large"], prices=PRICES, k=1, retries=3)
    with pytest.raises(TypeError) as info:
        chain.invoke("q?")
    assert info.value is bug
    assert calls == ["small"] and large.calls == []  # not retried, no escalation: the large model unpaid


async def test_type_error_surfaces_unchanged_async() -> None:
    bug = AttributeError("'NoneType' object has no attribute 'content'")
    small = ScriptedChatModel(model_name="small", fail=bug)
    large = ScriptedChatModel(model_name="large")
    with pytest.raises(AttributeError) as info:
        await make(small=small, large=large, retries=2).ainvoke("q?")
    assert info.value is bug and len(small.calls) == 1 and large.calls == []


def test_provider_failure_still_escalates() -> None:
    class ProviderError(Exception):
        status_code = 401

    small = ScriptedChatModel(model_name="small", fail=ProviderError("bad key"))
    msg = make(small=small).invoke("q?")
    assert msg.content == "large answer" and len(small.calls) == 1


# -- friction: from_config on a local endpoint needs no key ---------------------------------------------

def test_from_config_local_endpoint_needs_no_openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("langchain_openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    url = "http://127.0.0.1:9/v1"
    model = AutoMixChatModel.from_config({"tiers": [
        {"model": "openai:smollm2-135m", "base_url": url}, {"model": "openai:qwen2.5-coder-1.5b", "base_url": url}]})
    assert model.tier_names == ["smollm2-135m", "qwen2.5-coder-1.5b"]


# -- bug 5: astream_events does not stream the children ---------------------------------------------------

class StreamingScripted(ScriptedChatModel):
    """Streams like ChatOpenAI without stream_usage: word chunks, no usage."""

    def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        from langchain_core.messages import AIMessageChunk
        from langchain_core.outputs import ChatGenerationChunk

        text = str(self._reply(messages, {**kwargs, "stop": stop}).content)
        for word in text.split(" "):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word + " "))


async def test_astream_events_streams_no_child_and_keeps_usage_exact() -> None:
    def build() -> AutoMixChatModel:
        return make(small=StreamingScripted(model_name="small", answer="small answer", verdicts=["incorrect"]),
                    large=StreamingScripted(model_name="large", answer="large answer"))

    expected = await build().ainvoke("q?")
    model = build()
    events = [e async for e in model.astream_events("q?", version="v2")]
    streamed = [e for e in events if e["event"] == "on_chat_model_stream"]
    assert streamed and all("automix" not in e.get("tags", []) for e in streamed)  # only the AutoMix run's
    assert "Verdict" not in "".join(str(e["data"]["chunk"].content) for e in streamed)
    starts = [e for e in events if e["event"] == "on_chat_model_start" and "automix:verify" in e.get("tags", [])]
    assert starts  # verification still visible as tagged child runs
    end = [e for e in events if e["event"] == "on_chat_model_end" and "automix" not in e.get("tags", [])][-1]
    assert end["data"]["output"].usage_metadata == expected.usage_metadata
    assert model.ledger.total.estimated_calls == 0
