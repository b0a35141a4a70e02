"""Progress while the cascade runs (issue 17): AutoMixAnswerEvent, AutoMixVerifiedEvent,
AutoMixDecisionEvent (and AutoMixFailedEvent) through LlamaIndex's instrumentation dispatcher, in
order, in the AutoMix call's span, before the first streamed token, on the sync and async paths."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler
from llama_index_instrumentation import get_dispatcher

from automix_core.accounting.prices import Price, PriceTable
from automix_llamaindex import (
    AutoMixAnswerEvent,
    AutoMixDecisionEvent,
    AutoMixEvent,
    AutoMixFailedEvent,
    AutoMixLLM,
    AutoMixProgressEvent,
    AutoMixVerifiedEvent,
)
from tests.fakes.llamaindex_models import ScriptedLLM
from tests.fakes.progress import ESCALATED

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=1.0))
SECRET = "sk-progress-secret-1234567890"



class Recorder(BaseEventHandler):
    seen: list[BaseEvent]

    @classmethod
    def class_name(cls) -> str:
        return "ProgressRecorder"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.seen.append(event)

    def progress(self) -> list[tuple[str, dict[str, Any]]]:
        return [(e.progress_name, {k: getattr(e, k) for k in _FIELDS[type(e)]}) for e in self.seen
                if isinstance(e, AutoMixProgressEvent)]


_FIELDS: dict[type[AutoMixProgressEvent], set[str]] = {c: set(c.model_fields) - set(BaseEvent.model_fields)
           for c in (AutoMixAnswerEvent, AutoMixVerifiedEvent, AutoMixDecisionEvent, AutoMixFailedEvent)}


@pytest.fixture
def rec() -> Iterator[Recorder]:
    recorder = Recorder(seen=[])
    root = get_dispatcher()
    root.add_event_handler(recorder)
    try:
        yield recorder
    finally:
        root.event_handlers.remove(recorder)


def make(verdict: str = "incorrect", **kw: Any) -> AutoMixLLM:
    small = ScriptedLLM(model="small", answer="small answer", verdict=verdict)
    large = ScriptedLLM(model="large", answer="large answer")
    return AutoMixLLM([small, large], prices=PRICES, k=kw.pop("k", 2), **kw)


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


def test_chat_dispatches_each_step_in_order_in_the_chat_span(rec: Recorder) -> None:
    spans = SimpleSpanHandler()
    root = get_dispatcher()
    root.add_span_handler(spans)
    try:
        assert make().chat(user("q?")).message.content == "large answer"
    finally:
        root.span_handlers.remove(spans)
    assert rec.progress() == ESCALATED
    progress = [e for e in rec.seen if isinstance(e, AutoMixProgressEvent)]
    chat_span = next(s.id_ for s in spans.completed_spans if s.id_.startswith("AutoMixLLM.chat"))
    assert {e.span_id for e in progress} == {chat_span}
    # the end-of-cascade event (the whole route) comes after them
    assert max(rec.seen.index(e) for e in progress) < next(
        i for i, e in enumerate(rec.seen) if isinstance(e, AutoMixEvent))


def test_accepted_at_the_first_tier(rec: Recorder) -> None:
    make(verdict="correct").complete("q?")
    assert [name for name, _ in rec.progress()] == ["automix.answer", "automix.verified", "automix.decision"]
    decision = rec.seen[[type(e) for e in rec.seen].index(AutoMixDecisionEvent)]
    assert isinstance(decision, AutoMixDecisionEvent) and decision.final and decision.target == 0


async def test_achat_dispatches_the_same(rec: Recorder) -> None:
    await make().achat(user("q?"))
    assert rec.progress() == ESCALATED


def test_stream_chat_has_every_event_before_the_first_token(rec: Recorder) -> None:
    first: list[tuple[str, dict[str, Any]]] | None = None
    for _r in make().stream_chat(user("q?")):
        if first is None:
            first = rec.progress()
    assert first == ESCALATED


async def test_astream_complete_has_every_event_before_the_first_token(rec: Recorder) -> None:
    first: list[tuple[str, dict[str, Any]]] | None = None
    async for _r in await make().astream_complete("q?"):
        if first is None:
            first = rec.progress()
    assert first == ESCALATED


def test_a_failing_verification_is_reported_without_its_message(rec: Recorder) -> None:
    small = ScriptedLLM(model="small", answer=f"small {SECRET}", verdicts=[RuntimeError(f"401 key {SECRET}")])
    large = ScriptedLLM(model="large", answer="large")
    AutoMixLLM([small, large], prices=PRICES, k=1, retries=0).chat(user(f"q? {SECRET}"))
    names = [name for name, _ in rec.progress()]
    assert names[:3] == ["automix.answer", "automix.failed", "automix.verified"]
    assert rec.progress()[1][1] == {"tier": 0, "model": "small", "stage": "verify", "error": "ModelError"}
    dumped = json.dumps(rec.progress())
    assert SECRET not in dumped and "small" + " " + SECRET not in dumped


def test_without_a_handler_no_progress_event_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []
    original = AutoMixProgressEvent.__init__

    def spy(self: Any, **data: Any) -> None:
        built.append(type(self))
        original(self, **data)

    monkeypatch.setattr(AutoMixProgressEvent, "__init__", spy)
    make().chat(user("q?"))
    assert built == []
