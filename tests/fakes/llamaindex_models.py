"""Scripted LlamaIndex LLMs and a keyword retriever for the automix_llamaindex tests (offline)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    TextBlock,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle
from llama_index.core.tools.types import BaseTool

from automix_core.testing import is_verification_text
from automix_core.verify.claim import RESTATE_INSTRUCTION


def is_verification(messages: Sequence[ChatMessage]) -> bool:
    return bool(messages) and is_verification_text(messages[0].content or "")


def restated(messages: Sequence[ChatMessage]) -> str | None:
    """For the verifier's restatement call (its last turn asks for the claim), the answer it follows, echoed as
    a faithful restatement; else None."""
    if len(messages) >= 2 and messages[-1].content == RESTATE_INSTRUCTION:
        return messages[-2].content or ""
    return None


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
        return [c for c in self._calls if c["verify"] is False]

    @property
    def verify_calls(self) -> list[dict[str, Any]]:
        """The verdict calls (the restatement calls, ``verify`` None, are neither these nor answers)."""
        return [c for c in self._calls if c["verify"] is True]

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=self.window, num_output=256, model_name=self.model, is_chat_model=True)

    def _reply(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> ChatResponse:
        claim = restated(messages)
        if claim is not None:
            with self._lock:
                self.call_count += 1
                if self.record:
                    self._calls.append({"messages": list(messages), "kwargs": dict(kwargs), "verify": None})
            return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=claim), raw={})
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


@dataclass(frozen=True)
class ToolCall:
    """A scripted answer that calls a tool (a ``ToolCallBlock`` in the reply), optionally with text."""

    name: str
    args: dict[str, Any]
    text: str = ""
    call_id: str = "call-1"


class ScriptedToolLLM(ScriptedLLM, FunctionCallingLLM):
    """A function-calling :class:`ScriptedLLM`: an ``answers`` entry that is a :class:`ToolCall` replies
    with that tool call. ``chat_with_tools`` passes the tools to ``chat`` (recorded in each call's
    ``kwargs["tools"]``); :meth:`get_tool_calls_from_response` reads the ``ToolCallBlock`` blocks."""

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=self.window, num_output=256, model_name=self.model, is_chat_model=True,
                           is_function_calling_model=True)

    def _reply(self, messages: Sequence[ChatMessage], kwargs: dict[str, Any]) -> ChatResponse:
        if not is_verification(messages) and restated(messages) is None:
            with self._lock:
                head = self.answers[0] if self.answers else None
                if isinstance(head, ToolCall):
                    self.answers.pop(0)
                    self.call_count += 1
                    self._calls.append({"messages": list(messages), "kwargs": dict(kwargs), "verify": False})
            if isinstance(head, ToolCall):
                blocks: list[Any] = [TextBlock(text=head.text)] if head.text else []
                blocks.append(ToolCallBlock(tool_call_id=head.call_id, tool_name=head.name, tool_kwargs=head.args))
                raw = {"usage": {"prompt_tokens": sum(len((m.content or "").split()) for m in messages),
                                 "completion_tokens": 5}} if self.report_usage else {}
                return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks), raw=raw)
        return super()._reply(messages, kwargs)

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        messages = list(chat_history or [])
        if user_msg is not None:
            messages.append(ChatMessage(role=MessageRole.USER, content=user_msg) if isinstance(user_msg, str)
                            else user_msg)
        return {"messages": messages, "tools": [t.metadata.name for t in tools], **kwargs}

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        calls = [ToolSelection(tool_id=b.tool_call_id or "", tool_name=b.tool_name,
                               tool_kwargs=b.tool_kwargs if isinstance(b.tool_kwargs, dict) else {})
                 for b in response.message.blocks if isinstance(b, ToolCallBlock)]
        if not calls and error_on_no_tool_call:
            raise ValueError("no tool call in the response")
        return calls
