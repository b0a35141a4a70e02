"""The bridge from LangChain runnables to :class:`automix_core.models.ChatModel`, built once per adapter.

A :class:`RunnableTier` is built once per tier (with the adapter's engine) and hands the engine one
:class:`~automix_core.Tier` (:meth:`RunnableTier.tier`) made of two chat models, so the engine says
which call is which. What belongs to one request arrives with each call, as the
:class:`~automix_core.RequestContext` the adapter gave ``AutoMix.run``: the caller's input
(``messages``), the answering calls' keyword arguments (``params``), the tools, and a
:class:`RequestState` (the run's callbacks, the tiers bound to the tools, each tier's output):

* the **answering** model: the tier's runnable is invoked with the request's original LangChain
  input (messages with images, tools, a chain's dict input...), and the output is kept in the
  request's :attr:`RequestState.outputs`;
* the **verifying** model: the few-shot verification prompt, converted to LangChain messages (its
  fixed turns once, see :class:`~automix_core.integration.TurnCache`), one request per call; with
  ``verify_n`` a verifier chat model gets one ``generate`` call with ``n`` (its output tokens counted as
  :func:`~automix_core.backends.wire.output_tokens` says: see :attr:`RunnableTier.usage_scope`). How
  many calls draw the k samples (one with ``n`` and the rest one by one, or k single calls; the HTTP-400 fallback) is
  the core's :func:`~automix_core.verify.draw`, the same for every backend. (``BaseChatModel.generate``
  over ``n`` copies of the prompt is not used: it leaves the runs after a failed one open in
  tracers, and its async form waits for every sample after one failed.)

Every call runs with callbacks from the AutoMix run (so it nests under it in tracing), tagged
``automix`` plus ``automix:answer``/``automix:verify``. Usage comes from the ``usage_metadata``
of a chat model's reply, or, for an answering chain, from a :class:`UsageCollector` attached to the
call that sums what every chat model inside reported. Tokens a child did not
report are estimated by the core ledger (and marked ``estimated``).
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.callbacks import AsyncCallbackManager, BaseCallbackHandler, CallbackManager
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables import Runnable, RunnableConfig

from automix_core import Generation, Message, ModelError, RequestContext, Tier
from automix_core.integration import (
    ToolCallPolicy,
    TurnCache,
    UsageScope,
    model_error,
    output_tokens,
    secret_values,
)

from .logprobs import remember_no_logprobs, supports_logprobs, token_logprobs
from .messages import output_text
from .runs import UsageCollector, without_streaming

__all__ = [
    "ChildCallbacks",
    "RequestState",
    "RunnableTier",
    "ToolCallPolicy",
    "UsageCollector",
    "supports_native_n",
    "tier_name",
]

_T = TypeVar("_T")
WORKERS = 64
"""Threads of the pool that runs sync child calls under a deadline (calls abandoned at their deadline
keep a thread until they return by themselves)."""


@functools.cache
def _workers() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="automix-sync")
ChildCallbacks = Callable[[], "CallbackManager | AsyncCallbackManager | list[BaseCallbackHandler] | None"]



def tier_name(model: Runnable[Any, Any]) -> str:
    """A readable model name for a runnable: its chat model's ``model_name``/``model``, else its name."""
    chat = find_chat_model(model)
    if chat is not None:
        for attr in ("model_name", "model", "model_id", "deployment_name"):
            value = getattr(chat, attr, None)
            if isinstance(value, str) and value:
                return value
        ls_name = chat._get_ls_params().get("ls_model_name")
        if isinstance(ls_name, str) and ls_name:
            return ls_name
        return chat._llm_type
    return model.get_name()


def find_chat_model(runnable: Any) -> BaseChatModel | None:
    """The first chat model inside a runnable (bindings, sequences, parallels), or None."""
    seen: set[int] = set()
    stack: list[Any] = [runnable]
    while stack:
        item = stack.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, BaseChatModel):
            return item
        for attr in ("bound", "default", "first", "runnable"):
            child = getattr(item, attr, None)
            if isinstance(child, Runnable):
                stack.append(child)
        for attr in ("middle", "last"):
            child = getattr(item, attr, None)
            if isinstance(child, Runnable):
                stack.append(child)
            elif isinstance(child, list):
                stack.extend(c for c in child if isinstance(c, Runnable))
        steps = getattr(item, "steps__", None)  # RunnableParallel
        if isinstance(steps, dict):
            stack.extend(v for v in steps.values() if isinstance(v, Runnable))
    return None


@dataclass
class RequestState:
    """The LangChain part of one request's :class:`~automix_core.RequestContext` (its ``state``):
    callbacks for the child calls (children of the AutoMix run), the answering runnables bound to the
    request's tools (None: the tiers' own), and each tier's output, by tier index, once it answered."""

    callbacks: ChildCallbacks
    answerers: list[Runnable[Any, Any]] | None = None
    outputs: dict[int, Any] = field(default_factory=dict)


