"""The server's tiers: the core's OpenAI client, and one request's view of it.

Each configured tier is one :class:`~automix_core.OpenAICompatibleModel` (the core's wire layer and its
async, cancellable httpx transport), shared by every request; it is the tier's verifying model as it
is. The answering call of a request must send the caller's own messages and fields (tools, content
parts, ``response_format``) and give back the answer's raw message (tool calls, refusal): that is
:class:`RouteAnswerer`, built once per route tier over the shared client, which reads each request's
:class:`~automix_core.RequestContext` (:func:`request_context`). Cached prompt tokens come back in the
core's usage (``Usage.cached_input_tokens``), not through a side channel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from automix_core import ConfigError, Generation, Message, OpenAICompatibleModel, RequestContext

from .config import TierConfig

__all__ = ["RouteAnswerer", "RouteVerifier", "first_choice", "request_context", "upstream_model"]


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


class _OverClient:
    """A model of a route's engine over the tier's shared client: its name, ``n`` and context window."""

    upstream: OpenAICompatibleModel

    @property
    def name(self) -> str:
        return self.upstream.name

    @property
    def supports_n(self) -> bool:
        return self.upstream.supports_n

    @property
    def context_window(self) -> int | None:
        return self.upstream.context_window


class RouteAnswerer(_OverClient):
    """Tier ``index``'s answering model on a route, built once with the route's engine. Each call reads its
    request's :class:`~automix_core.RequestContext` (:func:`request_context`): the caller's raw messages and
    pass-through fields go to the shared client, the request's ``temperature``/``max_tokens`` (its
    ``params``) replace the engine's, and the answer's raw choice is kept in the request's ``state`` (a dict
    by tier index). Without a context it sends the engine's messages as they are."""

    def __init__(self, upstream: OpenAICompatibleModel, index: int) -> None:
        self.upstream = upstream
        self.index = index

    def _call(self, messages: Sequence[Message], temperature: float, max_tokens: int | None,
              request: RequestContext | None) -> tuple[Sequence[Mapping[str, Any]], float, int | None, dict[str, Any]]:
        """(messages, temperature, max_tokens, extra fields) of one answer call of ``request``."""
        if request is None or request.messages is None:
            return messages, temperature, max_tokens, {}
        extra = dict(request.params)
        return request.messages, extra.pop("temperature", temperature), extra.pop("max_tokens", max_tokens), extra

    def _keep(self, gen: Generation, request: RequestContext | None) -> Generation:
        if request is not None and isinstance(request.state, dict):
            request.state[self.index] = first_choice(gen.raw)
        return gen

    def generate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                 max_tokens: int | None = None, stop: Sequence[str] | None = None,
                 logprobs: int | None = None, request: RequestContext | None = None) -> Generation:
        raw, temperature, max_tokens, extra = self._call(messages, temperature, max_tokens, request)
        return self._keep(self.upstream.complete(raw, n=n, temperature=temperature, max_tokens=max_tokens,
                                                 stop=stop, logprobs=logprobs, extra=extra), request)

    async def agenerate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                        max_tokens: int | None = None, stop: Sequence[str] | None = None,
                        logprobs: int | None = None, request: RequestContext | None = None) -> Generation:
        raw, temperature, max_tokens, extra = self._call(messages, temperature, max_tokens, request)
        return self._keep(await self.upstream.acomplete(raw, n=n, temperature=temperature, max_tokens=max_tokens,
                                                        stop=stop, logprobs=logprobs, extra=extra), request)


class RouteVerifier(_OverClient):
    """A tier's verifying model on a route, built once with the route's engine: the shared client as it is
    (the verification prompt, not the caller's messages), taking and leaving aside the request's context
    the engine hands every call of a request. Anything else is the client's (``max_n``, ``usage_scope``)."""

    def __init__(self, upstream: OpenAICompatibleModel) -> None:
        self.upstream = upstream

    def __getattr__(self, name: str) -> Any:  # only for what is not defined here
        if name == "upstream":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.upstream, name)

    def generate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                 max_tokens: int | None = None, stop: Sequence[str] | None = None,
                 logprobs: int | None = None, request: RequestContext | None = None) -> Generation:
        return self.upstream.generate(messages, n=n, temperature=temperature, max_tokens=max_tokens, stop=stop,
                                      logprobs=logprobs)

    async def agenerate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                        max_tokens: int | None = None, stop: Sequence[str] | None = None,
                        logprobs: int | None = None, request: RequestContext | None = None) -> Generation:
        return await self.upstream.agenerate(messages, n=n, temperature=temperature, max_tokens=max_tokens,
                                             stop=stop, logprobs=logprobs)


def request_context(raw_messages: Sequence[Mapping[str, Any]], extra: Mapping[str, Any], temperature: float | None,
                    max_tokens: int | None, answers: dict[int, dict[str, Any]]) -> RequestContext:
    """One request's context for its route's engine: the caller's raw messages, its pass-through fields with
    its ``temperature`` and ``max_tokens`` (when given) as the answering calls' ``params``, and ``answers``
    (each tier's raw choice, filled by :class:`RouteAnswerer`) as its ``state``."""
    params = dict(extra)
    if temperature is not None:
        params["temperature"] = temperature
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    return RequestContext(messages=raw_messages, params=params, state=answers)
