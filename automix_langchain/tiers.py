"""The bridge from LangChain runnables to :class:`automix_core.models.ChatModel`, one per request.

A :class:`RunnableTier` is built for every AutoMix request. The engine asks it for two kinds of
calls, told apart by the messages it is given:

* the **answer** call (the request's own messages): the tier's runnable is invoked with the
  request's original LangChain input (messages with images, tools, a chain's dict input...), and
  the output is kept in :attr:`RunnableTier.output`;
* **verification** calls (the few-shot verification prompt): the engine asks for all ``n``
  samples in one call; the tier's verifier is invoked once per sample (one after another on the
  sync path, concurrently on the async path, where a failed sample cancels its siblings), with the
  prompt converted to LangChain messages once; or, for a verifier chat model with native ``n``
  (``verify_n``), as one ``generate`` call with ``n`` (choices it did not return are drawn one by
  one). (``BaseChatModel.generate`` over ``n`` copies of the prompt is not used: it leaves the runs
  after a failed one open in tracers, and its async form waits for every sample after one failed.)

Every call runs with callbacks from the AutoMix run (so it nests under it in tracing), tagged
``automix`` plus ``automix:answer``/``automix:verify``. Usage comes from the ``usage_metadata``
of a chat model's reply, or, for an answering chain, from a :class:`UsageCollector` attached to the
call that sums what every chat model inside reported. Tokens a child did not
report are estimated by the core ledger (and marked ``estimated``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackManager, BaseCallbackHandler, CallbackManager
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import SecretStr

from automix_core.aio import gather_n
from automix_core.models import Generation, Message, ModelError, TurnCache, rejected_request

from .messages import output_text

__all__ = [
    "ChildCallbacks",
    "RequestInput",
    "RunnableTier",
    "ToolCallPolicy",
    "UsageCollector",
    "supports_native_n",
    "tier_name",
]

ToolCallPolicy = Literal["accept", "verify", "escalate"]
ChildCallbacks = Callable[[], "CallbackManager | AsyncCallbackManager | list[BaseCallbackHandler] | None"]

_RETRYABLE_NAMES = ("Timeout", "RateLimit", "Connection", "InternalServer", "ServiceUnavailable")


class UsageCollector(BaseCallbackHandler):
    """Sums ``usage_metadata`` of every chat model run it sees finish (thread-safe)."""

    run_inline = True

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.input_tokens = 0
        self.output_tokens = 0
        self.reported = 0
        self.unreported = 0

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        usage = None
        for gens in response.generations[:1]:
            for gen in gens[:1]:
                if isinstance(gen, ChatGeneration) and isinstance(gen.message, AIMessage):
                    usage = gen.message.usage_metadata
        with self._lock:
            if usage:
                self.reported += 1
                self.input_tokens += int(usage.get("input_tokens") or 0)
                self.output_tokens += int(usage.get("output_tokens") or 0)
            else:
                self.unreported += 1

    def tokens(self) -> tuple[int | None, int | None]:
        """(input, output) tokens if every model call reported usage, else (None, None) to estimate."""
        with self._lock:
            if self.reported and not self.unreported:
                return self.input_tokens, self.output_tokens
            return None, None


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


def secret_values(model: object) -> list[str]:
    """The secrets a chat model holds (``SecretStr`` fields, and text fields named like a key or token)."""
    out: list[str] = []
    for name in getattr(type(model), "model_fields", {}):
        value = getattr(model, name, None)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif not (isinstance(value, str) and any(part in name.lower() for part in ("key", "token", "secret"))):
            continue
        if isinstance(value, str) and len(value) >= 4:
            out.append(value)
    return out


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret replaced by ``***`` (longest first)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _retryable(error: BaseException) -> bool:
    if isinstance(error, (TimeoutError, ConnectionError, asyncio.TimeoutError)):
        return True
    return any(part in type(error).__name__ for part in _RETRYABLE_NAMES)


@dataclass
class RequestInput:
    """One AutoMix request as the tiers see it."""

    core_messages: list[Message]
    answer_input: Any
    answer_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunnableTier:
    """A :class:`~automix_core.models.ChatModel` over a LangChain runnable, for one request."""

    index: int
    model_name: str
    answerer: Runnable[Any, Any]
    verifier: Runnable[Any, Any]
    request: RequestInput
    callbacks: ChildCallbacks
    verify_kwargs: dict[str, Any] = field(default_factory=dict)
    sampling_kwargs: bool = True
    native_n: bool = False
    window: int | None = None
    output: Any = None
    answered: bool = False

    @property
    def name(self) -> str:
        return self.model_name

    @property
    def supports_n(self) -> bool:
        # the engine asks for all n samples in one call; see the module docs for how they are drawn
        return True

    @property
    def context_window(self) -> int | None:
        return self.window

    # -- helpers ----------------------------------------------------------------------------

    def _is_answer(self, messages: Sequence[Message]) -> bool:
        core = self.request.core_messages
        return messages is core or list(messages) == core

    def _config(self, purpose: str) -> tuple[RunnableConfig, UsageCollector | None]:
        """The run config of an answer call, with a :class:`UsageCollector` unless the answerer is a
        chat model (whose reply carries its own usage)."""
        parent = self.callbacks()
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
            "callbacks": callbacks,
            "tags": ["automix", f"automix:{purpose}", f"automix:tier{self.index}"],
            "metadata": {"automix_tier": self.index, "automix_purpose": purpose, "automix_model": self.model_name},
        }

    def _verify_config(self) -> RunnableConfig:
        """The run config of verification calls: nested and tagged like the answer's, without a usage
        collector (the verifier is a chat model: its replies carry their usage)."""
        return self._tagged(self.callbacks(), "verify")

    def _error(self, purpose: str, error: BaseException) -> ModelError:
        secrets = [s for r in (self.answerer, self.verifier) for s in secret_values(find_chat_model(r))]
        return ModelError(
            scrub(f"tier {self.index} ({self.model_name}) {purpose} failed: {type(error).__name__}: {error}", secrets),
            model=self.model_name,
            retryable=_retryable(error),
        )

    def _answer_generation(self, out: Any, collector: UsageCollector | None) -> Generation:
        self.output = out
        self.answered = True
        if collector is not None:
            inp, outp = collector.tokens()
        else:
            usage = out.usage_metadata if isinstance(out, AIMessage) else None
            inp, outp = (int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)) if usage else (
                None, None)
        return Generation(texts=[output_text(out)], model=self.model_name, input_tokens=inp, output_tokens=outp,
                          raw=out)

    def _verify_messages(self, messages: Sequence[Message]) -> list[BaseMessage]:
        return _TURNS.convert(messages)

    def _vkwargs(self, temperature: float, max_tokens: int | None) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if self.sampling_kwargs:
            kw["temperature"] = temperature
            if max_tokens is not None:
                kw["max_tokens"] = max_tokens
        kw.update(self.verify_kwargs)
        return kw

    # -- ChatModel ----------------------------------------------------------------------------

    def generate(
        self,
        messages: Sequence[Message],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        logprobs: int | None = None,
    ) -> Generation:
        if self._is_answer(messages):
            config, collector = self._config("answer")
            try:
                out = self.answerer.invoke(self.request.answer_input, config, **self.request.answer_kwargs)
            except Exception as error:
                raise self._error("answer", error) from error
            return self._answer_generation(out, collector)
        lc_messages = self._verify_messages(messages)
        kw = self._vkwargs(temperature, max_tokens)
        config = self._verify_config()
        replies: list[Any] = []  # one entry per request: its choices (as messages)
        try:
            if self.native_n and n > 1 and isinstance(self.verifier, BaseChatModel):
                try:
                    result = self.verifier.generate([lc_messages], n=n, **_generate_config(config), **kw)
                    replies.append(_choices(result)[:n])
                except Exception as error:
                    if not rejected_request(error):
                        raise
                    # the model refused ``n`` (HTTP 400): draw the samples one by one below
            for _ in range(n - sum(len(r) for r in replies)):  # the samples a request with n did not return
                replies.append([self.verifier.invoke(lc_messages, config, **kw)])
        except Exception as error:
            raise self._error("verification", error) from error
        return _verify_generation(self.model_name, replies)

    async def agenerate(
        self,
        messages: Sequence[Message],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        logprobs: int | None = None,
    ) -> Generation:
        if self._is_answer(messages):
            config, collector = self._config("answer")
            try:
                out = await self.answerer.ainvoke(self.request.answer_input, config, **self.request.answer_kwargs)
            except Exception as error:
                raise self._error("answer", error) from error
            return self._answer_generation(out, collector)
        lc_messages = self._verify_messages(messages)
        kw = self._vkwargs(temperature, max_tokens)
        config = self._verify_config()
        replies: list[list[Any]] = []
        try:
            if self.native_n and n > 1 and isinstance(self.verifier, BaseChatModel):
                try:
                    result = await self.verifier.agenerate([lc_messages], n=n, **_generate_config(config), **kw)
                    replies.append(_choices(result)[:n])
                except Exception as error:
                    if not rejected_request(error):
                        raise
            missing = n - sum(len(r) for r in replies)  # the samples a request with n did not return
            replies += [[m] for m in await gather_n(missing, self.verifier.ainvoke, lc_messages, config, **kw)]
        except Exception as error:
            raise self._error("verification", error) from error
        return _verify_generation(self.model_name, replies)


_MESSAGE_TYPES: dict[str, type[BaseMessage]] = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
# the verification prompt's fixed turns, converted once (see TurnCache)
_TURNS: TurnCache[BaseMessage] = TurnCache(
    lambda role, content: _MESSAGE_TYPES[role](content=content),
    lambda message, role, content: type(message) is _MESSAGE_TYPES[role] and message.content == content,
)


def _verify_generation(name: str, replies: list[list[Any]]) -> Generation:
    """The samples of a verification call: ``replies`` holds each request's choices. Usage is read
    from each request's first choice (``usage_metadata`` of a response with several choices covers
    all of them); when one request reported none, the core estimates the whole call."""
    texts = [output_text(m) for r in replies for m in r]
    inp = out = 0
    for r in replies:
        usage = r[0].usage_metadata if r and isinstance(r[0], AIMessage) else None
        if not usage:
            return Generation(texts=texts, model=name, requests=max(1, len(replies)))
        inp += int(usage.get("input_tokens") or 0)
        out += int(usage.get("output_tokens") or 0)
    return Generation(texts=texts, model=name, input_tokens=inp, output_tokens=out, requests=max(1, len(replies)))


def _generate_config(config: RunnableConfig) -> dict[str, Any]:
    """The keyword arguments of ``BaseChatModel.generate`` that carry a run config."""
    return {"callbacks": config.get("callbacks"), "tags": config.get("tags"), "metadata": config.get("metadata")}


def _choices(result: LLMResult) -> list[Any]:
    """Every choice of a one-prompt ``generate`` result (messages, or texts for plain generations)."""
    return [g.message if isinstance(g, ChatGeneration) else g.text for g in result.generations[0]]


def supports_native_n(chat: BaseChatModel | None, setting: bool | None) -> bool:
    """Whether verification samples go to ``chat`` as one request with ``n`` (see ``verify_n``)."""
    if chat is None or "n" not in type(chat).model_fields:
        return False
    if setting is not None:
        return setting
    hosted = type(chat).__name__ in ("ChatOpenAI", "AzureChatOpenAI") and not getattr(chat, "openai_api_base", None)
    return hosted and type(chat).__module__.startswith("langchain_openai")
