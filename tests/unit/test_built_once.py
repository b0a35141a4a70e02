"""Each adapter builds its engine and tiers once (issue 25): over 100 requests of every kind (sync and
async, streamed, with tools, utility calls, progress handlers) no AutoMix, Tier, Verifier or adapter
tier object is constructed after the first request; what belongs to one request travels with each model
call as a RequestContext. And nothing in the packages reads the caller's stack."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import tool
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.prompts import PromptTemplate
from llama_index.core.prompts.prompt_type import PromptType

import automix_core
from automix_core import AutoMix, Price, PriceTable, Tier
from automix_core.verify import Verifier
from automix_langchain import AutoMixChatModel, AutoMixRunnable
from automix_langchain.tiers import RunnableTier
from automix_llamaindex import AutoMixLLM, LlamaIndexChatModel
from tests.fakes.counting import count_constructions
from tests.fakes.langchain_models import ScriptedChatModel
from tests.fakes.llamaindex_models import ScriptedLLM

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=1.0))
ROOT = Path(automix_core.__file__).parents[1]
PACKAGES = ("automix_core", "automix_langchain", "automix_llamaindex", "automix_server", "automix_demo")


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """How many objects of each class were constructed (counted in their ``__init__``)."""
    counts = count_constructions(monkeypatch, (AutoMix, Tier, Verifier, RunnableTier, LlamaIndexChatModel))
    yield counts


class Handler(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.events.append(name)


@tool
def lookup(city: str) -> str:
    """The weather in a city."""
    return "sunny"


def hundred(first: Callable[[int], Any], built: dict[str, int]) -> tuple[dict[str, int], list[Any]]:
    """Run ``first(i)`` for i in 0..99; the constructions after request 0, and every result."""
    out = [first(0)]
    after_first = dict(built)
    out += [first(i) for i in range(1, 100)]
    return after_first, out


def test_langchain_chat_model_builds_its_engine_once(built: dict[str, int]) -> None:
    small = ScriptedChatModel(model_name="small", answer="small answer", verdicts=["correct", "incorrect"])
    large = ScriptedChatModel(model_name="large", answer="large answer")
    llm = AutoMixChatModel(tiers=[small, large], prices=PRICES, k=2)
    with_tools = llm.bind_tools([lookup])
    handler = Handler()

    def request(i: int) -> Any:
        kind = i % 5
        if kind == 0:
            return llm.invoke(f"question {i}?")
        if kind == 1:
            return asyncio.run(llm.ainvoke([HumanMessage(f"question {i}?")], config={"callbacks": [handler]}))
        if kind == 2:
            return list(llm.stream(f"question {i}?"))[-1]
        if kind == 3:
            return llm.utility().invoke(f"rewrite {i}")
        return with_tools.invoke(f"weather in city {i}?")

    after_first, out = hundred(request, built)
    assert built == after_first == {"AutoMix": 1, "Tier": 2, "Verifier": 2, "RunnableTier": 2}
    # and each request still got its own answer, tool calls and progress
    assert out[0].response_metadata["automix"]["tier"] in (0, 1)
    assert out[4].tool_calls and out[4].tool_calls[0]["name"] == "lookup"
    assert out[3].response_metadata["automix"]["trace"][0]["note"].startswith("one tier asked")
    assert handler.events.count("automix.decision") >= 20
    assert llm.ledger.total.calls > 100


def test_langchain_engine_is_rebuilt_when_a_setting_changes(built: dict[str, int]) -> None:
    small = ScriptedChatModel(model_name="small", answer="small", verdicts=["incorrect"])
    large = ScriptedChatModel(model_name="large", answer="large")
    llm = AutoMixChatModel(tiers=[small, large], prices=PRICES, k=2)
    assert llm.invoke("q?").content == "large"
    llm.tool_calls = "accept"  # any field: the next request builds the engine anew, with it
    llm.k = 1
    assert llm.invoke("q?").content == "large"
    assert built["AutoMix"] == 2
    assert all(t.k == 1 for t in llm._engine_now().methods)
    copy = llm.model_copy(update={"k": 3})  # a copy (fields set without __setattr__) builds its own
    assert copy.invoke("q?").content == "large"
    assert built["AutoMix"] == 3 and all(t.k == 3 for t in copy._engine_now().methods)
    assert all(t.k == 1 for t in llm._engine_now().methods)


def test_langchain_runnable_builds_its_engine_once(built: dict[str, int]) -> None:
    small: Runnable[Any, Any] = RunnableLambda(lambda x: "small") | ScriptedChatModel(model_name="small",
                                                                                       verdicts=["incorrect"])
    large: Runnable[Any, Any] = RunnableLambda(lambda x: "large") | ScriptedChatModel(model_name="large")
    chain = AutoMixRunnable(tiers=[small, large], prices=PRICES, k=1)

    def request(i: int) -> Any:
        value = {"question": f"q {i}?", "context": "c"}
        return chain.invoke(value) if i % 2 else asyncio.run(chain.ainvoke(value))

    after_first, out = hundred(request, built)
    assert built == after_first == {"AutoMix": 1, "Tier": 2, "Verifier": 2, "RunnableTier": 2}
    assert all(o.content == "large answer" or o for o in out)


def test_llamaindex_llm_builds_its_engine_once(built: dict[str, int]) -> None:
    small = ScriptedLLM(model="small", answer="Paris", verdicts=["correct", "incorrect"])
    large = ScriptedLLM(model="large", answer="Paris, France")
    llm = AutoMixLLM([small, large], prices=PRICES, k=2)
    qa = PromptTemplate("Context: {context_str}\nQuestion: {query_str}\nAnswer:",
                        prompt_type=PromptType.QUESTION_ANSWER)
    keywords = PromptTemplate("Keywords of: {question}", prompt_type=PromptType.QUERY_KEYWORD_EXTRACT)
    after_construction = dict(built)

    def request(i: int) -> Any:
        kind = i % 5
        if kind == 0:
            return llm.chat([ChatMessage(role="user", content=f"Capital of France {i}?")]).message.content
        if kind == 1:
            return asyncio.run(llm.acomplete(f"Capital of France {i}?")).text
        if kind == 2:
            return llm.predict(qa, context_str=f"Paris is the capital of France ({i}).", query_str="Capital?")
        if kind == 3:
            return llm.predict(keywords, question=f"capital {i}")
        return asyncio.run(llm.apredict(qa, context_str="Paris is the capital.", query_str=f"Capital {i}?"))

    after_first, out = hundred(request, built)
    assert built == after_first == after_construction == {"AutoMix": 1, "Tier": 2, "Verifier": 2,
                                                           "LlamaIndexChatModel": 4}
    assert set(out) <= {"Paris", "Paris, France"}
    # the grounded predict calls were verified against their own context; the keyword step was a utility call
    grounded = [c for c in small.verify_calls if "Paris is the capital of France (2)." in c["messages"][-1].content]
    assert grounded
    assert sum(1 for c in small.answer_calls if "Keywords of" in c["messages"][-1].content) == 20
    assert not any("Keywords of" in c["messages"][-1].content for c in small.verify_calls)


STACK_READS = ("_getframe", "currentframe", "getouterframes", "getinnerframes", "f_back")


def _stack_reads(path: Path, root: Path = ROOT) -> list[str]:
    """Every read of the call stack in ``path``: ``sys._getframe``, ``inspect.stack``/``currentframe``/
    ``getouterframes``, a frame's ``f_back``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
        inspect_stack = (name == "stack" and isinstance(node, ast.Attribute)
                         and getattr(node.value, "id", "") == "inspect")
        if name in STACK_READS or inspect_stack:
            found.append(f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}: {name}")
    return found


def test_nothing_reads_the_callers_stack() -> None:
    found = [hit for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
             for hit in _stack_reads(path)]
    assert found == []


def test_the_stack_check_sees_a_stack_read(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import inspect, sys\nf = sys._getframe(1)\ng = inspect.stack()\n"
                   "h = inspect.currentframe().f_back\n")
    found = sorted(hit.split(": ")[1] for hit in _stack_reads(bad, tmp_path))
    assert found == ["_getframe", "currentframe", "f_back", "stack"]
