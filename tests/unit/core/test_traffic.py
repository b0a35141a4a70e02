"""Traffic capture and shadow evaluation in process (scripted models: plumbing only)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from automix_core import AutoMix, Budget, Ledger, Message, Price, PriceTable
from automix_core.testing import ScriptedModel
from automix_core.traffic import Traffic, TrafficConfig, TrafficWriter, read_traffic, wilson

PRICES = PriceTable(prices={"small": Price(input_per_million=1.0, output_per_million=1.0),
                            "large": Price(input_per_million=10.0, output_per_million=10.0)})


def _question(messages: Sequence[Message]) -> int:
    return int(re.findall(r"\bq(\d+)\b", " ".join(m["content"] for m in messages))[-1])


def small_reply(messages: Sequence[Message]) -> str:
    if any("Verdict" in m["content"] for m in messages):  # doubts one question in four: the cascade escalates
        return f"Justification: checked.\nVerdict: {'incorrect' if _question(messages) % 4 == 0 else 'correct'}"
    i = _question(messages)
    return f"answer {i}" if i % 3 else "no idea"  # disagrees with the large model under every rule


def large_reply(messages: Sequence[Message]) -> str:
    if any("Verdict" in m["content"] for m in messages):
        return "Verdict: correct"
    return f"answer {_question(messages)}"


def models() -> tuple[ScriptedModel, ScriptedModel]:
    return ScriptedModel("small", default=small_reply), ScriptedModel("large", default=large_reply)


class MemorySink:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self.records.append(json.loads(json.dumps(record)))  # JSON-ready, as a file would hold it


def test_shadowed_record_holds_every_tier_and_agreement(tmp_path: Path) -> None:
    ledger = Ledger()
    am = AutoMix(list(models()), prices=PRICES, k=2, ledger=ledger,
                 traffic=TrafficConfig(dir=str(tmp_path), shadow_rate=1.0))
    res = am.run("What is q5?")
    assert (res.answer, res.model) == ("answer 5", "small")  # the response is the cascade's, not the shadow's
    assert am.traffic is not None
    am.traffic.close()
    [rec] = read_traffic(tmp_path)
    assert rec["served"] == "small" and rec["shadow"] is True and rec["weight"] == 1.0
    assert rec["query"] == "What is q5?" and rec["reference_model"] == "large" and rec["models"] == ["small", "large"]
    small, large = rec["outputs"]["small"], rec["outputs"]["large"]
    assert small["visited"] is True and large["visited"] is False
    assert small["agrees"] is True and large["agrees"] is True and large["answer"] == "answer 5"
    assert small["confidence"] == 1.0 and small["verifier_cost"] > 0 and small["cost"] > small["verifier_cost"]
    assert rec["decisions"] == [{"model": "small", "confidence": 1.0, "decision": "accept"}]
    by = ledger.by_purpose()
    assert by["shadow"].cost == pytest.approx(large["cost"]) and by["shadow"].cost > 0
    assert res.cost == pytest.approx(by["answer"].cost + by["verify"].cost)  # the user paid only the cascade
    assert [f.name for f in tmp_path.iterdir()] == [f"traffic-{os.getpid()}-00000.jsonl"]


def test_disagreeing_answer_is_labelled_and_shadow_verifies_skipped_tiers(tmp_path: Path) -> None:
    small, large = models()
    am = AutoMix([large, small], prices=PRICES, k=2,  # large first: the cascade stops there, small is shadowed
                 traffic=TrafficConfig(dir=str(tmp_path), shadow_rate=1.0, reference="large"))
    am.run("What is q3?")
    am.traffic.close()  # type: ignore[union-attr]
    [rec] = read_traffic(tmp_path)
    out = rec["outputs"]["small"]
    assert out["visited"] is False and out["agrees"] is False and out["confidence"] == 1.0
    assert out["verifier_cost"] > 0  # the shadow verified the tier the cascade skipped


def test_store_text_false_keeps_only_labels_confidences_costs(tmp_path: Path) -> None:
    secret_q = "What is q5? my-private-prompt"
    am = AutoMix(list(models()), prices=PRICES, k=2,
                 traffic=TrafficConfig(dir=str(tmp_path), shadow_rate=1.0, store_text=False))
    am.run(secret_q, context="private context")
    am.traffic.close()  # type: ignore[union-attr]
    raw = next(tmp_path.iterdir()).read_text()
    assert "private" not in raw and "answer 5" not in raw
    [rec] = read_traffic(tmp_path)
    assert rec["query"] is None and rec["context"] is None and rec["store_text"] is False
    for o in rec["outputs"].values():
        assert o["answer"] is None and isinstance(o["agrees"], bool) and o["cost"] > 0
    assert rec["outputs"]["small"]["confidence"] == 1.0


def test_secrets_never_written(tmp_path: Path) -> None:
    writer = TrafficWriter(tmp_path, secrets=["sk-live-abcdef123456"])
    writer.write({"id": "r1", "query": "key sk-live-abcdef123456 here", "outputs": {"m": {"answer": "x"}}})
    raw = next(tmp_path.iterdir()).read_text()
    assert "sk-live" not in raw and "***" in raw


def test_rotation_bounds_the_files(tmp_path: Path) -> None:
    writer = TrafficWriter(tmp_path, max_bytes=4096, keep=2)
    for i in range(200):
        writer.write({"id": f"r{i}", "pad": "x" * 200})
    files = sorted(tmp_path.iterdir())
    assert len(files) == 3 and all(f.stat().st_size <= 4096 for f in files)
    ids = [r["id"] for r in read_traffic(tmp_path)]
    assert "r199" in ids and "r0" not in ids  # the newest kept, the oldest rotated away


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    writer = TrafficWriter(tmp_path)
    writer.write({"id": "a"})
    with writer.path.open("a") as fh:
        fh.write('{"id": "b", "out')  # a process killed mid-write
    assert [r["id"] for r in read_traffic(tmp_path)] == ["a"]


def population_run(rate: float, seed: int, n: int) -> tuple[list[dict[str, Any]], Traffic]:
    sink = MemorySink()
    traffic = Traffic(TrafficConfig(dir="unused", shadow_rate=rate, seed=seed), sink=sink)
    am = AutoMix(list(models()), prices=PRICES, k=1, traffic=traffic)
    for i in range(n):
        am.run(f"What is q{i}?")
    traffic.close()
    return sink.records, traffic


def test_weighted_estimate_from_shadowed_sample_is_unbiased() -> None:
    n, rate = 120, 0.25
    # the served answer agrees with large's unless small answered badly (i % 3 == 0) and was not escalated
    truth = sum(1 for i in range(n) if i % 3 or i % 4 == 0) / n
    estimates: list[float] = []
    totals: list[float] = []
    for seed in range(30):
        records, traffic = population_run(rate, seed, n)
        assert len(records) == n  # every request recorded, shadowed or not
        shadowed = [r for r in records if r["shadow"]]
        assert all(r["weight"] == pytest.approx(1 / rate) for r in shadowed)
        assert all(r["weight"] == 1.0 and ("large" not in r["outputs"]) == (r["served"] == "small")
                   for r in records if not r["shadow"])
        assert any(r["served"] == "large" for r in shadowed)  # escalated requests are in the sample too
        agree = [r["outputs"][r["served"]]["agrees"] for r in shadowed]
        totals.append(sum(r["weight"] * a for r, a in zip(shadowed, agree)) / n)  # Horvitz-Thompson
        snap = traffic.stats.snapshot()
        assert snap.shadowed == len(shadowed)
        assert snap.agreement is not None
        estimates.append(snap.agreement)
    se = statistics.pstdev(estimates) / len(estimates) ** 0.5
    assert abs(statistics.mean(estimates) - truth) < 4 * se + 0.005
    assert abs(statistics.mean(totals) - truth) < 0.04
    assert statistics.pstdev(estimates) > 0  # the draws differ: a real sample, not the population


def test_shadow_budget_exhaustion_stops_shadowing_not_serving(tmp_path: Path) -> None:
    ledger = Ledger()
    traffic = Traffic(TrafficConfig(dir=str(tmp_path), shadow_rate=1.0, shadow_budget_usd=2.2e-4))
    user_budget = Budget(max_total_usd=1.0, ledger=ledger)
    am = AutoMix(list(models()), prices=PRICES, k=1, ledger=ledger, budget=user_budget, traffic=traffic,
                 answer_max_tokens=8)
    answers = []
    for i in range(1, 8):
        answers.append(am.run(f"What is q{i}?").answer)
        traffic.close()  # one at a time: the budget check sees each spend
    assert answers == [small_reply([{"role": "user", "content": f"What is q{i}?"}]) for i in range(1, 8)]
    records = sorted(read_traffic(tmp_path), key=lambda r: r["timestamp"])
    flags = [r["shadow"] for r in records]
    assert len(records) == 7 and flags[0] is True and flags[-1] is False and traffic.exhausted
    assert flags == sorted(flags, reverse=True)  # once stopped, it stays stopped
    assert 0 < traffic.shadow_spent <= 2.2e-4  # checked against a worst-case estimate before each call
    shadow = ledger.by_purpose()["shadow"].cost
    assert user_budget.allows(1.0 - (ledger.total_cost - shadow) - 1e-12)  # shadow spend is not the user's


def test_async_run_records_after_returning(tmp_path: Path) -> None:
    small, large = models()
    large.delay = 0.2  # a slow reference: shadowing it must not delay the answer
    traffic = Traffic(TrafficConfig(dir=str(tmp_path), shadow_rate=1.0))
    am = AutoMix([small, large], prices=PRICES, k=1, traffic=traffic)

    async def go() -> float:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        res = await am.arun("What is q7?")
        elapsed = loop.time() - t0
        assert res.model == "small"
        await traffic.drain()
        return elapsed

    assert asyncio.run(go()) < 0.15
    [rec] = read_traffic(tmp_path)
    assert rec["outputs"]["large"]["answer"] == "answer 7" and rec["outputs"]["large"]["latency_ms"] >= 200


def test_wilson_interval() -> None:
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)


def test_config_rejects_bad_rate() -> None:
    with pytest.raises(ValueError, match="shadow_rate"):
        TrafficConfig(dir="x", shadow_rate=1.5)


def drift_record(agrees: bool) -> dict[str, Any]:
    return {"id": "x", "served": "small", "reference_model": "large", "shadow": True, "weight": 1.0,
            "decisions": [{"model": "small", "confidence": 0.9, "decision": "accept"}],
            "outputs": {"small": {"cost": 1.0, "verifier_cost": 0.5, "visited": True, "agrees": agrees},
                        "large": {"cost": 4.0, "verifier_cost": 0.0, "visited": False, "agrees": True}}}


def test_drift_fires_once_when_accepted_agreement_falls_below_floor() -> None:
    from automix_core.traffic import TrafficStats

    stats = TrafficStats(drift_floor=0.7, drift_window=10)
    fired = [stats.observe(drift_record(True)) for _ in range(10)]
    assert not any(fired) and not stats.snapshot().drift
    fired = [stats.observe(drift_record(False)) for _ in range(6)]
    assert fired.count(True) == 1 and fired.index(True) == 3  # 6/10 < 0.7 after the 4th disagreement
    snap = stats.snapshot()
    assert snap.drift and snap.cost_ratio == pytest.approx(0.25) and snap.escalation_rate == 0.0
    assert snap.agreement == pytest.approx(10 / 16)
    assert snap.agreement_low is not None and snap.agreement_low < 10 / 16 < (snap.agreement_high or 0)


class BrokenSink:
    def write(self, record: dict[str, Any]) -> None:
        raise OSError(28, "No space left on device")


def test_a_failing_sink_never_breaks_serving(caplog: pytest.LogCaptureFixture) -> None:
    traffic = Traffic(TrafficConfig(dir="unused", shadow_rate=1.0), sink=BrokenSink())
    am = AutoMix(list(models()), prices=PRICES, k=1, traffic=traffic)
    assert am.run("What is q1?").answer == "answer 1"
    traffic.close()
    assert "traffic capture failed: OSError" in caplog.text

    async def go() -> str:
        res = await am.arun("What is q2?")
        await traffic.drain()
        return res.answer

    assert asyncio.run(go()) == "answer 2"
