"""The server builds its engines and tiers once per route (issue 25), as the framework adapters do
(tests/unit/test_built_once.py): over 100 requests of every kind (cascaded and accepted, escalated, streamed,
with tools, a tier by name, each shadowed) no AutoMix, Tier, Verifier, client or route model is constructed
after startup, nor a shadow twin after the first; a config reload builds them again, once. What belongs to
one request (its messages and fields, temperature, max_tokens, budget, ledger) travels with its engine
call, so two requests at once never see each other's."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from automix_core import AutoMix, OpenAICompatibleModel, Tier
from automix_core.traffic import read_traffic
from automix_core.verify import Verifier
from automix_server.testing import FakeUpstream
from automix_server.tiers import RouteAnswerer, RouteVerifier
from tests.fakes.counting import count_constructions

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}]


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """How many objects of each class were constructed (``__init__``), and engines copied (the shadow twin)."""
    counts = count_constructions(monkeypatch, (AutoMix, Tier, Verifier, OpenAICompatibleModel, RouteAnswerer,
                                               RouteVerifier))
    shallow = copy.copy

    def copying(obj: Any) -> Any:
        if isinstance(obj, AutoMix):
            counts["AutoMix copy"] = counts.get("AutoMix copy", 0) + 1
        return shallow(obj)

    monkeypatch.setattr(copy, "copy", copying)
    yield counts


def config(h: Any, folder: Path) -> dict[str, Any]:
    cfg: dict[str, Any] = h.base_config(traffic={"dir": str(folder), "shadow_rate": 1.0})
    return cfg


async def request(ac: Any, h: Any, i: int) -> dict[str, Any]:
    """Request ``i``, of one of five kinds; its response body (a stream's last chunk with ``automix``)."""
    kind = i % 5
    if kind == 0:
        r = await ac.chat(h.ask(f"question [[id:{i}]]", max_tokens=20 + i, temperature=0.5))
    elif kind == 1:
        r = await ac.chat(h.ask(f"hard question [[id:{i}]] [[escalate]]"))
    elif kind == 2:
        r = await ac.chat(h.ask(f"streamed [[id:{i}]]", stream=True))
        assert r.status_code == 200, r.text
        chunks = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
        return next(c for c in reversed(chunks) if "automix" in c)
    elif kind == 3:
        r = await ac.chat(h.ask(f"call a tool [[id:{i}]] [[tool]]", tools=TOOLS))
    else:
        r = await ac.chat({"model": "large", "messages": [{"role": "user", "content": f"direct [[id:{i}]]"}]})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_the_server_builds_each_routes_engine_once(built: dict[str, int], make_client: Any, h: Any,
                                                         fake: FakeUpstream, tmp_path: Path) -> None:
    ac = make_client(config(h, tmp_path))
    at_start = dict(built)
    assert at_start == {"AutoMix": 1, "Tier": 2, "Verifier": 2, "OpenAICompatibleModel": 2, "RouteAnswerer": 2,
                        "RouteVerifier": 2}
    out = [await request(ac, h, 0)]
    assert ac.server.capture is not None
    await ac.server.capture.drain(10)
    after_first = dict(built)
    assert after_first == {**at_start, "AutoMix copy": 1}  # the shadow twin, once
    out += [await request(ac, h, i) for i in range(1, 100)]
    await ac.server.capture.drain(30)
    assert built == after_first

    # and each request still got its own answer, tool call, escalation and usage
    assert out[0]["choices"][0]["message"]["content"] == "answer from small: 0" and out[0]["model"] == "small"
    assert out[1]["model"] == "large" and out[1]["automix"]["tiers_visited"] == [0, 1]
    assert out[3]["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "lookup"
    assert out[4]["choices"][0]["message"]["content"] == "answer from large: 4"
    assert all(o["automix"]["request_id"] == o["id"] for o in out)
    # request 95's answer calls, the shadow's too, with its own max_tokens and temperature
    calls = [b for b in fake.bodies if b["messages"] == [{"role": "user", "content": "question [[id:95]]"}]]
    assert sorted((b["model"], b["max_tokens"], b["temperature"]) for b in calls) == [("large", 115, 0.5),
                                                                                         ("small", 115, 0.5)]
    # the shadow (on the twin, with the request's context) answered each accepted request from its own messages
    records = {r["id"]: r for r in read_traffic(tmp_path)}
    assert records[out[0]["id"]]["outputs"]["large"]["answer"] == "answer from large: 0"
    assert records[out[95]["id"]]["outputs"]["large"]["answer"] == "answer from large: 95"


async def test_a_reload_builds_the_engines_again_once(built: dict[str, int], make_client: Any, h: Any,
                                                      tmp_path: Path) -> None:
    path = tmp_path / "automix.yaml"
    path.write_text(json.dumps(h.base_config()))
    ac = make_client(h.base_config(), reload_path=str(path))
    old = ac.server.runtime.routes["automix"].engine
    for i in range(5):
        await request(ac, h, i)
    before = dict(built)
    changed = h.base_config()
    changed["routes"]["automix"]["cascade"]["k"] = 3
    path.write_text(json.dumps(changed))
    assert ac.server.reload() is True
    engine = ac.server.runtime.routes["automix"].engine
    assert engine is not old and all(v.k == 3 for v in engine.verifiers)
    rebuilt = dict(built)
    assert rebuilt == {name: 2 * n for name, n in before.items()}  # one new set: engine, tiers, clients
    for i in range(5, 30):
        await request(ac, h, i)
    assert built == rebuilt
    body = await request(ac, h, 30)
    assert len(body["automix"]["trace"][0]["verdicts"]) == 3  # the new engine serves


async def test_concurrent_requests_keep_their_own_settings_budget_and_ledger(make_client: Any, h: Any,
                                                                             fake: FakeUpstream) -> None:
    fake.delay_s = 0.05  # every call waits: the two requests' calls interleave
    cfg = h.base_config(route={"max_request_usd": 0.01})
    ac = make_client(cfg)
    # both would escalate; a's answers may be 100000 tokens, so an answer of the large tier is estimated at
    # $2 and its cap of $0.01 keeps the small answer; b's 10 tokens let it escalate
    a = h.ask("first [[id:a]] [[escalate]]", max_tokens=100000, temperature=0.25, seed=1)
    b = h.ask("second [[id:b]] [[escalate]]", max_completion_tokens=10, temperature=1.5, stop=["\n\n"])
    ra, rb = await asyncio.gather(ac.chat(a), ac.chat(b))
    assert ra.status_code == rb.status_code == 200, (ra.text, rb.text)
    ja, jb = ra.json(), rb.json()
    assert ja["model"] == "small" and "budget: escalation to tier 1" in ja["automix"]["trace"][0]["note"]
    assert jb["model"] == "large" and jb["automix"]["tiers_visited"] == [0, 1]

    def answer_calls(text: str) -> list[dict[str, Any]]:
        return [x for x in fake.bodies if x["messages"] == [{"role": "user", "content": text}]]

    calls_a, calls_b = answer_calls(a["messages"][0]["content"]), answer_calls(b["messages"][0]["content"])
    assert [(x["model"], x["max_tokens"], x["temperature"], x.get("seed"), x.get("stop")) for x in calls_a] == [
        ("small", 100000, 0.25, 1, None)]
    assert [(x["model"], x["max_tokens"], x["temperature"], x.get("seed"), x.get("stop")) for x in calls_b] == [
        ("small", 10, 1.5, None, ["\n\n"]), ("large", 10, 1.5, None, ["\n\n"])]
    # each response bills its own calls (every upstream request that carried its text: answers, verification)
    # and its usage is its own trace's; the route's ledger has both
    for j, mark in ((ja, "[[id:a]]"), (jb, "[[id:b]]")):
        calls = sum(any(mark in str(m["content"]) for m in x["messages"]) for x in fake.bodies)
        trace = j["automix"]["trace"]
        assert j["usage"]["prompt_tokens"] == sum(t["input_tokens"] for t in trace)
        assert j["automix"]["cost_usd"] == pytest.approx(sum(t["cost"] for t in trace))
        assert sum(p["calls"] for p in j["automix"]["usage_by_purpose"].values()) == calls
    total = ac.server.runtime.routes["automix"].ledger.total
    assert total.cost == pytest.approx(ja["automix"]["cost_usd"] + jb["automix"]["cost_usd"])
    ledger = (await ac.client.get("/automix/ledger", headers=h.AUTH)).json()
    assert ledger["budgets"]["global"]["spent_usd"] == pytest.approx(total.cost)
