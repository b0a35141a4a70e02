"""The OpenAI wire layer: bodies, replies and failures without I/O, and the async transport (cancellable,
timeouts by type) over an in-process httpx transport."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from automix_core import AutoMix, ModelError, OpenAICompatibleModel, Price, PriceTable, Tier
from automix_core.backends.wire import (
    CallSite,
    build_body,
    chunk_sizes,
    decode_payload,
    merge_generations,
    parse_completion,
    render_tool_calls,
)
from automix_core.errors import InvalidRequestError, ModelTimeoutError
from automix_core.testing import ScriptedModel

SITE = CallSite("small", "http://h/v1/chat/completions", ("sk-secret-123456",))


def test_body_fields_and_precedence() -> None:
    body = build_body("m", [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], n=3, temperature=None,
                      stop="END", usage_scope="first_choice", extra={"tools": [1], "seed": 1},
                      extra_body={"seed": 7})
    assert body["messages"][0]["content"] == [{"type": "text", "text": "hi"}]  # sent as given
    assert "temperature" not in body and body["stop"] == "END" and body["n"] == 3
    assert body["logprobs"] is True and body["top_logprobs"] == 1  # to count each choice's tokens
    assert body["tools"] == [1] and body["seed"] == 7  # the tier's configured fields win
    assert "n" not in build_body("m", [], ask_n=False)


def test_chunk_sizes() -> None:
    assert chunk_sizes(5, supports_n=True, max_n=2) == [2, 2, 1]
    assert chunk_sizes(3, supports_n=False, max_n=None) == [1, 1, 1]
    assert chunk_sizes(4, supports_n=True, max_n=None) == [4]


def test_a_tool_call_reads_as_text_with_sorted_arguments() -> None:
    calls: list[dict[str, Any]] = [{"function": {"name": "lookup", "arguments": {"b": 1, "a": 2}}},
             {"function": {"name": "now", "arguments": "{}"}}]
    assert render_tool_calls(calls) == ('Call tool lookup with arguments {"a": 2, "b": 1}\n'
                                        "Call tool now with arguments {}")
    gen = parse_completion({"choices": [{"index": 0, "message": {"content": None, "tool_calls": calls}}]}, SITE)
    assert gen.texts == [render_tool_calls(calls)]


def test_usage_cached_tokens_and_choice_order() -> None:
    payload = {"choices": [{"index": 1, "message": {"content": "b"}}, {"index": 0, "message": {"content": "a"}}],
               "usage": {"prompt_tokens": 10, "completion_tokens": 4}, "timings": {"cache_n": 25}}
    gen = parse_completion(payload, SITE)
    assert gen.texts == ["a", "b"] and gen.input_tokens == 10 and gen.output_tokens == 4
    assert gen.cached_input_tokens == 10  # llama.cpp's cache_n, capped at the prompt
    assert gen.raw is payload


def test_failures_are_classified_and_scrubbed() -> None:
    with pytest.raises(ModelError, match="no 'choices'") as ei:
        parse_completion({"error": {"message": "bad"}}, SITE)
    assert ei.value.retryable is False
    with pytest.raises(ModelError, match="not valid JSON") as ei:
        decode_payload(b'{"choices": [', SITE)
    assert ei.value.retryable is True
    for status, retryable in ((429, True), (425, True), (503, True), (400, False), (401, False)):
        err = SITE.http_status(status, "", b'{"error": {"message": "key sk-secret-123456 refused"}}')
        assert err.retryable is retryable and err.status_code == status
        assert "sk-secret-123456" not in str(err) and "***" in str(err)
    timeout = SITE.timeout(2.0)
    assert isinstance(timeout, ModelTimeoutError) and timeout.retryable


def test_merge_keeps_every_body_and_sums_usage() -> None:
    one = parse_completion({"choices": [{"message": {"content": "a"}}], "usage": {"prompt_tokens": 3,
                                                                                 "completion_tokens": 1}}, SITE)
    two = parse_completion({"choices": [{"message": {"content": "b"}}], "usage": {"prompt_tokens": 3,
                                                                                 "completion_tokens": 2}}, SITE)
    merged = merge_generations([one, two])
    assert merged.texts == ["a", "b"] and merged.input_tokens == 6 and merged.output_tokens == 3
    assert merged.requests == 2 and merged.raw == [one.raw, two.raw]


def _reply(content: str = "ok") -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"content": content}}], "usage": {"prompt_tokens": 5,
            "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 2}}}


async def test_async_transport_sends_raw_messages_and_extra_fields() -> None:
    seen: list[dict[str, Any]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        assert request.headers["authorization"] == "Bearer sk-secret-123456"
        return httpx.Response(200, json=_reply())

    model = OpenAICompatibleModel("http://h/v1", "m", api_key="sk-secret-123456",
                                  transport=httpx.MockTransport(handler))
    raw = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    gen = await model.acomplete(raw, extra={"tools": [{"type": "function"}]}, temperature=None)
    assert seen[0]["messages"] == raw and seen[0]["tools"] == [{"type": "function"}] and "temperature" not in seen[0]
    assert gen.texts == ["ok"] and gen.cached_input_tokens == 2
    await model.aclose()


async def test_cancelling_the_call_cancels_the_request_in_flight() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return httpx.Response(200, json=_reply())

    model = OpenAICompatibleModel("http://h/v1", "m", transport=httpx.MockTransport(handler))
    task = asyncio.ensure_future(model.agenerate([{"role": "user", "content": "hi"}]))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    await asyncio.wait_for(cancelled.wait(), 5)
    assert task.cancelled() or isinstance(task.exception(), asyncio.CancelledError)


async def test_a_slow_reply_is_a_timeout_by_type() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json=_reply())

    model = OpenAICompatibleModel("http://h/v1", "m", timeout=0.1, transport=httpx.MockTransport(handler))
    with pytest.raises(ModelTimeoutError, match="timed out after 0.1s"):
        await model.agenerate([{"role": "user", "content": "hi"}])


async def test_the_engine_timeout_and_bad_input_have_their_own_types() -> None:
    slow = ScriptedModel("small", default="yes", delay=1.0)
    engine = AutoMix([Tier(slow), Tier(ScriptedModel("large", default="yes"))], timeout=0.05, retries=0,
                     prices=PriceTable(default=Price(input_per_million=1.0, output_per_million=1.0)))
    with pytest.raises(Exception) as ei:
        await engine.arun("q?", tier=0)
    failures = getattr(ei.value, "failures", [])
    assert failures and isinstance(failures[0][1], ModelTimeoutError)
    with pytest.raises(InvalidRequestError) as bad:
        await engine.arun("   ")
    assert isinstance(bad.value, ValueError) and bad.value.param == "messages"
