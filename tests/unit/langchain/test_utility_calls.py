"""Which calls get verified (issue 17): a run tagged ``automix:utility`` goes to ``utility_tier`` alone,
unverified but billed; everything else runs the cascade (``cascade_calls``, as in the LlamaIndex adapter)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableBranch, RunnableLambda, RunnablePassthrough

from automix_core.accounting.prices import Price, PriceTable
from automix_langchain import UTILITY_TAG, AutoMixChatModel, AutoMixRunnable
from tests.fakes.langchain_models import ScriptedChatModel

PRICES = PriceTable(default=Price(input_per_million=1.0, output_per_million=1.0))
DOCS = {"bridge": "The Golden Gate Bridge opened in 1937.", "tower": "The Eiffel Tower opened in 1889."}


def _answer(messages: list[BaseMessage]) -> str:
    text = str(messages[-1].content)
    if text.startswith("Rewrite"):
        return "When did the Golden Gate bridge open?"
    return "It opened in 1937."


def make(**kwargs: Any) -> tuple[AutoMixChatModel, ScriptedChatModel, ScriptedChatModel]:
    small = ScriptedChatModel(model_name="small", answer=_answer, verdicts=["incorrect"])
    large = ScriptedChatModel(model_name="large", answer=_answer)
    return AutoMixChatModel(tiers=[small, large], prices=PRICES, k=2, verify_mode="sample", **kwargs), small, large


def _retrieve(query: str) -> list[Document]:
    return [Document(page_content=t) for k, t in DOCS.items() if k in query.lower()]


def history_aware_rag(llm: AutoMixChatModel, rewriter: Any) -> Any:
    """The pattern of LangChain's create_history_aware_retriever + create_retrieval_chain, in LCEL: with
    chat history, the question is first rewritten into a standalone query for the retriever."""
    rewrite = ChatPromptTemplate.from_messages([
        MessagesPlaceholder("chat_history"), ("human", "Rewrite as a standalone search query: {input}")])
    retriever = RunnableLambda(_retrieve)
    history_aware = RunnableBranch(
        (lambda x: not x.get("chat_history"), (lambda x: x["input"]) | retriever),
        rewrite | rewriter | StrOutputParser() | retriever,
    ).with_config(run_name="chat_retriever_chain")
    answer = ChatPromptTemplate.from_messages([
        ("system", "Answer from the context.\n\n{context}"), MessagesPlaceholder("chat_history"), ("human", "{input}")])
    def joined(x: dict[str, Any]) -> str:
        return "\n".join(d.page_content for d in x["docs"])

    docs = RunnableLambda(joined)
    return (RunnablePassthrough.assign(docs=history_aware)
            | RunnablePassthrough.assign(context=docs)
            | answer | llm | StrOutputParser())


CHAT = {"input": "And when did it open?",
        "chat_history": [HumanMessage("Tell me about the bridge."), AIMessage("It is in San Francisco.")]}


@pytest.mark.parametrize("use_async", [False, True])
def test_rewrite_step_goes_to_one_tier_unverified_and_the_answer_is_cascaded(use_async: bool) -> None:
    llm, small, large = make()
    chain = history_aware_rag(llm, llm.utility())
    out = asyncio.run(chain.ainvoke(CHAT)) if use_async else chain.invoke(CHAT)
    assert out == "It opened in 1937."
    rewrites = [c for c in small.answers() if str(c["messages"][-1].content).startswith("Rewrite")]
    assert len(rewrites) == 1 and not any(str(c["messages"][-1].content).startswith("Rewrite")
                                          for c in large.answers())  # the rewrite: tier 0 alone
    assert len(small.verifications()) == 2  # only the answer was verified (k=2), then escalated
    assert len(large.answers()) == 1
    entries = llm.ledger.snapshot().entries
    assert [(e.purpose, e.tier) for e in entries] == [
        ("answer", 0), ("answer", 0), ("verify", 0), ("verify", 0), ("answer", 1)]  # the rewrite billed too


def test_without_the_tag_every_call_is_cascaded() -> None:
    llm, small, _ = make()
    history_aware_rag(llm, llm).invoke(CHAT)
    assert len(small.verifications()) == 2 * 2  # the rewrite was verified (and escalated) as well


def test_tag_on_an_enclosing_chain_and_on_one_call() -> None:
    llm, small, _ = make()
    rewrite = (ChatPromptTemplate.from_messages([("human", "Rewrite: {q}")]) | llm | StrOutputParser())
    assert rewrite.with_config(tags=[UTILITY_TAG]).invoke({"q": "x"}) == "When did the Golden Gate bridge open?"
    msg = llm.invoke("Rewrite: y", config={"tags": [UTILITY_TAG]})
    assert small.verifications() == []
    trace = msg.response_metadata["automix"]
    assert trace["tiers_visited"] == [0] and "not verified" in trace["trace"][0]["note"]
    assert msg.usage_metadata is not None and msg.usage_metadata["input_tokens"] > 0


def test_utility_tier_and_cascade_calls_all() -> None:
    llm, small, large = make(utility_tier=1)
    assert llm.utility().invoke("Rewrite: q").response_metadata["model_name"] == "large"
    assert small.calls == [] and large.verifications() == []
    llm, small, _ = make(cascade_calls="all")
    llm.utility().invoke("Rewrite: q")
    assert len(small.verifications()) == 2  # tagged, but every call is cascaded
    with pytest.raises(ValueError, match="utility_tier=2 is not a tier"):
        make(utility_tier=2)


def test_streamed_utility_call() -> None:
    llm, small, _ = make()
    chunks = list(llm.utility().stream("Rewrite: q"))
    assert "".join(str(c.content) for c in chunks) == "When did the Golden Gate bridge open?"
    assert small.verifications() == []
    chunks = list(llm.stream("Rewrite: q", config={"tags": [UTILITY_TAG]}))
    assert small.verifications() == [] and chunks[-1].response_metadata["automix"]["tiers_visited"] == [0]


async def test_astream_events_utility_call() -> None:
    llm, small, _ = make()
    events = [e async for e in llm.utility().astream_events("Rewrite: q", version="v2")]
    assert any(e["event"] == "on_chat_model_end" for e in events) and small.verifications() == []


def test_runnable_tiers_honour_the_tag() -> None:
    small = ScriptedChatModel(model_name="small", answer="s", verdicts=["incorrect"])
    large = ScriptedChatModel(model_name="large", answer="l")
    chain = AutoMixRunnable(tiers=[small | StrOutputParser(), large | StrOutputParser()], prices=PRICES, k=2,
                            verify_mode="sample")
    assert chain.with_config(tags=[UTILITY_TAG]).invoke("q") == "s" and small.verifications() == []
    assert chain.invoke("q") == "l" and len(small.verifications()) == 2
