"""Bad input and faults for the LangChain adapter, and its public surface."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, SystemMessage

import automix_langchain
from automix_core import AllTiersFailedError
from automix_core.accounting.prices import Price, PriceTable, UnknownPriceError
from automix_langchain import AutoMixChatModel, AutoMixRunnable, UnsupportedMessageError
from tests.fakes.langchain_models import ScriptedChatModel

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=1.0))


def make(small: ScriptedChatModel | None = None, large: ScriptedChatModel | None = None,
         **kwargs: Any) -> AutoMixChatModel:
    small = small or ScriptedChatModel(model_name="small", answer="small answer")
    large = large or ScriptedChatModel(model_name="large", answer="large answer")
    return AutoMixChatModel(tiers=[small, large], prices=PRICES, k=2, **kwargs)


def test_public_api_is_pinned() -> None:
    assert automix_langchain.__all__ == [
        "ROUTE_EVENT",
        "UTILITY_TAG",
        "AutoMixChatModel",
        "AutoMixRunnable",
        "ConfigError",
        "UnsupportedMessageError",
        "UsageCollector",
        "load_config",
        "question_and_context",
    ]
    for name in automix_langchain.__all__:
        assert hasattr(automix_langchain, name)


def test_import_error_names_the_extra() -> None:
    code = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "langchain_core" or name.startswith("langchain_core."):
                    raise ImportError("blocked " + name)
                return None
        sys.meta_path.insert(0, Block())
        try:
            import automix_langchain
        except ImportError as e:
            print("IMPORTERROR", e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "IMPORTERROR" in out.stdout and "pip install 'automix[langchain]'" in out.stdout


@pytest.mark.parametrize("bad", ["", "   \n\t", [HumanMessage("   ")], [SystemMessage("only a system prompt")]])
def test_empty_or_whitespace_input_is_a_clear_error(bad: Any) -> None:
    model = make()
    with pytest.raises(ValueError, match="human message with text"):
        model.invoke(bad)
    assert model.ledger.total.calls == 0


def test_unsupported_message_type() -> None:
    with pytest.raises(UnsupportedMessageError, match="ChatMessage with role 'critic'"):
        make().invoke([ChatMessage(role="critic", content="hm"), HumanMessage("q?")])
    # known chat roles are fine
    msg = make().invoke([ChatMessage(role="user", content="q?")])
    assert msg.content == "small answer"


def test_unsupported_runnable_input() -> None:
    small = ScriptedChatModel(model_name="small")
    large = ScriptedChatModel(model_name="large")
    r = AutoMixRunnable(tiers=[small, large], prices=PRICES, k=1)
    with pytest.raises(UnsupportedMessageError, match="input of type int"):
        r.invoke(42)
    with pytest.raises(KeyError, match="no 'question' key"):
        r.invoke({"query": "x"})
    with pytest.raises(ValueError, match="empty question"):
        r.invoke({"question": "  "})


def test_too_few_tiers_and_mismatched_verifiers() -> None:
    with pytest.raises(ValueError, match="at least two tiers"):
        AutoMixChatModel(tiers=[ScriptedChatModel()], prices=PRICES)
    with pytest.raises(ValueError, match="one entry"):
        make(verifiers=[None])


def test_tier_that_raises_escalates_and_is_traced() -> None:
    small = ScriptedChatModel(model_name="small", fail=RuntimeError("boom"))
    model = make(small=small)
    msg = model.invoke("q?")
    assert msg.content == "large answer"
    tr = msg.response_metadata["automix"]["trace"][0]
    assert tr["error"] and "boom" in tr["error"] and tr["note"] == "tier failed"
    assert len(small.answers()) == 1  # not retryable: tried once


def test_retryable_failure_is_retried() -> None:
    small = ScriptedChatModel(model_name="small", fail=TimeoutError("slow"))
    make(small=small, max_retries=2).invoke("q?")
    assert len(small.answers()) == 3


def test_every_tier_failing_names_each_failure() -> None:
    model = make(ScriptedChatModel(model_name="small", fail=RuntimeError("s-down")),
                 ScriptedChatModel(model_name="large", fail=RuntimeError("l-down")))
    with pytest.raises(AllTiersFailedError, match="s-down") as info:
        model.invoke("q?")
    assert "l-down" in str(info.value)


async def test_tier_that_times_out_escalates() -> None:
    slow = ScriptedChatModel(model_name="small", delay=2.0)
    model = make(small=slow, timeout=0.1, max_retries=0)
    msg = await model.ainvoke("q?")
    assert msg.content == "large answer"
    assert "no reply within 0.1 s" in msg.response_metadata["automix"]["trace"][0]["error"]


def test_unparseable_verifier_counts_as_not_correct() -> None:
    small = ScriptedChatModel(model_name="small", answer="small answer", verdicts=["?I cannot say."])
    msg = make(small=small).invoke("q?")
    tr = msg.response_metadata["automix"]["trace"][0]
    assert tr["verified"] is False and tr["confidence"] == 0.0 and tr["decision"] == "escalate"
    assert msg.content == "large answer"


def test_verifier_that_raises_counts_as_unverified() -> None:
    small = ScriptedChatModel(model_name="small", fail_verify=RuntimeError("judge down"))
    msg = make(small=small).invoke("q?")
    tr = msg.response_metadata["automix"]["trace"][0]
    assert "judge down" in tr["error"] and tr["decision"] == "escalate"


def test_unknown_price_is_a_clear_error() -> None:
    # raised when the model is built (naming the tier), so no request pays a model and then fails
    with pytest.raises(UnknownPriceError, match="no price for model 'mystery'"):
        AutoMixChatModel(tiers=[ScriptedChatModel(model_name="mystery"), ScriptedChatModel(model_name="big")])


def test_tier_without_tool_support() -> None:
    class NoTools(ScriptedChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

    model = make(small=NoTools(model_name="small"))
    with pytest.raises(NotImplementedError, match="tier 0 \\(small\\) does not support tools"):
        model.bind_tools([{"type": "function", "function": {"name": "f", "parameters": {}}}]).invoke("q?")


def test_empty_answer_from_small_tier_escalates() -> None:
    msg = make(small=ScriptedChatModel(model_name="small", answer="")).invoke("q?")
    assert msg.content == "large answer"
    assert msg.response_metadata["automix"]["trace"][0]["note"] == "empty answer"
    assert isinstance(msg, AIMessage)
