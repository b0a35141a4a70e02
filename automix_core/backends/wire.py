"""The OpenAI chat-completions wire format, without I/O: request bodies, responses, errors.

Both transports of :class:`~automix_core.backends.openai_compat.OpenAICompatibleModel` (the sync one
over ``urllib`` and the async, cancellable one over httpx) and every adapter that reads an OpenAI body
(the server's upstream tiers are that same client) go through these functions, so a body is built,
a reply parsed and a failure classified one way:

* :func:`chunk_sizes`, :func:`build_body`: what one call sends (``n`` split by ``max_n``, logprobs
  asked for when the server counts the first choice only);
* :func:`decode_payload`, :func:`parse_completion`, :func:`merge_generations`: what comes back, as a
  :class:`~automix_core.models.Generation` (token counts, per-choice logprobs, cached prompt tokens
  incl. llama.cpp's ``timings.cache_n``; the raw body kept in ``raw``);
* :class:`CallSite`: every failure as a scrubbed :class:`~automix_core.errors.ModelError`; HTTP 408,
  409, 425, 429 and 5xx, timeouts (:class:`~automix_core.errors.ModelTimeoutError`), connection
  errors and a body that is not JSON are retryable; other 4xx and a JSON body that is not a chat
  completion (no ``choices``) are not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ModelError, ModelTimeoutError
from ..models import Generation

__all__ = ["TRANSIENT_STATUS", "CallSite", "UsageScope", "build_body", "cached_prompt_tokens", "chunk_sizes",
           "decode_payload", "merge_generations", "output_tokens", "parse_completion", "parse_logprobs",
           "render_tool_calls", "scrub_secrets"]

TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
"""HTTP statuses worth retrying, besides every 5xx (re-exported by :mod:`automix_core.integration`)."""

UsageScope = Literal["all_choices", "first_choice"]
"""How a server's ``usage.completion_tokens`` relates to a multi-sample (``n > 1``) response.

