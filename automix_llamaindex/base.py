"""AutoMix as a LlamaIndex LLM: cheapest tier first, self-verified, escalated per the policy.

:class:`AutoMixLLM` is a thin adapter: every tier is a LlamaIndex :class:`~llama_index.core.llms.LLM`
wrapped in :class:`LlamaIndexChatModel` (an :class:`automix_core.models.ChatModel`) and the cascade
itself is :class:`automix_core.AutoMix`; no routing logic lives here.

Grounded verification: when a query engine calls :meth:`AutoMixLLM.predict` (and ``apredict``,
``stream``, ``astream``) with a question-answering template (variables ``query_str`` and
``context_str``: ``text_qa_template``, ``summary_template`` of tree_summarize) or a refine template
(``query_str``, ``context_msg``, ``existing_answer``), the tiers answer the fully formatted prompt
while the verifier gets the question and the retrieved context as separate parts.

Which calls are cascaded (``cascade_calls``), tools (``tool_calls``, :mod:`.tools`) and the route of a
query (:mod:`.events`): see :class:`AutoMixLLM`.

Token accounting: the AutoMix call itself emits no ``CBEventType.LLM`` callback event; each call a
tier makes (answers and verification samples) is reported once, by the tier's own callback
manager, plus a forwarded event to every handler of the AutoMix LLM's callback manager that the
tier's manager does not already hold. A ``TokenCountingHandler`` thus counts every call exactly
once. Instrumentation spans of the tiers nest under the AutoMix span, and an
:class:`AutoMixEvent` with the trace is dispatched when a cascade ends.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Generator, Mapping, Sequence
from typing import Any, Literal

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr, SerializeAsAny
from llama_index.core.callbacks import CallbackManager
from llama_index.core.llms import LLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.prompts import BasePromptTemplate
from llama_index_instrumentation import get_dispatcher

from automix_core import (
    AutoMix,
    AutoMixResult,
    Budget,
    CascadeSettings,
    ConfigError,
    Generation,
    Hook,
    Ledger,
    Policy,
    PriceTable,
    RequestContext,
    Router,
    Tier,
)
from automix_core.integration import CascadeCalls, ToolCallPolicy, tool_call_screen, utility_tier

from .events import _LAST, AutoMixEvent, _install_query_handler, _record, forward_llm_event, progress_hook
from .responses import chat_response, completion_response, prompt_messages
from .tiers import LlamaIndexChatModel
from .tools import ToolCalls, _tool_question
from .utils import (
    Grounding,
    PromptMessages,
    PromptText,
    ToolRequest,
    UsageScope,
    choice_texts,
    grounding_from_prompt,
    is_condense_text,
    is_utility_call,
    reported_usage,
    supports_native_n,
    to_core_messages,
    tool_selections,
)

__all__ = [
    "AutoMixEvent",
    "AutoMixLLM",
    "Grounding",
    "LlamaIndexChatModel",
    "choice_texts",
    "grounding_from_prompt",
    "reported_usage",
    "supports_native_n",
    "to_core_messages",
]

dispatcher = get_dispatcher(__name__)


class AutoMixLLM(CascadeSettings, ToolCalls, FunctionCallingLLM):
    """AutoMix over LlamaIndex LLMs: the cheapest tier answers, self-verifies, and the policy escalates.

    Drop-in for any LlamaIndex app: ``Settings.llm = AutoMixLLM([small, large], prices=...)`` or
    ``index.as_query_engine(llm=AutoMixLLM(...))``.

    Args:
        tiers: LlamaIndex LLMs, cheapest first (at least two).
        verifiers: optional per-tier verifier LLMs (``None`` entries: the tier verifies itself).
        names: per-tier names for pricing and traces (default: each LLM's ``metadata.model_name``).
        router, prices, ledger, budget, hooks: as in :class:`automix_core.AutoMix`.
        k, verify_mode, verify_temperature, verify_max_tokens, answer_max_tokens, answer_temperature,
            retries, timeout, system: the cascade's settings, fields of
            :class:`automix_core.CascadeSettings` (same names, same validation), keyword arguments here.
        sampling_kwargs: pass temperature/max_tokens/stop to the tiers (see :class:`LlamaIndexChatModel`).
        verify_n: draw each answer's k verification samples as one request with ``n=k`` (True), as k
            requests (False), or, by default (None), with ``n`` only for LlamaIndex's ``OpenAI`` LLM on
            OpenAI's own endpoint (see :func:`supports_native_n`).
        usage_scope: what a verifier's ``completion_tokens`` counts in a response with ``n`` choices:
            ``"all_choices"`` (OpenAI) or ``"first_choice"`` (llama.cpp: each choice's tokens are then
            counted from per-token logprobs, else estimated and marked so). Default (None):
            ``"all_choices"`` for the LLMs :func:`supports_native_n` picks itself; for any other LLM
            given ``verify_n=True`` the logprobs are asked for and counted when every choice has them,
            and a llama.cpp response without them is estimated (see :class:`LlamaIndexChatModel`).
        tool_calls: the tool-call policy of ``chat_with_tools`` (see below): ``"verify"`` (default),
            ``"accept"`` or ``"escalate"``, as in the LangChain adapter.
        cascade_calls: which ``predict`` calls run the cascade. ``"answers"`` (default): the calls
            that produce the user-facing answer (question-answering, refine and every tree_summarize
            summary, custom prompts, plain ``chat``/``complete``); utility steps (a chat engine's
            condense-question prompt, LlamaIndex's extraction/selection/query-generation prompts; see
            :func:`is_utility_call` and :func:`is_condense_text`) go to tier ``utility_tier`` alone,
            unverified. ``"all"``: every call is cascaded. Which call is which is read from the prompt
            template llama-index formats (``_get_messages``/``_get_prompt``), never from the caller's stack.
        utility_tier: the tier that answers utility steps (default 0, the cheapest).

    Tools: :class:`AutoMixLLM` is a LlamaIndex ``FunctionCallingLLM``; its metadata says
    ``is_function_calling_model=True`` when every tier is a function-calling LLM, so ``FunctionAgent``
    and ``predict_and_call`` take it. ``chat_with_tools`` (and its async and streaming forms) hands the
    tools to each tier's own ``chat_with_tools``; a tier's tool calls are verified as text
    (``Call tool <name> with arguments <json>``) like any answer, accepted unverified
    (``tool_calls="accept"``), or escalated without verification (``"escalate"``; the last tier's
    calls are kept). The response carries the chosen tier's own message (its tool calls included),
    and :meth:`get_tool_calls_from_response` reads them with that tier.

    The route: ``Response.metadata["automix"]`` of any LlamaIndex query engine
    (``index.as_query_engine(llm=AutoMixLLM(...))``) holds :meth:`AutoMixRuns.to_dict` of the
    AutoMix calls the query made: the final answer's route and trace, and the usage summed over
    every call. :func:`capture` collects them around any block (chat engines, agents), and
    :attr:`last_result` is the last cascade finished in the caller's context.

    Responses carry the answer; ``additional_kwargs`` holds the tokens of every call made
    (``prompt_tokens``, ``completion_tokens``, ``total_tokens``), ``cost``, ``tier``, ``model`` and
    ``escalated``; ``raw`` holds ``usage`` (the same totals), ``calls`` (one entry per engine call;
    its ``requests`` counts the chat requests it took) and ``automix`` (the full trace,
    :meth:`AutoMixResult.to_dict`). Streaming methods yield the
    final answer once, when the cascade has decided. Extra keyword arguments of ``chat``/``complete``
    are ignored: each tier keeps its own settings.
    """

    tiers: list[SerializeAsAny[LLM]] = Field(description="The tiers, cheapest first.")
    verifiers: list[SerializeAsAny[LLM] | None] | None = Field(default=None, description="Per-tier verifiers.")
    names: list[str] | None = Field(default=None, description="Per-tier names for pricing and traces.")
    sampling_kwargs: bool = Field(default=True, description="Pass temperature/max_tokens/stop to the tiers.")
    verify_n: bool | None = Field(default=None, description="Verification samples as one request with n.")
    usage_scope: UsageScope | None = Field(default=None, description="What completion_tokens counts with n.")
    tool_calls: ToolCallPolicy = Field(default="verify", description="What to do with a tier's tool calls.")
    cascade_calls: CascadeCalls = Field(default="answers", description="Which predict calls are cascaded.")
    utility_tier: int = Field(default=0, ge=0, description="The tier that answers utility calls.")

    _engine: AutoMix = PrivateAttr()

    def __init__(
        self,
        tiers: Sequence[LLM],
        *,
        verifiers: Sequence[LLM | None] | None = None,
        names: Sequence[str] | None = None,
        router: Router | Policy | str | os.PathLike[str] | Mapping[str, Any] | None = None,
        prices: PriceTable | None = None,
        ledger: Ledger | None = None,
        budget: Budget | None = None,
        hooks: Sequence[Hook] = (),
        sampling_kwargs: bool = True,
        verify_n: bool | None = None,
        usage_scope: UsageScope | None = None,
        tool_calls: ToolCallPolicy = "verify",
        cascade_calls: CascadeCalls = "answers",
        utility_tier: int = 0,
        callback_manager: CallbackManager | None = None,
        **kwargs: Any,
    ) -> None:
        if verifiers is not None and len(verifiers) != len(tiers):
            raise ConfigError(f"{len(verifiers)} verifiers given for {len(tiers)} tiers")
        if names is not None and len(names) != len(tiers):
            raise ConfigError(f"{len(names)} names given for {len(tiers)} tiers")
        if not 0 <= utility_tier < max(1, len(tiers)):
            raise ConfigError(f"utility_tier={utility_tier} is not a tier (there are {len(tiers)})")
        super().__init__(  # type: ignore[call-arg]  # CascadeSettings first in the MRO; LLM takes these
            tiers=list(tiers), verifiers=None if verifiers is None else list(verifiers),
            names=None if names is None else list(names), sampling_kwargs=sampling_kwargs, verify_n=verify_n,
            usage_scope=usage_scope, tool_calls=tool_calls, cascade_calls=cascade_calls, utility_tier=utility_tier,
            callback_manager=callback_manager, **kwargs,
        )
        wrapped: list[Tier] = []
        for i, llm in enumerate(self.tiers):
            name = names[i] if names is not None else None
            verifier_llm = verifiers[i] if verifiers is not None else None
            answerer = LlamaIndexChatModel(llm, name, sampling_kwargs=sampling_kwargs, on_response=self._forward)
            checker = verifier_llm or llm
            native = supports_native_n(checker, verify_n)
            scope: UsageScope | Literal["auto"] = usage_scope or (
                "auto" if native and not supports_native_n(checker, None) else "all_choices")
            verifier = LlamaIndexChatModel(
                checker, name if verifier_llm is None else None, sampling_kwargs=sampling_kwargs,
                on_response=self._forward, native_n=native, purpose="verify", usage_scope=scope,
            )
            wrapped.append(Tier(answerer, verifier))
        self._engine = AutoMix(wrapped, router=router, prices=prices, ledger=ledger, budget=budget,
                               hooks=[*hooks, progress_hook(wrapped)], settings=self,
                               screen=tool_call_screen(tool_calls, self._has_tool_calls))
        _install_query_handler()

    @classmethod
    def class_name(cls) -> str:
        return "AutoMixLLM"

    @property
    def engine(self) -> AutoMix:
        """The ``automix_core`` cascade this LLM runs."""
        return self._engine

    @property
    def ledger(self) -> Ledger:
        """Every call's usage and cost, across all requests."""
        return self._engine.ledger

    @property
    def metadata(self) -> LLMMetadata:
        """Smallest context window of the tiers; chat model when every tier is one."""
        metas = [t.metadata for t in self.tiers]
        answer_tokens = self._engine.answer_max_tokens
        return LLMMetadata(
            context_window=min(m.context_window for m in metas),
            num_output=answer_tokens if answer_tokens is not None else min(m.num_output for m in metas),
            is_chat_model=all(m.is_chat_model for m in metas),
            is_function_calling_model=all(
                isinstance(t, FunctionCallingLLM) and m.is_function_calling_model for t, m in zip(self.tiers, metas)),
            model_name="automix(" + ", ".join(t.name for t in self._engine.tiers) + ")",
        )

    def _forward(self, child: LLM, messages: list[ChatMessage], response: ChatResponse) -> None:
        forward_llm_event(self.callback_manager, child, messages, response)

    # -- the cascade ------------------------------------------------------------------------------

    @property
    def last_result(self) -> AutoMixResult | None:
        """The last call of this LLM (cascade or utility call) finished in the caller's context: the
        thread, or the asyncio task and the code it awaited (not tasks it started: use :func:`capture`)."""
        last = _LAST.get()
        return last[1] if last is not None and last[0] == id(self) else None

    def _has_tool_calls(self, tier: int, gen: Generation) -> bool:
        """Whether a tier's answer holds tool calls (read by that tier), for the tool-call policy's screen."""
        return isinstance(gen.raw, ChatResponse) and bool(tool_selections(self.tiers[tier], gen.raw))

    # what a prompt template says of the call it formats travels with its messages (see PromptMessages)

    def _get_messages(self, prompt: BasePromptTemplate, **prompt_args: Any) -> list[ChatMessage]:
        return PromptMessages(super()._get_messages(prompt, **prompt_args), grounding_from_prompt(prompt, prompt_args),
                              is_utility_call(prompt))

    def _get_prompt(self, prompt: BasePromptTemplate, **prompt_args: Any) -> str:
        return PromptText(super()._get_prompt(prompt, **prompt_args), grounding_from_prompt(prompt, prompt_args),
                          is_utility_call(prompt))

    def _prompt_messages(self, prompt: str) -> list[ChatMessage]:
        """A ``complete`` call's prompt as messages, carrying what its template said (a condense step
        formatted by a chat engine itself is recognised by its text: :func:`is_condense_text`)."""
        if isinstance(prompt, PromptText):
            return PromptMessages(prompt_messages(prompt), prompt.grounding, prompt.utility)
        return PromptMessages(prompt_messages(prompt), None, is_condense_text(prompt))

    def _begin(
        self, messages: Sequence[ChatMessage], question: str | None, context: str, tools: ToolRequest | None
    ) -> tuple[dict[str, Any], bool]:
        """The engine's arguments for one request (the verifier's question and context, the core messages,
        the :class:`~automix_core.RequestContext` with the caller's own messages and the tool request, the
        tier of a utility call) and whether it is a utility call."""
        core = to_core_messages(messages, tools=tools is not None)
        grounding = getattr(messages, "grounding", None)
        if tools is not None and question is None:
            question, context = _tool_question(messages, core)
        elif question is None and isinstance(grounding, Grounding):
            question, context = grounding.question, grounding.context
        tier = utility_tier(self.cascade_calls, tools is None and bool(getattr(messages, "utility", False)),
                            self.utility_tier)
        request = RequestContext(messages=messages, tools=tools.tools if tools is not None else (),
                                 tool_options=tools.kwargs if tools is not None else {}, state=tools)
        return {"question": question or "", "context": context, "messages": core, "request": request,
                "tier": tier}, tier is not None

    def _finished(self, result: AutoMixResult, utility: bool = False) -> tuple[AutoMixResult, dict[str, Any]]:
        if utility:  # the engine's note says one tier answered, unverified; say why
            result.trace[0].note = f"utility call: {result.trace[0].note}"
        trace = result.to_dict()
        _record(result)
        _LAST.set((id(self), result))
        dispatcher.event(AutoMixEvent(result=trace))
        return result, trace

    def _run(
        self, messages: Sequence[ChatMessage], question: str | None = None, context: str = "",
        tools: ToolRequest | None = None,
    ) -> tuple[AutoMixResult, dict[str, Any]]:
        """The cascade and its trace as a dict, the :class:`AutoMixEvent` dispatched in the caller's span."""
        args, utility = self._begin(messages, question, context, tools)
        return self._finished(self._engine.run(**args), utility)

    async def _arun(
        self, messages: Sequence[ChatMessage], question: str | None = None, context: str = "",
        tools: ToolRequest | None = None,
    ) -> tuple[AutoMixResult, dict[str, Any]]:
        args, utility = self._begin(messages, question, context, tools)
        return self._finished(await self._engine.arun(**args), utility)

    @dispatcher.span
    def cascade(
        self, messages: Sequence[ChatMessage], *, question: str | None = None, context: str = ""
    ) -> AutoMixResult:
        """Run the cascade on ``messages``; the verifier gets ``question`` and ``context``.

        Without ``question`` the verifier gets the grounding of the enclosing ``predict`` call, if
        any, else the last message. Raises :class:`ValueError` on empty input and
        :class:`automix_core.cascade.engine.AllTiersFailedError` when every tier fails. (``chat``,
        ``complete`` and their async and streaming forms run the same cascade inside their own span.)
        """
        return self._run(messages, question, context)[0]

    @dispatcher.span
    async def acascade(
        self, messages: Sequence[ChatMessage], *, question: str | None = None, context: str = ""
    ) -> AutoMixResult:
        """Async :meth:`cascade` (per-call timeouts, verification samples drawn concurrently)."""
        return (await self._arun(messages, question, context))[0]

    # -- sync -------------------------------------------------------------------------------------

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        tools = self._tool_request(kwargs)
        return chat_response(self._engine, self._run(messages, tools=tools), tools=tools)

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return completion_response(self._run(self._prompt_messages(prompt)))

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        tools = self._tool_request(kwargs)
        response = chat_response(self._engine, self._run(messages, tools=tools), stream=True, tools=tools)

        def gen() -> Generator[ChatResponse, None, None]:
            yield response

        return gen()

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        response = completion_response(self._run(self._prompt_messages(prompt)), stream=True)

        def gen() -> Generator[CompletionResponse, None, None]:
            yield response

        return gen()

    # -- async ------------------------------------------------------------------------------------

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        tools = self._tool_request(kwargs)
        return chat_response(self._engine, await self._arun(messages, tools=tools), tools=tools)

    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return completion_response(await self._arun(self._prompt_messages(prompt)))

    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        tools = self._tool_request(kwargs)
        response = chat_response(self._engine, await self._arun(messages, tools=tools), stream=True, tools=tools)

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            yield response

        return gen()

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        response = completion_response(await self._arun(self._prompt_messages(prompt)), stream=True)

        async def gen() -> AsyncGenerator[CompletionResponse, None]:
            yield response

        return gen()
