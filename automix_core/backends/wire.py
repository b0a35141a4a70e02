"""Reading an OpenAI-compatible chat-completions body: logprobs, token counts, error details."""

from __future__ import annotations

import json
import math
from typing import Any, Literal

__all__ = ["UsageScope", "cached_prompt_tokens", "output_tokens", "parse_logprobs"]

UsageScope = Literal["all_choices", "first_choice"]
"""How a server's ``usage.completion_tokens`` relates to a multi-sample (``n > 1``) response.

``"all_choices"`` (the OpenAI semantics): it counts the tokens of every choice.
``"first_choice"`` (llama.cpp's server): it counts only the first choice's tokens; the adapter
then counts each choice's tokens itself from per-token logprobs (see
:class:`~.openai_compat.OpenAICompatibleModel` and :func:`output_tokens`).
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
