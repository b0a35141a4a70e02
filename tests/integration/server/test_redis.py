"""Shared state in a real Redis server: atomic reservations across clients, expiry, rate limits, totals."""

from __future__ import annotations

import asyncio

import pytest

from automix_server import RedisState, UsageRecord
from automix_server.state import BudgetScope, RateScope

pytestmark = pytest.mark.redis


async def test_concurrent_reservations_from_two_workers_never_exceed_the_limit(flush_redis: str) -> None:
    a, b = RedisState(flush_redis, "t1"), RedisState(flush_redis, "t1")
    scope = [BudgetScope("global", 6.25)]  # amounts exact in binary, so the count is exact
    results = await asyncio.gather(*(s.reserve(f"r{i}-{n}", 0.125, scope, 60) for i in range(100)
                                     for n, s in enumerate((a, b))))
    admitted = [f"r{i}-{n}" for (i, n), r in zip([(i, n) for i in range(100) for n in (0, 1)], results) if r is None]
    assert len(admitted) == 50  # 50 x 0.125 fill 6.25 exactly; every other one was refused
    assert all(r == "global" for r in results if r is not None)
    # settle 10 of them at half their reservation: room for 5 more reservations
    await asyncio.gather(*(b.settle(rid, scope, [UsageRecord("m", "answer", 1, 1, 0.0625)]) for rid in admitted[:10]))
    again = await asyncio.gather(*(a.reserve(f"s{i}", 0.125, scope, 60) for i in range(10)))
    assert sum(r is None for r in again) == 5
    t = await b.totals()
    assert t["budgets"]["global"]["spent_usd"] == pytest.approx(0.625)
    assert t["budgets"]["global"]["reserved_usd"] == pytest.approx(5.625)
    await a.aclose()
    await b.aclose()


async def test_a_dead_workers_reservation_expires(flush_redis: str) -> None:
    st = RedisState(flush_redis, "t2")
    scope = [BudgetScope("global", 1.0)]
    assert await st.reserve("dead", 0.9, scope, ttl=0.3) is None  # never settled: its worker "died"
    assert await st.reserve("next", 0.5, scope, ttl=60) == "global"
    await asyncio.sleep(0.5)
    assert await st.reserve("next", 0.5, scope, ttl=60) is None
    await st.aclose()


async def test_every_scope_or_none(flush_redis: str) -> None:
    st = RedisState(flush_redis, "t3")
    scopes = [BudgetScope("global", 10.0), BudgetScope("key:a", 0.5)]
    assert await st.reserve("r1", 0.4, scopes, 60) is None
    assert await st.reserve("r2", 0.4, scopes, 60) == "key:a"
    assert await st.reserve("r3", 0.4, [BudgetScope("global", 10.0), BudgetScope("key:b", 0.5)], 60) is None
    await st.aclose()


async def test_rate_limit_is_shared(flush_redis: str) -> None:
    a, b = RedisState(flush_redis, "t4"), RedisState(flush_redis, "t4")
    scopes = [RateScope("key:x", 3, 3600)]
    results = [await s.check_rate(scopes) for s in (a, b, a, b, a)]
    assert results[:3] == [None, None, None]
    assert results[3] is not None and results[3][0] == "key:x" and results[3][1] > 0
    await a.aclose()
    await b.aclose()


async def test_ledger_totals_sum_every_worker(flush_redis: str) -> None:
    a, b = RedisState(flush_redis, "t5"), RedisState(flush_redis, "t5")
    scope = [BudgetScope("global", None)]
    await asyncio.gather(*(s.settle(f"x{i}", scope, [UsageRecord("small", "answer", 10, 2, 0.001, 1, 4),
                                                     UsageRecord("small", "verify", 100, 8, 0.002, 1)])
                           for i in range(50) for s in (a, b)))
    t = await a.totals()
    assert t["total"]["calls"] == 200 and t["total"]["input_tokens"] == 100 * 110
    assert t["total"]["cached_tokens"] == 400
    assert t["total"]["cost"] == pytest.approx(0.3)
    assert t["by_purpose"]["verify"]["output_tokens"] == 800
    assert t["by_model"]["small"]["calls"] == 200
    await a.aclose()
    await b.aclose()
