"""The framework-free model interface the engine calls.

Adapters (LangChain, LlamaIndex, an OpenAI-compatible HTTP server) implement :class:`ChatModel`.
The engine only ever sees :class:`Generation` objects: the texts, the usage the provider reported,
and the model name; :func:`checked_generation` rejects malformed ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

from .errors import ModelError

__all__ = ["CallKind", "ChatModel", "Generation", "Message", "ModelError", "RequestContext", "Role",
           "checked_generation", "request_kwargs"]

Role = Literal["system", "user", "assistant"]

CallKind = Literal["answer", "verify", "utility"]
"""Which call of a request a model is asked for: a tier's answer in the cascade, a verification
sample, or a utility call (one tier asked alone, ``AutoMix.run(tier=...)``: not cascaded, not verified)."""


class Message(TypedDict):
    """One chat message: ``{"role": "user", "content": "..."}``."""

    role: Role
    content: str


@dataclass
class Generation:
    """What one model call returned.

    ``texts`` holds one string per sample (``n`` of them). ``input_tokens``/``output_tokens`` are the
    usage the provider reported; when the provider reported none they are ``None`` and the ledger
    estimates them with tiktoken. ``token_logprobs`` holds, per sample, a list of
    ``{token: logprob}`` dicts of the top alternatives at each generated position, when logprobs
    were asked for and the backend supports them. ``requests`` is how many provider requests the
    call took: 1 for one request with ``n`` samples, ``n`` when a backend without ``n`` drew each
    sample by its own request behind one call (each request then carries the prompt).
    ``cached_input_tokens`` is the part of ``input_tokens`` the provider served from its prompt cache
    (OpenAI's ``prompt_tokens_details.cached_tokens``, Anthropic's cache reads, llama.cpp's
    ``timings.cache_n``), None when not reported.
    """

    texts: list[str]
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    token_logprobs: list[list[dict[str, float]]] | None = None
    raw: object = None
    requests: int = 1
    cached_input_tokens: int | None = None

    @property
    def usage_reported(self) -> bool:
        return self.input_tokens is not None and self.output_tokens is not None


@dataclass(frozen=True)
class RequestContext:
    """What an adapter knows about one request, handed to the engine (``AutoMix.run(request=...)``)
    and passed on, with the kind of call, to every model call the request makes
    (``generate(..., request=...)``). The engine never reads it but ``hook`` (and ``params["max_tokens"]``,
    the size of an answer in its budget estimates); it lets an adapter build its engine and tiers once
    and still answer each request from the caller's own input (with ``run(ledger=..., budget=...)`` for
    a request's own ledger and caps).

    * ``messages``: the caller's input as the framework gave it (LangChain messages or a chain's
      input, LlamaIndex ``ChatMessage`` objects, an OpenAI request's raw messages);
    * ``params``: extra call parameters for the answering calls (``temperature``, ``stop``, a
      framework's keyword arguments);
    * ``tools``: the tools of a tool-calling request (empty: none), and ``tool_options`` theirs;
    * ``kind``: the call (:data:`CallKind`), set by the engine on each call;
    * ``state``: anything else the adapter keeps for this request (its callbacks, the replies it
      must return): one object per request, owned and read by the adapter only;
    * ``hook``: called with every hook event of this request after the engine's own hooks (an
      adapter's progress reporting); like any hook, one that raises never breaks the request.
    """

    messages: Any = None
    params: Mapping[str, Any] = field(default_factory=dict)
    tools: Sequence[Any] = ()
    tool_options: Mapping[str, Any] = field(default_factory=dict)
    kind: CallKind = "answer"
    state: Any = None
    hook: Callable[[Any, dict[str, Any]], None] | None = None

    def of_kind(self, kind: CallKind) -> RequestContext:
        """This request for a call of ``kind`` (itself when it already is)."""
        return self if kind == self.kind else replace(self, kind=kind)


def request_kwargs(request: RequestContext | None) -> dict[str, Any]:
    """The keyword arguments that hand ``request`` to a model call: none without one, so a
    :class:`ChatModel` written before :class:`RequestContext` existed keeps working for callers that
    pass no request."""
    return {} if request is None else {"request": request}


@runtime_checkable
class ChatModel(Protocol):
    """A chat model the engine can call, synchronously and asynchronously.

    ``supports_n`` says whether one request may return several samples (``n > 1``); when it is
    False the engine makes ``n`` requests instead. ``context_window`` (tokens) is used to truncate
    verification prompts; ``None`` means unknown.

    A model given to an engine that is run with a :class:`RequestContext` (an adapter's own models)
    also takes a keyword argument ``request``: the context of the request the call belongs to, with
    its ``kind``. The engine passes it only when it was given one (:func:`request_kwargs`), so a
    backend that never reads it (``OpenAICompatibleModel``, ``ScriptedModel``) leaves it out.
    """

    @property
    def name(self) -> str: ...

    @property
    def supports_n(self) -> bool: ...

    @property
    def context_window(self) -> int | None: ...

    def generate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                 max_tokens: int | None = None, stop: Sequence[str] | None = None,
                 logprobs: int | None = None) -> Generation: ...

    async def agenerate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                        max_tokens: int | None = None, stop: Sequence[str] | None = None,
                        logprobs: int | None = None) -> Generation: ...


def checked_generation(gen: object, name: str) -> Generation:
    """``gen`` if it is a well-formed :class:`Generation`, else a retryable :class:`ModelError`.

    Well-formed: at least one text (a response without choices is malformed), every text a string,
    and token counts either unreported (None) or non-negative integers.
    """
    if not isinstance(gen, Generation):
        raise ModelError(f"{name}: malformed response: expected a Generation, got {type(gen).__name__}", model=name)
    if not isinstance(gen.texts, list) or not gen.texts:
        raise ModelError(f"{name}: malformed response: no choices", model=name)
    if not all(isinstance(text, str) for text in gen.texts):
        raise ModelError(f"{name}: malformed response: a choice is not text", model=name)
    for field_name in ("input_tokens", "output_tokens"):
        value = getattr(gen, field_name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ModelError(f"{name}: malformed response: {field_name} is {value!r}", model=name)
    return gen

