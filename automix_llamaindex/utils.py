"""Conversions between LlamaIndex and ``automix_core``: messages, usage, the choices of a request with
``n``, which LLMs take ``n``, and the grounding (question and context) of a query engine's prompt.
"""

from __future__ import annotations

import contextvars
from collections import ChainMap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    MessageRole,
    TextBlock,
)
from llama_index.core.llms import LLM
from llama_index.core.prompts import BasePromptTemplate

from automix_core import (
    Message,
)
from automix_core.integration import TurnCache

__all__ = ["Grounding", "choice_texts", "grounding_from_prompt", "reported_usage", "supports_native_n",
           "to_core_messages"]

_ROLES: dict[MessageRole, str] = {
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "system",
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
}
_NON_TEXT_BLOCKS = {"ImageBlock", "AudioBlock", "VideoBlock", "DocumentBlock"}
_INPUT_KEYS = ("prompt_tokens", "input_tokens", "prompt_token_count")
_OUTPUT_KEYS = ("completion_tokens", "output_tokens", "candidates_token_count")



# ------------------------------------------------------------------------------------ conversions


def to_core_messages(messages: Sequence[ChatMessage]) -> list[Message]:
    """LlamaIndex chat messages as ``automix_core`` messages (text only).

    Developer messages become system messages, chatbot/model messages assistant ones. Tool and
    function messages, and images, audio, video or documents, raise :class:`ValueError`: AutoMix
    verifies text answers.
    """
    out: list[Message] = []
    for m in messages:
        role = _ROLES.get(m.role)
        if role is None:
            raise ValueError(f"AutoMixLLM handles text chat only; got a {m.role.value!r} message")
        bad = [type(b).__name__ for b in m.blocks if type(b).__name__ in _NON_TEXT_BLOCKS]
        if bad:
            raise ValueError(f"AutoMixLLM handles text chat only; a {role} message holds {', '.join(bad)}")
        out.append({"role": role, "content": m.content or ""})  # type: ignore[typeddict-item]
    return out


_GROUNDING: contextvars.ContextVar[tuple[int, Grounding] | None] = contextvars.ContextVar(
    "automix_llamaindex_grounding", default=None
)
# (core messages, the caller's LlamaIndex messages they were converted from) for the cascade running in
# this context: the answer call hands the caller's own messages to the tier instead of rebuilding them
_ORIGINALS: contextvars.ContextVar[tuple[list[Message], Sequence[ChatMessage]] | None] = contextvars.ContextVar(
    "automix_llamaindex_originals", default=None
)


_UNREAD = object()


def _intact(message: ChatMessage, role: str, content: str) -> bool:
    blocks = message.blocks
    return (message.role.value == role and len(blocks) == 1 and isinstance(blocks[0], TextBlock)
            and blocks[0].text == content)


# the verification prompt's fixed turns, converted once (see TurnCache)
_TURNS: TurnCache[ChatMessage] = TurnCache(lambda role, content: ChatMessage(role=MessageRole(role), content=content),
                                           _intact)


def _answer_messages(messages: Sequence[Message]) -> list[ChatMessage]:
    """An answer call's messages: the caller's own LlamaIndex messages when ``messages`` is the list the
    running cascade was given (see :data:`_ORIGINALS`), else ``messages`` converted."""
    originals = _ORIGINALS.get()
    if originals is not None and originals[0] is messages:
        return list(originals[1])
    return [ChatMessage(role=MessageRole(m["role"]), content=m["content"]) for m in messages]


def _as_dict(usage: object) -> Mapping[str, Any] | None:
    if usage is None:
        return None
    if isinstance(usage, Mapping):
        return usage
    dump = getattr(usage, "model_dump", None)
    if callable(dump):
        dumped = dump()
        return dumped if isinstance(dumped, Mapping) else None
    return vars(usage) if hasattr(usage, "__dict__") else None


