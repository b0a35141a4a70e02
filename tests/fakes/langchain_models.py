"""A scripted LangChain chat model for the automix_langchain tests: reports usage, supports tools.

* Verification prompts (the verifier's system message: ``automix_core.testing.is_verification_text``) get
  ``Justification: ...\\nVerdict: <w>`` with ``w`` taken in turn from ``verdicts`` (cycled).
* With tools bound and a human message last, it calls the ``tool_choice`` tool (else the first) with
  arguments built from the tool's JSON schema; after a tool result it answers in text.
* Otherwise it answers ``answer`` (a string, or a function of the messages).

Usage is whitespace-token counts; every call is recorded in ``calls`` (while ``record``).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage, UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field, PrivateAttr

from automix_core.testing import is_verification_text
from automix_core.verify.claim import RESTATE_INSTRUCTION


def _text(m: BaseMessage) -> str:
    return m.text if isinstance(m.text, str) else str(m.content)


def _value(schema: dict[str, Any], text: str = "scripted") -> Any:
    """A value fitting ``schema``; strings are ``text`` (the request's last human message)."""
    kind = schema.get("type")
    if "anyOf" in schema:
        return _value(next(s for s in schema["anyOf"] if s.get("type") != "null"), text)
    if kind == "integer":
        return 3
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        required = schema.get("required", [])
        return {k: _value(v, text) for k, v in schema.get("properties", {}).items() if k in required}
    return text


class ScriptedChatModel(BaseChatModel):
    """See the module docs."""

    model_name: str = "scripted"
    answer: str | Callable[[list[BaseMessage]], str] = "scripted answer"
    verdicts: list[str] = Field(default_factory=lambda: ["correct"])
    fail: BaseException | None = None
    fail_verify: BaseException | None = None
    delay: float = 0.0
    report_usage: bool = True
    calls: list[dict[str, Any]] = Field(default_factory=list)
    record: bool = True  # False: calls are only counted (call_count), as a load test wants
    call_count: int = 0
    max_in_flight: int = 0

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _cycle: Any = PrivateAttr(default=None)
    _in_flight: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _verdict(self) -> str:
        with self._lock:
            if self._cycle is None:
                self._cycle = itertools.cycle(self.verdicts)
            return str(next(self._cycle))

    def _reply(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        if len(messages) >= 2 and _text(messages[-1]) == RESTATE_INSTRUCTION:  # the claim call: a faithful echo
            with self._lock:
                self.call_count += 1
                if self.record:
                    self.calls.append({"purpose": "restate", "messages": list(messages), "kwargs": dict(kwargs)})
            return self._with_usage(messages, AIMessage(content=_text(messages[-2])))
        verify = bool(messages) and is_verification_text(_text(messages[0]))
        with self._lock:
            self.call_count += 1
            if self.record:
                self.calls.append({"purpose": "verify" if verify else "answer", "messages": list(messages),
                                   "kwargs": dict(kwargs)})
        if verify:
            if self.fail_verify is not None:
                raise self.fail_verify
            verdict = self._verdict()
            content = verdict if not verdict or verdict.startswith("?") else (
                f"Justification: scripted by {self.model_name}.\nVerdict: {verdict}")
            return self._with_usage(messages, AIMessage(content=content.lstrip("?")))
        if self.fail is not None:
            raise self.fail
        tools = kwargs.get("tools")
        if tools and messages and isinstance(messages[-1], HumanMessage):
            choice = kwargs.get("tool_choice")
            fns = [t["function"] for t in tools]
            chosen = fns[0]
            if isinstance(choice, str):
                chosen = next((f for f in fns if f["name"] == choice), chosen)
            elif isinstance(choice, dict):
                name = choice.get("function", {}).get("name") or choice.get("name")
                chosen = next((f for f in fns if f["name"] == name), chosen)
            args = _value({"type": "object", **chosen.get("parameters", {})}, _text(messages[-1]))
            call = {"name": chosen["name"], "args": args, "id": f"call_{len(self.calls)}", "type": "tool_call"}
            return self._with_usage(messages, AIMessage(content="", tool_calls=[call]))
        if messages and isinstance(messages[-1], ToolMessage):
            return self._with_usage(messages, AIMessage(content=f"The tool returned {_text(messages[-1])}."))
        text = self.answer(messages) if callable(self.answer) else self.answer
        return self._with_usage(messages, AIMessage(content=text))

    def _with_usage(self, messages: Sequence[BaseMessage], msg: AIMessage) -> AIMessage:
        msg.response_metadata = {"model_name": self.model_name}
        if self.report_usage:
            inp = sum(len(_text(m).split()) for m in messages)
            out = len(_text(msg).split()) + 3 * len(msg.tool_calls)
            usage: dict[str, int] = {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}
            msg.usage_metadata = cast(UsageMetadata, usage)
        return msg

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        if self.delay:
            time.sleep(self.delay)
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages, {**kwargs, "stop": stop}))])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            await asyncio.sleep(self.delay or 0.005)
            return ChatResult(generations=[ChatGeneration(message=self._reply(messages, {**kwargs, "stop": stop}))])
        finally:
            with self._lock:
                self._in_flight -= 1

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def with_structured_output(
        self, schema: dict[str, Any] | type, *, include_raw: bool = False, method: str = "function_calling",
        strict: bool | None = None, **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        return super().with_structured_output(schema, include_raw=include_raw, **kwargs)

    def answers(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["purpose"] == "answer"]

    def verifications(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["purpose"] == "verify"]
