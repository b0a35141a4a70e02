"""Tool calling for :class:`~automix_llamaindex.AutoMixLLM` (a LlamaIndex ``FunctionCallingLLM``):
``chat_with_tools`` turns into a ``chat`` with ``tools`` and ``tool_options``, which each tier's own
``chat_with_tools`` gets (see :class:`~automix_llamaindex.tiers.LlamaIndexChatModel`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.llms import LLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection

from automix_core import ConfigError, Message

from .utils import ToolRequest

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = ["ToolCalls"]


class ToolCalls:
    """The ``FunctionCallingLLM`` methods of :class:`~automix_llamaindex.AutoMixLLM` (a mixin)."""

    if TYPE_CHECKING:
        tiers: list[LLM]

    def _check_tools(self) -> None:
        bad = [f"tier {i} ({type(t).__name__})" for i, t in enumerate(self.tiers)
               if not (isinstance(t, FunctionCallingLLM) and t.metadata.is_function_calling_model)]
        if bad:
            raise ConfigError("AutoMixLLM calls tools only when every tier is a function-calling LLM "
                             f"(a FunctionCallingLLM with metadata.is_function_calling_model); not: {', '.join(bad)}")

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
        """``chat`` arguments for a tool request: the messages, and the tools and their options, which
        each tier's own ``chat_with_tools`` gets."""
        self._check_tools()
        messages = list(chat_history or [])
        if user_msg is not None:
            messages.append(ChatMessage(role=MessageRole.USER, content=user_msg) if isinstance(user_msg, str)
                            else user_msg)
        options = {"verbose": verbose, "allow_parallel_tool_calls": allow_parallel_tool_calls,
                   "tool_required": tool_required, **kwargs}
        return {"messages": messages, "tools": list(tools), "tool_options": options}

    @staticmethod
    def _tool_request(kwargs: dict[str, Any]) -> ToolRequest | None:
        tools = kwargs.get("tools")
        if not tools:
            return None
        options = kwargs.get("tool_options")
        return ToolRequest(list(tools), dict(options) if isinstance(options, Mapping) else {})

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        """The tool calls of a response, read by the tier that gave it (``additional_kwargs["tier"]``)."""
        tier = response.additional_kwargs.get("tier")
        llm = self.tiers[tier] if isinstance(tier, int) and 0 <= tier < len(self.tiers) else self.tiers[-1]
        if not isinstance(llm, FunctionCallingLLM):
            if error_on_no_tool_call:
                raise ValueError(f"AutoMixLLM: tier {type(llm).__name__} is not a function-calling LLM")
            return []
        return list(llm.get_tool_calls_from_response(response, error_on_no_tool_call=error_on_no_tool_call,
                                                     **kwargs))


def _tool_question(messages: Sequence[ChatMessage], core: list[Message]) -> tuple[str, str]:
    """The verifier's question and context in a tool conversation: the last user message, and the turns
    after it (the calls made so far and their results) as a transcript."""
    users = [i for i, m in enumerate(messages) if m.role == MessageRole.USER]
    if not users:
        return "", ""
    i = users[-1]
    later = "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in core[i + 1:] if m["content"].strip())
    return core[i]["content"], later
