"""A :class:`~automix_core.models.ChatModel` for any OpenAI-compatible ``/v1/chat/completions`` server.

Stdlib only (``urllib.request`` + ``json``): works against OpenAI itself, vLLM, llama.cpp's
``llama-server`` (and xllamacpp's embedded copy of it, see :mod:`automix_core.backends.local`), Ollama's
OpenAI endpoint, LM Studio, and similar servers.

Error mapping (every failure is a :class:`~automix_core.models.ModelError`):

* HTTP 408, 409, 429 and 5xx, timeouts, refused/reset connections, a truncated or non-JSON body:
  ``retryable=True``;
* any other HTTP 4xx (bad request, auth, not found, ...) and a JSON body that is not a chat
  completion (no ``choices``): ``retryable=False``.

The API key is only ever sent in the ``Authorization`` header: it is not part of ``repr()``, and it
is scrubbed from every error message.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from ..integration import TRANSIENT_STATUS, scrub_secrets
from ..models import Generation, Message, ModelError
from .wire import (
    UsageScope,
    _error_detail,
    _error_text,
    _excerpt,
    _int_or_none,
    _sum_or_none,
    cached_prompt_tokens,
    parse_logprobs,
)
from .wire import output_tokens as counted_output_tokens

__all__ = ["OpenAICompatibleModel", "UsageScope"]



_ERROR_BODY_LIMIT = 64 * 1024


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

    ``generate`` is thread-safe (each call opens its own connection).
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
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if logprobs is not None and logprobs < 0:
            raise ValueError(f"logprobs must be >= 0 or None, got {logprobs}")
        chunk = 1 if not self.supports_n else (self.max_n or n)
        sizes = [min(chunk, n - i) for i in range(0, n, chunk)]
        parts = [
            self._request(messages, k, temperature, max_tokens, stop, logprobs, ask_n=self.supports_n)
            for k in sizes
        ]
        if len(parts) == 1:
            return parts[0]
        texts: list[str] = []
        lps: list[list[dict[str, float]]] = []
        for p in parts:
            texts.extend(p.texts)
            if p.token_logprobs is not None:
                lps.extend(p.token_logprobs)
        input_tokens = _sum_or_none(p.input_tokens for p in parts)
        output_tokens = _sum_or_none(p.output_tokens for p in parts)
        all_lp = all(p.token_logprobs is not None for p in parts)
        return Generation(
            texts=texts,
            model=parts[0].model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            token_logprobs=lps if all_lp else None,
            raw=[p.raw for p in parts],
            requests=len(parts),
            cached_input_tokens=_sum_or_none(p.cached_input_tokens for p in parts),
        )

    async def agenerate(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                        max_tokens: int | None = None, stop: Sequence[str] | None = None,
                        logprobs: int | None = None) -> Generation:
        """Async :meth:`generate`, run in a worker thread (``asyncio.to_thread``).

        Cancelling the awaiting task does not abort the HTTP request already in flight: the
        worker thread finishes it (or times out after ``timeout`` seconds) and its result is
        discarded. The default executor's size bounds how many calls run at once.
        """
        return await asyncio.to_thread(
            self.generate,
            messages,
            n=n,
            temperature=temperature,
            max_tokens=max_tokens,
            stop=stop,
            logprobs=logprobs,
        )

    # -- internals ------------------------------------------------------------------------------

    def build_body(self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0,
                   max_tokens: int | None = None, stop: Sequence[str] | None = None, logprobs: int | None = None,
                   ask_n: bool = True) -> dict[str, Any]:
        """The JSON body of one request for ``n`` samples (exposed for inspection and tests)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "temperature": temperature,
        }
        if ask_n:
            body["n"] = n
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if stop:
            body["stop"] = list(stop)
        top = logprobs
        if self.usage_scope == "first_choice" and n > 1 and not top:
            top = 1  # per-token entries let us count each choice's tokens
        if top:
            body["logprobs"] = True
            body["top_logprobs"] = top
        body.update(self.extra_body)
        return body

    def _request(
        self,
        messages: Sequence[Message],
        n: int,
        temperature: float,
        max_tokens: int | None,
        stop: Sequence[str] | None,
        logprobs: int | None,
        *,
        ask_n: bool,
    ) -> Generation:
        body = self.build_body(
            messages, n=n, temperature=temperature, max_tokens=max_tokens, stop=stop, logprobs=logprobs, ask_n=ask_n
        )
        payload = self._post(body)
        return self._parse(payload, n=n, want_logprobs=bool(logprobs))

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json", **self.headers}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        req = urllib.request.Request(self.endpoint, data=data, headers=headers, method="POST")
        where = f"{self.name} at {self.endpoint}"
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            status = e.code
            try:
                detail = _error_detail(e.read(_ERROR_BODY_LIMIT))
            except (OSError, http.client.HTTPException):
                detail = ""
            finally:
                e.close()
            retryable = status in TRANSIENT_STATUS or status >= 500
            msg = f"{where}: HTTP {status} {e.reason or ''}".rstrip()
            if detail:
                msg += f": {detail}"
            raise ModelError(self._scrub(msg), model=self.name, retryable=retryable, status_code=status) from None
        except TimeoutError as e:
            raise ModelError(
                self._scrub(f"{where}: timed out after {self.timeout:g}s ({e})"), model=self.name, retryable=True
            ) from None
        except urllib.error.URLError as e:
            reason = e.reason
            kind = "timed out" if isinstance(reason, TimeoutError) else "connection failed"
            raise ModelError(self._scrub(f"{where}: {kind}: {reason}"), model=self.name, retryable=True) from None
        except (ConnectionError, http.client.HTTPException, OSError) as e:
            raise ModelError(
                self._scrub(f"{where}: connection error: {type(e).__name__}: {e}"), model=self.name, retryable=True
            ) from None
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ModelError(
                self._scrub(f"{where}: response is not valid JSON ({e}); body starts {_excerpt(raw)!r}"),
                model=self.name,
                retryable=True,
            ) from None
        if not isinstance(payload, dict):
            raise ModelError(
                self._scrub(f"{where}: malformed response: expected a JSON object, got {type(payload).__name__}"),
                model=self.name,
                retryable=False,
            )
        return payload

    def _parse(self, payload: dict[str, Any], *, n: int, want_logprobs: bool) -> Generation:
        where = f"{self.name} at {self.endpoint}"
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices:
            err = payload.get("error")
            hint = f" (server error: {_error_text(err)})" if err else ""
            raise ModelError(
                self._scrub(
                    f"{where}: malformed response: no 'choices' in the body{hint}; body starts "
                    f"{_excerpt(json.dumps(payload).encode())!r}"
                ),
                model=self.name,
                retryable=False,
            )
        ordered = sorted(
            (c for c in choices if isinstance(c, dict)),
            key=lambda c: c["index"] if isinstance(c.get("index"), int) else 0,
        )
        if len(ordered) != len(choices):
            raise ModelError(
                f"{where}: malformed response: a choice is not an object", model=self.name, retryable=False
            )
        texts: list[str] = []
        lps: list[list[dict[str, float]] | None] = []
        for c in ordered:
            msg = c.get("message")
            if not isinstance(msg, dict):
                raise ModelError(
                    f"{where}: malformed response: choice {c.get('index')} has no 'message' object",
                    model=self.name,
                    retryable=False,
                )
            content = msg.get("content")
            texts.append(content if isinstance(content, str) else "")
            lps.append(parse_logprobs(c.get("logprobs")))

        usage = payload.get("usage")
        input_tokens = _int_or_none(usage.get("prompt_tokens")) if isinstance(usage, dict) else None
        reported = _int_or_none(usage.get("completion_tokens")) if isinstance(usage, dict) else None
        output_tokens = counted_output_tokens(reported, lps, self.usage_scope)  # llama.cpp counts choice 0 only

        token_logprobs: list[list[dict[str, float]]] | None = None
        if want_logprobs and any(lp is not None for lp in lps):
            token_logprobs = [lp if lp is not None else [] for lp in lps]
        return Generation(
            texts=texts,
            model=self.name,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            token_logprobs=token_logprobs,
            raw=payload,
            cached_input_tokens=cached_prompt_tokens(payload, input_tokens),
        )

    def _scrub(self, text: str) -> str:
        return scrub_secrets(text, [self._api_key] if self._api_key else [])