``"all_choices"`` (the OpenAI semantics): it counts the tokens of every choice.
``"first_choice"`` (llama.cpp's server): it counts only the first choice's tokens; the client
then counts each choice's tokens itself from per-token logprobs (see :func:`output_tokens`).
"""

_EXCERPT = 300

def parse_logprobs(block: object) -> list[dict[str, float]] | None:
    """OpenAI ``choice.logprobs`` (``{"content": [{"token", "logprob", "top_logprobs": [...]}, ...]}``, as
    OpenAI and llama.cpp send it and langchain-openai keeps it in ``response_metadata["logprobs"]``) -> one
    ``{token: logprob}`` dict per generated position (the format of
    :attr:`~automix_core.models.Generation.token_logprobs`); None when ``block`` holds no ``content`` list."""
    if not isinstance(block, dict):
        return None
    content = block.get("content")
    if not isinstance(content, list):
        return None
    out: list[dict[str, float]] = []
    for pos in content:
        if not isinstance(pos, dict):
            continue
        alts: dict[str, float] = {}
        tops = pos.get("top_logprobs")
        if isinstance(tops, list):
            for alt in tops:
                if isinstance(alt, dict):
                    _put(alts, alt.get("token"), alt.get("logprob"))
        _put(alts, pos.get("token"), pos.get("logprob"))
        out.append(alts)
    return out

def _put(d: dict[str, float], token: object, logprob: object) -> None:
    if not isinstance(token, str) or isinstance(logprob, bool) or not isinstance(logprob, (int, float)):
        return
    value = float(logprob)
    if math.isnan(value):
        return
    # Two token ids can decode to the same text: keep the likelier one.
    if token not in d or value > d[token]:
        d[token] = value


def _int_or_none(v: object) -> int | None:
    """A reported token count, or None (estimate it) when it is missing, negative or not a finite number."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return int(v)


def _sum_or_none(values: Any) -> int | None:
    total = 0
    for v in values:
        if v is None:
            return None
        total += v
    return total


def _excerpt(raw: bytes) -> str:
    text = raw[:_EXCERPT].decode("utf-8", "replace")
    return text + ("..." if len(raw) > _EXCERPT else "")


def _error_text(err: object) -> str:
    if isinstance(err, dict):
        for key in ("message", "detail", "type", "code"):
            v = err.get(key)
            if isinstance(v, str) and v:
                return v[:_EXCERPT]
    if isinstance(err, str):
        return err[:_EXCERPT]
    return json.dumps(err)[:_EXCERPT]


def _error_detail(raw: bytes) -> str:
    """The server's own error message from an error body (JSON ``error.message`` or a text excerpt)."""
    if not raw:
        return ""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _excerpt(raw).strip()
    if isinstance(data, dict):
        if "error" in data:
            return _error_text(data["error"])
        if "detail" in data or "message" in data:
            return _error_text(data)
    return _excerpt(raw).strip()


def cached_prompt_tokens(payload: dict[str, Any], input_tokens: int | None) -> int | None:
    """Prompt tokens a server reused from its cache: OpenAI's ``usage.prompt_tokens_details.cached_tokens``,
    else llama.cpp's ``timings.cache_n``; None when neither is reported. Capped at ``input_tokens``."""
    usage = payload.get("usage")
    details = usage.get("prompt_tokens_details") if isinstance(usage, dict) else None
    value = _int_or_none(details.get("cached_tokens")) if isinstance(details, dict) else None
    if value is None:
        timings = payload.get("timings")
        value = _int_or_none(timings.get("cache_n")) if isinstance(timings, dict) else None
    if value is not None and input_tokens is not None:
        value = min(value, input_tokens)
    return value


def output_tokens(reported: int | None, logprobs: list[list[dict[str, float]] | None], scope: UsageScope) -> int | None:
    """A response's output tokens: ``reported``, or, when the server counts the first choice only and
    there are several, the sum of every choice's per-token logprob entries (None unless each has them)."""
    if scope == "first_choice" and len(logprobs) > 1:
        return sum(len(lp) for lp in logprobs if lp is not None) if all(lp is not None for lp in logprobs) else None
    return reported


def scrub_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***`` (longest first, so no part of one survives)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def render_tool_calls(tool_calls: Iterable[Mapping[str, Any]]) -> str:
    """OpenAI ``tool_calls`` as the text the verifier reads: ``Call tool NAME with arguments ARGS`` a
    line (ARGS as sent when it is a string, else as JSON with sorted keys). Adapters give their
    framework's calls in this shape (``{"function": {"name": ..., "arguments": ...}}``)."""
    lines = []
    for call in tool_calls:
        fn = call.get("function")
        fn = fn if isinstance(fn, Mapping) else {}
        args = fn.get("arguments", "")
        text = args if isinstance(args, str) else json.dumps(args, sort_keys=True, default=str)
        lines.append(f"Call tool {fn.get('name', '?')} with arguments {text}")
    return "\n".join(lines)


def chunk_sizes(n: int, *, supports_n: bool, max_n: int | None) -> list[int]:
    """How ``n`` samples are split over requests: one each without ``n`` support, else ``max_n`` at most."""
    chunk = 1 if not supports_n else (max_n or n)
    return [min(chunk, n - i) for i in range(0, n, chunk)]


def build_body(model: str, messages: Sequence[Mapping[str, Any]], *, n: int = 1, temperature: float | None = 0.0,
               max_tokens: int | None = None, stop: Sequence[str] | str | None = None, logprobs: int | None = None,
               ask_n: bool = True, usage_scope: UsageScope = "all_choices", extra: Mapping[str, Any] | None = None,
               extra_body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of one chat-completions request for ``n`` samples.

    ``messages`` go as they are (an adapter may pass the caller's raw OpenAI messages: content parts, tool
    calls); ``extra`` (one request's fields, e.g. ``tools``) and then ``extra_body`` (the model's
    configured fields) are merged last, so they override the fields built here.
    """
    body: dict[str, Any] = {"model": model, "messages": list(messages)}
    if temperature is not None:
        body["temperature"] = temperature
    if ask_n:
        body["n"] = n
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if stop:
        body["stop"] = stop if isinstance(stop, str) else list(stop)
    top = logprobs
    if usage_scope == "first_choice" and n > 1 and not top:
        top = 1  # per-token entries let us count each choice's tokens
    if top:
        body["logprobs"] = True
        body["top_logprobs"] = top
    body.update(extra or {})
    body.update(extra_body or {})
    return body


@dataclass(frozen=True)
class CallSite:
    """Who is called where (``name`` at ``url``), to word and scrub every failure of a call the same way."""

    name: str
    url: str
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def scrub(self, text: str) -> str:
        return scrub_secrets(text, self.secrets)

    def error(self, what: str, *, retryable: bool, status: int | None = None) -> ModelError:
        return ModelError(self.scrub(f"{self.name} at {self.url}: {what}"), model=self.name, retryable=retryable,
                          status_code=status)

    def timeout(self, seconds: float, detail: str = "") -> ModelTimeoutError:
        more = f" ({detail})" if detail else ""
        return ModelTimeoutError(self.scrub(f"{self.name} at {self.url}: timed out after {seconds:g}s{more}"),
                                 model=self.name)

    def connection(self, exc: BaseException) -> ModelError:
        return self.error(f"connection error: {type(exc).__name__}: {exc}", retryable=True)

    def http_status(self, status: int, reason: str, body: bytes) -> ModelError:
        """An HTTP error reply (``body``: its first bytes) as a ModelError with the server's own message."""
        detail = _error_detail(body)
        msg = f"HTTP {status} {reason}".rstrip() + (f": {detail}" if detail else "")
        return self.error(msg, retryable=status in TRANSIENT_STATUS or status >= 500, status=status)


def decode_payload(raw: bytes, site: CallSite) -> dict[str, Any]:
    """A 2xx reply's body as a JSON object (truncated or non-JSON: retryable; not an object: not)."""
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise site.error(f"response is not valid JSON ({e}); body starts {_excerpt(raw)!r}", retryable=True) from None
    if not isinstance(payload, dict):
        raise site.error(f"malformed response: expected a JSON object, got {type(payload).__name__}",
                         retryable=False)
    return payload


def parse_completion(payload: dict[str, Any], site: CallSite, *, usage_scope: UsageScope = "all_choices",
                     want_logprobs: bool = False) -> Generation:
    """A chat completion as a :class:`Generation` (``raw`` is ``payload``). A choice with no text but
    tool calls reads as :func:`render_tool_calls`' text, so the verifier can judge the call."""
    choices = payload.get("choices")
    if not isinstance(choices, list) or not choices:
        err = payload.get("error")
        hint = f" (server error: {_error_text(err)})" if err else ""
        raise site.error(f"malformed response: no 'choices' in the body{hint}; body starts "
                         f"{_excerpt(json.dumps(payload).encode())!r}", retryable=False)
    if not all(isinstance(c, dict) for c in choices):
        raise site.error("malformed response: a choice is not an object", retryable=False)
    texts: list[str] = []
    lps: list[list[dict[str, float]] | None] = []
    for c in sorted(choices, key=lambda c: c["index"] if isinstance(c.get("index"), int) else 0):
        msg = c.get("message")
        if not isinstance(msg, dict):
            raise site.error(f"malformed response: choice {c.get('index')} has no 'message' object", retryable=False)
        content = msg.get("content")
        text = content if isinstance(content, str) else ""
        calls = msg.get("tool_calls")
        if not text.strip() and isinstance(calls, list) and calls:
            text = render_tool_calls(x for x in calls if isinstance(x, dict))
        texts.append(text)
        lps.append(parse_logprobs(c.get("logprobs")))
    usage = payload.get("usage")
    input_tokens = _int_or_none(usage.get("prompt_tokens")) if isinstance(usage, dict) else None
    reported = _int_or_none(usage.get("completion_tokens")) if isinstance(usage, dict) else None
    token_logprobs: list[list[dict[str, float]]] | None = None
    if want_logprobs and any(lp is not None for lp in lps):
        token_logprobs = [lp if lp is not None else [] for lp in lps]
    return Generation(texts=texts, model=site.name, input_tokens=input_tokens,
                      output_tokens=output_tokens(reported, lps, usage_scope), token_logprobs=token_logprobs,
                      raw=payload, cached_input_tokens=cached_prompt_tokens(payload, input_tokens))


def merge_generations(parts: Sequence[Generation]) -> Generation:
    """The requests of one ``n``-sample call as one Generation (``raw``: the list of their bodies)."""
    if len(parts) == 1:
        return parts[0]
    all_lp = all(p.token_logprobs is not None for p in parts)
    return Generation(
        texts=[t for p in parts for t in p.texts],
        model=parts[0].model,
        input_tokens=_sum_or_none(p.input_tokens for p in parts),
        output_tokens=_sum_or_none(p.output_tokens for p in parts),
        token_logprobs=[s for p in parts for s in (p.token_logprobs or [])] if all_lp else None,
        raw=[p.raw for p in parts],
        requests=sum(p.requests for p in parts),
        cached_input_tokens=_sum_or_none(p.cached_input_tokens for p in parts),
    )
