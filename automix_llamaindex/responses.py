"""A cascade's result as LlamaIndex responses (``ChatResponse``, ``CompletionResponse``): the answer, the
tokens and cost of every call in ``additional_kwargs``, and ``raw`` with ``usage``, ``calls`` and the
trace (``automix``).
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse, MessageRole

from automix_core import AutoMix, AutoMixResult

from .utils import ToolRequest

__all__ = ["chat_response", "completion_response", "extras", "prompt_messages"]


def extras(result: AutoMixResult, trace: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    usage = {"prompt_tokens": result.input_tokens, "completion_tokens": result.output_tokens,
             "total_tokens": result.input_tokens + result.output_tokens}
    raw = {"usage": usage, "calls": [u.model_dump() for u in result.usage], "automix": trace}
    extra = {**usage, "cost": result.cost, "tier": result.tier, "model": result.model,
             "escalated": result.escalated}
    return raw, extra


def chat_response(
    engine: AutoMix, run: tuple[AutoMixResult, dict[str, Any]], *, stream: bool = False,
    tools: ToolRequest | None = None,
) -> ChatResponse:
    """A cascade's result as a LlamaIndex chat response: the answer (in a tool request, the chosen
    tier's own message, its tool calls included), the usage of every call and the trace."""
    result, trace = run
    raw, extra = extras(result, trace)
    chosen = None if tools is None else tools.responses.get(id(engine.tiers[result.tier].model))
    if chosen is not None:  # the tier's own message, its tool calls included
        message = chosen.message.model_copy(deep=True)
        text = message.content or ""
    else:
        message = ChatMessage(role=MessageRole.ASSISTANT, content=result.answer)
        text = result.answer
    return ChatResponse(message=message, delta=text if stream else None, raw=raw, additional_kwargs=extra)


def completion_response(
    run: tuple[AutoMixResult, dict[str, Any]], *, stream: bool = False
) -> CompletionResponse:
    result, trace = run
    raw, extra = extras(result, trace)
    return CompletionResponse(text=result.answer, delta=result.answer if stream else None, raw=raw,
                              additional_kwargs=extra)


def prompt_messages(prompt: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=prompt)]
