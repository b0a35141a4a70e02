"""Load: 2,000 concurrent async requests with 10% of them hit by injected faults.

Every request must end (an answer or a clear error), carry its own trace and cost (no cross-talk:
each answer, verdict and token count is a function of the request's own question), and the ledger's
totals must equal the sum of every trace, including the traces of requests that failed.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from automix_core import AllTiersFailedError, AutoMix, AutoMixResult, Ledger, Price, PriceTable
from automix_core.models import Generation, Message, ModelError
from automix_core.testing import is_claim_call
from tests.fakes.faulty_models import is_verification

N = 2000
CONCURRENCY = 200
PRICES = PriceTable(prices={"small": Price(input_per_million=1.0, output_per_million=2.0),
                            "large": Price(input_per_million=10.0, output_per_million=20.0)})
KINDS = ("raise", "hang", "empty", "no_choices")
QID = re.compile(r"Q(\d+):")


def faulty(i: int) -> bool:
    return i % 10 == 7  # 10% of the requests


def persistent(i: int) -> bool:
    return (i // 10) % 2 == 0  # half of them fail on every attempt, the others only once


def kind(i: int) -> str:
    return KINDS[(i // 20) % len(KINDS)]


def large_fails(i: int) -> bool:
    return i % 200 == 7  # persistent small failure AND a failing large tier: the request fails


def small_answer(i: int) -> str:
    return f"S{i}" + " pad" * (i % 5)  # output tokens depend on the request


def verdict(i: int) -> str:
    return "correct" if i % 3 else "incorrect"


@dataclass
class LoadModel:
    """Answers and verifies as a function of the question id in the prompt; fails on cue."""

    model_name: str
    large: bool = False
    attempts: Counter[tuple[int, str]] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return self.model_name

    @property
    def supports_n(self) -> bool:
        return True

    @property
    def context_window(self) -> int | None:
        return 4096

    def generate(self, messages: Sequence[Message], **kw: object) -> Generation:
        raise AssertionError("async only")

    async def agenerate(
        self, messages: Sequence[Message], *, n: int = 1, temperature: float = 0.0, max_tokens: int | None = None,
        stop: Sequence[str] | None = None, logprobs: int | None = None,
    ) -> Generation:
        if is_claim_call(messages):  # the verifier's restatement of a long answer's claim: a faithful copy
            asked = QID.search(messages[-3]["content"])  # the answer call's question, continued
            assert asked is not None
            return Generation(texts=[messages[-2]["content"]] * n, model=self.model_name,
                              input_tokens=10 + int(asked.group(1)) % 7,
                              output_tokens=len(messages[-2]["content"].split()) * n)
        verify = is_verification(messages)
        match = QID.search(messages[-1]["content"])
        assert match is not None
        i = int(match.group(1))
        purpose = "verify" if verify else "answer"
        with self._lock:
            self.attempts[(i, purpose)] += 1
            attempt = self.attempts[(i, purpose)]
        await asyncio.sleep(0)  # yield to the other requests mid-call
        fault = None
        if not verify and not self.large and faulty(i) and (persistent(i) or attempt == 1):
            fault = kind(i)
        if not verify and self.large and large_fails(i):
            fault = "raise"
        if fault is not None:
            with self._lock:
                self.injected[fault] += 1
        if fault == "raise":
            raise ModelError(f"{self.model_name}: injected failure for Q{i}", model=self.model_name)
        if fault == "hang":
            await asyncio.Event().wait()
        if fault == "no_choices":
            return Generation(texts=[], model=self.model_name)
        if verify:
            quoted = messages[-1]["content"]
            own = any(f"| {a}\n⟦/answer⟧" in quoted for a in (small_answer(i), f"L{i}"))  # this request's answer
            texts = [f"Justification: Q{i}.\nVerdict: {verdict(i) if own else 'incorrect'}"] * n
        else:
            texts = [("" if fault == "empty" else f"L{i}" if self.large else small_answer(i))]
        return Generation(texts=texts, model=self.model_name, input_tokens=10 + i % 7,
                          output_tokens=sum(len(t.split()) for t in texts))


def expected(i: int) -> tuple[str, int] | None:
    """(answer, tier) the request must end with, or None when every tier must fail."""
    small_ok = not (faulty(i) and persistent(i))
    if small_ok and verdict(i) == "correct":
        return small_answer(i), 0
    if large_fails(i):
        return None if not small_ok else (small_answer(i), 0)
    return f"L{i}", 1


def test_2000_async_requests_with_injected_faults() -> None:
    ledger = Ledger()
    small, large = LoadModel("small"), LoadModel("large", large=True)
    am = AutoMix([small, large], prices=PRICES, ledger=ledger, k=3, retries=1, timeout=0.5)

    async def main() -> list[AutoMixResult | BaseException]:
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> AutoMixResult:
            async with sem:
                return await am.arun(f"Q{i}: what is the code of request {i}?")

        return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(N)), return_exceptions=True), 120)

    outcomes = asyncio.run(main())
    assert len(outcomes) == N
    traces = []
    failed = 0
    for i, out in enumerate(outcomes):
        want = expected(i)
        if want is None:
            assert isinstance(out, AllTiersFailedError), (i, out)
            assert f"injected failure for Q{i}" in str(out) and str(out).count("\n  tier ") == 2
            traces.extend(out.trace)
            failed += 1
            continue
        assert isinstance(out, AutoMixResult), (i, out)
        assert (out.answer, out.tier) == want, i
        first = out.trace[0]
        if first.answer:  # the small tier answered: its answer, verdicts and tokens are this request's own
            assert first.answer == small_answer(i)
            assert first.samples == [f"Justification: Q{i}.\nVerdict: {verdict(i)}"] * 3
            assert first.confidence == (1.0 if verdict(i) == "correct" else 0.0)
            answer_usage = [u for u in first.usage if u.purpose == "answer"][-1]  # after any empty retry
            assert answer_usage.input_tokens == 10 + i % 7 and answer_usage.output_tokens == 1 + i % 5
        else:
            assert faulty(i) and persistent(i) and (first.error or first.note)
        for t in out.trace:
            assert all(u.input_tokens == 10 + i % 7 for u in t.usage)  # no usage from another request
        traces.extend(out.trace)
    # the injected faults: 10% of the requests, every kind, and the all-tier failures
    assert sum(faulty(i) for i in range(N)) == N // 10
    assert set(small.injected) == set(KINDS) and failed == N // 200
    assert large.injected["raise"] == 2 * failed  # first attempt and one retry
    total_injected = sum(small.injected.values()) + sum(large.injected.values())
    assert total_injected >= N // 10
    # the ledger holds exactly the calls of every trace
    usages = [u for t in traces for u in t.usage]
    assert ledger.total.calls == len(usages)
    assert ledger.total.input_tokens == sum(u.input_tokens for u in usages)
    assert ledger.total.output_tokens == sum(u.output_tokens for u in usages)
    assert ledger.total_cost == pytest.approx(sum(u.cost for u in usages), rel=1e-9)
    print(f"\n{N} requests, {total_injected} injected faults ({dict(small.injected)} small, "
          f"{dict(large.injected)} large), {failed} ended with AllTiersFailedError, the rest answered")
