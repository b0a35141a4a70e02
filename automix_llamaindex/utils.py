"""Conversions between LlamaIndex and ``automix_core``: messages, usage, the choices of a request with
``n``, which LLMs take ``n``, and the grounding (question and context) of a query engine's prompt.
"""

from __future__ import annotations

import functools
from collections import ChainMap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    MessageRole,
    TextBlock,
    ToolCallBlock,
)
from llama_index.core.llms import LLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.prompts import BasePromptTemplate
from llama_index.core.prompts.prompt_type import PromptType

from automix_core import Message
from automix_core.errors import InvalidRequestError
from automix_core.integration import CascadeCalls, ToolCallPolicy, TurnCache, UsageScope, render_tool_calls

__all__ = ["CascadeCalls", "Grounding", "ToolCallPolicy", "UsageScope", "choice_output_tokens", "choice_texts",
           "counts_first_choice",
           "grounding_from_prompt", "is_condense_text", "is_utility_call", "reported_usage", "supports_native_n",
           "to_core_messages", "tool_calls_text"]


"""What a server's ``completion_tokens`` counts in a response with ``n`` choices: every choice (OpenAI)
or the first only (llama.cpp), as :data:`automix_core.backends.openai_compat.UsageScope`."""

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


def to_core_messages(messages: Sequence[ChatMessage], *, tools: bool = False) -> list[Message]:
    """LlamaIndex chat messages as ``automix_core`` messages (text only).

    Developer messages become system messages, chatbot/model messages assistant ones. Images, audio,
    video or documents raise :class:`ValueError`: AutoMix verifies text answers. Tool and function
    messages raise too, unless ``tools`` (a ``chat_with_tools`` request): a tool result then reads as a
    user message ``[result of tool <name>]``, and an assistant message's tool calls as
    ``Call tool <name> with arguments <json>`` lines (what the verifier reads).
    """
    if not messages:
        raise InvalidRequestError("AutoMixLLM needs at least one ChatMessage; got an empty list")
    out: list[Message] = []
    for i, m in enumerate(messages):
        if not isinstance(m, ChatMessage):
            raise InvalidRequestError(f"AutoMixLLM takes LlamaIndex ChatMessage objects; messages[{i}] is a "
                             f"{type(m).__name__}")
        role = _ROLES.get(m.role)
        if tools and m.role in (MessageRole.TOOL, MessageRole.FUNCTION):
            name = m.additional_kwargs.get("name") or m.additional_kwargs.get("tool_call_id") or "tool"
            out.append({"role": "user", "content": f"[result of tool {name}]\n{m.content or ''}"})
            continue
        if role is None:
            raise InvalidRequestError(f"AutoMixLLM handles text chat only; got a {m.role.value!r} message")
        bad = [type(b).__name__ for b in m.blocks if type(b).__name__ in _NON_TEXT_BLOCKS]
        if bad:
            raise InvalidRequestError(f"AutoMixLLM handles text chat only; a {role} message holds {', '.join(bad)}")
        content = m.content or ""
        if tools and role == "assistant":
            content = _join(content, _rendered(_message_tool_calls(m)))
        out.append({"role": role, "content": content})  # type: ignore[typeddict-item]
    return out


# ------------------------------------------------------------------------------------ tool calls


def _join(*parts: str) -> str:
    return "\n".join(p for p in parts if p.strip())


def _rendered(calls: Sequence[tuple[str, object]]) -> str:
    """``(name, arguments)`` pairs as the verifier reads them (:func:`~automix_core.integration.render_tool_calls`)."""
    return render_tool_calls({"function": {"name": name, "arguments": args}} for name, args in calls)


def _message_tool_calls(message: ChatMessage) -> list[tuple[str, object]]:
    """(name, arguments) of an assistant message's tool calls: ``ToolCallBlock`` blocks, else
    OpenAI-style ``additional_kwargs["tool_calls"]`` (objects or dicts)."""
    calls: list[tuple[str, object]] = [(b.tool_name, b.tool_kwargs) for b in message.blocks
                                       if isinstance(b, ToolCallBlock)]
    if calls:
        return calls
    for call in message.additional_kwargs.get("tool_calls") or []:
        fn = call.get("function") if isinstance(call, Mapping) else getattr(call, "function", None)
        name = fn.get("name") if isinstance(fn, Mapping) else getattr(fn, "name", None)
        args = fn.get("arguments") if isinstance(fn, Mapping) else getattr(fn, "arguments", None)
        if isinstance(name, str):
            calls.append((name, args))
    return calls


