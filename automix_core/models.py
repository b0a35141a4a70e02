"""The framework-free model interface the engine calls.

Adapters (LangChain, LlamaIndex, an OpenAI-compatible HTTP server) implement :class:`ChatModel`.
The engine only ever sees :class:`Generation` objects: the texts, the usage the provider reported,
and the model name; :func:`checked_generation` rejects malformed ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypedDict, runtime_checkable

from .errors import ModelError

__all__ = ["ChatModel", "Generation", "Message", "ModelError", "Role", "checked_generation"]

Role = Literal["system", "user", "assistant"]


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


@runtime_checkable
class ChatModel(Protocol):
    """A chat model the engine can call, synchronously and asynchronously.

    ``supports_n`` says whether one request may return several samples (``n > 1``); when it is
    False the engine makes ``n`` requests instead. ``context_window`` (tokens) is used to truncate
    verification prompts; ``None`` means unknown.
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

