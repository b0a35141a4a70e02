"""LangChain messages and chain inputs/outputs <-> what the AutoMix verifier reads.

The verifier of a tier's answer sees a *question* and a *context* (see
:func:`automix_core.verify.verifier.build_prompt`). From a list of chat messages they come from
:func:`question_and_context`:

* the question is the text of the **last human message**;
* the context is chosen by ``context_from``:

  - ``"conversation"`` (default): every message before that last human message, as a
    ``Role: text`` transcript (system prompts, earlier turns, tool results). A RAG prompt that puts
    the retrieved documents in its system message is therefore verified against them.
  - ``"system"``: only the system messages' text.
  - ``"none"``: no context.
  - a callable ``(messages) -> (question, context)`` for anything else.

Only text is shown to the verifier (images and other non-text blocks are dropped from its view; the
answering tiers still get the messages unchanged).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompt_values import PromptValue
from pydantic import BaseModel

from automix_core import Message
from automix_core.errors import InvalidRequestError, UnsupportedMessageError
from automix_core.integration import ContextSource, render_tool_calls
from automix_core.integration import question_and_context as core_question_and_context

__all__ = [
    "ContextFrom",
    "ContextSource",
    "UnsupportedMessageError",
    "input_question_and_context",
    "output_text",
    "question_and_context",
    "to_core_messages",
]

ContextFrom = ContextSource | Callable[[list[BaseMessage]], tuple[str, str]]




_CHAT_ROLES = {"user": "user", "human": "user", "assistant": "assistant", "ai": "assistant", "system": "system"}


def message_text(message: BaseMessage) -> str:
    """The text of a message: string content, or the text blocks of list content."""
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "".join(parts)


def _tool_calls_text(message: AIMessage) -> str:
    return render_tool_calls({"function": {"name": c["name"], "arguments": c["args"]}} for c in message.tool_calls)


def ai_text(message: AIMessage) -> str:
    """An AI message as the verifier reads it: its text, then one line per tool call."""
    return "\n".join(part for part in (message_text(message), _tool_calls_text(message)) if part.strip())


def _core(message: BaseMessage) -> Message:
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": message_text(message)}
    if isinstance(message, HumanMessage):
        return {"role": "user", "content": message_text(message)}
    if isinstance(message, AIMessage):
        return {"role": "assistant", "content": ai_text(message)}
    if isinstance(message, (ToolMessage, FunctionMessage)):
        name = getattr(message, "name", None) or getattr(message, "tool_call_id", "") or "tool"
        return {"role": "user", "content": f"[result of tool {name}]\n{message_text(message)}"}
    if isinstance(message, ChatMessage) and message.role.lower() in _CHAT_ROLES:
        role = _CHAT_ROLES[message.role.lower()]
        return {"role": role, "content": message_text(message)}  # type: ignore[typeddict-item]
    role = f" with role {message.role!r}" if isinstance(message, ChatMessage) else ""
    raise UnsupportedMessageError(
        f"AutoMix cannot use a {type(message).__name__}{role}; use system, human, AI or tool messages"
    )


def to_core_messages(messages: Sequence[BaseMessage]) -> list[Message]:
    """The text-only :class:`~automix_core.models.Message` view of LangChain messages.

    Raises :class:`UnsupportedMessageError` for a message type or chat role it does not know.
    """
    return [_core(m) for m in messages]


def question_and_context(
    messages: Sequence[BaseMessage], context_from: ContextFrom = "conversation"
) -> tuple[str, str]:
    """The question (last human message's text) and context the verifier reads; see the module docs
    and :func:`automix_core.integration.question_and_context`, which this calls with the last
    ``HumanMessage`` (else the last user-role text, e.g. in a conversation ending in a tool result).

    Raises :class:`~automix_core.InvalidRequestError` (a ``ValueError``) when there is no human message
    with text (and ``context_from`` is not a callable), :class:`UnsupportedMessageError` for an unknown
    message type.
    """
    msgs = list(messages)
    core = to_core_messages(msgs)
    if callable(context_from):
        question, context = context_from(msgs)
        return str(question), str(context)
    last = max((i for i, m in enumerate(msgs) if isinstance(m, HumanMessage)), default=None)
    return core_question_and_context(core, context_from, last=last)


def _context_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Document):
        return value.page_content
    if isinstance(value, (list, tuple)):
        return "\n\n".join(_context_text(v) for v in value)
    return str(value)


def input_question_and_context(
    value: Any,
    *,
    question_key: str = "question",
    context_key: str = "context",
    context_from: ContextFrom = "conversation",
) -> tuple[str, str, list[Message]]:
    """Question, context and text-only messages of an :class:`~automix_langchain.AutoMixRunnable` input.

    * a string: the question, no context;
    * a dict: ``value[question_key]`` and ``value.get(context_key)`` (a string, documents, or a list
      of either);
    * a prompt value, a message, or a list of messages: :func:`question_and_context`.
    """
    from automix_core.integration import build_answer_messages

    if isinstance(value, str):
        question, context = value, ""
    elif isinstance(value, dict):
        if question_key not in value:
            raise KeyError(
                f"AutoMixRunnable input dict has no {question_key!r} key (keys: {sorted(map(str, value))}); "
                "set question_key to the key holding the question"
            )
        question, context = str(value[question_key]), _context_text(value.get(context_key))
    else:
        if isinstance(value, PromptValue):
            msgs = value.to_messages()
        elif isinstance(value, BaseMessage):
            msgs = [value]
        elif isinstance(value, (list, tuple)) and all(isinstance(m, BaseMessage) for m in value):
            msgs = list(value)
        else:
            raise UnsupportedMessageError(
                f"AutoMixRunnable cannot read an input of type {type(value).__name__}; "
                "give a string, a dict, a prompt value or a list of messages"
            )
        question, context = question_and_context(msgs, context_from)
        return question, context, to_core_messages(msgs)
    if not question.strip():
        raise InvalidRequestError("AutoMix got an empty question")
    return question, context, build_answer_messages(question, context)


def output_text(value: Any) -> str:
    """What the verifier reads of a tier's output: text, tool calls, or JSON of structured output."""
    if isinstance(value, AIMessage):
        return ai_text(value)
    if isinstance(value, BaseMessage):
        return message_text(value)
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if isinstance(value, dict) and "parsed" in value and "raw" in value:  # with_structured_output(include_raw=True)
        parsed = value.get("parsed")
        return output_text(parsed) if parsed is not None else output_text(value["raw"])
    if isinstance(value, (dict, list, tuple, int, float, bool)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)
