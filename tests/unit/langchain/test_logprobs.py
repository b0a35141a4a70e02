"""Logprob verification through ChatOpenAI tiers (a router calibrated on logprob/continue), on the fake
OpenAI server: one verification request asking for logprobs, its confidence read from them, no fallback."""

from __future__ import annotations

import asyncio
import math
import warnings
from typing import Any

import pytest

pytest.importorskip("langchain_openai")

from langchain_openai import ChatOpenAI

from automix_core import Router
from automix_core.accounting.prices import Price, PriceTable
from automix_core.policies import ThresholdPolicy
from automix_core.verify import CONTINUE_LOGPROB_INSTRUCTION, VerificationMethod
from automix_langchain import AutoMixChatModel
from automix_langchain.logprobs import supports_logprobs
from tests.fakes.langchain_models import ScriptedChatModel
from tests.fakes.openai_server import fake_openai

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=2.0))


def _router(layout: str = "continue") -> Router:
    method = VerificationMethod(mode="logprob", layout=layout, k=1)  # type: ignore[arg-type]
    return Router(["small", "large"], ThresholdPolicy(2, thresholds=[0.5]), n_train=10, verification=method)


def _chat(url: str, name: str) -> ChatOpenAI:
    return ChatOpenAI(model=name, base_url=url, api_key="sk-test", max_retries=0)  # type: ignore[arg-type]


def _reply(body: dict[str, Any]) -> str:
    return "correct" if body.get("logprobs") else "Paris"


@pytest.mark.parametrize("use_async", [False, True])
def test_logprob_router_verifies_chat_openai_tiers_by_one_logprob_request(use_async: bool) -> None:
    with fake_openai(reply=_reply, alternatives={"incorrect": math.log(0.3)}) as server:
        model = AutoMixChatModel(tiers=[_chat(server.url, "small"), _chat(server.url, "large")], prices=PRICES,
                                 router=_router())
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no fallback warning
            out = (asyncio.run(model.ainvoke("Capital of France?")) if use_async
                   else model.invoke("Capital of France?"))
        bodies = list(server.bodies)
    assert len(bodies) == 2  # the answer, then ONE verification request
    verify = bodies[1]
    assert verify["logprobs"] is True and verify["top_logprobs"] == 10 and verify.get("n") in (None, 1)
    # the continue layout: the answer call's own messages, the answer, the verdict instruction
    assert verify["messages"][:2] == [bodies[0]["messages"][-1], {"role": "assistant", "content": "Paris"}]
    assert verify["messages"][-1]["content"] == CONTINUE_LOGPROB_INSTRUCTION
    trace = out.response_metadata["automix"]["trace"][0]
    p = math.exp(-0.1)
    assert trace["verify_mode"] == "logprob"
    assert trace["confidence"] == pytest.approx(p / (p + 0.3))  # from the logprobs, not a parsed verdict
    assert trace["decision"] == "accept" and out.content == "Paris"
    assert [u.purpose for u in model.ledger.snapshot().entries] == ["answer", "verify"]


def test_server_without_logprobs_falls_back_to_sampling_with_a_warning_once_per_chat_model() -> None:
    with fake_openai(reply=lambda b: "Verdict: correct" if len(b["messages"]) > 1 else "Paris",
                     logprobs=False) as server:
        model = AutoMixChatModel(tiers=[_chat(server.url, "small"), _chat(server.url, "large")], prices=PRICES,
                                 router=_router(), k=2)
        with pytest.warns(UserWarning, match="returned no logprobs"):
            out = model.invoke("Capital of France?")
        assert [bool(b.get("logprobs")) for b in server.bodies] == [False, True, False, False]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            again = model.invoke("Capital of France?")  # remembered: samples at once, no failed call
        assert [bool(b.get("logprobs")) for b in server.bodies[4:]] == [False, False, False]
    assert out.response_metadata["automix"]["trace"][0]["verify_mode"] == "sample"
    assert again.response_metadata["automix"]["trace"][0]["verify_mode"] == "sample"


def test_supports_logprobs_by_chat_model() -> None:
    assert supports_logprobs(ChatOpenAI(model="gpt-4o-mini", api_key="sk-test")) is True  # type: ignore[arg-type]
    assert supports_logprobs(_chat("http://127.0.0.1:1/v1", "x")) is None  # another endpoint: tried, remembered
    assert supports_logprobs(ScriptedChatModel(model_name="s")) is False  # never sent logprobs arguments
    assert supports_logprobs(_chat("http://127.0.0.1:1/v1", "x").bind(stop=["x"])) is False


def test_continue_layout_in_sample_mode_sends_the_answer_messages_as_they_are() -> None:
    method = VerificationMethod(mode="sample", layout="continue", k=2)
    router = Router(["small", "large"], ThresholdPolicy(2, thresholds=[0.5]), n_train=10, verification=method)
    with fake_openai(reply=lambda b: "Verdict: correct" if len(b["messages"]) > 2 else "Paris") as server:
        model = AutoMixChatModel(tiers=[_chat(server.url, "small"), _chat(server.url, "large")], prices=PRICES,
                                 router=router)
        out = model.invoke([("system", "Answer briefly."), ("human", "Capital of France?")])
        bodies = list(server.bodies)
    answer = bodies[0]["messages"]
    assert [b["messages"][:len(answer) + 1] for b in bodies[1:]] == [
        [*answer, {"role": "assistant", "content": "Paris"}]] * 2
    trace = out.response_metadata["automix"]["trace"][0]
    assert trace["verify_mode"] == "sample" and trace["confidence"] == 1.0