def tool_selections(llm: LLM, response: ChatResponse) -> list[ToolSelection]:
    """The tool calls of ``response`` as ``llm`` reads them (``[]`` for an LLM without tool calling)."""
    if not isinstance(llm, FunctionCallingLLM):
        return []
    try:
        return list(llm.get_tool_calls_from_response(response, error_on_no_tool_call=False))
    except Exception:  # an integration that cannot read this response: no tool calls
        return []


def tool_calls_text(llm: LLM, response: ChatResponse) -> str:
    """What the verifier reads of a tier's tool-calling answer: its text, then one line per tool call."""
    calls = [(s.tool_name, s.tool_kwargs) for s in tool_selections(llm, response)]
    return _join(response.message.content or "", _rendered(calls))


@dataclass
class ToolRequest:
    """A ``chat_with_tools`` request in flight (the ``state`` of its
    :class:`~automix_core.RequestContext`): what each tier's answer call gets, and each answer
    wrapper's last response (keyed by ``id`` of the wrapper)."""

    tools: Sequence[Any]
    kwargs: dict[str, Any]
    responses: dict[int, ChatResponse] = field(default_factory=dict)


_UNREAD = object()


def _intact(message: ChatMessage, role: str, content: str) -> bool:
    blocks = message.blocks
    return (message.role.value == role and len(blocks) == 1 and isinstance(blocks[0], TextBlock)
            and blocks[0].text == content)


# the verification prompt's fixed turns, converted once (see TurnCache)
_TURNS: TurnCache[ChatMessage] = TurnCache(lambda role, content: ChatMessage(role=MessageRole(role), content=content),
                                           _intact)


def answer_messages(messages: Sequence[Message], originals: object) -> list[ChatMessage]:
    """An answer call's messages: the caller's own LlamaIndex messages (``originals``, the request
    context's ``messages``), else the engine's ``messages`` converted."""
    if isinstance(originals, Sequence) and not isinstance(originals, str):
        return list(originals)
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








def _choices(response: ChatResponse) -> list[Any] | None:
    raw = response.raw
    choices = raw.get("choices") if isinstance(raw, Mapping) else getattr(raw, "choices", None)
    return list(choices) if isinstance(choices, (list, tuple)) and choices else None