def _first_int(usage: Mapping[str, Any], keys: Sequence[str]) -> int | None:
    for key in keys:
        value = usage.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def reported_usage(response: ChatResponse | CompletionResponse) -> tuple[int | None, int | None]:
    """(input, output) tokens a LlamaIndex response reports, ``None`` for each count not reported.

    Looked up where ``TokenCountingHandler`` looks: ``raw["usage"]`` (or ``raw.usage``, also
    ``usage_metadata``), then ``additional_kwargs`` (``prompt_tokens``/``completion_tokens`` and
    the other spellings it knows).
    """
    raw = response.raw
    if type(raw) is dict:  # the common shape, {"usage": {"prompt_tokens": .., "completion_tokens": ..}}: no search
        found = raw.get("usage")
        if type(found) is dict:
            inp, out = found.get("prompt_tokens"), found.get("completion_tokens")
            if type(inp) is int and type(out) is int:
                return inp, out
    if isinstance(raw, Mapping):
        usage: object = raw.get("usage") or raw.get("usage_metadata")
    else:
        usage = getattr(raw, "usage", None) or getattr(raw, "usage_metadata", None)
    for candidate in (usage, response.additional_kwargs):
        found = _as_dict(candidate)
        if not found:
            continue
        inp, out = _first_int(found, _INPUT_KEYS), _first_int(found, _OUTPUT_KEYS)
        if inp is not None or out is not None:
            return inp, out
    return None, None








def choice_texts(response: ChatResponse) -> list[str]:
    """The text of every choice of an OpenAI-style raw response (``raw.choices[i].message.content``,
    objects or dicts), else the response's own message: a request with ``n`` yields all its samples."""
    raw = response.raw
    choices = raw.get("choices") if isinstance(raw, Mapping) else getattr(raw, "choices", None)
    if not isinstance(choices, (list, tuple)) or not choices:
        return [response.message.content or ""]
    texts: list[str] = []
    for choice in choices:
        message = choice.get("message") if isinstance(choice, Mapping) else getattr(choice, "message", None)
        content = message.get("content") if isinstance(message, Mapping) else getattr(message, "content", None)
        texts.append(content if isinstance(content, str) else "")
    return texts


_OPENAI_HOSTS = ("https://api.openai.com/v1", "https://api.openai.com/v1/")


def supports_native_n(llm: LLM | None, setting: bool | None) -> bool:
    """Whether verification samples go to ``llm`` as one chat request with ``n`` (``verify_n``).

    ``setting`` True or False decides. ``None`` (the default) means: only LlamaIndex's own ``OpenAI``
    LLM on OpenAI's endpoint. Other OpenAI-compatible servers (``OpenAILike``, llama.cpp, vLLM)
    may accept ``n`` but report usage for one choice only, so they are opted in explicitly.
    """
    if llm is None:
        return False
    if setting is not None:
        return setting
    cls = type(llm)
    hosted = getattr(llm, "api_base", None) in _OPENAI_HOSTS
    return cls.__name__ == "OpenAI" and cls.__module__.startswith("llama_index.llms.openai") and hosted


# ------------------------------------------------------------------------------------ grounding


@dataclass(frozen=True)
class Grounding:
    """The parts the verifier gets: the user's question and the retrieved context."""

    question: str
    context: str


def grounding_from_prompt(prompt: BasePromptTemplate, prompt_args: Mapping[str, Any]) -> Grounding | None:
    """The question and context of a query-engine prompt, or None for any other prompt.

    Variables are read from ``prompt_args`` and the template's partially formatted ``kwargs`` (the
    synthesizers partially format ``query_str``). ``query_str`` + ``context_str`` (text QA, tree
    summarize, simple summarize, accumulate; a list of chunks is joined) or ``context_messages``:
    the context is that text. ``query_str`` +
    ``context_msg`` (refine): the context is the new passage followed by the earlier answer, which
    came from passages verified before.
    """
    values: ChainMap[str, Any] = ChainMap(dict(prompt_args), dict(prompt.kwargs))
    question = values.get("query_str")
    if not isinstance(question, str) or not question.strip():
        return None
    context = _as_text(values.get("context_str", values.get("context_messages")))
    if context is not None:
        return Grounding(question, context)
    passage = _as_text(values.get("context_msg"))
    if passage is not None:
        earlier = values.get("existing_answer")
        if isinstance(earlier, str) and earlier.strip():
            passage = f"{passage}\n\nAn earlier answer, drawn from other passages of the same source:\n{earlier}"
        return Grounding(question, passage)
    return None


def _as_text(value: object) -> str | None:
    """A template variable as text: a string, or a list of strings or chat messages joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        parts = [v if isinstance(v, str) else v.content if isinstance(v, ChatMessage) else None for v in value]
        if all(isinstance(p, str) for p in parts):
            return "\n\n".join(p for p in parts if p is not None)
    return None
