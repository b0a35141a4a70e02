"""Upstream tiers: an async OpenAI-compatible client (httpx) that implements the core's ``ChatModel``.

The server needs more than the core's stdlib client: cancellable calls (a client that disconnects
cancels the upstream requests in flight), the caller's raw messages and parameters passed through to
the answering call (tools, content parts, ``response_format``), and the answer's raw message and
cached prompt tokens read back. Per request, :class:`RequestAnswerer` and :class:`RequestVerifier`
wrap the shared :class:`UpstreamModel` and record what the response needs into a
:class:`RequestCollector`.

Error mapping matches the core's client: HTTP 408/409/425/429/5xx, timeouts and connection errors
are retryable :class:`~automix_core.ModelError`; other 4xx and bodies that are not a chat completion
are not. The API key is sent only in the ``Authorization`` header and scrubbed from every message.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from automix_core import Generation, Message, ModelError
from automix_core.backends.wire import UsageScope, output_tokens
from automix_core.integration import scrub_secrets

from .schema import render_tool_calls

__all__ = ["RequestAnswerer", "RequestCollector", "RequestVerifier", "UpstreamModel", "UpstreamTimeout"]

_RETRYABLE = frozenset({408, 409, 425, 429})


class UpstreamTimeout(ModelError):
    """An upstream call timed out."""


@dataclass
class _Reply:
    payload: dict[str, Any]
    generation: Generation


class UpstreamModel:
    """One OpenAI-compatible model behind ``base_url`` (e.g. ``https://api.openai.com/v1``).

    ``usage_scope="first_choice"`` is llama.cpp's semantics (``completion_tokens`` counts only the first
    of ``n`` choices): each choice's tokens are then counted from per-token logprobs, as in the core.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        supports_n: bool = True,
        max_n: int | None = None,
        context_window: int | None = None,
        usage_scope: UsageScope = "all_choices",
        extra_body: dict[str, Any] | None = None,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._name = name
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key or None
        self.timeout = timeout
        self._supports_n = supports_n
        self.max_n = max_n
        self._context_window = context_window
        self.usage_scope = usage_scope
        self.extra_body = dict(extra_body or {})
        self._own_client = client is None
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout), limits=limits, trust_env=False,
                                                 transport=transport)

    # -- ChatModel ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def supports_n(self) -> bool:
        return self._supports_n

    @property
    def context_window(self) -> int | None:
        return self._context_window

    def __repr__(self) -> str:
        return f"UpstreamModel(name={self._name!r}, base_url={self.base_url!r}, model={self.model!r}, api_key=***)"

    def generate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                 max_tokens: int | None = None, stop: Sequence[str] | None = None,
                 logprobs: int | None = None) -> Generation:
        raise ModelError(f"{self._name}: the server calls upstreams asynchronously only", model=self._name,
                         retryable=False)

    async def agenerate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                        max_tokens: int | None = None, stop: Sequence[str] | None = None,
                        logprobs: int | None = None) -> Generation:
        return (await self.call([dict(m) for m in messages], n=n, temperature=temperature, max_tokens=max_tokens,
                                stop=stop, logprobs=logprobs)).generation

    # -- the HTTP call --------------------------------------------------------------------------

    async def call(self, messages: list[dict[str, Any]], *, n: int = 1, temperature: float | None = 0.0,
                   max_tokens: int | None = None, stop: Sequence[str] | str | None = None,
                   logprobs: int | None = None, extra: dict[str, Any] | None = None) -> _Reply:
        chunk = 1 if not self._supports_n else (self.max_n or n)
        if n <= chunk:
            return await self._one(messages, n, temperature, max_tokens, stop, logprobs, extra)
        parts = []
        for i in range(0, n, chunk):
            parts.append(await self._one(messages, min(chunk, n - i), temperature, max_tokens, stop, logprobs, extra))
        texts = [t for p in parts for t in p.generation.texts]
        ins = [p.generation.input_tokens for p in parts]
        outs = [p.generation.output_tokens for p in parts]
        lps = [p.generation.token_logprobs for p in parts]
        gen = Generation(texts=texts, model=self._name,
                         input_tokens=None if any(x is None for x in ins) else sum(x or 0 for x in ins),
                         output_tokens=None if any(x is None for x in outs) else sum(x or 0 for x in outs),
                         token_logprobs=None if any(x is None for x in lps) else [s for x in lps for s in (x or [])],
                         raw=[p.payload for p in parts])
        merged = {"choices": [c for p in parts for c in p.payload.get("choices", [])],
                  "usage": {"prompt_tokens_details": {"cached_tokens": sum(cached_tokens(p.payload) or 0
                                                                             for p in parts)}}}
        return _Reply(merged, gen)

    def body(self, messages: list[dict[str, Any]], n: int, temperature: float | None, max_tokens: int | None,
             stop: Sequence[str] | str | None, logprobs: int | None, extra: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if temperature is not None:
            body["temperature"] = temperature
        if n != 1 or self._supports_n:
            body["n"] = n
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if stop:
            body["stop"] = stop if isinstance(stop, str) else list(stop)
        top = logprobs
        if self.usage_scope == "first_choice" and n > 1 and not top:
            top = 1
        if top:
            body["logprobs"] = True
            body["top_logprobs"] = top
        if extra:
            body.update(extra)
        body.update(self.extra_body)
        return body

    async def _one(self, messages: list[dict[str, Any]], n: int, temperature: float | None, max_tokens: int | None,
                   stop: Sequence[str] | str | None, logprobs: int | None, extra: dict[str, Any] | None) -> _Reply:
        body = self.body(messages, n, temperature, max_tokens, stop, logprobs, extra)
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        url = f"{self.base_url}/chat/completions"
        where = f"{self._name} at {url}"
        try:  # httpx's timeout is per socket operation; the whole call is bounded too
            resp = await asyncio.wait_for(self.client.post(url, content=json.dumps(body).encode(), headers=headers,
                                                           timeout=self.timeout), self.timeout)
        except asyncio.TimeoutError:
            raise UpstreamTimeout(f"{where}: no reply within {self.timeout:g}s", model=self._name) from None
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(self._scrub(f"{where}: timed out after {self.timeout:g}s ({type(exc).__name__})"),
                                  model=self._name) from None
        except httpx.HTTPError as exc:
            raise ModelError(self._scrub(f"{where}: connection error: {type(exc).__name__}: {exc}"),
                             model=self._name) from None
        if resp.status_code >= 400:
            detail = _error_detail(resp.content[:65536])
            msg = f"{where}: HTTP {resp.status_code}" + (f": {detail}" if detail else "")
            err = ModelError(self._scrub(msg), model=self._name,
                             retryable=resp.status_code in _RETRYABLE or resp.status_code >= 500)
            err.status_code = resp.status_code
            raise err
        try:
            payload = json.loads(resp.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(self._scrub(f"{where}: response is not valid JSON ({exc})"), model=self._name) from None
        if not isinstance(payload, dict):
            raise ModelError(f"{where}: malformed response: not a JSON object", model=self._name, retryable=False)
        return _Reply(payload, self._parse(payload, where, n))

    def _parse(self, payload: dict[str, Any], where: str, n: int) -> Generation:
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not all(isinstance(c, dict) for c in choices):
            raise ModelError(self._scrub(f"{where}: malformed response: no 'choices'"), model=self._name,
                             retryable=True)
        texts: list[str] = []
        lps: list[list[dict[str, float]] | None] = []
        for c in sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c.get("index"), int) else 0):
            msg = c.get("message")
            if not isinstance(msg, dict):
                raise ModelError(f"{where}: malformed response: a choice has no 'message'", model=self._name)
            content = msg.get("content")
            text = content if isinstance(content, str) else ""
            calls = msg.get("tool_calls")
            if not text.strip() and isinstance(calls, list) and calls:
                text = render_tool_calls([x for x in calls if isinstance(x, dict)])
            texts.append(text)
            lps.append(_logprobs(c.get("logprobs")))
        usage = payload.get("usage")
        inp = _count(usage.get("prompt_tokens")) if isinstance(usage, dict) else None
        out = output_tokens(_count(usage.get("completion_tokens")) if isinstance(usage, dict) else None, lps,
                            self.usage_scope)  # llama.cpp counts choice 0 only (the core's rule)
        token_lps = [lp or [] for lp in lps] if any(lp is not None for lp in lps) else None
        return Generation(texts=texts, model=self._name, input_tokens=inp, output_tokens=out,
                          token_logprobs=token_lps, raw=payload)

    def _scrub(self, text: str) -> str:
        return scrub_secrets(text, [self._api_key] if self._api_key else [])

    async def models(self) -> int:
        """GET ``/models`` (readiness probe): the HTTP status; raises ``httpx.HTTPError`` when unreachable."""
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        resp = await self.client.get(f"{self.base_url}/models", headers=headers, timeout=min(self.timeout, 5.0))
        return resp.status_code

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()


