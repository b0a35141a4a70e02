"""Usage records, ledger totals (also under threads), budgets, and usage from generations."""

from __future__ import annotations

import threading

import pytest

from automix_core.accounting.ledger import Budget, Ledger, Totals, Usage, usage_from_generation
from automix_core.accounting.prices import PriceTable, UnknownPriceError
from automix_core.accounting.tokens import count_messages, count_tokens
from automix_core.models import Generation, Message


def _usage(model: str = "gpt-4o-mini", cost: float = 0.01, purpose: str = "answer", estimated: bool = False) -> Usage:
    return Usage.model_validate(
        {
            "model": model,
            "input_tokens": 10,
            "output_tokens": 5,
            "cost": cost,
            "estimated": estimated,
            "purpose": purpose,
            "tier": 0,
        }
    )


def test_totals_by_model_and_purpose() -> None:
    ledger = Ledger()
    ledger.record(_usage("a", 0.25, "answer"))
    ledger.record(_usage("a", 0.5, "verify", estimated=True))
    ledger.record(_usage("b", 1.0, "answer"))
    assert ledger.total == Totals(calls=3, input_tokens=30, output_tokens=15, cost=1.75, estimated_calls=1)
    assert ledger.total_cost == pytest.approx(1.75)
    assert ledger.by_model()["a"].cost == pytest.approx(0.75)
    assert ledger.by_model()["b"].calls == 1
    assert ledger.by_purpose()["verify"] == Totals(
        calls=1, input_tokens=10, output_tokens=5, cost=0.5, estimated_calls=1
    )
    before, per_model = ledger.total, ledger.by_model()
    snap = ledger.snapshot()
    assert len(snap.entries) == 3 and snap.total == ledger.total
    assert snap.by_model == per_model and snap.by_purpose == ledger.by_purpose()
    ledger.record(_usage("a", 1.0, "answer"))  # totals handed out earlier do not move with the ledger
    assert before.calls == 3 and per_model["a"].calls == 2 and snap.by_model["a"].calls == 2
    assert ledger.by_model()["a"] == Totals(calls=3, input_tokens=30, output_tokens=15, cost=1.75, estimated_calls=1)
    ledger.reset()
    assert ledger.total == Totals() and ledger.by_model() == {} and ledger.snapshot().entries == ()
    assert snap.total.calls == 3  # snapshots are copies


def test_ledger_keeps_the_latest_entries_and_every_total() -> None:
    ledger = Ledger(max_entries=3)
    for i in range(5):
        ledger.record(_usage("a", float(i)))
    snap = ledger.snapshot()
    assert [u.cost for u in snap.entries] == [2.0, 3.0, 4.0] and snap.entries_dropped == 2
    assert snap.total.calls == 5 and snap.total.cost == pytest.approx(10.0)
    ledger.reset()
    assert ledger.snapshot().entries_dropped == 0 and ledger.snapshot().entries == ()
    unbounded = Ledger(max_entries=None)
    for _ in range(20_001):
        unbounded.record(_usage())
    assert len(unbounded.snapshot().entries) == 20_001 and unbounded.snapshot().entries_dropped == 0
    assert Ledger().max_entries == 10_000
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_entries must be an int >= 1 or None"):
            Ledger(max_entries=bad)  # type: ignore[arg-type]


def test_usage_validation() -> None:
    with pytest.raises(ValueError):
        _usage(purpose="other")
    with pytest.raises(ValueError):
        _usage(cost=-1)


def test_threaded_totals_are_exact() -> None:
    ledger = Ledger()
    threads, per_thread = 8, 2000
    start = threading.Barrier(threads)

    def work(i: int) -> None:
        start.wait()
        for _ in range(per_thread):
            ledger.record(_usage(f"m{i % 2}", 0.5, "answer" if i % 2 else "verify"))
            assert ledger.snapshot().total.calls >= 1 if i == 0 else ledger.total.calls >= 1

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    n = threads * per_thread
    snap = ledger.snapshot()
    assert snap.total.calls == n and snap.total.input_tokens == 10 * n
    assert snap.total.cost == pytest.approx(0.5 * n)
    assert snap.by_model["m0"].calls == snap.by_model["m1"].calls == n // 2
    assert snap.by_purpose["verify"].calls == n // 2
    assert len(snap.entries) == 10_000 and snap.entries_dropped == n - 10_000  # the default cap


