"""A :class:`~automix_core.models.ChatModel` for any OpenAI-compatible ``/v1/chat/completions`` server.

Works against OpenAI itself, vLLM, llama.cpp's ``llama-server`` (and xllamacpp's embedded copy of it,
see :mod:`automix_core.backends.local`), Ollama's OpenAI endpoint, LM Studio, and similar servers.
What goes over the wire is :mod:`.wire` (no I/O); ``generate`` sends it with the blocking stdlib
transport, ``agenerate`` with the async, cancellable one (httpx, when installed; else the blocking
one in a worker thread). See :mod:`.wire` for which failures are retryable.

The API key is only ever sent in the ``Authorization`` header: it is not part of ``repr()``, and it
is scrubbed from every error message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..models import Generation, Message
from .transport import AsyncTransport, has_httpx, post_json
from .wire import CallSite, UsageScope, build_body, chunk_sizes, merge_generations, parse_completion

if TYPE_CHECKING:
    import httpx

__all__ = ["OpenAICompatibleModel", "UsageScope"]


class OpenAICompatibleModel:
    """Calls ``POST {base_url}/chat/completions`` of an OpenAI-compatible server.

    Args:
        base_url: the API root including the version prefix, e.g. ``"http://127.0.0.1:8080/v1"``
            or ``"https://api.openai.com/v1"``.
        model: the model name sent in each request (``"model"`` field).
        api_key: sent as ``Authorization: Bearer ...`` when given; never shown in ``repr`` or errors.
        timeout: seconds for connecting and for each socket read of one request.
        supports_n: whether one request may return several samples. When False, ``n`` samples
            are obtained with ``n`` requests whose results (and usage) are merged.
        context_window: the model's context size in tokens, if known (used to truncate prompts).
        extra_body: extra fields merged into every request body (they override the adapter's own
            fields, e.g. ``{"seed": 0}`` or ``{"top_k": 40}``).
        name: the name the engine and the cost ledger see; defaults to ``model``.
        max_n: the largest ``n`` one request may ask for (llama.cpp: its number of slots);
            a larger ``n`` is split over several requests. ``None`` means no limit.
        usage_scope: see :data:`UsageScope`. With ``"first_choice"`` and ``n > 1`` the request
            also asks for ``logprobs`` (top-1 when the caller asked for none) so that every
            choice's generated tokens can be counted exactly; logprobs the caller did not ask
            for are not returned in :attr:`Generation.token_logprobs`.
        headers: extra HTTP headers (e.g. ``{"OpenAI-Organization": "..."}``).
        supports_logprobs: whether the server returns token logprobs (OpenAI and llama.cpp do; some
            OpenAI-compatible servers do not); ``None``: unknown (True for ``https://api.openai.com/``).
            The default verification uses logprobs only when True (see
            :func:`~automix_core.verify.method.resolve_method`).
        transport: an ``httpx.AsyncBaseTransport`` for the async calls instead of the network (tests).

    ``generate`` is thread-safe (each call opens its own connection). :meth:`complete` /
    :meth:`acomplete` send an adapter's own OpenAI messages and request fields (the server passes its
    caller's through); ``Generation.raw`` is the reply's body (a list of bodies when ``n`` was split).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        supports_n: bool = True,
        context_window: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        name: str | None = None,
        max_n: int | None = None,
        usage_scope: UsageScope = "all_choices",
        headers: Mapping[str, str] | None = None,
        supports_logprobs: bool | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if max_n is not None and max_n < 1:
            raise ValueError(f"max_n must be >= 1 or None, got {max_n}")
        if usage_scope not in ("all_choices", "first_choice"):
            raise ValueError(f"usage_scope must be 'all_choices' or 'first_choice', got {usage_scope!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = float(timeout)
        self.extra_body: dict[str, Any] = dict(extra_body or {})
        self.max_n = max_n
        self.usage_scope: UsageScope = usage_scope
        self.headers: dict[str, str] = dict(headers or {})
        self._api_key = api_key or None
        self.supports_n = supports_n
        """Whether one request may return several samples."""
        self.context_window = context_window
        """The context size in tokens, or None when unknown."""
        self.name = name or model
        """The name the engine and the ledger use (``name`` or, by default, ``model``)."""
        self.supports_logprobs = supports_logprobs if supports_logprobs is not None else (
            True if self.base_url.startswith("https://api.openai.com/") else None)
        """Whether the server returns token logprobs (None: unknown; set to False by the verifier once
        the server answers a logprob request without them)."""
        self._async = AsyncTransport(self.timeout, transport) if has_httpx() else None

    # -- ChatModel properties -------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The full chat-completions URL."""
        return f"{self.base_url}/chat/completions"

    def __repr__(self) -> str:
        key = "'***'" if self._api_key else "None"
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r}, api_key={key}, "
            f"timeout={self.timeout}, supports_n={self.supports_n}, context_window={self.context_window}, "
            f"max_n={self.max_n}, usage_scope={self.usage_scope!r})"
        )

    # -- calls ----------------------------------------------------------------------------------

    def generate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                 max_tokens: int | None = None, stop: Sequence[str] | None = None,
                 logprobs: int | None = None) -> Generation:
        """Return ``n`` samples for ``messages`` (one request, or several merged; see the class doc).

        ``logprobs=k`` asks for the top ``k`` alternatives at each generated position, returned in
        :attr:`Generation.token_logprobs` (the sampled token is always included in each dict).
        Raises :class:`~automix_core.models.ModelError` on any failure.
        """
        return self.complete(_plain(messages), n=n, temperature=temperature, max_tokens=max_tokens, stop=stop,
                             logprobs=logprobs)

    async def agenerate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                        max_tokens: int | None = None, stop: Sequence[str] | None = None,
                        logprobs: int | None = None) -> Generation:
        """Async :meth:`generate`. With httpx installed, cancelling the awaiting task cancels the
        request in flight; without it the call runs in a worker thread (``asyncio.to_thread``), which
        finishes a cancelled request (or times out) and discards its result."""
        return await self.acomplete(_plain(messages), n=n, temperature=temperature, max_tokens=max_tokens,
                                    stop=stop, logprobs=logprobs)

    def complete(self, messages: Sequence[Mapping[str, Any]], *, n: int = 1, temperature: float | None = 0.0,
                 max_tokens: int | None = None, stop: Sequence[str] | str | None = None,
                 logprobs: int | None = None, extra: Mapping[str, Any] | None = None) -> Generation:
        """:meth:`generate` for OpenAI messages as they are (content parts, tool calls) and a request's own
        fields (``extra``, e.g. ``tools``); ``temperature=None`` leaves it to the server."""
        bodies = self._bodies(messages, n, temperature, max_tokens, stop, logprobs, extra)
        site = self._site()
        return merge_generations([self._parse(post_json(site, b, self._headers(), self.timeout), site, logprobs)
                                  for b in bodies])

    async def acomplete(self, messages: Sequence[Mapping[str, Any]], *, n: int = 1,
                        temperature: float | None = 0.0, max_tokens: int | None = None,
                        stop: Sequence[str] | str | None = None, logprobs: int | None = None,
                        extra: Mapping[str, Any] | None = None) -> Generation:
        """Async :meth:`complete` (cancellable with httpx; see :meth:`agenerate`)."""
        if self._async is None:
            return await asyncio.to_thread(self.complete, messages, n=n, temperature=temperature,
                                           max_tokens=max_tokens, stop=stop, logprobs=logprobs, extra=extra)
        bodies = self._bodies(messages, n, temperature, max_tokens, stop, logprobs, extra)
        site = self._site()
        parts = []
        for b in bodies:
            parts.append(self._parse(await self._async.post_json(site, b, self._headers()), site, logprobs))
        return merge_generations(parts)

    async def aping(self) -> int:
        """``GET {base_url}/models`` (a readiness probe): its HTTP status. Raises when there is no reply."""
        if self._async is None:
            raise RuntimeError("aping needs httpx (pip install 'automix[server]')")
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        return await self._async.get_status(f"{self.base_url}/models", headers, min(self.timeout, 5.0))

    async def aclose(self) -> None:
        """Close the async transport's connections (the sync transport keeps none)."""
        if self._async is not None:
            await self._async.aclose()

    @property
    def transport(self) -> httpx.AsyncBaseTransport | None:
        """The async calls' replacement of the network, or None (the network)."""
        return self._async.transport if self._async is not None else None

    @transport.setter
    def transport(self, value: httpx.AsyncBaseTransport | None) -> None:
        if self._async is not None:
            self._async = AsyncTransport(self.timeout, value)

    # -- the wire ---------------------------------------------------------------------------------

    def build_body(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                   max_tokens: int | None = None, stop: Sequence[str] | None = None, logprobs: int | None = None,
                   ask_n: bool = True) -> dict[str, Any]:
        """The JSON body of one request for ``n`` samples (exposed for inspection and tests)."""
        return build_body(self.model, _plain(messages), n=n, temperature=temperature, max_tokens=max_tokens,
                          stop=stop, logprobs=logprobs, ask_n=ask_n, usage_scope=self.usage_scope,
                          extra_body=self.extra_body)

    def _bodies(self, messages: Sequence[Mapping[str, Any]], n: int, temperature: float | None,
                max_tokens: int | None, stop: Sequence[str] | str | None, logprobs: int | None,
                extra: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if logprobs is not None and logprobs < 0:
            raise ValueError(f"logprobs must be >= 0 or None, got {logprobs}")
        return [build_body(self.model, messages, n=k, temperature=temperature, max_tokens=max_tokens, stop=stop,
                           logprobs=logprobs, ask_n=self.supports_n, usage_scope=self.usage_scope, extra=extra,
                           extra_body=self.extra_body)
                for k in chunk_sizes(n, supports_n=self.supports_n, max_n=self.max_n)]

    def _site(self) -> CallSite:
        return CallSite(self.name, self.endpoint, (self._api_key,) if self._api_key else ())

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", **self.headers}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _parse(self, payload: dict[str, Any], site: CallSite, logprobs: int | None) -> Generation:
        return parse_completion(payload, site, usage_scope=self.usage_scope, want_logprobs=bool(logprobs))


def _plain(messages: Sequence[Message]) -> list[dict[str, Any]]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]