def _get(obj: object, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def choice_output_tokens(response: ChatResponse) -> int | None:
    """The output tokens of every choice of an OpenAI-style raw response, counted from the per-token
    logprobs of each choice (``choices[i].logprobs.content``); None unless every choice has them.

    For servers that report ``completion_tokens`` for the first choice only (llama.cpp): the
    correction :class:`automix_core.backends.openai_compat.OpenAICompatibleModel` applies with
    ``usage_scope="first_choice"``."""
    choices = _choices(response)
    if choices is None:
        return None
    total = 0
    for choice in choices:
        content = _get(_get(choice, "logprobs"), "content")
        if not isinstance(content, (list, tuple)):
            return None
        total += len(content)
    return total


def counts_first_choice(response: ChatResponse) -> bool:
    """Whether a response comes from a server known to count only the first choice's tokens in a
    request with ``n``: llama.cpp's (its responses carry ``timings``)."""
    raw = response.raw
    if isinstance(raw, Mapping):
        return "timings" in raw
    extra = getattr(raw, "model_extra", None)
    return (isinstance(extra, Mapping) and "timings" in extra) or getattr(raw, "timings", None) is not None


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
            # on one line with the question it answers: the defence's relevance pass keeps text anchored to the
            # question, and would drop a bare earlier answer on a line of its own as an unanchored aside
            passage = (f"{passage}\n\nAn earlier answer to \"{question.strip()}\", drawn from other passages of the "
                       f"same source: {earlier.strip()}")
        return Grounding(question, passage)
    return None


# prompt types of LlamaIndex's own intermediate steps: keyword and schema extraction, selectors, query
# generation (text-to-SQL, graph queries, sub-questions), tree building, table context, ...
_UTILITY_PROMPTS = frozenset({
    PromptType.TREE_INSERT, PromptType.TREE_SELECT, PromptType.TREE_SELECT_MULTIPLE, PromptType.KEYWORD_EXTRACT,
    PromptType.QUERY_KEYWORD_EXTRACT, PromptType.SCHEMA_EXTRACT, PromptType.TEXT_TO_SQL,
    PromptType.TEXT_TO_GRAPH_QUERY, PromptType.TABLE_CONTEXT, PromptType.KNOWLEDGE_TRIPLET_EXTRACT,
    PromptType.PANDAS, PromptType.JSON_PATH, PromptType.SINGLE_SELECT, PromptType.MULTI_SELECT,
    PromptType.VECTOR_STORE_QUERY, PromptType.SUB_QUESTION, PromptType.DECOMPOSE, PromptType.CHOICE_SELECT,
    PromptType.RANKGPT_RERANK,
})


def _prompt_type(prompt: BasePromptTemplate) -> object:
    return prompt.metadata.get("prompt_type") if isinstance(prompt.metadata, Mapping) else None


def _is_condense_prompt(prompt: BasePromptTemplate) -> bool:
    """A chat engine's condense-question prompt (``CondenseQuestionChatEngine``,
    ``CondensePlusContextChatEngine``): variables ``chat_history`` and ``question``, no ``query_str``."""
    names = set(prompt.template_vars)
    return {"chat_history", "question"} <= names and "query_str" not in names


@functools.cache
def _condense_opening() -> str:
    from llama_index.core.chat_engine.condense_plus_context import DEFAULT_CONDENSE_PROMPT_TEMPLATE

    return " ".join(DEFAULT_CONDENSE_PROMPT_TEMPLATE.split("{", 1)[0].split())


def is_condense_text(text: str) -> bool:
    """Whether a ``complete`` prompt is ``CondensePlusContextChatEngine``'s condense step, which formats
    its condense prompt itself and calls ``complete`` (no template reaches the LLM): the text opens as
    llama-index's own default condense prompt does (read from llama-index, not copied). A custom
    condense prompt given to that engine is not recognised: its calls are cascaded like any answer."""
    opening = _condense_opening()
    return bool(opening) and " ".join(text[:2 * len(opening)].split()).startswith(opening)


def is_utility_call(prompt: BasePromptTemplate) -> bool:
    """Whether a prompt template's call is a utility step rather than the user-facing answer.

    Utility steps: a chat engine's condense-question prompt (variables ``chat_history`` and
    ``question``) and the prompt types of LlamaIndex's own intermediate steps (keyword, schema and
    triplet extraction, selectors, text-to-SQL, sub-questions, tree building, ...). Everything else is
    an answer: ``QUESTION_ANSWER``, ``REFINE``, ``SUMMARY``, ``SIMPLE_INPUT``, SQL response synthesis
    and ``CUSTOM`` prompts (a user's own ``text_qa_template`` is one). Every ``SUMMARY`` call of
    ``tree_summarize`` is an answer, its intermediate summaries too (each verified against its own
    chunks): the template and its arguments are the same at every level, and only the caller's stack
    would tell them apart, which this adapter does not read.
    """
    return _prompt_type(prompt) in _UTILITY_PROMPTS or _is_condense_prompt(prompt)


class PromptMessages(list[ChatMessage]):
    """The chat messages of a prompt template, carrying what the template says of the call (set by
    :class:`~automix_llamaindex.AutoMixLLM`'s ``_get_messages`` and read by its ``chat``, which
    llama-index's ``predict``/``stream`` call with them): the ``grounding`` and whether it is a
    ``utility`` step."""

    def __init__(self, messages: Sequence[ChatMessage], grounding: Grounding | None, utility: bool) -> None:
        super().__init__(messages)
        self.grounding = grounding
        self.utility = utility


class PromptText(str):
    """A formatted prompt string carrying the same as :class:`PromptMessages` (``_get_prompt``, for
    ``complete``)."""

    grounding: Grounding | None
    utility: bool

    def __new__(cls, text: str, grounding: Grounding | None, utility: bool) -> PromptText:
        made = super().__new__(cls, text)
        made.grounding = grounding
        made.utility = utility
        return made


def _as_text(value: object) -> str | None:
    """A template variable as text: a string, or a list of strings or chat messages joined."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        parts = [v if isinstance(v, str) else v.content if isinstance(v, ChatMessage) else None for v in value]
        if all(isinstance(p, str) for p in parts):
            return "\n\n".join(p for p in parts if p is not None)
    return None
