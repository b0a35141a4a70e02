"""The server over the core's client: a bug is a 500 (not "your request was bad"), bad input is a 400 by
type, a tier by name goes through the engine (its route's retries), cached tokens come from the core's
usage, and the tiers are built once, not per request."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from automix_core import OpenAICompatibleModel
from automix_server.testing import FakeUpstream


async def test_a_bug_in_the_server_is_a_500_not_a_400(h: Any, make_client: Any, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        async def arun(self, *args: Any, **kwargs: Any) -> Any:
            raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    ac: Any = make_client()
    monkeypatch.setattr(ac.server.runtime.routes["automix"], "engine", Broken())
    # as a real ASGI server does: the app's 500 goes out, the exception is logged (not raised to the client)
    transport = httpx.ASGITransport(app=ac.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://automix") as client:
        r = await client.post("/v1/chat/completions", json=h.ask("x [[id:a]]"), headers=h.AUTH)
    assert r.status_code == 500, r.text
    assert r.json()["error"]["type"] == "server_error" and "TypeError" in r.json()["error"]["message"]


async def test_a_request_with_no_text_to_answer_is_a_400(h: Any, make_client: Any, fake: FakeUpstream) -> None:
    ac: Any = make_client()
    r = await ac.chat({"model": "small", "messages": [{"role": "user", "content": "   "}]})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "messages" and fake.calls == 0


async def test_a_tier_by_name_is_retried_as_its_route_says(h: Any, make_client: Any, fake: FakeUpstream) -> None:
    failures = iter([True])
    original = fake.respond

    def once(body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        if next(failures, False):
            return 503, {"error": {"message": "busy"}}, 0.0
        return original(body)

    fake.respond = once  # type: ignore[method-assign]
    cfg = h.base_config()
    cfg["routes"]["automix"]["cascade"]["retries"] = 1
    ac: Any = make_client(cfg)
    r = await ac.chat({"model": "large", "messages": [{"role": "user", "content": "direct [[id:r]]"}]})
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "answer from large: r" and fake.calls == 2


async def test_cached_tokens_come_from_the_core_usage(h: Any, make_client: Any) -> None:
    ac: Any = make_client()
    r = await ac.chat(h.ask("x [[id:c]]"))
    body = r.json()
    trace_input = sum(t["input_tokens"] for t in body["automix"]["trace"])
    assert body["usage"]["prompt_tokens"] == trace_input
    # the fake reports int(half) of every call's prompt as cached: at most half of the total
    cached = body["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert 0 < cached <= body["usage"]["prompt_tokens"] // 2
    ledger = (await ac.client.get("/automix/ledger", headers=h.AUTH)).json()
    assert ledger["total"]["cached_tokens"] == cached


async def test_the_tiers_are_the_core_client_built_once(h: Any, make_client: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    init = OpenAICompatibleModel.__init__

    def counting(self: OpenAICompatibleModel, *args: Any, **kwargs: Any) -> None:
        built.append(kwargs.get("name", ""))
        init(self, *args, **kwargs)

    monkeypatch.setattr(OpenAICompatibleModel, "__init__", counting)
    ac: Any = make_client()
    assert built == ["small", "large"]
    for i in range(20):
        assert (await ac.chat(h.ask(f"x [[id:{i}]]"))).status_code == 200
    assert built == ["small", "large"]
    assert all(isinstance(t.upstream, OpenAICompatibleModel) for t in ac.server.runtime.tiers.values())
