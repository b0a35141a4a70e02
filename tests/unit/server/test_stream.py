"""Streaming (server-sent events), keep-alive comments, and cancellation when the client goes away."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from automix_server.testing import FakeUpstream


def events(text: str) -> tuple[list[dict[str, Any]], list[str], bool]:
    """(data objects, comment lines, whether [DONE] came last)."""
    data: list[dict[str, Any]] = []
    comments: list[str] = []
    done = False
    for block in text.split("\n\n"):
        block = block.strip()
        if not block:
            continue
        if block.startswith(":"):
            comments.append(block)
        elif block == "data: [DONE]":
            done = True
        else:
            assert block.startswith("data: "), block
            assert not done, "data after [DONE]"
            data.append(json.loads(block[6:]))
    return data, comments, done


async def test_stream_chunks_follow_openai_format_with_usage_last(h: Any, make_client: Any) -> None:
    ac: Any = make_client()
    r = await ac.chat(h.ask("tell me [[id:s1]] [[escalate]]", stream=True, stream_options={"include_usage": True}))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    chunks, _, done = events(r.text)
    assert done
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "answer from large: s1"
    assert all(c["model"] == "large" for c in chunks)
    finish = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [c["choices"][0]["finish_reason"] for c in finish] == ["stop"]
    last = chunks[-1]
    assert last["choices"] == [] and last["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[:-1])
    assert last["automix"]["escalated"] is True and last["automix"]["tier"] == "large"
    ledger = (await ac.client.get("/automix/ledger", headers=h.AUTH)).json()
    assert ledger["total"]["input_tokens"] == last["usage"]["prompt_tokens"]


async def test_stream_without_usage_puts_automix_on_the_finish_chunk(h: Any, make_client: Any) -> None:
    ac: Any = make_client()
    r = await ac.chat(h.ask("tell me [[id:s2]]", stream=True))
    chunks, _, done = events(r.text)
    assert done and "usage" not in chunks[0]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["automix"]["tier"] == "small"


async def test_keep_alive_comments_while_the_cascade_runs(h: Any, make_client: Any, fake: FakeUpstream) -> None:
    fake.delay_s = 0.3
    ac: Any = make_client(h.base_config(keepalive_interval=0.05))
    r = await ac.chat(h.ask("slow [[id:k]]", stream=True))
    _, comments, done = events(r.text)
    assert done and comments and all(c == ": keep-alive" for c in comments)
    assert r.text.index(": keep-alive") < r.text.index("data: ")


async def test_stream_tool_calls(h: Any, make_client: Any) -> None:
    ac: Any = make_client()
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    r = await ac.chat(h.ask("call [[id:tc]] [[tool]]", stream=True, tools=tools))
    chunks, _, _ = events(r.text)
    calls = [c["choices"][0]["delta"]["tool_calls"] for c in chunks if c["choices"][0]["delta"].get("tool_calls")]
    assert calls and calls[0][0]["function"]["name"] == "lookup" and calls[0][0]["index"] == 0
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_stream_error_after_start_is_an_error_event(h: Any, make_client: Any) -> None:
    ac: Any = make_client()
    r = await ac.chat(h.ask("x [[fail:small]] [[fail:large]]", stream=True))
    assert r.status_code == 200  # the stream had started (keep-alives) before the cascade failed
    chunks, _, done = events(r.text)
    assert done and chunks[0]["error"]["code"] == "all_tiers_failed"


async def test_refusals_come_before_the_stream_starts(h: Any, make_client: Any) -> None:
    ac: Any = make_client()
    r = await ac.chat(h.ask("x", stream=True), headers={})
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"


async def _call_app(app: Any, body: dict[str, Any], disconnect_after: float) -> list[dict[str, Any]]:
    """Call the ASGI app directly; the client disconnects ``disconnect_after`` seconds after sending."""
    sent: list[dict[str, Any]] = []
    raw = json.dumps(body).encode()
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.sleep(disconnect_after)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
             "query_string": b"", "root_path": "", "server": ("test", 80), "client": ("test", 1),
             "headers": [(b"content-type", b"application/json"),
                         (b"authorization", b"Bearer client-key-0123456789")]}
    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize("stream", [False, True])
async def test_client_disconnect_cancels_the_upstream_calls(h: Any, make_client: Any, fake: FakeUpstream,
                                                            stream: bool) -> None:
    fake.slow_s = 30.0
    ac: Any = make_client(h.base_config(keepalive_interval=0.05))
    task = asyncio.ensure_future(_call_app(ac.app, h.ask("x [[id:c]] [[slow:small]]", stream=stream), 0.2))
    await asyncio.wait_for(fake.cancelled_event.wait(), 10)  # the upstream request in flight was cancelled
    await asyncio.wait_for(task, 10)
    m = (await ac.client.get("/metrics")).text
    assert 'status="cancelled"' in m
    totals = (await ac.client.get("/automix/ledger", headers=h.AUTH)).json()
    assert totals["budgets"]["global"]["reserved_usd"] == 0  # the reservation was settled
