"""The server's tiers: the core's OpenAI client, and one request's view of it.

Each configured tier is one :class:`~automix_core.OpenAICompatibleModel` (the core's wire layer and its
async, cancellable httpx transport), shared by every request; it is the tier's verifying model as it
is. The answering call of a request must send the caller's own messages and fields (tools, content
parts, ``response_format``) and give back the answer's raw message (tool calls, refusal): that is
:class:`RequestAnswerer`, a thin per-request view over the shared client. Cached prompt tokens come
back in the core's usage (``Usage.cached_input_tokens``), not through a side channel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from automix_core import ConfigError, Generation, Message, OpenAICompatibleModel

from .config import TierConfig

__all__ = ["RequestAnswerer", "first_choice", "upstream_model"]


def upstream_model(tc: TierConfig, where: str, secrets: list[str],
                   transport: httpx.AsyncBaseTransport | None = None) -> OpenAICompatibleModel:
    """The core client of tier ``tc`` (its API key read from ``api_key_env`` and added to ``secrets``)."""
    key: str | None = None
    if tc.api_key_env is not None:
        key = os.environ.get(tc.api_key_env)
        if not key:
            raise ConfigError(f"{where}.api_key_env: environment variable {tc.api_key_env} is not set")
        secrets.append(key)
    try:
        model = OpenAICompatibleModel(tc.base_url, tc.model, api_key=key, timeout=tc.timeout, name=tc.name,
                                      supports_n=tc.supports_n, max_n=tc.max_n, context_window=tc.context_window,
                                      usage_scope=tc.usage_scope, extra_body=tc.extra_body, transport=transport)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    # The server's tiers say nothing of logprobs, as before they were the core's client: a route's verification
    # is its router's recorded method or its cascade settings (``verify_mode``), else sampling; an upstream
    # never asked for logprobs by default is never charged a probe for them.
    del model.supports_logprobs
    return model


def first_choice(raw: Any) -> dict[str, Any]:
    """The first choice (by index) of a reply body kept in ``Generation.raw`` (a list when ``n`` was split)."""
    body = raw[0] if isinstance(raw, list) and raw else raw
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list):
        return {}
    ordered = sorted((c for c in choices if isinstance(c, dict)),
                     key=lambda c: c["index"] if isinstance(c.get("index"), int) else 0)
    return ordered[0] if ordered else {}


class RequestAnswerer:
    """Tier ``index``'s answering model for one request: the caller's raw messages and fields go to the
    shared client; the answer's raw choice is kept in ``answers[index]``."""

    def __init__(self, upstream: OpenAICompatibleModel, index: int, raw_messages: Sequence[Mapping[str, Any]],
                 extra: Mapping[str, Any], answers: dict[int, dict[str, Any]]) -> None:
        self.upstream = upstream
        self.index = index
        self.raw_messages = raw_messages
        self.extra = extra
        self.answers = answers

    @property
    def name(self) -> str:
        return self.upstream.name

    @property
    def supports_n(self) -> bool:
        return self.upstream.supports_n

    @property
    def context_window(self) -> int | None:
        return self.upstream.context_window

    def generate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                 max_tokens: int | None = None, stop: Sequence[str] | None = None,
                 logprobs: int | None = None) -> Generation:
        gen = self.upstream.complete(self.raw_messages, n=n, temperature=temperature, max_tokens=max_tokens,
                                     stop=stop, logprobs=logprobs, extra=self.extra)
        self.answers[self.index] = first_choice(gen.raw)
        return gen

    async def agenerate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                        max_tokens: int | None = None, stop: Sequence[str] | None = None,
                        logprobs: int | None = None) -> Generation:
        gen = await self.upstream.acomplete(self.raw_messages, n=n, temperature=temperature, max_tokens=max_tokens,
                                            stop=stop, logprobs=logprobs, extra=self.extra)
        self.answers[self.index] = first_choice(gen.raw)
        return gen
