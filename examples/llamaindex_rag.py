"""A LlamaIndex RAG app over 40 PubMedQA abstracts, switched to AutoMix with one line.

The app is ordinary LlamaIndex: documents, a BM25 retriever (offline), ``RetrieverQueryEngine``
with the LLM from ``Settings.llm``. The line marked ``<- AutoMix`` replaces the single local model
by an AutoMix cascade of Qwen2.5-Coder 0.5B (answers first, verifies itself) and 1.5B (takes the
questions the small one could not verify). For each question it prints which tier answered and
what it cost; at the end, the totals per model.

The router is the one shipped for this pair (``Router.shipped()``; verification as it was calibrated);
any other pair runs the untrained default, which warns that it is not calibrated.

Needs the local models (the ``llamaindex`` extra brings ``llama-index-llms-openai-like`` and the BM25
retriever, so no embedding model is downloaded)::

    pip install 'automix[local,llamaindex]'
    automix models install qwen2.5-coder-0.5b qwen2.5-coder-1.5b

Run: ``python examples/llamaindex_rag.py --questions 5`` (CPU; a few seconds to a minute a question), or
``--small smollm2-135m --large qwen2.5-coder-0.5b`` for a quicker plumbing run.
Data: examples/data/pubmedqa_40.json, MIT License, Copyright (c) 2019 pubmedqa (LICENSE-pubmedqa.txt).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "pubmedqa_40.json"


def fail(message: str) -> None:
    print(f"llamaindex_rag: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=5, help="how many questions to ask (max 40)")
    parser.add_argument("--k", type=int, default=None,
                        help="verification samples per answer (default: the router's method)")
    parser.add_argument("--small", default="qwen2.5-coder-0.5b")
    parser.add_argument("--large", default="qwen2.5-coder-1.5b")
    args = parser.parse_args(argv)
    small, large = args.small, args.large

    try:
        from llama_index.core import Document, Settings
        from llama_index.core.instrumentation.event_handlers import BaseEventHandler
        from llama_index.core.instrumentation.events import BaseEvent
        from llama_index.core.node_parser import SentenceSplitter
        from llama_index.core.query_engine import RetrieverQueryEngine
        from llama_index.llms.openai_like import OpenAILike  # type: ignore[import-untyped,import-not-found,unused-ignore]
        from llama_index.retrievers.bm25 import BM25Retriever  # type: ignore[import-untyped,import-not-found,unused-ignore]
        from llama_index_instrumentation import get_dispatcher

        from automix_llamaindex import AutoMixEvent, AutoMixLLM
    except ImportError as exc:
        fail(f"{exc}\ninstall: pip install 'automix[local,llamaindex]'")
    from automix_core import LocalServer, PriceTable, Router
    from automix_core.errors import LocalServerError
    from automix_core.local import MODELS, is_installed

    missing = [m for m in (small, large) if not is_installed(m)]
    if missing:
        fail(f"local model(s) not installed: {', '.join(missing)}\n"
             f"install: automix models install {' '.join(missing)}")

    items = list(json.loads(DATA.read_text()).items())[: max(1, min(args.questions, 40))]
    documents = [Document(text="\n".join(item["CONTEXTS"]), metadata={"pmid": pmid}) for pmid, item in
                 json.loads(DATA.read_text()).items()]
    nodes = SentenceSplitter(chunk_size=512).get_nodes_from_documents(documents)
    retriever = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=2)

    class Decisions(BaseEventHandler):
        """Remembers the AutoMix trace of the last question."""

        last: dict[str, Any] | None = None

        def handle(self, event: BaseEvent, **kwargs: Any) -> None:
            if isinstance(event, AutoMixEvent):
                self.last = event.result

    decisions = Decisions()
    get_dispatcher().add_event_handler(decisions)

    try:
        server = LocalServer([small, large], threads=2)
        server.start()
    except LocalServerError as exc:
        fail(f"could not start the local llama.cpp server: {exc}")
    try:
        def local(name: str) -> OpenAILike:
            served = server.served[name]
            return OpenAILike(model=name, api_base=server.api_base(name), api_key="local", is_chat_model=True,
                              context_window=served.n_ctx, max_tokens=256, timeout=600)

        prices = PriceTable(prices={m: MODELS[m].price for m in (small, large)})
        router = Router.shipped() if [small, large] == Router.shipped().models else None
        Settings.llm = local(small)  # the app as it was: one model
        Settings.llm = AutoMixLLM([local(small), local(large)], prices=prices, router=router, k=args.k)  # <- AutoMix
        query_engine = RetrieverQueryEngine.from_args(retriever)

        correct = 0
        for i, (_, item) in enumerate(items, 1):
            question = f"{item['QUESTION']} Answer yes, no or maybe, then give one sentence of reasons."
            response = query_engine.query(question)
            answer = str(response).strip().replace("\n", " ")
            gold = item["final_decision"]
            got = next((w for w in ("yes", "no", "maybe") if answer.lower().startswith(w)), "?")
            correct += got == gold
            trace = decisions.last or {}
            confidences = [t["confidence"] for t in trace.get("trace", [])]
            print(f"[{i}] {item['QUESTION']}")
            print(f"    answer ({got}, gold {gold}): {answer[:160]}")
            print(f"    tier {trace.get('tier')} ({trace.get('model')}), verifier confidences {confidences}, "
                  f"{trace.get('input_tokens', 0) + trace.get('output_tokens', 0)} tokens, "
                  f"${trace.get('cost', 0.0):.8f}")
        ledger = Settings.llm.ledger if isinstance(Settings.llm, AutoMixLLM) else None
        print(f"\n{correct}/{len(items)} yes/no/maybe labels match the gold label")
        if ledger is not None:
            for model, totals in ledger.by_model().items():
                print(f"{model}: {totals.calls} calls, {totals.input_tokens + totals.output_tokens} tokens, "
                      f"${totals.cost:.8f}")
            print(f"total: ${ledger.total_cost:.8f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
