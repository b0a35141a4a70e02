"""Progress while the cascade runs (issue 17): custom events ``automix.answer``, ``automix.verified``,
``automix.decision`` (and ``automix.failed``), in order, before the first streamed token, on the sync
and async paths, in ``astream_events(version="v2")`` and in callback handlers; no text, no secrets."""

from __future__ import annotations

import json
from typing import Any, cast
from uuid import UUID

import pytest
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.messages import HumanMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables import Runnable, RunnableLambda

from automix_core.accounting.prices import Price, PriceTable
from automix_langchain import AutoMixChatModel, AutoMixRunnable
from automix_langchain.progress import PROGRESS_EVENT_NAMES
from tests.fakes.langchain_models import ScriptedChatModel
from tests.fakes.progress import ESCALATED

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=1.0))
SECRET = "sk-progress-secret-1234567890"



def make(verdict: str = "incorrect", **kwargs: Any) -> AutoMixChatModel:
    small = ScriptedChatModel(model_name="small", answer="small answer", verdicts=[verdict])
    large = ScriptedChatModel(model_name="large", answer="large answer with several words")
    return AutoMixChatModel(tiers=[small, large], **{"prices": PRICES, "k": 2, **kwargs})


class Recorder(BaseCallbackHandler):
    """Every custom event, and the first streamed token and the run's end, in the order they came."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []
        self.run_ids: list[UUID] = []

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.seen.append((name, data))
        self.run_ids.append(run_id)

    def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
        self.seen.append(("token", token))

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.seen.append(("end", None))


class AsyncRecorder(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []

    async def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.seen.append((name, data))

    async def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        self.seen.append(("end", None))


def progress(seen: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(n, d) for n, d in seen if n in PROGRESS_EVENT_NAMES]


def test_invoke_tells_a_handler_each_step_in_order_before_the_run_ends() -> None:
    rec = Recorder()
    msg = make().invoke("q?", config={"callbacks": [rec]})
    assert msg.content == "large answer with several words"
    assert progress(rec.seen) == ESCALATED
    assert rec.seen[-1] == ("end", None)  # the AutoMix run ends after its progress
    assert len(set(rec.run_ids)) == 1  # every event is the AutoMix run's


def test_accepted_at_the_first_tier() -> None:
    rec = Recorder()
    make(verdict="correct").invoke("q?", config={"callbacks": [rec]})
    assert [n for n, _ in progress(rec.seen)] == ["automix.answer", "automix.verified", "automix.decision"]
    assert progress(rec.seen)[1][1]["confidence"] == 1.0
    assert progress(rec.seen)[2][1] == {"tier": 0, "model": "small", "action": "accept", "target": 0,
                                        "target_model": "small", "final": True}


def test_stream_sends_every_event_before_the_first_token() -> None:
    rec = Recorder()
    first: list[tuple[str, Any]] | None = None
    for _chunk in make().stream("q?", config={"callbacks": [rec]}):
        if first is None:
            first = list(rec.seen)
    assert first is not None and progress(first) == ESCALATED  # all of them, when the first chunk arrives
    first_token = next(i for i, (n, _) in enumerate(rec.seen) if n == "token")
    assert max(i for i, (n, _) in enumerate(rec.seen) if n in PROGRESS_EVENT_NAMES) < first_token


async def test_astream_with_an_async_handler_in_order_before_the_first_token() -> None:
    rec = AsyncRecorder()
    first: list[tuple[str, Any]] | None = None
    async for _chunk in make().astream("q?", config={"callbacks": [rec]}):
        if first is None:
            first = list(rec.seen)
    assert first is not None and progress(first) == ESCALATED


async def test_ainvoke_delivers_the_events_before_the_run_ends() -> None:
    rec = AsyncRecorder()
    await make().ainvoke("q?", config={"callbacks": [rec]})
    assert progress(rec.seen) == ESCALATED and rec.seen[-1] == ("end", None)


async def test_astream_events_v2_shows_them_before_the_first_stream_event() -> None:
    model = make()
    events = [e async for e in model.astream_events("q?", version="v2")]
    kinds = [e["event"] if e["event"] != "on_custom_event" else e["name"] for e in events]
    first_stream = kinds.index("on_chat_model_stream")
    shown = [(e["name"], e["data"]) for e in events if e["event"] == "on_custom_event"]
    assert shown == ESCALATED
    assert max(i for i, k in enumerate(kinds) if k.startswith("automix.")) < first_stream
    automix_run = next(e["run_id"] for e in events if e["event"] == "on_chat_model_start"
                       and e["name"] == "AutoMixChatModel")
    assert {e["run_id"] for e in events if e["event"] == "on_custom_event"} == {automix_run}
    # only the chosen answer is streamed (the children are not)
    streamed = "".join(e["data"]["chunk"].content for e in events if e["event"] == "on_chat_model_stream")
    assert streamed == "large answer with several words"


async def test_astream_events_can_filter_progress_by_name() -> None:
    events = [e async for e in make(verdict="correct").astream_events(
        "q?", version="v2", include_names=["automix.decision"])]
    assert [cast(dict[str, Any], e["data"])["action"] for e in events] == ["accept"]


def test_a_failing_verification_is_reported_without_its_message() -> None:
    small = ScriptedChatModel(model_name="small", answer=f"small answer {SECRET}",
                              fail_verify=RuntimeError(f"401 bad key {SECRET}"))
    large = ScriptedChatModel(model_name="large", answer="large")
    rec = Recorder()
    AutoMixChatModel(tiers=[small, large], prices=PRICES, k=1, retries=0).invoke(
        f"q? {SECRET}", config={"callbacks": [rec]})
    names = [n for n, _ in progress(rec.seen)]
    assert names[:3] == ["automix.answer", "automix.failed", "automix.verified"]
    assert progress(rec.seen)[1][1] == {"tier": 0, "model": "small", "stage": "verify", "error": "ModelError"}
    dumped = json.dumps(progress(rec.seen))
    assert SECRET not in dumped and "small answer" not in dumped and "q?" not in dumped


def test_a_failing_handler_does_not_break_the_request() -> None:
    class Broken(BaseCallbackHandler):
        def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
            raise RuntimeError("handler bug")

    assert make().invoke("q?", config={"callbacks": [Broken()]}).content == "large answer with several words"


def test_without_handlers_nothing_is_built() -> None:
    model = make()
    _, request, sender = model._request([HumanMessage("q?")], None, {}, lambda: None)
    assert request.hook is None and sender is None and model._engine_now().hooks == []


@pytest.mark.parametrize("use_async", [False, True])
async def test_runnable_reports_progress_before_its_route_event(use_async: bool) -> None:
    judged = ScriptedChatModel(model_name="small", verdicts=["incorrect"])
    small: Runnable[Any, Any] = RunnableLambda(lambda x: "small") | judged
    large: Runnable[Any, Any] = RunnableLambda(lambda x: "large") | ScriptedChatModel(model_name="large")
    chain = AutoMixRunnable(tiers=[small, large], prices=PRICES, k=1)
    rec = Recorder()
    if use_async:
        await chain.ainvoke("q?", config={"callbacks": [rec]})
    else:
        chain.invoke("q?", config={"callbacks": [rec]})
    names = [n for n, _ in rec.seen if n != "end"]
    assert names == ["automix.answer", "automix.verified", "automix.decision", "automix.answer",
                     "automix.decision", "automix"]
