"""AutoMix as a LlamaIndex LLM: cheapest tier first, self-verified, escalated per the policy.

:class:`AutoMixLLM` is a thin adapter: every tier is a LlamaIndex :class:`~llama_index.core.llms.LLM`
wrapped in :class:`LlamaIndexChatModel` (an :class:`automix_core.models.ChatModel`) and the cascade
itself is :class:`automix_core.cascade.engine.AutoMix`; no routing logic lives here.

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
from collections import ChainMap
from collections.abc import AsyncGenerator, Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

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
    TextBlock,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr, SecretStr, SerializeAsAny
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
from llama_index.core.callbacks.base import global_stack_trace
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.llms import LLM
from llama_index.core.prompts import BasePromptTemplate
from llama_index.core.types import TokenAsyncGen, TokenGen
from llama_index_instrumentation import get_dispatcher

from automix_core.aio import gather_n
from automix_core.cascade.engine import AutoMix, AutoMixResult, Hook, Tier
from automix_core.accounting.ledger import Budget, Ledger
from automix_core.models import Generation, Message, ModelError, TurnCache, rejected_request
from automix_core.policies.base import Policy
from automix_core.accounting.prices import PriceTable
from automix_core.router import Router
from automix_core.verify.verifier import VerifyMode

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
_TRANSIENT = {"APITimeoutError", "APIConnectionError", "RateLimitError", "InternalServerError", "ReadTimeout",
              "ConnectTimeout", "ConnectError"}

ResponseHook = Callable[[LLM, list[ChatMessage], ChatResponse], None]


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


def _from_core_messages(messages: Sequence[Message]) -> list[ChatMessage]:
    """``messages`` as LlamaIndex chat messages.

    The caller's own messages are passed through when ``messages`` is the converted list the
    running cascade started from (see :data:`_ORIGINALS`); the turns before the last are shared
    between calls (see :class:`~automix_core.models.TurnCache`).
    """
    originals = _ORIGINALS.get()
    if originals is not None and originals[0] is messages:
        return list(originals[1])
    return _TURNS.convert(messages)


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


def _secret_values(llm: object) -> list[str]:
    """The secrets an LLM holds (``SecretStr`` fields, and text fields named like a key or token)."""
    out: list[str] = []
    for field in getattr(type(llm), "model_fields", {}):
        value = getattr(llm, field, None)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif not (isinstance(value, str) and any(part in field.lower() for part in ("key", "token", "secret"))):
            continue
        if isinstance(value, str) and len(value) >= 4:
            out.append(value)
    return out


def _model_error(name: str, err: Exception, llm: object = None) -> ModelError:
    if isinstance(err, ModelError):
        return err
    transient = isinstance(err, (TimeoutError, ConnectionError)) or type(err).__name__ in _TRANSIENT
    text = f"{name}: {type(err).__name__}: {err}"
    for secret in sorted(set(_secret_values(llm)), key=len, reverse=True):
        text = text.replace(secret, "***")
    return ModelError(text, model=name, retryable=transient)


# ------------------------------------------------------------------------------------ tier wrapper


class LlamaIndexChatModel:
    """A LlamaIndex :class:`LLM` as an ``automix_core`` :class:`~automix_core.models.ChatModel`.

    Calls ``llm.chat``/``llm.achat`` once per sample: a call with ``n`` samples converts the
    messages once and makes ``n`` chat calls (one after another on the sync path, concurrently on
    the async path, where a failed sample cancels its siblings). It passes
    ``temperature``, ``max_tokens``, ``stop`` and, when asked, ``logprobs``/``top_logprobs`` as
    keyword arguments, unless ``sampling_kwargs`` is False (for LLMs that reject them; verification
    samples are then all drawn at the LLM's own temperature). Token usage is read with
    :func:`reported_usage` (``None`` when not reported: the core then estimates it). Exceptions
    become :class:`ModelError`, retryable for timeouts, connection errors and rate limits.
    ``on_response`` is told about every successful call (used by :class:`AutoMixLLM` to forward
    callback events).

    With ``native_n`` (see :func:`supports_native_n`), a call with ``n`` > 1 is first sent as one
    chat request with ``n=n`` and the samples are read from every choice of its raw OpenAI-style
    response (``raw.choices``), so the prompt is billed once. Choices the server did not return are
    drawn one request each, as are all of them when the request is refused with HTTP 400.
    """

    def __init__(
        self, llm: LLM, name: str | None = None, *, sampling_kwargs: bool = True,
        on_response: ResponseHook | None = None, native_n: bool = False,
    ) -> None:
        self.llm = llm
        self._name = name
        self.sampling_kwargs = sampling_kwargs
        self.on_response = on_response
        self.native_n = native_n
        self._window: object = _UNREAD

    @property
    def name(self) -> str:
        """``name``, else the LLM's ``metadata.model_name`` (read once: it keys the ledger)."""
        if self._name is None:
            self._name = self.llm.metadata.model_name
        return self._name

    @property
    def supports_n(self) -> bool:
        return True  # n samples in one call of this wrapper, as n chat calls (see the class docs)

    @property
    def context_window(self) -> int | None:
        """The LLM's ``metadata.context_window``, read once like :attr:`name` (LLMs build their
        metadata anew on each read)."""
        if self._window is _UNREAD:
            self._window = self.llm.metadata.context_window
        return cast("int | None", self._window)

    def __repr__(self) -> str:
        return f"LlamaIndexChatModel({type(self.llm).__name__}, name={self.name!r})"

    def _prepare(
        self, messages: Sequence[Message], n: int, temperature: float, max_tokens: int | None,
        stop: Sequence[str] | None, logprobs: int | None,
    ) -> tuple[list[ChatMessage], dict[str, Any]]:
        if n < 1:
            raise ModelError(f"{self.name}: n must be >= 1, got {n}", model=self.name, retryable=False)
        kwargs: dict[str, Any] = {}
        if self.sampling_kwargs:
            kwargs["temperature"] = temperature
            if max_tokens is not None:
                kwargs["max_tokens"] = max_tokens
            if stop:
                kwargs["stop"] = list(stop)
            if logprobs:
                kwargs["logprobs"] = True
                kwargs["top_logprobs"] = logprobs
        return _from_core_messages(messages), kwargs

    def _generation(
        self, msgs: list[ChatMessage], responses: Sequence[ChatResponse], native: list[str] | None = None
    ) -> Generation:
        """One :class:`Generation` from ``responses`` (one per request). ``native`` holds the texts of
        every choice of the first response when it was a request with ``n``; the later responses
        add one sample each."""
        texts: list[str] = list(native) if native is not None else []
        lp: list[list[dict[str, float]]] = []
        inp: int | None = 0
        out: int | None = 0
        for j, response in enumerate(responses):
            if self.on_response is not None:
                self.on_response(self.llm, msgs, response)
            if native is None or j > 0:
                texts.append(response.message.content or "")
            i, o = reported_usage(response)
            inp = None if inp is None or i is None else inp + i
            out = None if out is None or o is None else out + o
            if response.logprobs:
                lp.append([{alt.token: alt.logprob for alt in position} for position in response.logprobs])
        return Generation(texts=texts, model=self.name, input_tokens=inp, output_tokens=out,
                          token_logprobs=lp if native is None and len(lp) == len(responses) else None,
                          raw=responses[0] if len(responses) == 1 else list(responses), requests=len(responses))

    def generate(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0, max_tokens: int | None = None,
        stop: Sequence[str] | None = None, logprobs: int | None = None,
    ) -> Generation:
        msgs, kwargs = self._prepare(messages, n, temperature, max_tokens, stop, logprobs)
        responses: list[ChatResponse] = []
        native: list[str] | None = None
        try:
            if self.native_n and n > 1:
                try:
                    first = self.llm.chat(msgs, n=n, **kwargs)
                    responses.append(first)
                    native = choice_texts(first)[:n]
                except Exception as err:
                    if not rejected_request(err):
                        raise
            for _ in range(n - len(native or ())):  # the samples a request with n did not return
                responses.append(self.llm.chat(msgs, **kwargs))
        except Exception as err:
            raise _model_error(self.name, err, self.llm) from err
        return self._generation(msgs, responses, native)

    async def agenerate(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0, max_tokens: int | None = None,
        stop: Sequence[str] | None = None, logprobs: int | None = None,
    ) -> Generation:
        msgs, kwargs = self._prepare(messages, n, temperature, max_tokens, stop, logprobs)
        responses: list[ChatResponse] = []
        native: list[str] | None = None
        try:
            if self.native_n and n > 1:
                try:
                    first = await self.llm.achat(msgs, n=n, **kwargs)
                    responses.append(first)
                    native = choice_texts(first)[:n]
                except Exception as err:
                    if not rejected_request(err):
                        raise
            responses += await gather_n(n - len(native or ()), self.llm.achat, msgs, **kwargs)
        except Exception as err:
            raise _model_error(self.name, err, self.llm) from err
        return self._generation(msgs, responses, native)


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


class AutoMixEvent(BaseEvent):
    """Dispatched when an AutoMix cascade ends: ``result`` is :meth:`AutoMixResult.to_dict`."""

    result: dict[str, Any]

    @classmethod
    def class_name(cls) -> str:
        return "AutoMixEvent"


# ------------------------------------------------------------------------------------ the LLM


class AutoMixLLM(LLM):
    """AutoMix over LlamaIndex LLMs: the cheapest tier answers, self-verifies, and the policy escalates.

    Drop-in for any LlamaIndex app: ``Settings.llm = AutoMixLLM([small, large], prices=...)`` or
    ``index.as_query_engine(llm=AutoMixLLM(...))``.

    Args:
        tiers: LlamaIndex LLMs, cheapest first (at least two).
        verifiers: optional per-tier verifier LLMs (``None`` entries: the tier verifies itself).
        names: per-tier names for pricing and traces (default: each LLM's ``metadata.model_name``).
        router, prices, ledger, budget, k, verify_mode, verify_temperature, verify_max_tokens,
            answer_max_tokens, answer_temperature, retries, timeout, system, hooks: as in
            :class:`automix_core.cascade.engine.AutoMix`.
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
    k: int = Field(default=8, description="Verification samples per answer.")
    verify_mode: str = Field(default="sample", description="sample, sequential or logprob.")
    sampling_kwargs: bool = Field(default=True, description="Pass temperature/max_tokens/stop to the tiers.")
    verify_n: bool | None = Field(default=None, description="Verification samples as one request with n.")

    _engine: AutoMix = PrivateAttr()

    def __init__(
        self,
        tiers: Sequence[LLM],
        *,
        verifiers: Sequence[LLM | None] | None = None,
        names: Sequence[str] | None = None,
        router: Router | Policy | str | None = None,
        prices: PriceTable | None = None,
        ledger: Ledger | None = None,
        budget: Budget | None = None,
        k: int = 8,
        verify_mode: VerifyMode = "sample",
        verify_temperature: float = 1.0,
        verify_max_tokens: int = 160,
        answer_max_tokens: int | None = 512,
        answer_temperature: float = 0.0,
        retries: int = 1,
        timeout: float | None = 120.0,
        system: str | None = None,
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
        fields: dict[str, Any] = {
            "tiers": list(tiers), "verifiers": None if verifiers is None else list(verifiers),
            "names": None if names is None else list(names), "k": k, "verify_mode": verify_mode,
            "sampling_kwargs": sampling_kwargs, "verify_n": verify_n, "callback_manager": callback_manager,
            **kwargs,
        }
        super().__init__(**fields)
        wrapped: list[Tier] = []
        for i, llm in enumerate(self.tiers):
            name = names[i] if names is not None else None
            verifier_llm = verifiers[i] if verifiers is not None else None
            model = LlamaIndexChatModel(llm, name, sampling_kwargs=sampling_kwargs, on_response=self._forward,
                                        native_n=verifier_llm is None and supports_native_n(llm, verify_n))
            verifier = None if verifier_llm is None else LlamaIndexChatModel(
                verifier_llm, sampling_kwargs=sampling_kwargs, on_response=self._forward,
                native_n=supports_native_n(verifier_llm, verify_n),
            )
            wrapped.append(Tier(model, verifier))
        self._engine = AutoMix(
            wrapped, router=router, prices=prices, ledger=ledger, budget=budget, k=k, verify_mode=verify_mode,
            verify_temperature=verify_temperature, verify_max_tokens=verify_max_tokens,
            answer_max_tokens=answer_max_tokens, answer_temperature=answer_temperature, retries=retries,
            timeout=timeout, system=system, hooks=hooks,
        )

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
