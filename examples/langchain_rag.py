"""An LCEL RAG chain over 40 PubMedQA abstracts, switched to AutoMix by changing only the model.

The chain is ordinary LangChain: a retriever (offline keyword overlap, top 2 abstracts), a prompt
that puts the retrieved abstracts in the system message, a chat model, a string parser. The line
marked ``<- AutoMix`` replaces the single ``ChatOpenAI`` (served locally by llama.cpp) by an
``AutoMixChatModel`` over a small and a large local model. The verifier checks each answer against
the retrieved abstracts, because they are in the prompt's system message (``context_from`` default
"conversation"). For each question it prints the tier that answered, the verifier's confidences and
the cost; at the end, the ledger per model.

The router is the one shipped for this pair (``Router.shipped()``; verification as it was calibrated);
any other pair runs the untrained default, which warns that it is not calibrated.

Needs the local models (the ``langchain`` extra brings ``langchain-openai``; no embedding model)::

    pip install 'automix[local,langchain]'
    automix models install qwen2.5-coder-0.5b qwen2.5-coder-1.5b

Run: ``python examples/langchain_rag.py --questions 5`` (CPU; seconds to a minute a question), or
``--small smollm2-135m --large qwen2.5-coder-0.5b`` for a quicker plumbing run.
Data: examples/data/pubmedqa_40.json, MIT License, Copyright (c) 2019 pubmedqa (LICENSE-pubmedqa.txt).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "pubmedqa_40.json"


def fail(message: str) -> None:
    print(f"langchain_rag: {message}", file=sys.stderr)
    raise SystemExit(2)


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 3}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--questions", type=int, default=5, help="how many questions to ask (max 40)")
    parser.add_argument("--k", type=int, default=None,
                        help="verification samples per answer (default: the router's method)")
    parser.add_argument("--small", default="qwen2.5-coder-0.5b")
    parser.add_argument("--large", default="qwen2.5-coder-1.5b")
    args = parser.parse_args(argv)

    try:
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_core.runnables import RunnableLambda, RunnablePassthrough
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        from automix_langchain import AutoMixChatModel
    except ImportError as exc:
        fail(f"{exc}\ninstall: pip install 'automix[local,langchain]'")
    from automix_core import LocalServer, PriceTable, Router
    from automix_core.errors import LocalServerError
    from automix_core.local import MODELS, is_installed

    try:
        import xllamacpp  # noqa: F401
    except ImportError:
        fail("xllamacpp is not installed; install: pip install 'automix[local]'")
    missing = [m for m in (args.small, args.large) if not is_installed(m)]
    if missing:
        fail(f"local model(s) not installed: {', '.join(missing)}\ninstall: automix models install {' '.join(missing)}")

    corpus = json.loads(DATA.read_text())
    abstracts = ["\n".join(item["CONTEXTS"]) for item in corpus.values()]
    index = [words(a) for a in abstracts]

    def retrieve(question: str) -> str:
        q = words(question)
        best = sorted(range(len(abstracts)), key=lambda i: -len(q & index[i]))[:2]
        return "\n\n".join(abstracts[i] for i in best)

    prompt = ChatPromptTemplate.from_messages([
        ("system", "Answer the question from these abstracts only.\n\n{context}"),
        ("human", "{question} Answer yes, no or maybe, then give one sentence of reasons."),
    ])

    models = list(dict.fromkeys([args.small, args.large]))
    try:
        server = LocalServer(models, threads=2)
        server.start()
    except LocalServerError as exc:
        fail(f"could not start the local llama.cpp server: {exc}")
    try:
        def local(name: str) -> ChatOpenAI:
            return ChatOpenAI(model=name, base_url=server.api_base(name), api_key=SecretStr("local"), temperature=0,
                              extra_body={"max_tokens": 256}, timeout=600, max_retries=0)

        prices = PriceTable(prices={m: MODELS[m].price for m in models})
        llm: Any = local(args.small)  # the app as it was: one model
        router = Router.shipped() if [args.small, args.large] == Router.shipped().models else None
        llm = AutoMixChatModel(tiers=[local(args.small), local(args.large)], prices=prices, router=router,
                               k=args.k)  # <- AutoMix
        chain = {"context": RunnableLambda(retrieve), "question": RunnablePassthrough()} | prompt | llm

        correct = 0
        items = list(corpus.values())[: max(1, min(args.questions, 40))]
        for i, item in enumerate(items, 1):
            message = chain.invoke(item["QUESTION"])
            answer = StrOutputParser().invoke(message).strip().replace("\n", " ")
            got = next((w for w in ("yes", "no", "maybe") if answer.lower().startswith(w)), "?")
            correct += got == item["final_decision"]
            trace = message.response_metadata.get("automix", {})
            confidences = [t["confidence"] for t in trace.get("trace", [])]
            print(f"[{i}] {item['QUESTION']}")
            print(f"    answer ({got}, gold {item['final_decision']}): {answer[:160]}")
            print(f"    tier {trace.get('tier')} ({message.response_metadata.get('model_name')}), "
                  f"verifier confidences {confidences}, {message.usage_metadata}, ${trace.get('cost', 0.0):.8f}")
        print(f"\n{correct}/{len(items)} yes/no/maybe labels match the gold label")
        if isinstance(llm, AutoMixChatModel):
            for model, totals in llm.ledger.by_model().items():
                print(f"{model}: {totals.calls} calls, {totals.input_tokens + totals.output_tokens} tokens, "
                      f"${totals.cost:.8f}")
            print(f"total: ${llm.ledger.total_cost:.8f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
