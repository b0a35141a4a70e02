"""The ``/v1/chat/completions`` request: validation (errors name the field) and what the cascade sees.

The answering tiers get the caller's messages and parameters as they came (tools, content parts,
``response_format``...). The engine and the verifier see a text rendering: roles ``system``/``user``/
``assistant``, content parts joined, tool calls written as ``Call tool NAME with arguments JSON``,
tool results as user turns. The question is the last user message's text; the context (what the
verifier checks the answer against) is, by default, every other turn.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from automix_core import Message
from automix_core.integration import render_tool_calls

from .errors import APIError

__all__ = ["ChatRequest", "parse_request", "question_and_context", "to_core_messages"]

# fields passed through to the answering tier as they are
PASS_THROUGH = ("tools", "tool_choice", "parallel_tool_calls", "response_format", "top_p", "seed",
                "frequency_penalty", "presence_penalty", "logit_bias", "user", "stop")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _content(self) -> ChatMessage:
        if self.role in ("system", "developer", "user") and self.content is None:
            raise ValueError(f"a {self.role} message needs content")
        if self.role == "tool" and self.tool_call_id is None:
            raise ValueError("a tool message needs tool_call_id")
        if isinstance(self.content, list):
            for i, part in enumerate(self.content):
                if not isinstance(part.get("type"), str):
                    raise ValueError(f"content part {i} needs a 'type'")
                if part["type"] == "text" and not isinstance(part.get("text"), str):
                    raise ValueError(f"content part {i} of type 'text' needs a 'text' string")
        return self


class ChatRequest(BaseModel):
    """The OpenAI chat-completions request body (unknown fields are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    user: str | None = None
    seed: int | None = None
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None

    @field_validator("n")
    @classmethod
    def _n(cls, v: int | None) -> int | None:
        if v is not None and v != 1:
            raise ValueError("only n=1 is supported (AutoMix returns one answer)")
        return v

    @field_validator("logprobs")
    @classmethod
    def _lp(cls, v: bool | None) -> bool | None:
        if v:
            raise ValueError("logprobs are not supported by the AutoMix route")
        return v

    @field_validator("stop")
    @classmethod
    def _stop(cls, v: str | list[str] | None) -> str | list[str] | None:
        if isinstance(v, list) and len(v) > 4:
            raise ValueError("at most 4 stop sequences")
        return v

    @field_validator("tools")
    @classmethod
    def _tools(cls, v: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for i, t in enumerate(v or []):
            fn = t.get("function")
            if t.get("type") != "function" or not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise ValueError(f"tool {i} must be {{'type': 'function', 'function': {{'name': ..., ...}}}}")
        return v

    @field_validator("temperature", "top_p", "frequency_penalty", "presence_penalty")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    @property
    def answer_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def raw_messages(self) -> list[dict[str, Any]]:
        """The messages as the caller sent them (for the answering tier)."""
        return [m.model_dump(exclude_unset=True) for m in self.messages]

    def pass_through(self) -> dict[str, Any]:
        """Fields sent to the answering tier unchanged."""
        out: dict[str, Any] = {}
        for name in PASS_THROUGH:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


def _param(loc: tuple[int | str, ...]) -> str:
    out = ""
    for p in loc:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p in ("str", "list[dict[str,any]]", "none", "dict[str,any]") or p.startswith(("list[", "function-")):
            continue  # union member names pydantic adds to the location
        else:
            out += f".{p}" if out else p
    return out


def parse_request(body: bytes) -> ChatRequest:
    """Parse and validate a request body, or raise a 400 :class:`APIError` naming the field."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise APIError(400, "the request body must be a JSON object", code="invalid_json")
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        param = _param(tuple(err["loc"])) or None
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = f"'{param}' is a required property"
        elif param:
            msg = f"invalid '{param}': {msg}"
        more = len(exc.errors()) - 1
        if more:
            msg += f" (and {more} more error{'s' if more > 1 else ''})"
        code = "invalid_value" if err["type"] != "missing" else "missing"
        raise APIError(400, msg, param=param, code=code) from None


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for p in content:
        if p.get("type") == "text":
            parts.append(str(p.get("text", "")))
        elif p.get("type") in ("image_url", "input_image"):
            parts.append("[image]")
        elif p.get("type") in ("input_audio", "audio"):
            parts.append("[audio]")
        elif p.get("type") == "file":
            parts.append("[file]")
        elif p.get("type") == "refusal":
            parts.append(str(p.get("refusal", "")))
    return "\n".join(parts)


def to_core_messages(req: ChatRequest) -> list[Message]:
    """The messages as the engine's text-only chat messages."""
    out: list[Message] = []
    for m in req.messages:
        text = _text(m.content)
        if m.role in ("system", "developer"):
            out.append({"role": "system", "content": text})
        elif m.role == "user":
            out.append({"role": "user", "content": text})
        elif m.role == "assistant":
            calls = render_tool_calls(m.tool_calls) if m.tool_calls else ""
            out.append({"role": "assistant", "content": "\n".join(x for x in (text, calls) if x)})
        else:  # tool / function results
            out.append({"role": "user", "content": f"Tool result ({m.tool_call_id or m.name or 'tool'}): {text}"})
    return out


_LABEL = {"system": "System", "user": "User", "assistant": "Assistant"}


def question_and_context(req: ChatRequest, core: list[Message], context_from: str) -> tuple[str, str]:
    """The question (last user message's text) and the context the verifier reads."""
    last = max((i for i, m in enumerate(req.messages) if m.role == "user" and core[i]["content"].strip()),
               default=None)
    if last is None:
        raise APIError(400, "messages must contain a user message with text", param="messages", code="invalid_value")
    question = core[last]["content"]
    if context_from == "none":
        return question, ""
    if context_from == "system":
        return question, "\n\n".join(m["content"] for m in core if m["role"] == "system" and m["content"].strip())
    others = [m for i, m in enumerate(core) if i != last and m["content"].strip()]
    return question, "\n\n".join(f"{_LABEL[m['role']]}: {m['content']}" for m in others)
