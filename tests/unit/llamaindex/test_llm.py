"""AutoMixLLM: metadata, every chat/complete/stream method, usage, grounding inside query engines,
TokenCountingHandler totals and instrumentation spans. Offline, with scripted LlamaIndex LLMs."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from llama_index.core import Document, Settings, SummaryIndex
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, ImageBlock, MessageRole, TextBlock
from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.span import SimpleSpan
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler
from llama_index_instrumentation import get_dispatcher

import automix_llamaindex
from automix_core.accounting.prices import Price, PriceTable
from automix_core.models import Message
from automix_core.verify import adraw, draw
from automix_llamaindex import AutoMixEvent, AutoMixLLM, LlamaIndexChatModel, reported_usage, to_core_messages
from tests.fakes.llamaindex_models import ScriptedLLM, fence

PRICES = PriceTable(prices={"small": Price(input_per_million=1, output_per_million=2),
                            "large": Price(input_per_million=10, output_per_million=20)})
DOC = "The Aldwick footbridge opened in 1932. Building work started in 1930."
QUESTION = "When did building work on the Aldwick footbridge start?"


def make(small: ScriptedLLM | None = None, large: ScriptedLLM | None = None, **kw: Any) -> AutoMixLLM:
    small = small or ScriptedLLM(model="small", window=4096, answer="1930")
    large = large or ScriptedLLM(model="large", window=8192, answer="In 1930.")
    return AutoMixLLM([small, large], prices=PRICES, k=kw.pop("k", 3), **kw)


def raw(r: Any) -> dict[str, Any]:
    """The ``raw`` dict of an AutoMix response."""
    assert isinstance(r.raw, dict)
    return r.raw


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


def child_tokens(*llms: ScriptedLLM) -> int:
    total = 0
    for llm in llms:
        for c in llm.calls:
            prompt = sum(len((m.content or "").split()) for m in c["messages"])
            total += prompt
    return total


@pytest.fixture
def settings_cm() -> Iterator[None]:
    saved = Settings._callback_manager
    yield
    Settings._callback_manager = saved


# -- public surface ---------------------------------------------------------------------------------


def test_public_api_is_pinned() -> None:
    assert sorted(automix_llamaindex.__all__) == sorted([
        "EMPTY_RESPONSE", "AutoMixEvent", "AutoMixLLM", "AutoMixQueryEngine", "AutoMixRuns", "Grounding",
        "LlamaIndexChatModel", "capture", "grounding_from_prompt", "reported_usage", "to_core_messages",
        "AutoMixProgressEvent", "AutoMixAnswerEvent", "AutoMixVerifiedEvent", "AutoMixDecisionEvent",
        "AutoMixFailedEvent",
    ])
    for name in automix_llamaindex.__all__:
        assert hasattr(automix_llamaindex, name)


def test_missing_llama_index_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in [m for m in sys.modules if m == "automix_llamaindex" or m.startswith("automix_llamaindex.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "llama_index.core", None)
    with pytest.raises(ImportError, match=r"pip install 'automix\[llamaindex\]'"):
        importlib.import_module("automix_llamaindex")


def test_metadata_smallest_window_and_chat_flag() -> None:
    llm = make()
    md = llm.metadata
    assert md.context_window == 4096
    assert md.is_chat_model is True
    assert md.num_output == 512
    assert md.model_name == "automix(small, large)"
    assert AutoMixLLM.class_name() == "AutoMixLLM"
    with pytest.raises(ValueError, match="at least two tiers"):
        AutoMixLLM([ScriptedLLM()], prices=PRICES)
    with pytest.raises(ValueError, match="1 names given for 2 tiers"):
        AutoMixLLM([ScriptedLLM(), ScriptedLLM()], names=["a"], prices=PRICES)


# -- chat / complete / stream ----------------------------------------------------------------------


def test_chat_accepts_tier0_and_reports_every_call() -> None:
    small, large = ScriptedLLM(model="small", answer="1930"), ScriptedLLM(model="large")
    llm = make(small, large, k=4)
    r = llm.chat(user(QUESTION))
    assert r.message.content == "1930"
    assert r.additional_kwargs["tier"] == 0 and r.additional_kwargs["escalated"] is False
    assert len(small.answer_calls) == 1 and len(small.verify_calls) == 4 and not large.calls
    # answering at the configured temperature, verification samples at 1.0
    assert small.answer_calls[0]["kwargs"]["temperature"] == 0.0
    assert all(c["kwargs"]["temperature"] == 1.0 and c["kwargs"]["max_tokens"] == 160 for c in small.verify_calls)
    # the usage the children reported, summed: answers and verification
    assert r.additional_kwargs["prompt_tokens"] == child_tokens(small)
    extra = r.additional_kwargs
    assert raw(r)["usage"]["total_tokens"] == extra["prompt_tokens"] + extra["completion_tokens"]
    # one entry per chat request: the answer, and the 4 verification samples drawn by the core's one
    # drawing routine as 4 requests (as for any backend without n)
    assert [(c["purpose"], c["requests"]) for c in raw(r)["calls"]] == [("answer", 1)] + [("verify", 1)] * 4
    assert not any(c["estimated"] for c in raw(r)["calls"])
    trace = raw(r)["automix"]["trace"]
    assert trace[0]["confidence"] == 1.0 and trace[0]["decision"] == "accept"
    assert r.additional_kwargs["cost"] == pytest.approx(llm.ledger.total_cost)


def test_chat_escalates_when_verifier_says_incorrect() -> None:
    small = ScriptedLLM(model="small", answer="1932", verdict="incorrect")
    large = ScriptedLLM(model="large", answer="1930")
    r = make(small, large).chat(user(QUESTION))
    assert r.message.content == "1930"
    assert r.additional_kwargs["tier"] == 1 and r.additional_kwargs["escalated"] is True
    assert [t["tier"] for t in raw(r)["automix"]["trace"]] == [0, 1]
    assert raw(r)["automix"]["trace"][0]["confidence"] == 0.0
    assert len(large.answer_calls) == 1


def test_plain_chat_verifies_last_message_without_context() -> None:
    small = ScriptedLLM(model="small", answer="Paris")
    make(small).chat([ChatMessage(role=MessageRole.SYSTEM, content="Be brief."), *user("Capital of France?")])
    case = small.verify_calls[0]["messages"][-1].content
    assert fence(case, "question") == "Capital of France?"
    assert fence(case, "context") is None
    assert fence(case, "answer") == "Paris"
    # the answering call got the conversation as given
    assert [m.role for m in small.answer_calls[0]["messages"]] == [MessageRole.SYSTEM, MessageRole.USER]


def test_complete_and_streams_yield_final_answer_once() -> None:
    llm = make(ScriptedLLM(model="small", answer="1930"))
    c = llm.complete(QUESTION)
    assert c.text == "1930" and c.additional_kwargs["tier"] == 0
    chunks = list(llm.stream_chat(user(QUESTION)))
    assert len(chunks) == 1 and chunks[0].delta == "1930" and chunks[0].message.content == "1930"
    assert "automix" in raw(chunks[0])
    cchunks = list(llm.stream_complete(QUESTION))
    assert [x.delta for x in cchunks] == ["1930"] and cchunks[0].text == "1930"


async def test_async_twins() -> None:
    small = ScriptedLLM(model="small", answer="1932", verdict="incorrect")
    llm = make(small, ScriptedLLM(model="large", answer="1930"))
    r = await llm.achat(user(QUESTION))
    assert r.message.content == "1930" and r.additional_kwargs["tier"] == 1
    c = await llm.acomplete(QUESTION)
    assert c.text == "1930"
    chunks = [x async for x in await llm.astream_chat(user(QUESTION))]
    assert [x.delta for x in chunks] == ["1930"]
    cchunks = [x async for x in await llm.astream_complete(QUESTION)]
    assert [x.delta for x in cchunks] == ["1930"]
    assert len(small.verify_calls) == 4 * 3  # k samples per request, drawn concurrently


def test_message_conversion_rejects_non_text() -> None:
    assert to_core_messages([ChatMessage(role=MessageRole.DEVELOPER, content="x")]) == [
        {"role": "system", "content": "x"}]
    with pytest.raises(ValueError, match="'tool' message"):
        to_core_messages([ChatMessage(role=MessageRole.TOOL, content="42")])
    img = ChatMessage(role=MessageRole.USER, blocks=[TextBlock(text="what is this?"), ImageBlock(url="http://x/y.png")])
    with pytest.raises(ValueError, match="ImageBlock"):
        make().chat([img])


def test_reported_usage_reads_where_token_counter_reads() -> None:
    msg = ChatMessage(role=MessageRole.ASSISTANT, content="x")
    usage = {"prompt_tokens": 3, "completion_tokens": 4}
    assert reported_usage(ChatResponse(message=msg, raw={"usage": usage})) == (3, 4)
    extra = {"prompt_tokens": 5, "completion_tokens": 6}
    assert reported_usage(ChatResponse(message=msg, additional_kwargs=extra)) == (5, 6)

    class Usage:
        def __init__(self) -> None:
            self.input_tokens, self.output_tokens = 7, 8

    class Raw:
        usage = Usage()

    assert reported_usage(ChatResponse(message=msg, raw=Raw())) == (7, 8)
    assert reported_usage(ChatResponse(message=msg)) == (None, None)
    # a usage dict whose OpenAI-style keys are missing or not ints falls back to the other spellings
    assert reported_usage(ChatResponse(message=msg, raw={"usage": {"input_tokens": 9, "output_tokens": 1}})) == (9, 1)
    odd = {"prompt_tokens": None, "input_tokens": 2, "completion_tokens": True, "output_tokens": 5}
    assert reported_usage(ChatResponse(message=msg, raw={"usage": odd})) == (2, 5)
    assert reported_usage(ChatResponse(message=msg, raw={"usage": {"prompt_tokens": 4}})) == (4, None)


def test_verification_turns_shared_between_calls_survive_a_tier_that_edits_them() -> None:
    seen: list[str] = []

    class Editing(ScriptedLLM):
        def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
            if messages[0].role == MessageRole.SYSTEM:
                seen.append(messages[0].content or "")
            response: ChatResponse = super().chat(messages, **kwargs)
            for m in messages:  # a careless tier rewrites what it was given, in place
                if m.role == MessageRole.SYSTEM:
                    m.content = "tampered"
            return response

    llm = make(Editing(model="small", answer="1930"), k=3)
    llm.chat(user(QUESTION))
    llm.chat(user(QUESTION))
    assert len(seen) == 6 and seen[1] == "tampered"  # within one call the samples share one message list
    assert seen[3] == seen[0] != "tampered"  # the next call starts from the verifier's own instructions


def test_answer_tier_gets_the_callers_own_messages_and_verifier_its_prompt() -> None:
    small = ScriptedLLM(model="small", answer="1930")
    mine = [ChatMessage(role=MessageRole.SYSTEM, content="Be brief.", additional_kwargs={"tag": "sys"}),
            ChatMessage(role=MessageRole.USER, content=QUESTION, additional_kwargs={"name": "ana"})]
    llm = make(small)
    llm.chat(mine)
    answer = [c for c in small.calls if not c["verify"]]
    assert len(answer) == 1 and answer[0]["messages"] == mine  # nothing the caller set is dropped
    assert answer[0]["messages"][1].additional_kwargs == {"name": "ana"}
    verify = [c for c in small.calls if c["verify"]]
    assert verify and all(c["messages"] != mine for c in verify)
    # the pass-through ends with the call: a later direct cascade converts its own messages
    small.calls.clear()
    llm.cascade(user("Another question?"))
    assert [c["messages"][0].content for c in small.calls if not c["verify"]] == ["Another question?"]


def test_unreported_usage_is_estimated_not_crashed() -> None:
    small = ScriptedLLM(model="small", report_usage=False)
    r = make(small).chat(user(QUESTION))
    assert all(c["estimated"] for c in raw(r)["calls"])
    assert r.additional_kwargs["prompt_tokens"] > 0


# -- grounded verification inside query engines ---------------------------------------------------


def _index() -> SummaryIndex:
    return SummaryIndex.from_documents([Document(text=DOC)])


@pytest.mark.parametrize("mode", ["compact", "tree_summarize", "simple_summarize", "refine"])
def test_query_engine_verifier_gets_context_and_question_apart(mode: str) -> None:
    small = ScriptedLLM(model="small", answer="1930")
    llm = make(small)
    response = _index().as_query_engine(llm=llm, response_mode=mode).query(QUESTION)
    assert str(response) == "1930"
    answer_prompt = "\n".join(m.content or "" for m in small.answer_calls[0]["messages"])
    assert DOC in answer_prompt and QUESTION in answer_prompt  # the tier answers the full template
    case = small.verify_calls[0]["messages"][-1].content
    assert fence(case, "question") == QUESTION
    context = fence(case, "context")
    assert context is not None and DOC in context and QUESTION not in context


def test_refine_step_verifies_against_new_passage_and_earlier_answer() -> None:
    docs = [Document(text=DOC), Document(text="The footbridge was repainted in 1999.")]
    small = ScriptedLLM(model="small", answers=["1930", "Work started in 1930."])
    llm = make(small)
    response = SummaryIndex.from_documents(docs).as_query_engine(llm=llm, response_mode="refine").query(QUESTION)
    assert str(response) == "Work started in 1930."
    cases = [c["messages"][-1].content for c in small.verify_calls]
    second = fence(cases[-1], "context")
    assert second is not None and "repainted in 1999" in second and "1930" in second and DOC not in second
    assert fence(cases[-1], "question") == QUESTION


async def test_query_engine_async_and_streaming_grounding() -> None:
    small = ScriptedLLM(model="small", answer="1930")
    llm = make(small)
    r = await _index().as_query_engine(llm=llm).aquery(QUESTION)
    assert str(r) == "1930"
    s = _index().as_query_engine(llm=llm, streaming=True).query(QUESTION)
    assert isinstance(s, StreamingResponse) and "".join(s.response_gen) == "1930"
    a = await _index().as_query_engine(llm=llm, streaming=True, use_async=True).aquery(QUESTION)
    assert isinstance(a, AsyncStreamingResponse)
    assert "".join([t async for t in a.async_response_gen()]) == "1930"
    for call in small.verify_calls:
        case = call["messages"][-1].content
        assert fence(case, "question") == QUESTION and DOC in (fence(case, "context") or "")


# -- token counting and instrumentation -----------------------------------------------------------


def test_token_counting_handler_counts_each_call_once(settings_cm: None) -> None:
    small = ScriptedLLM(model="small", answer="1932", verdict="incorrect")  # children built before Settings
    large = ScriptedLLM(model="large", answer="1930")
    counter = TokenCountingHandler()
    Settings.callback_manager = CallbackManager([counter])
    assert counter not in small.callback_manager.handlers  # so AutoMixLLM forwards their calls
    llm = make(small, large)
    r = _index().as_query_engine(llm=llm).query(QUESTION)
    assert str(r) == "1930"
    spent = llm.ledger.total
    calls = len(small.calls) + len(large.calls)
    assert len(counter.llm_token_counts) == calls == spent.calls
    assert counter.prompt_llm_token_count == spent.input_tokens
    assert counter.completion_llm_token_count == spent.output_tokens
    assert counter.total_llm_token_count == spent.input_tokens + spent.output_tokens


def test_token_counting_no_double_count_when_children_share_the_handler(settings_cm: None) -> None:
    counter = TokenCountingHandler()
    Settings.callback_manager = CallbackManager([counter])
    small = ScriptedLLM(model="small", answer="1930")  # built after: shares Settings' handlers
    large = ScriptedLLM(model="large")
    assert counter in small.callback_manager.handlers
    llm = make(small, large)
    llm.callback_manager = Settings.callback_manager
    r = llm.chat(user(QUESTION))
    assert len(counter.llm_token_counts) == len(small.calls) == 4
    assert counter.total_llm_token_count == r.additional_kwargs["total_tokens"]


class _Spans(SimpleSpanHandler):
    pass


class _Events(BaseEventHandler):
    seen: list[BaseEvent]

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.seen.append(event)


def test_child_spans_nest_under_automix_span_and_event_is_dispatched() -> None:
    root = get_dispatcher()
    spans, events = _Spans(), _Events(seen=[])
    root.add_span_handler(spans)
    root.add_event_handler(events)
    try:
        small = ScriptedLLM(model="small", answer="1930")
        make(small).chat(user(QUESTION))
    finally:
        root.span_handlers.remove(spans)
        root.event_handlers.remove(events)
    done: list[SimpleSpan] = list(spans.completed_spans)
    by_id = {s.id_: s for s in done}
    automix = [s for s in done if s.id_.startswith("AutoMixLLM.chat")]
    children = [s for s in done if s.id_.startswith("ScriptedLLM.chat")]
    assert len(automix) == 1 and len(children) == 4

    def ancestors(s: SimpleSpan) -> list[str]:
        out = []
        while s.parent_id is not None and s.parent_id in by_id:
            out.append(s.parent_id)
            s = by_id[s.parent_id]
        return out

    assert all(automix[0].id_ in ancestors(c) for c in children)
    ends = [e for e in events.seen if isinstance(e, AutoMixEvent)]
    assert len(ends) == 1 and ends[0].result["tier"] == 0


# -- the tier wrapper: n samples per call --------------------------------------------------------------


def test_wrapper_draws_n_samples_as_n_chat_calls_and_sums_their_usage() -> None:
    small = ScriptedLLM(model="small", verdicts=["correct", "incorrect", "correct"])
    tier = LlamaIndexChatModel(small, purpose="verify")
    msgs: list[Message] = [{"role": "user", "content": "Is it ⟦answer⟧ right?"}]
    gens = draw(lambda n: tier.generate(msgs, n=n, temperature=1.0, max_tokens=9), lambda g: len(g.texts), 3,
                tier.supports_n)
    assert len(small.calls) == 3 and len(gens) == 3 and all(len(g.texts) == 1 for g in gens)
    assert all(c["kwargs"] == {"temperature": 1.0, "max_tokens": 9} for c in small.calls)
    assert sum(g.input_tokens or 0 for g in gens) == 3 * 4  # four whitespace tokens, billed once per request
    assert sum(g.output_tokens or 0 for g in gens) == sum(len(t.split()) for g in gens for t in g.texts)
    silent = LlamaIndexChatModel(ScriptedLLM(model="small", report_usage=False), purpose="verify")
    outs = asyncio.run(adraw(lambda n: silent.agenerate(msgs, n=n), lambda g: len(g.texts), 2, silent.supports_n))
    assert len(outs) == 2 and all(o.input_tokens is None and o.output_tokens is None for o in outs)  # estimated


def test_wrapper_async_sample_failure_cancels_the_other_samples() -> None:
    started: list[int] = []
    cancelled: list[int] = []

    class Hanging(ScriptedLLM):
        async def achat(self, messages: Any, **kwargs: Any) -> ChatResponse:
            started.append(1)
            if len(started) == 1:
                await asyncio.sleep(0)
                raise TimeoutError("sample 1 timed out")
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.append(1)
                raise
            raise AssertionError("not cancelled")

    tier = LlamaIndexChatModel(Hanging(model="small"))
    msgs: list[Message] = [{"role": "user", "content": "q"}]

    async def main() -> None:
        with pytest.raises(Exception, match="sample 1 timed out"):
            await asyncio.wait_for(adraw(lambda n: tier.agenerate(msgs, n=n), lambda g: len(g.texts), 3,
                                         tier.supports_n), 10)
        assert len(cancelled) == 2 and [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []

    asyncio.run(main())