def cached_tokens(payload: dict[str, Any]) -> int | None:
    """``usage.prompt_tokens_details.cached_tokens`` of a response, when reported."""
    usage = payload.get("usage")
    details = usage.get("prompt_tokens_details") if isinstance(usage, dict) else None
    return _count(details.get("cached_tokens")) if isinstance(details, dict) else None


def _count(v: object) -> int | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return int(v)


def _logprobs(block: object) -> list[dict[str, float]] | None:
    if not isinstance(block, dict) or not isinstance(block.get("content"), list):
        return None
    out: list[dict[str, float]] = []
    for pos in block["content"]:
        if not isinstance(pos, dict):
            continue
        alts: dict[str, float] = {}
        for alt in pos.get("top_logprobs") or []:
            if isinstance(alt, dict) and isinstance(alt.get("token"), str) and isinstance(alt.get("logprob"),
                                                                                          (int, float)):
                alts[alt["token"]] = max(float(alt["logprob"]), alts.get(alt["token"], -math.inf))
        if isinstance(pos.get("token"), str) and isinstance(pos.get("logprob"), (int, float)):
            alts[pos["token"]] = max(float(pos["logprob"]), alts.get(pos["token"], -math.inf))
        out.append(alts)
    return out


def _error_detail(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw[:300].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            for key in ("message", "detail", "type", "code"):
                if isinstance(err.get(key), str) and err[key]:
                    return str(err[key])[:300]
        if isinstance(err, str):
            return err[:300]
    return json.dumps(data)[:300]


# -- per request ---------------------------------------------------------------------------------


@dataclass
class RequestCollector:
    """What one request's calls returned beyond the engine's view: each tier's raw answer (the choice
    of its last successful answering call) and the cached prompt tokens of every call."""

    answers: dict[int, dict[str, Any]] = field(default_factory=dict)
    cached: int = 0
    cached_known: bool = False
    cached_by: dict[tuple[str, str], int] = field(default_factory=dict)

    def add_cached(self, payload: dict[str, Any], model: str = "", purpose: str = "answer") -> None:
        c = cached_tokens(payload)
        if c is not None:
            self.cached += c
            self.cached_known = True
            self.cached_by[(model, purpose)] = self.cached_by.get((model, purpose), 0) + c


class _OverUpstream:
    """A per-request view of an :class:`UpstreamModel`: its name, ``n`` support and window."""

    upstream: UpstreamModel

    @property
    def name(self) -> str:
        return self.upstream.name

    @property
    def supports_n(self) -> bool:
        return self.upstream.supports_n

    @property
    def context_window(self) -> int | None:
        return self.upstream.context_window

    def generate(self, messages: Sequence[Message], **kwargs: Any) -> Generation:
        return self.upstream.generate(messages, **kwargs)


class RequestAnswerer(_OverUpstream):
    """Tier ``index``'s answering model for one request: sends the caller's raw messages and parameters."""

    def __init__(self, upstream: UpstreamModel, index: int, raw_messages: list[dict[str, Any]],
                 extra: dict[str, Any], collector: RequestCollector) -> None:
        self.upstream = upstream
        self.index = index
        self.raw_messages = raw_messages
        self.extra = extra
        self.collector = collector

    async def agenerate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                        max_tokens: int | None = None, stop: Sequence[str] | None = None,
                        logprobs: int | None = None) -> Generation:
        reply = await self.upstream.call(self.raw_messages, n=n, temperature=temperature, max_tokens=max_tokens,
                                         stop=stop, logprobs=logprobs, extra=self.extra)
        self.collector.add_cached(reply.payload, self.upstream.name, "answer")
        choices = reply.payload.get("choices") or [{}]
        self.collector.answers[self.index] = choices[0] if isinstance(choices[0], dict) else {}
        return reply.generation


class RequestVerifier(_OverUpstream):
    """Tier ``index``'s verifying model for one request: the plain upstream, cached tokens recorded."""

    def __init__(self, upstream: UpstreamModel, collector: RequestCollector) -> None:
        self.upstream = upstream
        self.collector = collector

    async def agenerate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                        max_tokens: int | None = None, stop: Sequence[str] | None = None,
                        logprobs: int | None = None) -> Generation:
        reply = await self.upstream.call([dict(m) for m in messages], n=n, temperature=temperature,
                                         max_tokens=max_tokens, stop=stop, logprobs=logprobs)
        self.collector.add_cached(reply.payload, self.upstream.name, "verify")
        return reply.generation