_NO_REQUEST = RequestState(lambda: None)


def _state(request: RequestContext | None) -> RequestState:
    state = request.state if request is not None else None
    return state if isinstance(state, RequestState) else _NO_REQUEST


@dataclass
class RunnableTier:
    """One tier over LangChain runnables, built once per adapter (see :meth:`tier`)."""

    index: int
    model_name: str
    answerer: Runnable[Any, Any]
    verifier: Runnable[Any, Any]
    verify_kwargs: dict[str, Any] = field(default_factory=dict)
    sampling_kwargs: bool = True
    native_n: bool = False
    usage_scope: UsageScope = "all_choices"
    """What the verifier's reported output tokens cover in a reply with ``n`` choices. ``"first_choice"``
    (llama.cpp; any server not known to count every choice): such requests also ask for per-token
    logprobs (``top_logprobs=1``) and bill the sum of every choice's tokens counted from them, or leave
    the call to the core's estimate (marked ``estimated``) when a choice has none, never the undercount."""
    window: int | None = None
    timeout: float | None = None
    """Seconds a sync child call may take (the async path's deadline is the engine's): past it the
    call is abandoned in its worker thread and fails with a retryable ModelError (a timeout)."""

    @property
    def name(self) -> str:
        return self.model_name

    def _config(self, purpose: str, state: RequestState) -> tuple[RunnableConfig, UsageCollector | None]:
        """The run config of an answer call, with a :class:`UsageCollector` unless the answerer is a
        chat model (whose reply carries its own usage)."""
        parent = state.callbacks()
        if isinstance(self.answerer, BaseChatModel):
            return self._tagged(parent, purpose), None
        collector = UsageCollector()
        callbacks: Any
        if isinstance(parent, (CallbackManager, AsyncCallbackManager)):
            callbacks = parent.copy()
            callbacks.add_handler(collector, inherit=True)
        else:
            callbacks = [*(parent or []), collector]
        return self._tagged(callbacks, purpose), collector

    def _tagged(self, callbacks: Any, purpose: str) -> RunnableConfig:
        return {
            "callbacks": without_streaming(callbacks),  # children are never streamed (see runs.py)
            "tags": ["automix", f"automix:{purpose}", f"automix:tier{self.index}"],
            "metadata": {"automix_tier": self.index, "automix_purpose": purpose, "automix_model": self.model_name},
        }

    def _verify_config(self, state: RequestState) -> RunnableConfig:
        """The run config of verification calls: nested and tagged like the answer's, without a usage
        collector (the verifier is a chat model: its replies carry their usage)."""
        return self._tagged(state.callbacks(), "verify")

    def _error(self, purpose: str, error: BaseException) -> ModelError:
        secrets = secret_values(find_chat_model(self.answerer), find_chat_model(self.verifier))
        return model_error(f"tier {self.index} ({self.model_name}) {purpose} failed", error, secrets,
                           model=self.model_name)

    def _sync_call(self, purpose: str, call: Callable[[], _T]) -> _T:
        """``call()`` within :attr:`timeout` seconds, else a retryable :class:`ModelError`. The call runs in
        the shared worker pool (:func:`_workers`) with the caller's context (tracing, callbacks); a late
        one is abandoned there, since a sync call cannot be cancelled."""
        if self.timeout is None:
            return call()
        future = _workers().submit(contextvars.copy_context().run, call)
        try:
            return future.result(self.timeout)
        except concurrent.futures.TimeoutError:
            raise ModelError(f"tier {self.index} ({self.model_name}) {purpose}: no reply within {self.timeout:g} s",
                             model=self.model_name, retryable=True) from None

    def _answer_generation(self, out: Any, collector: UsageCollector | None, state: RequestState) -> Generation:
        state.outputs[self.index] = out
        if collector is not None:
            inp, outp = collector.tokens()
        else:
            usage = out.usage_metadata if isinstance(out, AIMessage) else None
            inp, outp = (int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)) if usage else (
                None, None)
        return Generation(texts=[output_text(out)], model=self.model_name, input_tokens=inp, output_tokens=outp,
                          raw=out)

    def _n_kwargs(self, kw: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of a verification request with ``n``: ``kw``, plus per-token logprobs
        when the server's usage covers the first choice only (to count every choice's tokens)."""
        if self.usage_scope == "all_choices" or not self.sampling_kwargs or "logprobs" in kw:
            return kw
        return {**kw, "logprobs": True, "top_logprobs": 1}

    def _vkwargs(self, temperature: float, max_tokens: int | None) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if self.sampling_kwargs:
            kw["temperature"] = temperature
            if max_tokens is not None:
                kw["max_tokens"] = max_tokens
        kw.update(self.verify_kwargs)
        return kw

    def tier(self) -> Tier:
        """This tier for the engine: the answering model and the verifying model."""
        return Tier(_Answering(self), verifier=_Verifying(self))


class _Answering:
    """The answer calls of a :class:`RunnableTier`: the runnable on the request's own input (the engine's
    messages are that input's core form, so they are not read; without a request context, they are
    sent as LangChain messages)."""

    def __init__(self, tier: RunnableTier) -> None:
        self.t = tier
        self.name = tier.model_name
        self.context_window = tier.window

    supports_n = False

    def _prepare(self, messages: Sequence[Message], request: RequestContext | None) -> tuple[
            Runnable[Any, Any], Any, RunnableConfig, dict[str, Any], UsageCollector | None, RequestState]:
        """(runnable, input, config, keyword arguments, usage collector, state) of one answer call."""
        t, state = self.t, _state(request)
        config, collector = t._config("answer", state)
        answerer = state.answerers[t.index] if state.answerers is not None else t.answerer
        value = request.messages if request is not None and request.messages is not None else _TURNS.convert(messages)
        return answerer, value, config, dict(request.params) if request is not None else {}, collector, state

    def generate(self, messages: Sequence[Message], *, request: RequestContext | None = None, **_: Any) -> Generation:
        t = self.t
        answerer, value, config, kwargs, collector, state = self._prepare(messages, request)
        try:
            out = t._sync_call("answer", lambda: answerer.invoke(value, config, **kwargs))
        except Exception as error:
            raise t._error("answer", error) from error
        return t._answer_generation(out, collector, state)

    async def agenerate(self, messages: Sequence[Message], *, request: RequestContext | None = None,
                        **_: Any) -> Generation:
        t = self.t
        answerer, value, config, kwargs, collector, state = self._prepare(messages, request)
        try:
            out = await answerer.ainvoke(value, config, **kwargs)
        except Exception as error:
            raise t._error("answer", error) from error
        return t._answer_generation(out, collector, state)


class _Verifying:
    """The verification calls of a :class:`RunnableTier`: one request each, with ``n`` when native."""

    def __init__(self, tier: RunnableTier) -> None:
        self.t = tier
        self.name = tier.model_name
        self.context_window = tier.window
        self.supports_n = tier.native_n and isinstance(tier.verifier, BaseChatModel)
        self._last: list[tuple[Sequence[Message], list[BaseMessage]]] = []  # see TurnCache.convert_once
        self._call: tuple[object, float, int | None, object, dict[str, Any], RunnableConfig] | None = None

    def _prepare(self, messages: Sequence[Message], temperature: float, max_tokens: int | None,
                 request: RequestContext | None) -> tuple[list[BaseMessage], dict[str, Any], RunnableConfig]:
        """The LangChain messages, keyword arguments and run config of a verification request; the k
        single requests of one verification (the same ``messages`` object of the same request) share
        them, as one call did."""
        t, call = self.t, self._call
        lc_messages = _TURNS.convert_once(messages, self._last)
        if (call is None or call[0] is not messages or call[1] != temperature or call[2] != max_tokens
                or call[3] is not request):
            call = self._call = (messages, temperature, max_tokens, request, t._vkwargs(temperature, max_tokens),
                                 t._verify_config(_state(request)))
        return lc_messages, call[4], call[5]

    def _request(self, messages: Sequence[Message], n: int, temperature: float, max_tokens: int | None,
                 logprobs: int | None, request: RequestContext | None
                 ) -> tuple[str, tuple[Any, ...], dict[str, Any], Callable[[Any], Generation]]:
        """(method, args, kwargs, reading) of one verification request: ``invoke`` (or ``generate`` with
        ``n``) of the verifier; the async path calls the ``a``-prefixed method, and ``reading(reply)`` is
        the :class:`Generation` of its reply."""
        t = self.t
        lc_messages, kw, config = self._prepare(messages, temperature, max_tokens, request)
        lkw = self._logprob_kwargs(kw, logprobs)
        if lkw is not None:
            return "invoke", (lc_messages, config), lkw, lambda out: _verify_generation(t.model_name, [out],
                                                                                         logprobs=True)
        if n > 1 and isinstance(t.verifier, BaseChatModel):
            return "generate", ([lc_messages],), {"n": n, **_generate_config(config), **t._n_kwargs(kw)}, \
                lambda result: _verify_generation(t.model_name, _choices(result)[:n], t.usage_scope)
        return "invoke", (lc_messages, config), kw, lambda out: _verify_generation(t.model_name, [out])

    @property
    def supports_logprobs(self) -> bool | None:
        """See :func:`~automix_langchain.logprobs.supports_logprobs`; set to False by the core's verifier
        when a reply had none, which is remembered for the chat model (not only this request)."""
        return supports_logprobs(self.t.verifier)

    @supports_logprobs.setter
    def supports_logprobs(self, value: bool | None) -> None:
        if value is False:
            remember_no_logprobs(self.t.verifier)

    def _logprob_kwargs(self, kw: dict[str, Any], logprobs: int | None) -> dict[str, Any] | None:
        """The keyword arguments of a logprob call (the core's ``logprobs=N``), or None when this
        verifier is not asked for logprobs or never takes them (:func:`supports_logprobs`)."""
        if logprobs is None or self.supports_logprobs is False:
            return None
        return {**kw, "logprobs": True, "top_logprobs": logprobs}

    def generate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                 max_tokens: int | None = None, logprobs: int | None = None, request: RequestContext | None = None,
                 **_: Any) -> Generation:
        t = self.t
        method, args, kw, reading = self._request(messages, n, temperature, max_tokens, logprobs, request)
        try:
            return reading(t._sync_call("verification", lambda: getattr(t.verifier, method)(*args, **kw)))
        except Exception as error:
            raise t._error("verification", error) from error

    async def agenerate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                        max_tokens: int | None = None, logprobs: int | None = None,
                        request: RequestContext | None = None, **_: Any) -> Generation:
        t = self.t
        method, args, kw, reading = self._request(messages, n, temperature, max_tokens, logprobs, request)
        try:
            return reading(await getattr(t.verifier, "a" + method)(*args, **kw))
        except Exception as error:
            raise t._error("verification", error) from error


_MESSAGE_TYPES: dict[str, type[BaseMessage]] = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
# the verification prompt's fixed turns, converted once (see TurnCache)
_TURNS: TurnCache[BaseMessage] = TurnCache(
    lambda role, content: _MESSAGE_TYPES[role](content=content),
    lambda message, role, content: type(message) is _MESSAGE_TYPES[role] and message.content == content,
)


def _verify_generation(name: str, choices: list[Any], scope: UsageScope = "all_choices", *,
                       logprobs: bool = False) -> Generation:
    """One verification request's samples (``choices``: messages, or ``(message, generation_info)``).
    Usage is read from the first choice (every choice carries the response's ``usage_metadata``); its
    output tokens cover every choice or the first only (``scope``): then each choice's tokens are
    counted from its logprobs (:func:`~automix_core.backends.wire.output_tokens`), else the core
    estimates them. When no usage was reported, the core estimates the call. With ``logprobs`` (a
    logprob call), each reply's ``response_metadata["logprobs"]`` (OpenAI's ``choice.logprobs``) becomes
    :attr:`~automix_core.models.Generation.token_logprobs` (:func:`~automix_langchain.logprobs.token_logprobs`);
    None when no reply carries any, so the core falls back to sampling."""
    infos = [c[1] if isinstance(c, tuple) else None for c in choices]
    messages = [c[0] if isinstance(c, tuple) else c for c in choices]
    texts = [output_text(m) for m in messages]
    lps = token_logprobs(messages) if logprobs else None
    usage = messages[0].usage_metadata if messages and isinstance(messages[0], AIMessage) else None
    if not usage:
        return Generation(texts=texts, model=name, token_logprobs=lps)
    out = output_tokens(int(usage.get("output_tokens") or 0), [_token_entries(i) for i in infos], scope)
    return Generation(texts=texts, model=name, input_tokens=int(usage.get("input_tokens") or 0),
                      output_tokens=out, token_logprobs=lps)


def _token_entries(info: dict[str, Any] | None) -> list[Any] | None:
    """A choice's per-token logprob entries (OpenAI's ``logprobs.content``, as langchain-openai keeps it
    in ``generation_info``): one per generated token; None when the choice has none."""
    logprobs = (info or {}).get("logprobs")
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    return content if isinstance(content, list) else None


def _generate_config(config: RunnableConfig) -> dict[str, Any]:
    """The keyword arguments of ``BaseChatModel.generate`` that carry a run config."""
    return {"callbacks": config.get("callbacks"), "tags": config.get("tags"), "metadata": config.get("metadata")}


def _choices(result: LLMResult) -> list[Any]:
    """Every choice of a one-prompt ``generate`` result: ``(message, generation_info)``, or texts for
    plain generations."""
    return [(g.message, g.generation_info) if isinstance(g, ChatGeneration) else g.text
            for g in result.generations[0]]


def supports_native_n(chat: BaseChatModel | None, setting: bool | None) -> bool:
    """Whether verification samples go to ``chat`` as one request with ``n`` (see ``verify_n``)."""
    if chat is None or "n" not in type(chat).model_fields:
        return False
    if setting is not None:
        return setting
    hosted = type(chat).__name__ in ("ChatOpenAI", "AzureChatOpenAI") and not getattr(chat, "openai_api_base", None)
    return hosted and type(chat).__module__.startswith("langchain_openai")
