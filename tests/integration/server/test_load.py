"""Load: two workers sharing a real Redis, 1,000 requests at concurrency 64, an upstream with 10% faults.

Every request ends (an answer or an OpenAI error), no response carries another request's trace, the
Redis totals equal the sum of the responses' usage, and a global budget set to run out mid-test is
overspent by at most one reservation.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.redis

N = 1000
CONCURRENCY = 64
RESERVATION = 0.002  # >= the worst case of one request here (both tiers answer and retry, verification too)
BUDGET = 0.2  # about 40% of what the 1,000 requests would cost


def _answers(body: dict[str, Any]) -> list[str]:
    return [t["answer"] for t in body.get("automix", {}).get("trace", []) if t.get("answer")]


async def test_two_workers_redis_faults_budget(it: Any, start_fake: Any, start_server: Any, flush_redis: str) -> None:
    upstream = start_fake(fault_rate=0.1, slow_s=3.0, seed=15)
    cfg = it.fake_config(upstream, budget={"total_usd": BUDGET, "reservation_usd": RESERVATION,
                                           "reservation_timeout_s": 120})
    served = start_server(cfg, "--workers", "2", "--redis", flush_redis, "--log-level", "warning")
    sem = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=served.url, headers=it.AUTH, timeout=120, limits=limits) as client:

        async def one(i: int) -> tuple[int, int, dict[str, Any]]:
            extra = " [[escalate]]" if i % 4 == 0 else ""
            body = {"model": "automix", "messages": [{"role": "user", "content": f"q{i} [[id:req-{i}]]{extra}"}]}
            async with sem:
                r = await client.post("/v1/chat/completions", json=body)
            return i, r.status_code, r.json()

        results = await asyncio.gather(*(one(i) for i in range(N)))
        ledger = (await client.get("/automix/ledger")).json()
        metrics = (await client.get("/metrics")).text
        # fresh connections: the kernel hands each to one of the workers sharing the socket
        # (the kernel may hand a run of them to the same worker: keep asking, pausing, until both answered)
        pids: set[int] = set()
        for _ in range(200):
            pids.add((await client.get("/health", headers={"connection": "close"})).json()["pid"])
            if len(pids) == 2:
                break
            await asyncio.sleep(0.05)

    statuses = [s for _, s, _ in results]
    # every request ended, with an answer or an OpenAI error
    assert len(results) == N
    assert set(statuses) <= {200, 429, 502, 504}, sorted(set(statuses))
    for _, s, body in results:
        if s == 200:
            assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"]
        else:
            assert set(body["error"]) == {"message", "type", "param", "code"}
    ok = [(i, b) for i, s, b in results if s == 200]
    failed = [(i, b) for i, s, b in results if s in (502, 504)]
    refused = [b for _, s, b in results if s == 429]
    assert len(ok) > 100 and refused, (len(ok), len(refused))
    assert all(b["error"]["code"] == "insufficient_quota" for b in refused)
    # the budget ran out mid-test: requests were answered before and refused after
    first_refused = statuses.index(429)
    assert 0 < first_refused < N - 1

    # no response carries another request's trace
    for i, b in ok:
        assert b["choices"][0]["message"]["content"] == f"answer from {b['model']}: req-{i}"
        assert b["automix"]["request_id"] == b["id"]
        for a in _answers(b):
            assert re.search(rf"\breq-{i}$", a), (i, a)
    for i, b in failed:
        for a in _answers(b):
            assert a.endswith(f"req-{i}"), (i, a)

    # the Redis totals equal the sum of the responses' usage (answers, failures: everything paid for)
    usages = [b["usage"] for _, b in ok] + [b["automix"]["usage"] for _, b in failed]
    assert ledger["total"]["input_tokens"] == sum(u["prompt_tokens"] for u in usages)
    assert ledger["total"]["output_tokens"] == sum(u["completion_tokens"] for u in usages)
    cost = sum(b["automix"]["cost_usd"] for _, b in ok + failed)
    assert ledger["total"]["cost"] == pytest.approx(cost, rel=1e-9)
    assert ledger["total"]["cached_tokens"] == sum(u.get("prompt_tokens_details", {}).get("cached_tokens", 0)
                                                   for u in usages)

    # the global budget is overspent by at most one reservation, and no reservation is left open
    spent = ledger["budgets"]["global"]["spent_usd"]
    assert spent == pytest.approx(cost, rel=1e-9)
    assert spent <= BUDGET + RESERVATION
    assert ledger["budgets"]["global"]["reserved_usd"] == 0
    assert all(b["automix"]["cost_usd"] <= RESERVATION for _, b in ok + failed)

    # both workers served, and /metrics counts every worker's requests whichever worker answers
    assert len(pids) == 2
    served_count = sum(float(v) for v in re.findall(r'^automix_requests_total\{[^}]*\} (\S+)$', metrics, re.M))
    refused_count = sum(float(v) for v in re.findall(r'^automix_refused_total\{reason="budget"\} (\S+)$', metrics,
                                                     re.M))
    assert served_count == len(ok) + len(failed)
    assert refused_count == len(refused)
    assert it.UPSTREAM_KEY not in served.logs() and it.CLIENT_KEY not in served.logs()
