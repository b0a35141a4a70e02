"""Offline token counting and left truncation.

Counts are exact tiktoken counts when an encoding can be loaded, and a heuristic estimate otherwise;
:func:`count_method` says which one a model's counts are.

* Encoding: ``o200k_base`` for gpt-4o-family names (gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1/o3/o4,
  after stripping a provider prefix such as ``openai:`` or ``org/``), ``cl100k_base`` for every other
  name, including non-OpenAI models (for those the count approximates their own tokenizer).
* Offline loading: tiktoken normally downloads encodings. When ``TIKTOKEN_CACHE_DIR`` is unset, the
  copies shipped with this package (``automix_core/accounting/tiktoken_cache``, OpenAI's published
  ``cl100k_base`` and ``o200k_base`` files under the names tiktoken's cache uses) are used; the
  variable is set only while the encoding loads. Loaded encodings (and failures) are cached per process.
* Heuristic fallback: when no encoding loads, a text counts ``ceil(len(text) / 4)`` tokens
  (:data:`CHARS_PER_TOKEN` characters per token, the usual English average; it undercounts
  non-Latin scripts and emoji).

No function here raises on any ``str`` (emoji, lone surrogates, control characters, special-token
strings such as ``<|endoftext|>``, which count as plain text).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, Literal

from ..models import Message

__all__ = [
    "CHARS_PER_TOKEN",
    "MESSAGE_OVERHEAD_TOKENS",
    "REPLY_PRIMING_TOKENS",
    "TRUNCATION_MARKER",
    "CountMethod",
    "count_messages",
    "count_method",
    "count_tokens",
    "encoding_name",
    "messages_upper_bound",
    "truncate_left",
]

CountMethod = Literal["tiktoken", "heuristic"]

CHARS_PER_TOKEN = 4
"""Characters per token assumed by the heuristic estimate."""

MESSAGE_OVERHEAD_TOKENS = 3
"""Tokens each chat message costs beyond its role and content (OpenAI chat format)."""

REPLY_PRIMING_TOKENS = 3
"""Tokens a chat request costs once, for priming the assistant reply."""

TRUNCATION_MARKER = "…"
"""Prefix :func:`truncate_left` puts on a text it shortened."""

_O200K_PREFIXES = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4")
_OWN_CACHE = Path(__file__).with_name("tiktoken_cache")
_load_lock = threading.Lock()


def encoding_name(model: str | None = None) -> str:
    """The tiktoken encoding used for ``model``: ``o200k_base`` for gpt-4o-family names, else ``cl100k_base``."""
    if model:
        base = model.rsplit(":", 1)[-1].rsplit("/", 1)[-1].strip().lower()
        if base.startswith(_O200K_PREFIXES):
            return "o200k_base"
    return "cl100k_base"



@cache
def _load(name: str) -> Any:
    """The tiktoken encoding ``name``, or None when it cannot be loaded (cached either way)."""
    with _load_lock:
        try:
            import tiktoken

            if os.environ.get("TIKTOKEN_CACHE_DIR"):
                return tiktoken.get_encoding(name)
            if not _OWN_CACHE.is_dir():
                return tiktoken.get_encoding(name)
            os.environ["TIKTOKEN_CACHE_DIR"] = str(_OWN_CACHE)
            try:
                return tiktoken.get_encoding(name)
            finally:
                del os.environ["TIKTOKEN_CACHE_DIR"]
        except Exception:
            return None


def _encoding(model: str | None) -> Any:
    return _load(encoding_name(model))


def count_method(model: str | None = None) -> CountMethod:
    """``"tiktoken"`` if counts for ``model`` are exact tiktoken counts, ``"heuristic"`` if estimates."""
    return "heuristic" if _encoding(model) is None else "tiktoken"


def _heuristic(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def count_tokens(text: str, model: str | None = None) -> int:
    """Number of tokens in ``text`` for ``model`` (exact with tiktoken, else the heuristic estimate)."""
    if not text:
        return 0
    enc = _encoding(model)
    if enc is None:
        return _heuristic(text)
    return len(enc.encode_ordinary(text))


def count_messages(messages: Iterable[Message], model: str | None = None) -> int:
    """Prompt tokens of a chat request: per message :data:`MESSAGE_OVERHEAD_TOKENS` plus its role and
    content tokens, plus :data:`REPLY_PRIMING_TOKENS` once (the OpenAI chat accounting)."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += MESSAGE_OVERHEAD_TOKENS + count_tokens(message["role"], model)
        total += count_tokens(message["content"], model)
    return total


def messages_upper_bound(messages: Iterable[Message]) -> int:
    """An upper bound of :func:`count_messages` found without tokenizing: every token covers at
    least one UTF-8 byte, so a prompt whose bound is within a limit fits it."""
    return REPLY_PRIMING_TOKENS + sum(
        MESSAGE_OVERHEAD_TOKENS + _utf8_len(m["role"]) + _utf8_len(m["content"]) for m in messages
    )


def truncate_left(text: str, max_tokens: int, model: str | None = None) -> str:
    """``text`` shortened from the left to at most ``max_tokens`` tokens, keeping its end.

    A text that fits is returned unchanged; a shortened one starts with :data:`TRUNCATION_MARKER`
    and the marker counts toward ``max_tokens`` (``""`` when not even the marker fits). Only a tail
    of the text is tokenized when it is long: every token covers at least one UTF-8 byte, so a text
    of at most ``max_tokens`` bytes fits without encoding, and a tail window that already holds more
    than ``max_tokens`` tokens shows the text must be cut (up to tokenization differences at the
    window's start, a text within a token or two of the limit can therefore be cut).
    """
    if max_tokens <= 0:
        return ""
    enc = _encoding(model)
    if enc is None:
        if _heuristic(text) <= max_tokens:
            return text
        keep = (max_tokens - 1) * CHARS_PER_TOKEN
        return TRUNCATION_MARKER + text[len(text) - keep :] if keep > 0 else TRUNCATION_MARKER
    if len(text) <= max_tokens or _utf8_len(text) <= max_tokens:
        return text
    window = max_tokens * CHARS_PER_TOKEN + 64
    while True:
        tail = text[-window:]
        tokens: list[int] = enc.encode_ordinary(tail)
        if len(tail) == len(text) and len(tokens) <= max_tokens:
            return text
        if len(tokens) > max_tokens or len(tail) == len(text):
            break
        window *= 4
    marker_cost = len(enc.encode_ordinary(TRUNCATION_MARKER))
    keep = max_tokens - marker_cost
    while keep > 0:
        kept: str = enc.decode_bytes(tokens[-keep:]).decode("utf-8", "ignore")
        result = TRUNCATION_MARKER + kept
        excess = len(enc.encode_ordinary(result)) - max_tokens
        if excess <= 0:
            return result
        keep -= excess
    return TRUNCATION_MARKER if marker_cost <= max_tokens else ""