def test_budget() -> None:
    ledger = Ledger()
    budget = Budget(max_request_usd=1.0, max_total_usd=2.0, ledger=ledger)
    assert budget.allows(0.5)
    assert budget.allows(0.5, request_spent=0.5)
    assert not budget.allows(0.6, request_spent=0.5)
    ledger.record(_usage(cost=1.8))
    assert not budget.allows(0.3)
    assert budget.allows(0.2)
    assert Budget().allows(1e9, request_spent=1e9)
    assert Budget(max_total_usd=2.0, ledger=ledger).allows(0.2, request_spent=100)
    with pytest.raises(ValueError):
        Budget(max_total_usd=1.0)
    with pytest.raises(ValueError):
        Budget(max_request_usd=-1)


MESSAGES: list[Message] = [{"role": "user", "content": "What is the capital of France?"}]


def test_usage_prefers_reported_counts() -> None:
    gen = Generation(texts=["Paris"], model="gpt-4o-mini", input_tokens=100, output_tokens=20)
    usage = usage_from_generation(gen, MESSAGES, PriceTable(), "answer", 0)
    assert (usage.input_tokens, usage.output_tokens, usage.estimated) == (100, 20, False)
    assert usage.cost == pytest.approx((100 * 0.15 + 20 * 0.60) / 1e6)


def test_usage_estimates_missing_counts() -> None:
    gen = Generation(texts=["Paris", "Paris, France"], model="gpt-4o")
    usage = usage_from_generation(gen, MESSAGES, PriceTable(), "verify", 1)
    assert usage.estimated and usage.purpose == "verify" and usage.tier == 1
    assert usage.input_tokens == count_messages(MESSAGES, "gpt-4o")
    assert usage.output_tokens == count_tokens("Paris", "gpt-4o") + count_tokens("Paris, France", "gpt-4o")
    partial = Generation(texts=["Paris"], model="gpt-4o", input_tokens=7)
    usage = usage_from_generation(partial, MESSAGES, PriceTable(), "answer", 0)
    assert usage.estimated and usage.input_tokens == 7 and usage.output_tokens == 1


def test_usage_unknown_model() -> None:
    gen = Generation(texts=["x"], model="mystery", input_tokens=1, output_tokens=1)
    with pytest.raises(UnknownPriceError):
        usage_from_generation(gen, MESSAGES, PriceTable(), "answer", 0)


def test_one_call_of_several_requests_counts_each_request_and_its_prompt() -> None:
    # a backend without n draws 3 samples by 3 requests behind one call: 3 calls, 3 prompts billed
    gen = Generation(texts=["a", "b", "c"], model="gpt-4o", requests=3)
    usage = usage_from_generation(gen, MESSAGES, PriceTable(), "verify", 0)
    assert usage.requests == 3 and usage.estimated
    assert usage.input_tokens == 3 * count_messages(MESSAGES, "gpt-4o")
    ledger = Ledger()
    ledger.record(usage)
    ledger.record(usage_from_generation(Generation(texts=["x"], model="gpt-4o", input_tokens=5, output_tokens=1),
                                        MESSAGES, PriceTable(), "answer", 0))
    assert ledger.total.calls == 4 and ledger.total.estimated_calls == 3
    assert ledger.by_model()["gpt-4o"].calls == 4
    with pytest.raises(ValueError):
        Usage(model="m", input_tokens=1, output_tokens=1, cost=0.0, estimated=False, purpose="answer", tier=0,
              requests=0)
