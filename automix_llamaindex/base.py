"""AutoMix as a LlamaIndex LLM: cheapest tier first, self-verified, escalated per the policy.


:class:`AutoMixLLM` is a thin adapter: every tier is a LlamaIndex :class:`~llama_index.core.llms.LLM`
wrapped in :class:`LlamaIndexChatModel` (an :class:`automix_core.models.ChatModel`) and the cascade
itself is :class:`automix_core.AutoMix`; no routing logic lives here.

Grounded verification: when a query engine calls :meth:`AutoMixLLM.predict` (and ``apredict``,
``stream``, ``astream``) with a question-answering template (variables ``query_str`` and
``context_str``: ``text_qa_template``, ``summary_template`` of tree_summarize) or a refine template
(``query_str``, ``context_msg``, ``existing_answer``), the tiers answer the fully formatted prompt
while the verifier gets the question and the retrieved context as separate parts.

Token accounting: the AutoMix call itself emits no ``CBEventType.LLM`` callback event; each call a
tier makes (answers and verification samples) is reported once, by the tier's own callback
manager, plus a forwarded event to every handler of the AutoMix LLM's callback manager that the
tier's manager does not already hold. A ``TokenCountingHandler`` thus counts every call exactly
once. Instrumentation spans of the tiers nest under the AutoMix span, and an
:class:`AutoMixEvent` with the trace is dispatched when a cascade ends.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import AsyncGenerator, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr, SerializeAsAny
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
from llama_index.core.callbacks.base import global_stack_trace
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.llms import LLM
from llama_index.core.prompts import BasePromptTemplate
from llama_index.core.types import TokenAsyncGen, TokenGen
from llama_index_instrumentation import get_dispatcher

from automix_core import (
    AutoMix,
    AutoMixResult,
    Budget,
    CascadeSettings,
    Hook,
    Ledger,
    Message,
    PriceTable,
    Tier,
)
from automix_core.router import RouterSpec

from .tiers import LlamaIndexChatModel
from .utils import (
    _GROUNDING,
    _ORIGINALS,
    Grounding,
    choice_texts,
    grounding_from_prompt,
    reported_usage,
    supports_native_n,
    to_core_messages,
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



class AutoMixEvent(BaseEvent):
    """Dispatched when an AutoMix cascade ends: ``result`` is :meth:`AutoMixResult.to_dict`."""

    result: dict[str, Any]

    @classmethod
    def class_name(cls) -> str:
        return "AutoMixEvent"


# ------------------------------------------------------------------------------------ the LLM


class AutoMixLLM(CascadeSettings, LLM):
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

    _engine: AutoMix = PrivateAttr()

    def __init__(
        self,
        tiers: Sequence[LLM],
        *,
        verifiers: Sequence[LLM | None] | None = None,
        names: Sequence[str] | None = None,
        router: RouterSpec = None,
        prices: PriceTable | None = None,
        ledger: Ledger | None = None,
        budget: Budget | None = None,
        hooks: Sequence[Hook] = (),
        sampling_kwargs: bool = True,
        verify_n: bool | None = None,
        callback_manager: CallbackManager | None = None,
        **kwargs: Any,
    ) -> None:
        if verifiers is not None and len(verifiers) != len(tiers):
            raise ValueError(f"{len(verifiers)} verifiers given for {len(tiers)} tiers")
        if names is not None and len(names) != len(tiers):
            raise ValueError(f"{len(names)} names given for {len(tiers)} tiers")
        super().__init__(  # type: ignore[call-arg]  # CascadeSettings first in the MRO; LLM takes these
            tiers=list(tiers), verifiers=None if verifiers is None else list(verifiers),
            names=None if names is None else list(names), sampling_kwargs=sampling_kwargs, verify_n=verify_n,
            callback_manager=callback_manager, **kwargs,
        )
        wrapped: list[Tier] = []
        for i, llm in enumerate(self.tiers):
            name = names[i] if names is not None else None
            verifier_llm = verifiers[i] if verifiers is not None else None
            answerer = LlamaIndexChatModel(llm, name, sampling_kwargs=sampling_kwargs, on_response=self._forward)
            checker = verifier_llm or llm
            verifier = LlamaIndexChatModel(
                checker, name if verifier_llm is None else None, sampling_kwargs=sampling_kwargs,
                on_response=self._forward, native_n=supports_native_n(checker, verify_n), purpose="verify",
            )
            wrapped.append(Tier(answerer, verifier))
        self._engine = AutoMix(wrapped, router=router, prices=prices, ledger=ledger, budget=budget, hooks=hooks,
                               settings=self)

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
            is_function_calling_model=False,
            model_name="automix(" + ", ".join(t.name for t in self._engine.tiers) + ")",
        )

    # -- callback forwarding ----------------------------------------------------------------------

    def _forward(self, child: LLM, messages: list[ChatMessage], response: ChatResponse) -> None:
        """Report one tier call to the handlers of this LLM's callback manager the tier does not reach."""
        mine = self.callback_manager.handlers
        if not mine:
            return
        theirs = child.callback_manager.handlers if isinstance(child.callback_manager, CallbackManager) else []
        missing = [h for h in mine if not any(h is t for t in theirs)]
        if not missing:
            return
        event_id = str(uuid.uuid4())
        stack = global_stack_trace.get()
        parent_id = stack[-1] if stack else "root"
        start: dict[str, Any] = {EventPayload.MESSAGES: messages, EventPayload.ADDITIONAL_KWARGS: {},
                 EventPayload.SERIALIZED: {"class_name": child.class_name(), "model": child.metadata.model_name}}
        for h in missing:
            if CBEventType.LLM not in h.event_starts_to_ignore:
                h.on_event_start(CBEventType.LLM, start, event_id=event_id, parent_id=parent_id)
        end: dict[str, Any] = {EventPayload.MESSAGES: messages, EventPayload.RESPONSE: response}
        for h in missing:
            if CBEventType.LLM not in h.event_ends_to_ignore:
                h.on_event_end(CBEventType.LLM, end, event_id=event_id)

    # -- the cascade ------------------------------------------------------------------------------

    def _grounding(self) -> Grounding | None:
        current = _GROUNDING.get()
        return current[1] if current is not None and current[0] == id(self) else None

    @contextmanager
    def _grounded(self, prompt: BasePromptTemplate, prompt_args: Mapping[str, Any]) -> Iterator[None]:
        grounding = grounding_from_prompt(prompt, prompt_args)
        token = _GROUNDING.set(None if grounding is None else (id(self), grounding))
        try:
            yield
        finally:
            _GROUNDING.reset(token)

    def _args(self, messages: Sequence[ChatMessage], question: str | None, context: str) -> tuple[str, str]:
        if question is None:
            grounding = self._grounding()
            if grounding is not None:
                return grounding.question, grounding.context
            return "", context
        return question, context

    def _begin(
        self, messages: Sequence[ChatMessage], question: str | None, context: str
    ) -> tuple[str, str, list[Message], contextvars.Token[tuple[list[Message], Sequence[ChatMessage]] | None]]:
        """The verifier's question and context, the core messages, and the token of :data:`_ORIGINALS`
        set for them (the answer calls get the caller's own messages); reset it when the cascade ends."""
        q, c = self._args(messages, question, context)
        core = to_core_messages(messages)
        return q, c, core, _ORIGINALS.set((core, messages))

    @staticmethod
    def _finished(result: AutoMixResult) -> tuple[AutoMixResult, dict[str, Any]]:
        trace = result.to_dict()
        dispatcher.event(AutoMixEvent(result=trace))
        return result, trace

    def _run(
        self, messages: Sequence[ChatMessage], question: str | None = None, context: str = ""
    ) -> tuple[AutoMixResult, dict[str, Any]]:
        """The cascade and its trace as a dict, the :class:`AutoMixEvent` dispatched in the caller's span."""
        q, c, core, token = self._begin(messages, question, context)
        try:
            result = self._engine.run(q, c, messages=core)
        finally:
            _ORIGINALS.reset(token)
        return self._finished(result)

    async def _arun(
        self, messages: Sequence[ChatMessage], question: str | None = None, context: str = ""
    ) -> tuple[AutoMixResult, dict[str, Any]]:
        q, c, core, token = self._begin(messages, question, context)
        try:
            result = await self._engine.arun(q, c, messages=core)
        finally:
            _ORIGINALS.reset(token)
        return self._finished(result)

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

    @staticmethod
    def _extras(result: AutoMixResult, trace: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        usage = {"prompt_tokens": result.input_tokens, "completion_tokens": result.output_tokens,
                 "total_tokens": result.input_tokens + result.output_tokens}
        raw = {"usage": usage, "calls": [u.model_dump() for u in result.usage], "automix": trace}
        extra = {**usage, "cost": result.cost, "tier": result.tier, "model": result.model,
                 "escalated": result.escalated}
        return raw, extra

    def _chat_response(self, run: tuple[AutoMixResult, dict[str, Any]], *, stream: bool = False) -> ChatResponse:
        result, trace = run
        raw, extra = self._extras(result, trace)
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=result.answer),
                            delta=result.answer if stream else None, raw=raw, additional_kwargs=extra)

    def _completion_response(
        self, run: tuple[AutoMixResult, dict[str, Any]], *, stream: bool = False
    ) -> CompletionResponse:
        result, trace = run
        raw, extra = self._extras(result, trace)
        return CompletionResponse(text=result.answer, delta=result.answer if stream else None, raw=raw,
                                  additional_kwargs=extra)

    @staticmethod
    def _prompt_messages(prompt: str) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole.USER, content=prompt)]

    # -- sync -------------------------------------------------------------------------------------

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat_response(self._run(messages))

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self._completion_response(self._run(self._prompt_messages(prompt)))

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        response = self._chat_response(self._run(messages), stream=True)

        def gen() -> Generator[ChatResponse, None, None]:
            yield response

        return gen()

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        response = self._completion_response(self._run(self._prompt_messages(prompt)), stream=True)

        def gen() -> Generator[CompletionResponse, None, None]:
            yield response

        return gen()

    # -- async ------------------------------------------------------------------------------------

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat_response(await self._arun(messages))

    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self._completion_response(await self._arun(self._prompt_messages(prompt)))

    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        response = self._chat_response(await self._arun(messages), stream=True)

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            yield response

        return gen()

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        response = self._completion_response(await self._arun(self._prompt_messages(prompt)), stream=True)

        async def gen() -> AsyncGenerator[CompletionResponse, None]:
            yield response

        return gen()

    # -- prompt chaining: verification grounded in the retrieved context -------------------------

    def predict(self, prompt: BasePromptTemplate, **prompt_args: Any) -> str:
        with self._grounded(prompt, prompt_args):
            return super().predict(prompt, **prompt_args)

    async def apredict(self, prompt: BasePromptTemplate, **prompt_args: Any) -> str:
        with self._grounded(prompt, prompt_args):
            return await super().apredict(prompt, **prompt_args)

    def stream(self, prompt: BasePromptTemplate, **prompt_args: Any) -> TokenGen:
        with self._grounded(prompt, prompt_args):
            return super().stream(prompt, **prompt_args)

    async def astream(self, prompt: BasePromptTemplate, **prompt_args: Any) -> TokenAsyncGen:
        with self._grounded(prompt, prompt_args):
            return await super().astream(prompt, **prompt_args)
