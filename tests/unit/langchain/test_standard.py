"""langchain-tests' standard suites for AutoMixChatModel, offline over scripted child chat models.

The child models (tests/fakes/langchain_models.py) report usage and support tools. The small tier's
verifier is scripted to say "incorrect" half the time, so requests both stop at the small tier and
escalate. Only the structured-output tests that require exactly one ``on_chat_model_start`` event
are xfailed: AutoMix makes several chat model calls per request and traces each as a child run.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from automix_core.accounting.prices import Price, PriceTable
from automix_langchain import AutoMixChatModel
from tests.fakes.langchain_models import ScriptedChatModel

PRICES = PriceTable(default=Price(input_per_million=0.1, output_per_million=0.2))

ONE_START_EVENT = (
    "counts on_chat_model_start events and expects exactly one; AutoMix traces every tier and "
    "verification call as a child chat model run, so any router that traces its children has more"
)

SCHEMA_TYPES = ["pydantic", "typeddict", "json_schema"]


def _params() -> dict[str, Any]:
    return {
        "tiers": [
            ScriptedChatModel(model_name="small-model", answer="Hello from the small model.",
                              verdicts=["correct", "incorrect"]),
            ScriptedChatModel(model_name="large-model", answer="Hello from the large model."),
        ],
        "prices": PRICES,
        "k": 2,
    }


class TestAutoMixChatModelUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return AutoMixChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return _params()

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def supports_model_override(self) -> bool:
        return False


class TestAutoMixChatModelIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return AutoMixChatModel

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return _params()

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def supports_model_override(self) -> bool:
        return False

    @pytest.mark.xfail(reason=ONE_START_EVENT, strict=True, raises=AssertionError)
    @pytest.mark.parametrize("schema_type", SCHEMA_TYPES)
    def test_structured_output(self, model: BaseChatModel, schema_type: Any) -> None:
        super().test_structured_output(model, schema_type)

    @pytest.mark.xfail(reason=ONE_START_EVENT, strict=True, raises=AssertionError)
    @pytest.mark.parametrize("schema_type", SCHEMA_TYPES)
    async def test_structured_output_async(self, model: BaseChatModel, schema_type: Any) -> None:
        await super().test_structured_output_async(model, schema_type)
