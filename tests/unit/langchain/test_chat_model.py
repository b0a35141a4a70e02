"""AutoMixChatModel behaviour over scripted child chat models: routing, usage, trace, callbacks
nesting (invoke and streaming paths), context for the verifier, batching, tools, structured output,
configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import LLMResult
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import ConfigurableField
from langchain_core.tools import tool
from pydantic import BaseModel

from automix_core.accounting.prices import Price, PriceTable
from automix_core.policies import ThresholdPolicy
from automix_core.router import Router
from automix_langchain import AutoMixChatModel, ConfigError, load_config
from tests.fakes.langchain_models import ScriptedChatModel

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=2.0))


def make(small_verdicts: list[str] | None = None, **kwargs: Any) -> tuple[AutoMixChatModel, ScriptedChatModel,
                                                                           ScriptedChatModel]:
    small = ScriptedChatModel(model_name="small", answer="small says 4", verdicts=small_verdicts or ["correct"])
    large = ScriptedChatModel(model_name="large", answer="large says 4")
    params: dict[str, Any] = {"tiers": [small, large], "prices": PRICES, "k": 3, **kwargs}
    return AutoMixChatModel(**params), small, large


class Recorder(BaseCallbackHandler):
    """Records chat model runs: run id, parent run id, tags, metadata, usage at the end."""

    def __init__(self) -> None:
        self.starts: list[dict[str, Any]] = []
        self.ends: dict[UUID, Any] = {}
        self.custom: list[tuple[str, Any]] = []

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID,
                            parent_run_id: UUID | None = None, tags: list[str] | None = None,
                            metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.starts.append({"run_id": run_id, "parent": parent_run_id, "tags": tags or [],
                            "metadata": metadata or {}, "name": kwargs.get("name") or serialized.get("name")})

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        msg = getattr(response.generations[0][0], "message", None)
        self.ends[run_id] = getattr(msg, "usage_metadata", None)

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.custom.append((name, data))

    def automix_run(self) -> UUID:
        roots = [s for s in self.starts if "automix" not in s["tags"]]
        assert len(roots) == 1, roots
        run_id: UUID = roots[0]["run_id"]
        return run_id

    def children(self) -> list[dict[str, Any]]:
        return [s for s in self.starts if "automix" in s["tags"]]


# ---------------------------------------------------------------------------------------------- routing


def test_accepts_small_tier_when_verifier_says_correct() -> None:
    model, small, large = make(["correct"])
    msg = model.invoke("What is 2 + 2?")
    assert msg.content == "small says 4"
    assert msg.response_metadata["model_name"] == "small"
    trace = msg.response_metadata["automix"]
    assert trace["tiers_visited"] == [0]
    assert trace["trace"][0]["confidence"] == 1.0 and trace["trace"][0]["decision"] == "accept"
    assert len(small.answers()) == 1 and len(small.verifications()) == 3 and not large.calls


def test_escalates_and_usage_sums_every_call_and_matches_ledger() -> None:
    model, small, large = make(["incorrect"])
    msg = model.invoke("What is 2 + 2?")
    assert msg.content == "large says 4" and msg.response_metadata["model_name"] == "large"
    trace = msg.response_metadata["automix"]
    assert trace["tiers_visited"] == [0, 1] and trace["trace"][0]["decision"] == "escalate"
    json.dumps(trace)  # serializable for tracing
    # usage_metadata = sum of the usage every child reported (1 + 3 verify calls + 1 large answer)
    child_usage = [c for c in (small.calls + large.calls)]
    assert len(child_usage) == 5
    total = model.ledger.total
    assert msg.usage_metadata is not None
    assert msg.usage_metadata["input_tokens"] == total.input_tokens == trace["input_tokens"]
    assert msg.usage_metadata["output_tokens"] == total.output_tokens
    assert msg.usage_metadata["total_tokens"] == total.input_tokens + total.output_tokens
    assert total.calls == 5 and total.estimated_calls == 0
    assert total.cost == pytest.approx((total.input_tokens * 1.0 + total.output_tokens * 2.0) / 1e6)


def test_usage_equals_children_reported_usage_via_callbacks() -> None:
    model, _, _ = make(["incorrect"])
    rec = Recorder()
    msg = model.invoke("What is 2 + 2?", config={"callbacks": [rec]})
    root = rec.automix_run()
    child_ids = [c["run_id"] for c in rec.children()]
    child_in = sum(rec.ends[i]["input_tokens"] for i in child_ids)
    child_out = sum(rec.ends[i]["output_tokens"] for i in child_ids)
    assert msg.usage_metadata is not None
    assert (child_in, child_out) == (msg.usage_metadata["input_tokens"], msg.usage_metadata["output_tokens"])
    # the AutoMix run reports the same totals: counting both would double count
    assert rec.ends[root] == msg.usage_metadata


def test_unreported_usage_is_estimated_and_flagged() -> None:
    small = ScriptedChatModel(model_name="small", answer="four", report_usage=False)
    large = ScriptedChatModel(model_name="large", answer="4")
    model = AutoMixChatModel(tiers=[small, large], prices=PRICES, k=2)
    msg = model.invoke("What is 2 + 2?")
    assert msg.usage_metadata is not None and msg.usage_metadata["input_tokens"] > 0
    assert msg.response_metadata["automix"]["trace"][0]["estimated_usage"] is True
    assert model.ledger.total.estimated_calls == 3


def test_router_policy_and_router_json(tmp_path: Path) -> None:
    # a threshold of 0.5 on tier 0: 1 "correct" of 3 escalates, 2 of 3 accepts
    policy = ThresholdPolicy(2, [0.5])
    model, _, _ = make(["correct", "incorrect", "incorrect"], router=policy)
    assert model.invoke("q?").response_metadata["model_name"] == "large"
    path = Router(["small", "large"], policy).save(tmp_path / "router.json")
    model2, _, _ = make(["correct", "correct", "incorrect"], router=str(path))
    assert model2.invoke("q?").response_metadata["model_name"] == "small"
    with pytest.raises(ValueError, match="router is for 3 tiers"):
        make(router=Router(["a", "b", "c"], ThresholdPolicy(3, [0.5, 0.5])))


def test_separate_verifier_model_is_used() -> None:
    judge = ScriptedChatModel(model_name="judge", verdicts=["incorrect"])
    model, small, _ = make(["correct"], verifiers=[judge, None])
    assert model.invoke("q?").response_metadata["model_name"] == "large"
    assert not small.verifications() and len(judge.verifications()) == 3


def test_answer_kwargs_and_verify_kwargs() -> None:
    model, small, _ = make(["correct"], temperature=0.2, max_tokens=50, stop=["END"],
                           verify_kwargs={"extra_body": {"max_tokens": 7}})
    model.invoke("q?")
    answer = small.answers()[0]["kwargs"]
    assert answer["temperature"] == 0.2 and answer["max_tokens"] == 50 and answer["stop"] == ["END"]
    verify = small.verifications()[0]["kwargs"]
    assert verify["temperature"] == 1.0 and verify["max_tokens"] == 160
    assert verify["extra_body"] == {"max_tokens": 7}
    model.invoke("q?", stop=["STOP"])
    assert small.answers()[1]["kwargs"]["stop"] == ["STOP"]
    # unset: tiers answer with their own configuration
    plain, small2, _ = make(["correct"], sampling_kwargs=False)
    plain.invoke("q?")
    assert "temperature" not in small2.answers()[0]["kwargs"]
    assert "temperature" not in small2.verifications()[0]["kwargs"]


# ---------------------------------------------------------------------------------------------- the verifier's view


def _verified_case(model: ScriptedChatModel) -> str:
    content = model.verifications()[0]["messages"][-1].content
    assert isinstance(content, str)
    return content


def test_rag_system_context_reaches_the_verifier() -> None:
    model, small, _ = make(["correct"])
    prompt = ChatPromptTemplate.from_messages([
        ("system", "Answer from this context only:\n{context}"),
        ("human", "{question}"),
    ])
    (prompt | model).invoke({"context": "The Aldwick bridge opened in 1932.", "question": "When did it open?"})
    case = _verified_case(small)
    assert "⟦context⟧" in case and "The Aldwick bridge opened in 1932." in case
    assert "⟦question⟧\n| When did it open?" in case
    assert "⟦answer⟧\n| small says 4" in case
    # the tier itself got the prompt's messages unchanged
    sent = small.answers()[0]["messages"]
    assert isinstance(sent[0], SystemMessage) and isinstance(sent[1], HumanMessage)


def test_multi_turn_context_and_context_from_options() -> None:
    turns: list[BaseMessage] = [SystemMessage("Be brief."), HumanMessage("My name is Ada."),
                                AIMessage("Hello Ada."), HumanMessage("What is my name?")]
    # how the turns are rendered, without the defence
    model, small, _ = make(["correct"], verify_defence=False)
    model.invoke(turns)
    case = _verified_case(small)
    assert "System: Be brief." in case and "User: My name is Ada." in case and "Assistant: Hello Ada." in case
    assert "⟦question⟧\n| What is my name?" in case
    # with the defence on (the default) the history is shown as it is: its role markers are a transcript's, not
    # fake turns, so no second verdict is asked and nothing is reported
    model_d, small_d, _ = make(["correct"])
    message = model_d.invoke(turns)
    assert _verified_case(small_d) == case and len(small_d.verifications()) == len(small.verifications())
    assert message.response_metadata["automix"]["trace"][0]["neutralised"] == []
    model_s, small_s, _ = make(["correct"], context_from="system")
    model_s.invoke(turns)
    assert "| Be brief." in _verified_case(small_s) and "Ada." not in _verified_case(small_s).split("⟦question⟧")[0]
    model_n, small_n, _ = make(["correct"], context_from="none")
    model_n.invoke(turns)
    assert "⟦context⟧" not in _verified_case(small_n)
    model_c, small_c, _ = make(["correct"], context_from=lambda msgs: ("custom question", "custom context"))
    model_c.invoke(turns)
    assert "| custom context" in _verified_case(small_c) and "| custom question" in _verified_case(small_c)


# ---------------------------------------------------------------------------------------------- callbacks & streaming


def _assert_nested(rec: Recorder, n_children: int) -> None:
    root = rec.automix_run()
    children = rec.children()
    assert len(children) == n_children
    assert all(c["parent"] == root for c in children), children
    purposes = sorted(c["metadata"]["automix_purpose"] for c in children)
    assert purposes == sorted(["answer", "answer"] + ["verify"] * (n_children - 2))
    assert {"automix:answer", "automix:tier0"} <= set(next(c for c in children if
                                                           c["metadata"]["automix_purpose"] == "answer")["tags"])


def test_children_nested_under_automix_run_invoke() -> None:
    model, _, _ = make(["incorrect"])
    rec = Recorder()
    model.invoke("q?", config={"callbacks": [rec]})
    _assert_nested(rec, 5)


async def test_children_nested_under_automix_run_ainvoke() -> None:
    model, _, _ = make(["incorrect"])
    rec = Recorder()
    await model.ainvoke("q?", config={"callbacks": [rec]})
    _assert_nested(rec, 5)


def test_stream_nests_children_and_puts_usage_in_last_chunk() -> None:
    model, _, _ = make(["incorrect"])
    rec = Recorder()
    chunks = list(model.stream("q?", config={"callbacks": [rec]}))
    _assert_nested(rec, 5)
    assert len(chunks) >= 3 and all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "".join(str(c.content) for c in chunks) == "large says 4"
    assert [c.usage_metadata is not None for c in chunks].count(True) == 1
    last = chunks[-1]
    assert last.chunk_position == "last" and last.usage_metadata is not None
    assert last.usage_metadata["input_tokens"] == model.ledger.total.input_tokens
    assert last.response_metadata["model_name"] == "large"
    assert last.response_metadata["automix"]["tiers_visited"] == [0, 1]


async def test_astream_nests_children_and_puts_usage_in_last_chunk() -> None:
    model, _, _ = make(["incorrect"])
    rec = Recorder()
    chunks = [c async for c in model.astream("q?", config={"callbacks": [rec]})]
    _assert_nested(rec, 5)
    full = chunks[0]
    for c in chunks[1:]:
        full = full + c
    assert full.content == "large says 4" and full.usage_metadata is not None
    assert full.usage_metadata["total_tokens"] == model.ledger.total.input_tokens + model.ledger.total.output_tokens


def test_stream_inside_a_chain_nests_under_the_automix_run() -> None:
    model, _, _ = make(["correct"])
    rec = Recorder()
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | model
    list(chain.stream({"q": "What is 2 + 2?"}, config={"callbacks": [rec]}))
    _assert_nested_single(rec)


def _assert_nested_single(rec: Recorder) -> None:
    root = rec.automix_run()
    assert len(rec.children()) == 4 and all(c["parent"] == root for c in rec.children())


async def test_astream_events_show_child_runs_under_automix() -> None:
    model, _, _ = make(["correct"])
    events = [e async for e in model.astream_events("q?", version="v2")]
    starts = [e for e in events if e["event"] == "on_chat_model_start"]
    root = next(e for e in starts if "automix" not in e.get("tags", []))
    kids = [e for e in starts if "automix" in e.get("tags", [])]
    assert len(kids) == 4 and all(root["run_id"] in e["parent_ids"] for e in kids)
    streamed = "".join(str(e["data"]["chunk"].content) for e in events
                       if e["event"] == "on_chat_model_stream" and e["run_id"] == root["run_id"])
    assert streamed == "small says 4"


async def test_abatch_honours_max_concurrency() -> None:
    model, small, _ = make(["correct"], k=1)
    out = await model.abatch([f"q{i}?" for i in range(6)], config={"max_concurrency": 2})
    assert len(out) == 6 and all(m.content == "small says 4" for m in out)
    assert 1 <= small.max_in_flight <= 2
    unlimited, small2, _ = make(["correct"], k=1)
    await unlimited.abatch([f"q{i}?" for i in range(6)])
    assert small2.max_in_flight > 2


def test_batch() -> None:
    model, _, _ = make(["correct", "incorrect", "incorrect"])
    out = model.batch(["a?", "b?", "c?"], config={"max_concurrency": 1})
    assert [m.response_metadata["model_name"] for m in out] == ["large", "large", "large"]
    assert model.ledger.total.calls == 3 * 5


# ---------------------------------------------------------------------------------------------- tools


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_tool_calls_verified_by_default() -> None:
    model, small, _ = make(["correct"])
    msg = model.bind_tools([add]).invoke("add 3 and 3")
    assert msg.tool_calls and msg.tool_calls[0]["name"] == "add" and msg.tool_calls[0]["args"] == {"a": 3, "b": 3}
    assert msg.response_metadata["model_name"] == "small"
    case = _verified_case(small)
    assert 'Call tool add with arguments {"a": 3, "b": 3}' in case
    assert small.answers()[0]["kwargs"]["tools"][0]["function"]["name"] == "add"
    assert "tools" not in small.verifications()[0]["kwargs"]


def test_tool_call_policy_accept_and_escalate() -> None:
    acc, small, _ = make(["incorrect"], tool_calls="accept")
    msg = acc.bind_tools([add]).invoke("add 3 and 3")
    assert msg.tool_calls and msg.response_metadata["model_name"] == "small"
    assert not small.verifications()
    assert msg.response_metadata["automix"]["trace"][0]["note"] == "screened: accept without verification"
    # text answers still get verified under "accept"
    assert acc.invoke("plain question?").response_metadata["model_name"] == "large"

    esc, small2, large2 = make(["correct"], tool_calls="escalate")
    msg2 = esc.bind_tools([add]).invoke("add 3 and 3")
    assert msg2.tool_calls and msg2.response_metadata["model_name"] == "large"
    assert not small2.verifications() and len(large2.answers()) == 1
    assert esc.ledger.total.calls == 2  # the small tier's tool-call answer is still billed


def test_tool_message_history_goes_to_tiers() -> None:
    model, small, _ = make(["correct"])
    history: list[BaseMessage] = [
        HumanMessage("add 1 and 2"),
        AIMessage("", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "c1", "type": "tool_call"}]),
        ToolMessage("3", tool_call_id="c1", name="add"),
    ]
    msg = model.bind_tools([add]).invoke(history)
    assert msg.content == "The tool returned 3."
    assert isinstance(small.answers()[0]["messages"][-1], ToolMessage)
    case = _verified_case(small)
    assert "[result of tool add]" in case and "⟦question⟧\n| add 1 and 2" in case


class Person(BaseModel):
    name: str
    age: int


def test_with_structured_output_passes_through_and_bills() -> None:
    model, small, _ = make(["correct"])
    out = model.with_structured_output(Person).invoke("Ada is 36")
    assert out == Person(name="Ada is 36", age=3)
    assert len(small.verifications()) == 3
    assert '{"name":"Ada is 36","age":3}' in _verified_case(small)
    assert model.ledger.total.calls == 4 and model.ledger.total.estimated_calls == 0
    raw = model.with_structured_output(Person, include_raw=True, method="json_schema").invoke("Bob is 3")
    assert isinstance(raw, dict) and isinstance(raw["raw"], AIMessage) and raw["parsed"].name == "Bob is 3"


# ---------------------------------------------------------------------------------------------- configuration


def test_configurable_fields_per_request() -> None:
    model, small, _ = make(["correct"])
    configurable = model.configurable_fields(k=ConfigurableField(id="automix_k"))
    configurable.invoke("q?", config={"configurable": {"automix_k": 1}})
    assert len(small.verifications()) == 1
    configurable.invoke("q?")
    assert len(small.verifications()) == 1 + 3
    assert model.ledger.total.calls == 2 + 4  # copies share the ledger


def test_configurable_alternatives_plain_or_automix() -> None:
    automix, small, _ = make(["incorrect"])
    plain = ScriptedChatModel(model_name="plain", answer="plain says 4")
    llm = plain.configurable_alternatives(ConfigurableField(id="llm"), default_key="plain", automix=automix)
    assert llm.invoke("q?").content == "plain says 4"
    routed = llm.invoke("q?", config={"configurable": {"llm": "automix"}})
    assert routed.content == "large says 4" and routed.response_metadata["automix"]["tiers_visited"] == [0, 1]
    assert len(small.answers()) == 1


def test_from_config_dict_and_file(tmp_path: Path) -> None:
    built: list[tuple[str, dict[str, Any]]] = []

    def init(name: str, **kwargs: Any) -> ScriptedChatModel:
        built.append((name, kwargs))
        return ScriptedChatModel(model_name=name.split(":")[-1], answer=f"{name} answers",
                                 verdicts=kwargs.get("verdicts", ["correct"]))

    Router(["small", "large"], ThresholdPolicy(2, [0.5])).save(tmp_path / "router.json")
    cfg = {"tiers": [{"model": "fake:small", "verdicts": ["incorrect"]}, "fake:large"], "router": "router.json",
           "price_default": {"input_per_million": 0, "output_per_million": 0}, "k": 2}
    (tmp_path / "automix.json").write_text(json.dumps(cfg))
    model = AutoMixChatModel.from_config(tmp_path / "automix.json", init=init)
    assert isinstance(model, AutoMixChatModel) and model.k == 2 and model.tier_names == ["small", "large"]
    assert built[0] == ("fake:small", {"verdicts": ["incorrect"]})
    assert model.invoke("q?").content == "fake:large answers"
    assert model.ledger.total.cost == 0.0
    model2 = load_config({**cfg, "router": None, "k": 1}, init=init)
    assert model2.k == 1


def test_from_config_openai_provider_without_langchain_package() -> None:
    from langchain_openai import ChatOpenAI

    m = load_config({"tiers": [{"model": "openai:gpt-4o-mini", "api_key": "x"},
                               {"model": "openai:gpt-4o", "api_key": "x"}]})
    assert all(isinstance(t, ChatOpenAI) for t in m.tiers) and m.tier_names == ["gpt-4o-mini", "gpt-4o"]


@pytest.mark.parametrize("cfg, match", [
    ({"tiers": ["fake:one"]}, "two or more"),
    ({"tiers": ["nosuch:model", "fake:b"]}, r"nosuch:model.*(provider:model|Unable to infer model provider)"),
    ({"tiers": [3, "fake:b"]}, "tiers\\[0\\]"),
    ({"tiers": [{"model": "openai:a", "api_key": "x"}, {"model": "openai:b", "api_key": "x"}], "k": 0},
     "invalid AutoMix config"),
])
def test_from_config_errors(cfg: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(cfg)


def test_from_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(tmp_path / "bad.json")


def test_verification_turns_shared_between_calls_survive_a_model_that_edits_them() -> None:
    seen: list[str] = []

    class Editing(ScriptedChatModel):
        def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
            if isinstance(messages[0], SystemMessage):
                seen.append(str(messages[0].content))
            reply = super()._reply(messages, kwargs)
            for m in messages:  # a careless model rewrites what it was given, in place
                if isinstance(m, SystemMessage):
                    m.content = "tampered"
            return reply

    small = Editing(model_name="small", answer="Paris", verdicts=["correct"])
    llm = AutoMixChatModel(tiers=[small, ScriptedChatModel(model_name="large")], prices=PRICES, k=3)
    llm.invoke("What is the capital of France?")
    llm.invoke("What is the capital of France?")
    assert len(seen) == 6 and seen[1] == "tampered"  # within one call the samples share one message list
    assert seen[3] == seen[0] != "tampered"  # the next call starts from the verifier's own instructions


def test_tier_names_follow_a_replaced_tier() -> None:
    llm, _, _ = make()
    assert llm.tier_names == ["small", "large"]
    llm.tiers = [llm.tiers[0], ScriptedChatModel(model_name="bigger")]
    assert llm.tier_names == ["small", "bigger"]
