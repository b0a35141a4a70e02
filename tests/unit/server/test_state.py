"""Budgets (reserve, then settle), rate limits and ledger totals: the in-process state and the endpoint."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from automix_server import MemoryState, UsageRecord
from automix_server.state import BudgetScope, RateScope


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rec(cost: float, model: str = "m", purpose: str = "answer") -> UsageRecord:
    return UsageRecord(model, purpose, 10, 5, cost, 1, 3)


async def test_reserve_refuses_once_reservations_fill_the_budget() -> None:
    st = MemoryState()
    scope = [BudgetScope("global", 1.0)]
    assert await st.reserve("a", 0.4, scope, 60) is None
    assert await st.reserve("b", 0.4, scope, 60) is None
    assert await st.reserve("c", 0.4, scope, 60) == "global"  # 0.8 reserved + 0.4 > 1.0
    await st.settle("a", scope, [rec(0.1)])  # a spent less than it reserved: room again
    assert await st.reserve("c", 0.4, scope, 60) is None
    t = await st.totals()
    assert t["budgets"]["global"]["spent_usd"] == pytest.approx(0.1)
    assert t["budgets"]["global"]["reserved_usd"] == pytest.approx(0.8)


async def test_all_scopes_or_none() -> None:
    st = MemoryState()
    scopes = [BudgetScope("global", 10.0), BudgetScope("key:a", 0.5)]
    assert await st.reserve("r1", 0.4, scopes, 60) is None
    assert await st.reserve("r2", 0.4, scopes, 60) == "key:a"
    t = await st.totals()
    assert "global" not in t["budgets"] or t["budgets"]["global"]["reserved_usd"] == 0  # nothing counted yet
    await st.settle("r1", scopes, [rec(0.4)])
    t = await st.totals()
    assert t["budgets"]["global"]["reserved_usd"] == 0
    assert t["budgets"]["key:a"]["spent_usd"] == pytest.approx(0.4)


async def test_a_dead_requests_reservation_expires() -> None:
    clock = Clock()
    st = MemoryState(clock=clock)
    scope = [BudgetScope("global", 1.0)]
    assert await st.reserve("dead", 0.9, scope, ttl=30) is None
    assert await st.reserve("next", 0.5, scope, ttl=30) == "global"
    clock.now += 31
    assert await st.reserve("next", 0.5, scope, ttl=30) is None


async def test_concurrent_reservations_never_overspend() -> None:
    st = MemoryState()
    scope = [BudgetScope("global", 1.0)]

    async def one(i: int) -> bool:
        if await st.reserve(f"r{i}", 0.1, scope, 60) is not None:
            return False
        await asyncio.sleep(0)
        await st.settle(f"r{i}", scope, [rec(0.1)])
        return True

    ok = await asyncio.gather(*(one(i) for i in range(50)))
    spent = (await st.totals())["budgets"]["global"]["spent_usd"]
    assert spent <= 1.0 + 1e-9 and sum(ok) >= 9


async def test_rate_limit_window() -> None:
    clock = Clock()
    st = MemoryState(clock=clock)
    scopes = [RateScope("key:a", 2, 10.0)]
    assert await st.check_rate(scopes) is None
    assert await st.check_rate(scopes) is None
    limited = await st.check_rate(scopes)
    assert limited is not None and limited[0] == "key:a" and 0 < limited[1] <= 10
    clock.now += 10
    assert await st.check_rate(scopes) is None


async def test_ledger_totals_by_model_and_purpose() -> None:
    st = MemoryState()
    await st.settle("x", [BudgetScope("global", None)], [rec(0.1, "a"), rec(0.2, "b", "verify")])
    t = await st.totals()
    assert t["total"] == {"calls": 2, "input_tokens": 20, "output_tokens": 10, "cached_tokens": 6,
                          "cost": pytest.approx(0.3)}
    assert t["by_model"]["b"]["cost"] == pytest.approx(0.2)
    assert t["by_purpose"]["verify"]["calls"] == 1


async def test_global_budget_exhausted_gives_429_insufficient_quota(h: Any, make_client: Any) -> None:
    ac: Any = make_client(h.base_config(budget={"total_usd": 0.0015, "reservation_usd": 0.0006}))
    statuses = [(await ac.chat(h.ask(f"x [[id:{i}]]"))) for i in range(6)]
    codes = [r.status_code for r in statuses]
    assert codes[:2] == [200, 200] and 429 in codes
    refused = next(r for r in statuses if r.status_code == 429)
    assert refused.json()["error"]["code"] == "insufficient_quota"
    spent = (await ac.client.get("/automix/ledger", headers=h.AUTH)).json()["budgets"]["global"]["spent_usd"]
    assert spent <= 0.0015


async def test_per_key_budget_and_rate_limit(h: Any, make_client: Any) -> None:
    cfg = h.base_config(api_keys=[
        {"name": "poor", "key": "poor-key-123456", "budget_usd": 0.0005},
        {"name": "limited", "key": "limited-key-123456", "rate_limit": {"requests": 2, "per_seconds": 3600}},
    ], budget={"reservation_usd": 0.0004})
    ac: Any = make_client(cfg)
    poor = {"Authorization": "Bearer poor-key-123456"}
    assert (await ac.chat(h.ask("x [[id:1]]"), poor)).status_code == 200
    r = await ac.chat(h.ask("x [[id:2]]"), poor)
    assert r.status_code == 429 and r.json()["error"]["code"] == "insufficient_quota"
    assert "key:poor" in r.json()["error"]["message"]
    lim = {"Authorization": "Bearer limited-key-123456"}
    assert [(await ac.chat(h.ask(f"y [[id:{i}]]"), lim)).status_code for i in range(2)] == [200, 200]
    r = await ac.chat(h.ask("y"), lim)
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(r.headers["retry-after"]) >= 1
    assert "limited-key" not in r.text


async def test_escalation_is_capped_by_the_reservation(h: Any, make_client: Any) -> None:
    # a reservation that covers the small tier but not an escalation: the engine keeps the small answer
    ac: Any = make_client(h.base_config(budget={"reservation_usd": 0.0006}))
    r = await ac.chat(h.ask("x [[id:b]] [[escalate]]"))
    body = r.json()
    assert r.status_code == 200 and body["model"] == "small"
    assert "budget" in (body["automix"]["trace"][0]["note"] or "")
    assert body["automix"]["cost_usd"] <= 0.0006
