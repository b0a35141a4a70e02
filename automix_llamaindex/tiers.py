"""LlamaIndex LLMs as ``automix_core`` chat models (:class:`LlamaIndexChatModel`), one for answering and one
for verifying per tier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, cast

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
)
from llama_index.core.llms import LLM
from llama_index.core.llms.function_calling import FunctionCallingLLM

from automix_core import (
    Generation,
    Message,
    ModelError,
    RequestContext,
)
from automix_core.integration import model_error, parse_logprobs, secret_values

from .utils import (
    _OPENAI_HOSTS,
    _TURNS,
    _UNREAD,
    ToolRequest,
    UsageScope,
    _get,
    answer_messages,
    choice_output_tokens,
    choice_texts,
    counts_first_choice,
    reported_usage,
    tool_calls_text,
)

__all__ = ["LlamaIndexChatModel", "ResponseHook", "supports_logprobs"]

ResponseHook = Callable[[LLM, list[ChatMessage], ChatResponse], None]


def supports_logprobs(llm: LLM, sampling_kwargs: bool = True) -> bool | None:
    """Whether verification calls to ``llm`` return token logprobs (``logprobs=True, top_logprobs=N``), as
    the core's ``supports_logprobs`` says it: True for llama-index's ``OpenAI`` on OpenAI's own endpoint;
    False for an ``OpenAI``/``OpenAILike`` on the completions endpoint (``is_chat_model`` False) or with
    ``sampling_kwargs`` off (no keyword arguments are passed); None (unknown: tried in logprob mode, and the
    core falls back to sampling, with a warning, and remembers it on this model when the reply has none) for
    an ``OpenAILike``/``OpenAI`` on another endpoint (llama.cpp, vLLM, ...); False for any other LLM (it has
    no OpenAI ``logprobs`` argument to honour)."""
    if not sampling_kwargs:
        return False
    try:
        from llama_index.llms.openai import OpenAI
    except ImportError:  # pragma: no cover - llama-index-llms-openai not installed
        return False
    if not isinstance(llm, OpenAI):
        return False
    if not llm.metadata.is_chat_model:
        return False
    return True if type(llm) is OpenAI and llm.api_base in _OPENAI_HOSTS else None


def _response_logprobs(response: ChatResponse) -> list[dict[str, float]] | None:
    """The first choice's token logprobs in the core's format: read from the raw OpenAI-style response
    (``raw.choices[0].logprobs``) with the core's parser, which keeps the sampled token and every position;
    else from ``ChatResponse.logprobs`` (LLMs that fill only that)."""
    choices = _get(response.raw, "choices")
    if isinstance(choices, Sequence) and choices:
        block = _get(choices[0], "logprobs")
        dump = getattr(block, "model_dump", None)
        parsed = parse_logprobs(dump() if callable(dump) else block)
        if parsed is not None:
            return parsed
    if response.logprobs:
        return [{alt.token: alt.logprob for alt in position} for position in response.logprobs]
    return None

# ------------------------------------------------------------------------------------ tier wrapper


class LlamaIndexChatModel:
    """A LlamaIndex :class:`LLM` as an ``automix_core`` :class:`~automix_core.models.ChatModel`, for one
    ``purpose``: ``"answer"`` (the caller's own messages, the request context's ``messages``, are passed on) or
    ``"verify"`` (the verification prompt, its fixed turns converted once, see
    :class:`~automix_core.integration.TurnCache`). :class:`AutoMixLLM` gives the engine one of each per
    tier, so the engine says which call is which.

    Each call is one ``llm.chat``/``llm.achat`` request. It passes ``temperature``, ``max_tokens``,
    ``stop`` and, when asked, ``logprobs``/``top_logprobs`` as keyword arguments, unless
    ``sampling_kwargs`` is False (for LLMs that reject them; verification samples are then all drawn
    at the LLM's own temperature). Token usage is read with :func:`reported_usage` (``None`` when not
    reported: the core then estimates it). Exceptions become :class:`ModelError`
    (:func:`~automix_core.integration.model_error`: scrubbed of the LLM's keys, retryable when
    transient). ``on_response`` is told about every successful call (used by :class:`AutoMixLLM` to
    forward callback events).

    With ``native_n`` (see :func:`supports_native_n`) the model takes ``n``: a call with ``n`` > 1 is
    one chat request with ``n=n``, its samples read from every choice of the raw OpenAI-style
    response (``raw.choices``), so the prompt is billed once. How the k samples are drawn (the
    choices a server did not return, a request refused with HTTP 400) is the core's
    :func:`~automix_core.verify.draw`. With ``usage_scope="first_choice"`` (llama.cpp and other servers
    that count the first choice's tokens only) a request with ``n`` also asks for per-token logprobs
    (``top_logprobs=1``) and counts each choice's output tokens from them
    (:func:`choice_output_tokens`); without them the output tokens are left to the core's estimate
    (marked ``estimated``), never the undercount. ``"auto"`` asks for the logprobs too and counts from
    them when every choice has them; otherwise it keeps the reported count, unless the response is a
    llama.cpp server's (:func:`counts_first_choice`), whose count is then estimated.

    Inside a ``chat_with_tools`` request of :class:`AutoMixLLM` (its request context's ``state`` is a
    :class:`~automix_llamaindex.utils.ToolRequest`) an answer call is
    the tier's own ``chat_with_tools`` with the request's tools, and its text is what the verifier
    reads: the reply's text and one ``Call tool <name> with arguments <json>`` line per tool call.
    """

    def __init__(
        self, llm: LLM, name: str | None = None, *, sampling_kwargs: bool = True,
        on_response: ResponseHook | None = None, native_n: bool = False,
        purpose: Literal["answer", "verify"] = "answer", usage_scope: UsageScope | Literal["auto"] = "all_choices",
    ) -> None:
        self.llm = llm
        self._name = name
        self.sampling_kwargs = sampling_kwargs
        self.on_response = on_response
        self.supports_n = native_n
        self.supports_logprobs = supports_logprobs(llm, sampling_kwargs) if purpose == "verify" else None
        """See :func:`supports_logprobs` (None for answering models, never asked for logprobs)."""
        self.purpose = purpose
        self.usage_scope: UsageScope | Literal["auto"] = usage_scope
        self._window: object = _UNREAD
        self._last: list[tuple[Sequence[Message], list[ChatMessage]]] = []  # see TurnCache.convert_once

    @property
    def name(self) -> str:
        """``name``, else the LLM's ``metadata.model_name`` (read once: it keys the ledger)."""
        if self._name is None:
            self._name = self.llm.metadata.model_name
        return self._name

    @property
    def context_window(self) -> int | None:
        """The LLM's ``metadata.context_window``, read once like :attr:`name` (LLMs build their
        metadata anew on each read)."""
        if self._window is _UNREAD:
            self._window = self.llm.metadata.context_window
        return cast("int | None", self._window)

    def __repr__(self) -> str:
        return f"LlamaIndexChatModel({type(self.llm).__name__}, name={self.name!r}, purpose={self.purpose!r})"

    def _tools(self, request: RequestContext | None) -> ToolRequest | None:
        """The tool request an answer call belongs to, if any."""
        state = request.state if request is not None and self.purpose == "answer" else None
        return state if isinstance(state, ToolRequest) else None

    def _prepare(
        self, messages: Sequence[Message], n: int, temperature: float, max_tokens: int | None,
        stop: Sequence[str] | None, logprobs: int | None, request: RequestContext | None,
    ) -> tuple[Any, str, tuple[Any, ...], dict[str, Any], list[ChatMessage]]:
        """(LLM, method, args, kwargs, messages) of one call: ``chat``, or ``chat_with_tools`` for an answer
        call of a tool request; the async path calls the ``a``-prefixed method."""
        if n < 1 or (n > 1 and not self.supports_n):
            raise ModelError(f"{self.name}: n={n} asked of a model that draws one sample per request",
                             model=self.name, retryable=False)
        kwargs: dict[str, Any] = {"n": n} if n > 1 else {}
        if self.sampling_kwargs:
            kwargs["temperature"] = temperature
            if max_tokens is not None:
                kwargs["max_tokens"] = max_tokens
            if stop:
                kwargs["stop"] = list(stop)
            if logprobs:
                kwargs["logprobs"] = True
                kwargs["top_logprobs"] = logprobs
            elif n > 1 and self.usage_scope != "all_choices":
                kwargs["logprobs"] = True  # per-token entries let us count each choice's tokens
                kwargs["top_logprobs"] = 1
        if self.purpose == "answer":
            msgs = answer_messages(messages, request.messages if request is not None else None)
        else:
            msgs = _TURNS.convert_once(messages, self._last)
        tools = self._tools(request)
        if tools is None:
            return self.llm, "chat", (msgs,), kwargs, msgs
        return self._with_tools(self.llm), "chat_with_tools", (tools.tools,), {
            "chat_history": msgs, **kwargs, **tools.kwargs}, msgs

    def _generation(self, msgs: list[ChatMessage], response: ChatResponse, n: int,
                    request: RequestContext | None) -> Generation:
        if self.on_response is not None:
            self.on_response(self.llm, msgs, response)
        tools = self._tools(request)
        if tools is not None:
            tools.responses[id(self)] = response
            texts = [tool_calls_text(self.llm, response)]
        else:
            texts = choice_texts(response)[:n] if n > 1 else [response.message.content or ""]
        inp, out = reported_usage(response)
        if n > 1 and self.usage_scope != "all_choices" and len(choice_texts(response)) > 1:
            counted = choice_output_tokens(response)
            if counted is not None or self.usage_scope == "first_choice" or counts_first_choice(response):
                out = counted  # the server counted choice 0 only: every choice's tokens, else an estimate
        first = _response_logprobs(response) if n == 1 else None
        lp = None if first is None else [first]
        return Generation(texts=texts, model=self.name, input_tokens=inp, output_tokens=out, token_logprobs=lp,
                          raw=response)

    def _with_tools(self, llm: LLM) -> FunctionCallingLLM:
        if not isinstance(llm, FunctionCallingLLM):
            raise ModelError(f"{self.name}: a tool request for an LLM without tool calling "
                             f"({type(llm).__name__} is not a FunctionCallingLLM)", model=self.name, retryable=False)
        return llm

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Exceptions of the LLM as :class:`ModelError` (scrubbed of its keys, retryable when transient)."""
        try:
            yield
        except Exception as err:
            raise model_error(self.name, err, secret_values(self.llm), model=self.name) from err

    def generate(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0, max_tokens: int | None = None,
        stop: Sequence[str] | None = None, logprobs: int | None = None, request: RequestContext | None = None,
    ) -> Generation:
        llm, method, args, kw, msgs = self._prepare(messages, n, temperature, max_tokens, stop, logprobs, request)
        with self._errors():
            response = getattr(llm, method)(*args, **kw)
        return self._generation(msgs, response, n, request)

    async def agenerate(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0, max_tokens: int | None = None,
        stop: Sequence[str] | None = None, logprobs: int | None = None, request: RequestContext | None = None,
    ) -> Generation:
        llm, method, args, kw, msgs = self._prepare(messages, n, temperature, max_tokens, stop, logprobs, request)
        with self._errors():
            response = await getattr(llm, "a" + method)(*args, **kw)
        return self._generation(msgs, response, n, request)
