"""What a LlamaIndex user meets first (issue 17): agents over AutoMixLLM (FunctionAgent, ReActAgent)
with the tool-call policy, which calls are cascaded inside chat engines and tree_summarize, the
route on standard query-engine responses, and the error of an empty chat. Offline, scripted LLMs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import pytest
from llama_index.core import Document, Settings, SummaryIndex
from llama_index.core.agent.workflow import FunctionAgent, ReActAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.core.chat_engine import CondenseQuestionChatEngine
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import TextNode
from llama_index.core.tools import FunctionTool

from automix_core.accounting.prices import Price, PriceTable
from automix_llamaindex import AutoMixLLM, capture
from tests.fakes.llamaindex_models import KeywordRetriever, ScriptedLLM, ScriptedToolLLM, ToolCall, fence

PRICES = PriceTable(prices={"small": Price(input_per_million=1, output_per_million=2),
                            "large": Price(input_per_million=10, output_per_million=20)})


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


TOOL = FunctionTool.from_defaults(fn=multiply)


def tool_tiers(small_answers: list[Any], large_answers: list[Any] | None = None,
               small_verdicts: list[Any] | None = None) -> tuple[ScriptedToolLLM, ScriptedToolLLM]:
    small = ScriptedToolLLM(model="small", answers=list(small_answers), verdicts=list(small_verdicts or []))
    large = ScriptedToolLLM(model="large", answers=list(large_answers or []))
    return small, large


def run_agent(agent: Any, question: str) -> Any:
    async def go() -> Any:
        return await agent.run(user_msg=question)

    return asyncio.run(go())


# -- bug 2: agents -----------------------------------------------------------------------------


def test_automix_is_function_calling_when_every_tier_is() -> None:
    small, large = tool_tiers([])
    assert AutoMixLLM([small, large], prices=PRICES).metadata.is_function_calling_model
    plain = AutoMixLLM([ScriptedLLM(model="small"), large], prices=PRICES)
    assert not plain.metadata.is_function_calling_model
    with pytest.raises(ValueError, match=r"every tier is a function-calling LLM.*tier 0 \(ScriptedLLM\)"):
        plain.chat_with_tools([TOOL], user_msg="6 times 7?")


@pytest.mark.parametrize("streaming", [False, True])
def test_function_agent_runs_over_automix_and_verifies_the_tool_call(streaming: bool) -> None:
    small, large = tool_tiers([ToolCall("multiply", {"a": 6, "b": 7}), "6 times 7 is 42."])
    llm = AutoMixLLM([small, large], prices=PRICES, k=2)
    agent = FunctionAgent(tools=[TOOL], llm=llm, streaming=streaming)
    out = run_agent(agent, "What is 6 times 7?")
    assert "42" in str(out)
    assert [c["kwargs"].get("tools") for c in small.answer_calls] == [["multiply"], ["multiply"]]
    # the tool call was verified as text, then the final answer
    first = fence(small.verify_calls[0]["messages"][-1].content or "", "answer")
    assert first == 'Call tool multiply with arguments {"a": 6, "b": 7}'
    assert len(small.verify_calls) == 4 and not large.calls
    # the second step saw the tool result as the agent wrote it
    assert any(m.role == MessageRole.TOOL and "42" in (m.content or "") for m in small.answer_calls[1]["messages"])


def test_a_tool_call_judged_wrong_escalates_and_the_large_tiers_call_is_used() -> None:
    small, large = tool_tiers([ToolCall("multiply", {"a": 6, "b": 8})], [ToolCall("multiply", {"a": 6, "b": 7},
                                                                                  call_id="big")],
                              small_verdicts=["incorrect", "incorrect"])
    llm = AutoMixLLM([small, large], prices=PRICES, k=2)
    response = llm.chat_with_tools([TOOL], user_msg="What is 6 times 7?")
    calls = llm.get_tool_calls_from_response(response)
    assert [(c.tool_id, c.tool_name, c.tool_kwargs) for c in calls] == [("big", "multiply", {"a": 6, "b": 7})]
    assert response.additional_kwargs["tier"] == 1 and response.additional_kwargs["escalated"]
    assert llm.get_tool_calls_from_response(llm.chat(
        [ChatMessage(role=MessageRole.USER, content="hi")]), error_on_no_tool_call=False) == []


@pytest.mark.parametrize(("policy", "tier", "verified"), [("accept", 0, 0), ("escalate", 1, 0), ("verify", 0, 2)])
def test_tool_call_policy(policy: Any, tier: int, verified: int) -> None:
    small, large = tool_tiers([ToolCall("multiply", {"a": 6, "b": 7})], [ToolCall("multiply", {"a": 6, "b": 7})])
    llm = AutoMixLLM([small, large], prices=PRICES, k=2, tool_calls=policy)
    response = asyncio.run(llm.achat_with_tools([TOOL], user_msg="What is 6 times 7?"))
    assert response.additional_kwargs["tier"] == tier
    assert [c.tool_name for c in llm.get_tool_calls_from_response(response)] == ["multiply"]
    assert len(small.verify_calls) == verified and not large.verify_calls
    assert "screened" in (cast(dict[str, Any], response.raw)["automix"]["trace"][0]["note"] or "") or policy == "verify"


def test_text_answers_are_verified_under_every_tool_policy() -> None:
    small, large = tool_tiers(["42"])
    llm = AutoMixLLM([small, large], prices=PRICES, k=2, tool_calls="accept")
    response = llm.chat_with_tools([TOOL], user_msg="What is 6 times 7?")
    assert response.message.content == "42" and len(small.verify_calls) == 2


def test_react_agent_runs_over_function_calling_tiers() -> None:
    small, large = tool_tiers([
        'Thought: I need to multiply.\nAction: multiply\nAction Input: {"a": 6, "b": 7}',
        "Thought: I can answer without using any more tools.\nAnswer: 42",
    ])
    llm = AutoMixLLM([small, large], prices=PRICES, k=2)
    with capture() as runs:
        out = run_agent(ReActAgent(tools=[TOOL], llm=llm), "What is 6 times 7?")
    assert "42" in str(out)
    assert len(small.answer_calls) == 2 and len(small.verify_calls) == 4 and not large.calls
    assert [r.tier for r in runs.results] == [0, 0]


# -- friction: which calls are cascaded -------------------------------------------------------------

NODES = [TextNode(text="The Aldwick footbridge opened in 1932. Building work on the footbridge started in 1930.",
                  id_="bridge"),
         TextNode(text="Paris is the capital and largest city of France.", id_="paris")]


def llm_events(handler: LlamaDebugHandler) -> int:
    return len(handler.get_event_pairs(CBEventType.LLM))


@pytest.fixture
def debug(monkeypatch: pytest.MonkeyPatch) -> LlamaDebugHandler:
    handler = LlamaDebugHandler()
    monkeypatch.setattr(Settings, "_callback_manager", CallbackManager([handler]))
    return handler


def condensing(answer: str) -> Any:
    """An answer callable: a condense prompt gets its follow-up question back, anything else ``answer``."""

    def reply(messages: list[ChatMessage]) -> str:
        text = messages[-1].content or ""
        if "<Follow Up Message>" in text:
            return text.split("<Follow Up Message>")[1].strip().split("\n")[0]
        return answer

    return reply


def two_turn_chat(llm: AutoMixLLM) -> list[str]:
    engine = CondenseQuestionChatEngine.from_defaults(
        query_engine=RetrieverQueryEngine.from_args(KeywordRetriever(NODES, top_k=1), llm=llm), llm=llm)
    first = engine.chat("When did the Aldwick footbridge open?")
    second = engine.chat("And when did building work on the footbridge start?")
    return [str(first), str(second)]


@pytest.mark.parametrize("mode", ["answers", "all"])
def test_chat_engine_condense_step_goes_to_the_utility_tier_unverified(mode: Any, debug: LlamaDebugHandler) -> None:
    small = ScriptedLLM(model="small", answers=[condensing("1930")] * 8)
    large = ScriptedLLM(model="large", answer="In 1930.")
    llm = AutoMixLLM([small, large], prices=PRICES, k=2, cascade_calls=mode)
    with capture() as runs:
        assert two_turn_chat(llm) == ["1930", "1930"]
    condense = [c for c in small.answer_calls if "<Follow Up Message>" in (c["messages"][-1].content or "")]
    assert len(condense) == 1  # the second turn's (the first has no history to condense)
    notes = [r.trace[0].note or "" for r in runs.results]
    assert len(runs.results) == 3
    if mode == "answers":
        assert len(small.verify_calls) == 2 * 2  # the two answers only
        assert sum("utility call" in n for n in notes) == 1
        assert llm_events(debug) == 1 + 2 + 2 * 2  # the condense step, two answers, their samples
    else:
        # the condense prompt's "user:"/"assistant:" history lines read as fake turns, so its verification
        # also asks the verdict without them (two more samples); both say "correct" here. The condensed question
        # is no short claim, so it is restated, its claim restated on its own, and restated again without the
        # history lines
        assert len(small.verify_calls) == 4 * 2 and not any("utility" in n for n in notes)
        restatements = [c for c in small.calls if c["verify"] is None]
        assert len(restatements) == 3
        said = ["".join(m.content or "" for m in c["messages"]) for c in restatements]
        assert "user:" in said[0].lower() and "user:" not in said[2].lower()
        assert llm_events(debug) == 3 + 4 * 2 + 3
    assert llm.ledger.total.calls == llm_events(debug)  # the utility calls are billed too
    assert not large.calls


def test_utility_tier_is_configurable() -> None:
    small = ScriptedLLM(model="small", answer="1930")
    large = ScriptedLLM(model="large", answers=[condensing("In 1930.")] * 4)
    llm = AutoMixLLM([small, large], prices=PRICES, k=2, utility_tier=1)
    two_turn_chat(llm)
    assert len(large.answer_calls) == 1 and not large.verify_calls
    assert [u.tier for u in llm.ledger.snapshot().entries if u.model == "large"] == [1]
    with pytest.raises(ValueError, match="utility_tier=2"):
        AutoMixLLM([small, large], prices=PRICES, utility_tier=2)


LONG = [Document(text=f"Report {i}. " + " ".join(f"word{i}x{j}" for j in range(120)) + f" The key number is {i}.")
        for i in range(4)]


@pytest.mark.parametrize("use_async", [False, True])
@pytest.mark.parametrize("mode", ["answers", "all"])
def test_tree_summarize_verifies_every_summary(mode: Any, use_async: bool) -> None:
    """Every summary of tree_summarize is an answer, each grounded in (and verified against) its own
    chunks: the intermediate ones are told from the final one only by the caller's stack, which the
    adapter does not read (issue 25)."""
    small = ScriptedLLM(model="small", window=600, answer="A summary.")
    large = ScriptedLLM(model="large", window=600, answer="A summary.")
    llm = AutoMixLLM([small, large], prices=PRICES, k=2, cascade_calls=mode, answer_max_tokens=64)
    engine = SummaryIndex.from_documents(LONG).as_query_engine(llm=llm, response_mode="tree_summarize",
                                                                use_async=use_async)
    with capture() as runs:
        r = asyncio.run(engine.aquery("What are the key numbers?")) if use_async else engine.query(
            "What are the key numbers?")
    assert str(r) == "A summary."
    answers = len(small.answer_calls)
    assert answers >= 3  # intermediate summaries, then the final one
    assert len(small.verify_calls) == 2 * answers
    assert runs.last is not None and runs.last.trace[0].verified
    assert not any("utility" in (x.trace[0].note or "") for x in runs.results)
    assert len(runs.results) == answers


def test_custom_and_question_answer_prompts_are_answers() -> None:
    from llama_index.core.prompts import PromptTemplate

    small = ScriptedLLM(model="small", answer="Paris")
    llm = AutoMixLLM([small, ScriptedLLM(model="large")], prices=PRICES, k=2)
    assert llm.predict(PromptTemplate("Capital of {country}?"), country="France") == "Paris"
    assert len(small.verify_calls) == 2


# -- friction: the route on standard responses ----------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
def test_query_engine_responses_carry_the_route_and_the_full_usage(use_async: bool) -> None:
    small = ScriptedLLM(model="small", answer="1930", verdicts=["incorrect", "incorrect"])
    large = ScriptedLLM(model="large", answer="In 1930.")
    llm = AutoMixLLM([small, large], prices=PRICES, k=2)
    engine = SummaryIndex(NODES[:1]).as_query_engine(llm=llm)
    q = "When did building work on the Aldwick footbridge start?"
    r = asyncio.run(engine.aquery(q)) if use_async else engine.query(q)
    assert str(r) == "In 1930."
    assert r.metadata is not None
    meta = r.metadata["automix"]
    assert (meta["tier"], meta["model"], meta["tiers_visited"]) == (1, "large", [0, 1])
    assert meta["trace"][0]["confidence"] == 0.0
    total = llm.ledger.total
    assert meta["calls"] == total.calls == 4 and meta["cost"] == pytest.approx(llm.ledger.total_cost)
    assert meta["input_tokens"] + meta["output_tokens"] == total.input_tokens + total.output_tokens
    assert r.metadata is not None and "bridge" in r.metadata  # the node metadata is kept
    if not use_async:  # asyncio.run runs the query in a context of its own
        assert llm.last_result is not None and llm.last_result.tier == 1


def test_tree_summarize_response_sums_every_call() -> None:
    small = ScriptedLLM(model="small", window=600, answer="A summary.")
    llm = AutoMixLLM([small, ScriptedLLM(model="large", window=600)], prices=PRICES, k=2, answer_max_tokens=64)
    r = SummaryIndex.from_documents(LONG).as_query_engine(llm=llm, response_mode="tree_summarize").query("Numbers?")
    assert r.metadata is not None
    meta = r.metadata["automix"]
    assert meta["calls"] == llm.ledger.total.calls == len(small.calls)
    assert len(meta["runs"]) == len(small.answer_calls) and meta["trace"][0]["verified"]


def test_streaming_query_engine_response_carries_the_route_once_read() -> None:
    llm = AutoMixLLM([ScriptedLLM(model="small", answer="1930"), ScriptedLLM(model="large")], prices=PRICES, k=2)
    r = SummaryIndex(NODES[:1]).as_query_engine(llm=llm, streaming=True).query("When did work start?")
    assert isinstance(r, StreamingResponse)
    assert "".join(r.response_gen) == "1930"  # refine streams lazily: the cascade runs as it is read
    assert r.metadata is not None and r.metadata["automix"]["tier"] == 0 and r.metadata["automix"]["calls"] == 3


def test_async_streaming_query_engine_response_carries_the_route_once_read() -> None:
    llm = AutoMixLLM([ScriptedLLM(model="small", answer="1930"), ScriptedLLM(model="large")], prices=PRICES, k=2)

    async def go() -> tuple[str, Any]:
        r = await SummaryIndex(NODES[:1]).as_query_engine(llm=llm, streaming=True).aquery("When did work start?")
        assert isinstance(r, AsyncStreamingResponse)
        return "".join([t async for t in r.async_response_gen()]), r

    text, r = asyncio.run(go())
    assert text == "1930" and r.metadata["automix"]["tier"] == 0


def test_capture_collects_the_calls_of_a_block_and_nests() -> None:
    small = ScriptedLLM(model="small", answers=[condensing("1930")] * 8)
    llm = AutoMixLLM([small, ScriptedLLM(model="large")], prices=PRICES, k=2)
    with capture() as outer:
        with capture() as inner:
            two_turn_chat(llm)
        llm.complete("When did building work on the Aldwick footbridge start?")
    assert len(inner.results) == 3 and len(outer.results) == 4
    assert outer.calls == llm.ledger.total.calls and outer.to_dict()["runs"][-1]["tier"] == 0


# -- bug 8: empty chat ----------------------------------------------------------------------------


def test_empty_chat_is_a_llamaindex_worded_error() -> None:
    llm = AutoMixLLM([ScriptedLLM(model="small"), ScriptedLLM(model="large")], prices=PRICES)
    calls: list[Callable[[], object]] = [lambda: llm.chat([]), lambda: asyncio.run(llm.achat([]))]
    for call in calls:
        with pytest.raises(ValueError, match="at least one ChatMessage; got an empty list") as info:
            call()
        assert "dict" not in str(info.value)
    with pytest.raises(ValueError, match=r"ChatMessage objects; messages\[0\] is a dict"):
        llm.chat([{"role": "user", "content": "hi"}])  # type: ignore[list-item]


def test_a_failed_query_leaves_no_scope_behind() -> None:
    import automix_llamaindex.events as events

    llm = AutoMixLLM([ScriptedLLM(model="small", answers=[RuntimeError("down")] * 4),
                      ScriptedLLM(model="large", answers=[RuntimeError("down")] * 4)], prices=PRICES, k=2, retries=0)
    with pytest.raises(Exception, match="down"):
        SummaryIndex(NODES[:1]).as_query_engine(llm=llm).query("When did work start?")
    assert events._SCOPES.get() == ()
