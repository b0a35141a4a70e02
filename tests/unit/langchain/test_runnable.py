"""AutoMixRunnable over chains: inputs, outputs, the route, LCEL composition, nesting, streaming."""

from __future__ import annotations

from typing import Any

from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from automix_core.accounting.prices import Price, PriceTable
from automix_langchain import ROUTE_EVENT, AutoMixRunnable
from tests.fakes.langchain_models import ScriptedChatModel
from tests.unit.langchain.test_chat_model import Recorder

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=1.0))
PROMPT = ChatPromptTemplate.from_messages([("system", "Context:\n{context}"), ("human", "{question}")])


def chains(small_verdicts: list[str]) -> tuple[AutoMixRunnable, ScriptedChatModel, ScriptedChatModel]:
    small = ScriptedChatModel(model_name="small", answer="small: 1932", verdicts=small_verdicts)
    large = ScriptedChatModel(model_name="large", answer="large: 1932")
    # verify_defence=False: these tests check what reaches the verifier, not the defence's trimming
    runnable = AutoMixRunnable(tiers=[PROMPT | small | StrOutputParser(), PROMPT | large | StrOutputParser()],
                               prices=PRICES, k=2, verify_defence=False)
    return runnable, small, large


DOCS = [Document(page_content="The bridge opened in 1932."), Document(page_content="It is 40 m long.")]


def test_dict_input_with_documents_output_type_unchanged() -> None:
    r, small, _ = chains(["correct"])
    assert r.tier_names == ["small", "large"]  # found the chat model inside each chain
    out = r.invoke({"question": "When did the bridge open?", "context": DOCS})
    assert out == "small: 1932"
    case = small.verifications()[0]["messages"][-1].content
    assert "| The bridge opened in 1932." in case and "| It is 40 m long." in case
    assert "⟦question⟧\n| When did the bridge open?" in case and "⟦answer⟧\n| small: 1932" in case


def test_escalation_and_route_via_option_and_event() -> None:
    r, _, _ = chains(["incorrect"])
    rec = Recorder()
    out = r.invoke({"question": "When?", "context": "1932"}, config={"callbacks": [rec]})
    assert out == "large: 1932"
    name, route = rec.custom[-1]
    assert name == ROUTE_EVENT and route["tiers_visited"] == [0, 1] and route["model"] == "large"
    with_route = r.model_copy(update={"return_route": True}).invoke({"question": "When?", "context": "1932"})
    assert with_route["output"] == "large: 1932" and with_route["automix"]["trace"][0]["decision"] == "escalate"
    assert r.ledger.total.calls == 2 * 4 and r.ledger.total.estimated_calls == 0


def test_child_runs_nest_under_the_automix_chain_run() -> None:
    r, _, _ = chains(["correct"])
    rec = Recorder()
    r.invoke({"question": "When?", "context": "1932"}, config={"callbacks": [rec]})
    kids = rec.starts
    assert len(kids) == 3  # 1 answer + 2 verification chat model runs
    assert all("automix" in k["tags"] for k in kids)
    verify = [k for k in kids if k["metadata"]["automix_purpose"] == "verify"]
    # verification runs are direct children of the AutoMix run; the answer runs inside the tier chain
    assert len({k["parent"] for k in verify}) == 1
    answer = next(k for k in kids if k["metadata"]["automix_purpose"] == "answer")
    assert answer["parent"] is not None and answer["parent"] != verify[0]["parent"]


async def test_async_batch_and_stream() -> None:
    r, _, _ = chains(["correct"])
    outs = await r.abatch([{"question": f"q{i}", "context": ""} for i in range(3)], config={"max_concurrency": 2})
    assert outs == ["small: 1932"] * 3
    assert [c async for c in r.astream({"question": "q", "context": ""})] == ["small: 1932"]
    assert list(r.stream({"question": "q", "context": ""})) == ["small: 1932"]
    assert r.batch([{"question": "q", "context": ""}]) == ["small: 1932"]


def test_lcel_composition_prompt_automix_parser() -> None:
    small = ScriptedChatModel(model_name="small", answer="small says hi", verdicts=["correct"])
    large = ScriptedChatModel(model_name="large", answer="large says hi")
    chain = PROMPT | AutoMixRunnable(tiers=[small, large], prices=PRICES, k=2) | StrOutputParser()
    assert chain.invoke({"question": "hi?", "context": "greetings"}) == "small says hi"
    case = small.verifications()[0]["messages"][-1].content
    assert "System: Context:\ngreetings" in case.replace("| ", "") and "⟦question⟧\n| hi?" in case
    assert list(chain.stream({"question": "hi?", "context": "x"})) == ["small says hi"]


def test_string_input_and_custom_keys_and_explicit_verifier() -> None:
    judge = ScriptedChatModel(model_name="judge", verdicts=["correct"])

    def echo(d: Any) -> str:
        return f"echo {d['q'] if isinstance(d, dict) else d}"

    r = AutoMixRunnable(tiers=[RunnableLambda(echo), RunnableLambda(echo)], verifiers=[judge, judge],
                        names=["tiny", "huge"], prices=PRICES, k=1, question_key="q", context_key="docs")
    assert r.invoke({"q": "hello", "docs": ["a", "b"]}) == "echo hello"
    assert "| a\n|\n| b" in judge.verifications()[0]["messages"][-1].content.replace("| \n", "|\n")
    assert r.invoke("plain") == "echo plain"
    # a lambda tier reports no usage: estimated and flagged
    assert r.ledger.total.estimated_calls >= 1
