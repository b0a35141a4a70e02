"""The framework-free model interface the engine calls, and a scripted model for tests.

Adapters (LangChain, LlamaIndex, an OpenAI-compatible HTTP server) implement :class:`ChatModel`.
The engine only ever sees :class:`Generation` objects: the texts, the usage the provider reported,
and the model name.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypedDict, TypeVar, runtime_checkable

__all__ = [
    "ChatModel",
    "Generation",
    "Message",
    "ModelError",
    "ScriptedModel",
    "ScriptedReply",
    "TurnCache",
    "rejected_request",
]

Role = Literal["system", "user", "assistant"]


class Message(TypedDict):
    """One chat message: ``{"role": "user", "content": "..."}``."""

    role: Role
    content: str


def rejected_request(error: BaseException) -> bool:
    """Whether ``error`` is a provider's HTTP 400 (for example a model that does not take ``n``):
    the request itself was refused, so sending it again unchanged cannot help."""
    return getattr(error, "status_code", None) == 400


class ModelError(RuntimeError):
    """A model call failed (timeout, rate limit, server error, malformed response)."""

    def __init__(self, message: str, *, model: str = "", retryable: bool = True) -> None:
        super().__init__(message)
        self.model = model
        self.retryable = retryable


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
    """

    texts: list[str]
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    token_logprobs: list[list[dict[str, float]]] | None = None
    raw: object = None
    requests: int = 1

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

    def generate(
        self,
        messages: Sequence[Message],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        logprobs: int | None = None,
    ) -> Generation: ...

    async def agenerate(
        self,
        messages: Sequence[Message],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        logprobs: int | None = None,
    ) -> Generation: ...


ScriptedReply = str | Exception | Callable[[Sequence[Message]], str]


@dataclass
class ScriptedModel:
    """An in-memory :class:`ChatModel` that replays scripted replies, for tests and examples.

    ``replies`` is consumed in order, one entry per sample; an entry may be a string, an exception
    to raise, or a function of the messages. When the script runs out, ``default`` is used (an
    error if ``default`` is None). Every call is recorded in ``calls``. Usage is reported as
    whitespace-token counts unless ``report_usage`` is False.
    """

    model_name: str
    replies: list[ScriptedReply] = field(default_factory=list)
    default: ScriptedReply | None = None
    n_supported: bool = True
    window: int | None = 4096
    report_usage: bool = True
    delay: float = 0.0
    logprob_correct: float | None = None
    calls: list[dict[str, object]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.model_name

    @property
    def supports_n(self) -> bool:
        return self.n_supported

    @property
    def context_window(self) -> int | None:
        return self.window

    def _next(self, messages: Sequence[Message]) -> str:
        with self._lock:
            reply = self.replies.pop(0) if self.replies else self.default
        if reply is None:
            raise ModelError(f"scripted model {self.model_name!r} has no reply left", model=self.model_name)
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return reply(messages)
        return reply

    def generate(
        self,
        messages: Sequence[Message],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int | None = None,
        stop: Sequence[str] | None = None,
        logprobs: int | None = None,
        _in_async: bool = False,
    ) -> Generation:
        if n > 1 and not self.n_supported:
            raise ModelError(f"{self.model_name} does not support n > 1", model=self.model_name, retryable=False)
        with self._lock:
            self.calls.append(
                {"messages": list(messages), "n": n, "temperature": temperature, "max_tokens": max_tokens,
                 "stop": list(stop) if stop else None, "logprobs": logprobs}
            )
        if self.delay and not _in_async:
            import time

            time.sleep(self.delay)
        texts = [self._next(messages) for _ in range(n)]
        prompt_tokens = sum(len(m["content"].split()) for m in messages)
        lp: list[list[dict[str, float]]] | None = None
        if logprobs and self.logprob_correct is not None:
            import math

            p = min(max(self.logprob_correct, 1e-9), 1 - 1e-9)
            lp = [[{" correct": math.log(p), " incorrect": math.log(1 - p)}] for _ in texts]
        return Generation(
            texts=texts,
            model=self.model_name,
            input_tokens=prompt_tokens * (1 if self.n_supported else n) if self.report_usage else None,
            output_tokens=sum(len(t.split()) for t in texts) if self.report_usage else None,
            token_logprobs=lp,
        )

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
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.generate(
            messages, n=n, temperature=temperature, max_tokens=max_tokens, stop=stop, logprobs=logprobs,
            _in_async=True,
        )


M = TypeVar("M")


class TurnCache(Generic[M]):
    """Framework message objects for prompt turns whose text repeats on every call.

    The verification prompt's turns before the case at hand (its instructions and few-shot examples)
    are the same text each time: an adapter converts each once with ``build(role, content)`` and
    reuses the object, which keeps thousands of short-lived objects per second away from the garbage
    collector under load. Before reuse, ``intact(message, role, content)`` must confirm the object
    still holds that text, so one that a model changed in place is rebuilt rather than passed on.
    :meth:`convert` reuses every turn of a prompt but the last (the case at hand, always built
    fresh). Texts longer than ``max_len`` are always built fresh; the cache holds at most
    ``max_items`` turns and starts over when full.
    """

    def __init__(
        self, build: Callable[[str, str], M], intact: Callable[[M, str, str], bool], *,
        max_items: int = 256, max_len: int = 8192,
    ) -> None:
        self._build = build
        self._intact = intact
        self._items: dict[tuple[str, str], M] = {}
        self.max_items = max_items
        self.max_len = max_len

    def convert(self, messages: Sequence[Message]) -> list[M]:
        """A whole prompt: every turn but the last reused, the last built fresh."""
        out = [self._reused(m["role"], m["content"]) for m in messages[:-1]]
        if messages:
            last = messages[-1]
            out.append(self._build(last["role"], last["content"]))
        return out

    def _reused(self, role: str, content: str) -> M:
        if len(content) > self.max_len:
            return self._build(role, content)
        key = (role, content)
        hit = self._items.get(key)
        if hit is not None and self._intact(hit, role, content):
            return hit
        made = self._build(role, content)
        if len(self._items) >= self.max_items:
            self._items.clear()
        self._items[key] = made
        return made
