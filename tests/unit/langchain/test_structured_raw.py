"""``with_structured_output(..., include_raw=True)``: the raw message carries the route and the usage
of every call (issue 17: it carried the answer's usage only, and no trace)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from pydantic import BaseModel

from automix_core.accounting.prices import Price, PriceTable
from automix_core.testing import is_verification_text
from automix_langchain import AutoMixChatModel
from tests.fakes.langchain_models import ScriptedChatModel

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=1.0))


class Person(BaseModel):
    name: str
    age: int


def _check(out: dict[str, Any], model: AutoMixChatModel, tiers_visited: list[int], name: str) -> None:
    raw = out["raw"]
    assert isinstance(raw, AIMessage) and out["parsed"] is not None and out["parsing_error"] is None
    route = raw.response_metadata["automix"]
    assert route["tiers_visited"] == tiers_visited and raw.response_metadata["model_name"] == name
    total = model.ledger.total
    assert raw.usage_metadata is not None
    assert (raw.usage_metadata["input_tokens"], raw.usage_metadata["output_tokens"]) == (
        total.input_tokens, total.output_tokens)  # every call: answers and verification
    assert raw.usage_metadata["total_tokens"] == total.input_tokens + total.output_tokens
    assert (route["input_tokens"], route["output_tokens"]) == (total.input_tokens, total.output_tokens)


@pytest.mark.parametrize("use_async", [False, True])
def test_include_raw_function_calling_carries_route_and_full_usage(use_async: bool) -> None:
    import asyncio

    small = ScriptedChatModel(model_name="small", verdicts=["incorrect"])
    model = AutoMixChatModel(tiers=[small, ScriptedChatModel(model_name="large")], prices=PRICES, k=2,
                             verify_mode="sample")
    structured = model.with_structured_output(Person, include_raw=True)
    out = asyncio.run(structured.ainvoke("Ada is 36")) if use_async else structured.invoke("Ada is 36")
    assert isinstance(out, dict) and out["parsed"] == Person(name="Ada is 36", age=3)
    assert out["raw"].tool_calls  # the chosen tier's own message otherwise (function calling)
    _check(out, model, [0, 1], "large")
    assert model.ledger.total.calls == 4  # two answers, two verification samples


def test_include_raw_json_schema_through_chatopenai() -> None:
    pytest.importorskip("langchain_openai")
    from langchain_openai import ChatOpenAI

    from tests.fakes.openai_server import fake_openai

    def reply(body: dict[str, Any]) -> str:
        if is_verification_text(body["messages"][0]["content"]):
            return "Justification: fine.\nVerdict: correct"
        assert body["response_format"]["type"] == "json_schema"
        return json.dumps({"name": "Ada", "age": 36})

    with fake_openai(reply=reply) as server:
        tiers: list[Any] = [ChatOpenAI(model=m, base_url=server.url, api_key="sk-test", max_retries=0)  # type: ignore[arg-type]
                 for m in ("small", "large")]
        model = AutoMixChatModel(tiers=tiers, prices=PRICES, k=2, verify_mode="sample")
        out = model.with_structured_output(Person, method="json_schema", include_raw=True).invoke("Ada is 36")
    assert isinstance(out, dict) and out["parsed"] == Person(name="Ada", age=36)
    _check(out, model, [0], "small")
    answer = [e for e in model.ledger.snapshot().entries if e.purpose == "answer"]
    assert out["raw"].usage_metadata["output_tokens"] > answer[0].output_tokens  # not the answer's alone


def test_without_include_raw_the_parsed_object_is_returned() -> None:
    model = AutoMixChatModel(tiers=[ScriptedChatModel(model_name="small"), ScriptedChatModel(model_name="large")],
                             prices=PRICES, k=1, verify_mode="sample")
    assert model.with_structured_output(Person).invoke("Bob is 3") == Person(name="Bob is 3", age=3)
