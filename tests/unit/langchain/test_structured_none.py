"""``with_structured_output(..., method="function_calling")`` on a tier that answers in text instead of calling
the tool (small local models do): LangChain's parser gives ``parsed=None`` and no error; AutoMix raises a
clear error naming the tier, its reply and the fix instead of returning None."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel

from automix_core.accounting.prices import Price, PriceTable
from automix_langchain import AutoMixChatModel
from tests.fakes.langchain_models import ScriptedChatModel

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=1.0))


class Person(BaseModel):
    name: str
    age: int


class TextOnly(ScriptedChatModel):
    """A tier whose structured output never calls the tool: ``{"raw": <text>, "parsed": None}``."""

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any]]:
        def reply(_: Any) -> dict[str, Any]:
            return {"raw": AIMessage(content="Ada is a person aged 36."), "parsed": None, "parsing_error": None}

        return RunnableLambda(reply)


def test_parsed_none_raises_a_clear_error() -> None:
    small = TextOnly(model_name="small", answer="x", verdicts=["correct"])
    large = TextOnly(model_name="large", answer="x")
    model = AutoMixChatModel(tiers=[small, large], prices=PRICES, k=1)
    with pytest.raises(ValueError, match=r"no structured output.*Ada is a person aged 36.*json_schema"):
        model.with_structured_output(Person, method="function_calling").invoke("Ada is 36")


def test_include_raw_still_returns_the_raw_reply() -> None:  # the caller asked to inspect: no error
    small = TextOnly(model_name="small", answer="x", verdicts=["correct"])
    model = AutoMixChatModel(tiers=[small, TextOnly(model_name="large", answer="x")], prices=PRICES, k=1)
    out = model.with_structured_output(Person, include_raw=True).invoke("Ada is 36")
    assert isinstance(out, dict) and out["parsed"] is None and isinstance(out["raw"], AIMessage)
