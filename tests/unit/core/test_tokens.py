"""Offline token counting: encodings, heuristic fallback, message accounting, left truncation."""

from __future__ import annotations

import os
import random
from typing import Any

import pytest

from automix_core.accounting import tokens
from automix_core.accounting.tokens import (
    MESSAGE_OVERHEAD_TOKENS,
    REPLY_PRIMING_TOKENS,
    TRUNCATION_MARKER,
    count_messages,
    count_method,
    count_tokens,
    encoding_name,
    messages_upper_bound,
    truncate_left,
)
from automix_core.models import Message

HOSTILE = [
    "",
    "hello world",
    "😀👨‍👩‍👧‍👦🏳️‍🌈" * 50,
    "\ud800 lone \udfff surrogates \ud83d",
    "<|endoftext|><|im_start|>system<|im_end|>",
    "\x00\x01\x07\x1b[31m\x7f\x85\u2028\u2029\r\n\t",
    "\u202eevil\u202c\u200b\ufeff",
    "日本語のテキストと한국어 텍스트",
    " " * 1000,
    "a" * 5000,
]


@pytest.fixture
def heuristic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend no tiktoken encoding can be loaded."""
    monkeypatch.setattr(tokens, "_encoding", lambda model: None)


def test_encoding_choice() -> None:
    assert encoding_name("gpt-4o") == "o200k_base"
    assert encoding_name("openai:gpt-4o-mini-2024-07-18") == "o200k_base"
    assert encoding_name("GPT-4.1-mini") == "o200k_base"
    assert encoding_name("azure/gpt-4o") == "o200k_base"
    assert encoding_name("gpt-4") == "cl100k_base"
    assert encoding_name("llama3.1-8b") == "cl100k_base"
    assert encoding_name(None) == "cl100k_base"


def test_offline_tiktoken_counts_are_exact() -> None:
    assert count_method("gpt-4o") == "tiktoken"
    assert count_method("llama3.1-8b") == "tiktoken"
    assert count_tokens("hello world") == 2
    assert count_tokens("hello world", "gpt-4o") == 2
    assert count_tokens("") == 0


def test_cache_dir_is_set_only_while_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    tokens._load.cache_clear()
    try:
        assert tokens._load("cl100k_base") is not None
        assert "TIKTOKEN_CACHE_DIR" not in os.environ
    finally:
        tokens._load.cache_clear()


def test_unloadable_encoding_is_none() -> None:
    assert tokens._load("no_such_encoding") is None


def test_heuristic_fallback(heuristic: None) -> None:
    assert count_method("gpt-4o") == "heuristic"
    assert count_tokens("abcdefghi") == 3
    assert count_tokens("abcd") == 1
    assert count_tokens("") == 0
    text = "x" * 100
    out = truncate_left(text, 10)
    assert out.startswith(TRUNCATION_MARKER) and text.endswith(out[len(TRUNCATION_MARKER) :])
    assert count_tokens(out) <= 10
    assert truncate_left(text, 25) == text
    assert truncate_left(text, 1) == TRUNCATION_MARKER
    assert truncate_left(text, 0) == ""


def test_count_messages_overhead() -> None:
    messages: list[Message] = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello world"}]
    expected = REPLY_PRIMING_TOKENS + sum(
        MESSAGE_OVERHEAD_TOKENS + count_tokens(m["role"]) + count_tokens(m["content"]) for m in messages
    )
    assert count_messages(messages) == expected
    assert count_messages([]) == REPLY_PRIMING_TOKENS


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("model", [None, "gpt-4o"])
def test_never_raises(text: str, model: str | None) -> None:
    n = count_tokens(text, model)
    assert n >= 0
    count_messages([{"role": "user", "content": text}], model)
    for limit in (0, 1, 2, 5, 50, 10_000):
        out = truncate_left(text, limit, model)
        assert count_tokens(out, model) <= limit
        if n <= limit:
            assert out == text


@pytest.mark.parametrize("text", HOSTILE)
def test_never_raises_heuristic(heuristic: None, text: str) -> None:
    for limit in (0, 1, 3, 100):
        assert count_tokens(truncate_left(text, limit)) <= limit


def test_truncate_keeps_the_end() -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    out = truncate_left(text, 50)
    assert out.startswith(TRUNCATION_MARKER)
    assert text.endswith(out[len(TRUNCATION_MARKER) :])
    assert out.endswith("word1999")
    assert 45 <= count_tokens(out) <= 50
    assert truncate_left("short text", 50) == "short text"


def test_truncate_multibyte_cut_drops_partial_characters() -> None:
    text = "😀" * 500
    out = truncate_left(text, 21)
    assert "\ufffd" not in out
    assert set(out[len(TRUNCATION_MARKER) :]) == {"😀"}
    assert count_tokens(out) <= 21


def test_truncate_random_texts() -> None:
    rng = random.Random(7)
    alphabet = "ab c\n😀é日.,-" + "\u200b"
    for _ in range(60):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        limit = rng.randint(1, 80)
        out = truncate_left(text, limit)
        assert count_tokens(out) <= limit
        if out != text:
            assert out.startswith(TRUNCATION_MARKER)


class _SpyEncoding:
    """Wraps an encoding and records the length of every text it encodes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.lengths: list[int] = []

    def encode_ordinary(self, text: str) -> list[int]:
        self.lengths.append(len(text))
        result: list[int] = self.inner.encode_ordinary(text)
        return result

    def decode_bytes(self, toks: list[int]) -> bytes:
        result: bytes = self.inner.decode_bytes(toks)
        return result


@pytest.mark.parametrize("unit", ["The quick brown fox jumps over the lazy dog. ", "a", "😀"])
def test_truncate_10mb_encodes_only_a_tail(monkeypatch: pytest.MonkeyPatch, unit: str) -> None:
    text = unit * (10_000_000 // len(unit.encode()))
    spy = _SpyEncoding(tokens._encoding(None))
    monkeypatch.setattr(tokens, "_encoding", lambda model: spy)
    out = truncate_left(text, 1000)
    assert max(spy.lengths) < 200_000
    assert out.startswith(TRUNCATION_MARKER) and text.endswith(out[len(TRUNCATION_MARKER) :])
    monkeypatch.undo()
    assert count_tokens(out) <= 1000


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4", None])
def test_byte_bound_is_never_below_the_count(model: str | None) -> None:
    rng = random.Random(7)
    for text in [*HOSTILE, *("".join(rng.choice("ab ñ€😀\n.") for _ in range(rng.randrange(200))) for _ in range(50))]:
        msgs: list[Message] = [{"role": "system", "content": text[:10]}, {"role": "user", "content": text}]
        assert messages_upper_bound(msgs) >= count_messages(msgs, model)
