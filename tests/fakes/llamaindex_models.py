"""Scripted LlamaIndex LLMs and a keyword retriever for the automix_llamaindex tests (offline)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle

VERIFY_SYSTEM_START = "You check proposed answers"



def is_verification(messages: Sequence[ChatMessage]) -> bool:
    return bool(messages) and (messages[0].content or "").startswith(VERIFY_SYSTEM_START)


def fence(text: str, name: str) -> str | None:
    """The text inside ``⟦name⟧ ... ⟦/name⟧`` of a verification case, ``"| "`` prefixes removed."""
    m = re.search(f"⟦{name}⟧\n(.*?)\n⟦/{name}⟧", text, re.DOTALL)
    if m is None:
        return None
    return "\n".join(line[2:] for line in m.group(1).split("\n"))


class ScriptedLLM(CustomLLM):
    """A chat LLM that answers from ``answers`` (then ``answer``) and verifies with ``verdicts``
    (then ``verdict``); entries may be exceptions. Reports whitespace-token usage in
    ``raw["usage"]`` unless ``report_usage`` is False. Records every call in ``calls`` (only counts
    them in ``call_count`` while ``record`` is False: a load test keeps no per-call state)."""

    model: str = "small"
    window: int = 4096
    answer: str = "Paris"
    answers: list[Any] = Field(default_factory=list)
    verdict: str = "correct"
    verdicts: list[Any] = Field(default_factory=list)
    report_usage: bool = True
    delay: float = 0.0
    record: bool = True
    call_count: int = 0
    _calls: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def calls(self) -> list[dict[str, Any]]:
        return self._calls

    @property
    def answer_calls(self) -> list[dict[str, Any]]:
        return [c for c in self._calls if not c["verify"]]

    @property
    def verify_calls(self) -> list[dict[str, Any]]:
        return [c for c in self._calls if c["verify"]]

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=self.window, num_output=256, model_name=self.model, is_chat_model=True)

    def _reply(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> ChatResponse:
        verify = is_verification(messages)
        with self._lock:
            self.call_count += 1
            if self.record:
                self._calls.append({"messages": list(messages), "kwargs": dict(kwargs), "verify": verify})
            queue = self.verdicts if verify else self.answers
            entry: Any = queue.pop(0) if queue else None
        if entry is None:
            entry = f"Justification: checked.\nVerdict: {self.verdict}" if verify else self.answer
        elif verify and isinstance(entry, str):
            entry = f"Justification: checked.\nVerdict: {entry}"
        if isinstance(entry, Exception):
            raise entry
        text = entry(messages) if callable(entry) else str(entry)
        raw: dict[str, Any] = {}
        if self.report_usage:
            prompt = sum(len((m.content or "").split()) for m in messages)
            raw["usage"] = {"prompt_tokens": prompt, "completion_tokens": len(text.split())}
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), raw=raw)

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        if self.delay:
            time.sleep(self.delay)
        return self._reply(messages, kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._reply(messages, kwargs)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        r = self._reply([ChatMessage(role=MessageRole.USER, content=prompt)], kwargs)
        return CompletionResponse(text=r.message.content or "", raw=r.raw)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        r = self.complete(prompt, formatted, **kwargs)

        def gen() -> CompletionResponseGen:
            yield CompletionResponse(text=r.text, delta=r.text, raw=r.raw)

        return gen()


class KeywordRetriever(BaseRetriever):
    """Nodes sharing at least one lowercase word (of 4+ letters) with the query, most shared first."""

    def __init__(self, nodes: Sequence[BaseNode], top_k: int = 2) -> None:
        self._nodes = list(nodes)
        self._top_k = top_k
        super().__init__()

    @staticmethod
    def _words(text: str) -> set[str]:
        return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) >= 4}

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        q = self._words(query_bundle.query_str)
        scored = [(len(q & self._words(n.get_content())), n) for n in self._nodes]
        hits = sorted((s for s in scored if s[0] > 0), key=lambda s: -s[0])[: self._top_k]
        return [NodeWithScore(node=n, score=float(s)) for s, n in hits]
