"""Faults: tiers that raise, hang, answer empty or malformed; retries, escalation, one error listing
every tier's failure, timeouts on the async path, cancellation reaching child calls, budgets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from automix_core import AllTiersFailedError, AutoMix, AutoMixResult, Budget, Ledger, Price, PriceTable, TierTrace
from automix_core.verify import Verifier
from automix_langchain import AutoMixChatModel
from tests.fakes.faulty_models import FaultyModel, verdict_reply
from tests.fakes.langchain_models import ScriptedChatModel

PRICES = PriceTable(prices={"small": Price(input_per_million=1.0, output_per_million=2.0),
                            "large": Price(input_per_million=10.0, output_per_million=20.0)})
FAILURES = ["raise", "crash", "empty", "no_choices", "bad_usage"]
HANG_LIMIT = 10.0  # generous "did not hang" bound, seconds


def tiers(small_faults: list[str | None], *, then: str | None = None, large_then: str | None = None,
          small_verdict: str = "correct", only: str | None = "answer") -> tuple[FaultyModel, FaultyModel]:
    small = FaultyModel("small", verdict_reply(small_verdict, "small answer"), faults=list(small_faults), then=then,
                        only=only)
    large = FaultyModel("large", verdict_reply("correct", "large answer"), then=large_then)
    return small, large


def run(am: AutoMix, mode: str, question: str = "What is the answer?") -> AutoMixResult:
    if mode == "sync":
        return am.run(question)
    return asyncio.run(asyncio.wait_for(am.arun(question), HANG_LIMIT))


def ledger_matches(ledger: Ledger, traces: list[TierTrace]) -> None:
    usages = [u for t in traces for u in t.usage]
    assert ledger.total.calls == len(usages)
    assert ledger.total.input_tokens == sum(u.input_tokens for u in usages)
    assert ledger.total.output_tokens == sum(u.output_tokens for u in usages)
    assert ledger.total_cost == pytest.approx(sum(u.cost for u in usages))


# --- one failing call: retried, then answered by the same tier ---------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("fault", [*FAILURES, "hang"])
def test_transient_fault_is_retried(fault: str, mode: str) -> None:
    if fault == "hang" and mode == "sync":
        pytest.skip("the sync path relies on the model's own timeout")
    if fault == "crash":  # a plain exception is not known to be transient: no retry, straight escalation
        pytest.skip("covered by test_persistent_fault_escalates")
    small, large = tiers([fault])
    am = AutoMix([small, large], prices=PRICES, k=2, retries=1, timeout=0.2)
    res = run(am, mode)
    assert (res.answer, res.tier) == ("small answer", 0)
    assert small.calls == ["answer", "answer", "verify"] and large.calls == []
    ledger_matches(am.ledger, res.trace)
    if fault == "hang":
        assert small.cancelled == ["answer"]  # the timed-out call was cancelled, not left running


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("fault", [*FAILURES, "hang"])
@pytest.mark.parametrize("retries", [0, 2])
def test_persistent_fault_escalates(fault: str, mode: str, retries: int) -> None:
    if fault == "hang" and mode == "sync":
        pytest.skip("the sync path relies on the model's own timeout")
    small, large = tiers([], then=fault)
    am = AutoMix([small, large], prices=PRICES, k=2, retries=retries, timeout=0.1)
    res = run(am, mode)
    assert (res.answer, res.tier) == ("large answer", 1)
    attempts = 1 if fault == "crash" else retries + 1  # only retryable errors (and empty answers) are retried
    assert small.calls == ["answer"] * attempts
    first = res.trace[0]
    assert first.decision == "escalate" and first.decision_target == 1 and first.answer in (None, "")
    assert (first.error is not None) or first.note == "empty answer"
    ledger_matches(am.ledger, res.trace)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_no_usage_is_estimated_not_a_failure(mode: str) -> None:
    small, large = tiers([], then="no_usage", only=None)
    am = AutoMix([small, large], prices=PRICES, k=2)
    res = run(am, mode)
    assert res.tier == 0 and all(u.estimated for u in res.usage) and res.cost > 0
    assert res.trace[0].to_dict()["estimated_usage"] is True
    ledger_matches(am.ledger, res.trace)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("fault", [*FAILURES, "hang"])
def test_failing_verification_escalates(fault: str, mode: str) -> None:
    if fault == "hang" and mode == "sync":
        pytest.skip("the sync path relies on the model's own timeout")
    small, large = tiers([], then=fault, only="verify")
    am = AutoMix([small, large], prices=PRICES, k=3, retries=1, timeout=0.1)
    res = run(am, mode)
    assert (res.answer, res.tier) == ("large answer", 1)
    assert res.trace[0].confidence == 0.0
    if fault in ("raise", "crash", "no_choices", "bad_usage", "hang"):
        assert "verification failed" in (res.trace[0].error or "")
    ledger_matches(am.ledger, res.trace)


# --- every tier fails: one error naming each tier's failure --------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_all_tiers_fail_one_error_lists_each(mode: str) -> None:
    mid = FaultyModel("mid", verdict_reply("correct", "x"), then="no_choices")
    small, large = tiers([], then="raise", large_then="empty")
    prices = PRICES.with_prices({"mid": Price(input_per_million=3.0, output_per_million=3.0)})
    am = AutoMix([small, mid, large], router=None, prices=prices, k=2, retries=1, timeout=0.1)
    with pytest.raises(AllTiersFailedError) as info:
        run(am, mode)
    text = str(info.value)
    assert "tier 0 (small): ModelError: small: injected 503" in text
    assert "tier 1 (mid): ModelError: mid: malformed response: no choices" in text
    assert "tier 2 (large): ModelError: large: empty answer" in text
    assert [name for name, _ in info.value.failures] == ["small", "mid", "large"]
    assert [t.tier for t in info.value.trace] == [0, 1, 2]
    assert len(large.calls) == 2  # the empty answer was retried once, and both were billed
    ledger_matches(am.ledger, info.value.trace)
    assert info.value.cost == pytest.approx(am.ledger.total_cost) and am.ledger.total_cost > 0


def test_hanging_tiers_do_not_hang_the_request() -> None:
    small, large = tiers([], then="hang", large_then="hang")
    am = AutoMix([small, large], prices=PRICES, k=2, retries=1, timeout=0.05)
    with pytest.raises(AllTiersFailedError, match="no reply within 0.05 s"):
        run(am, "async")
    assert small.cancelled == ["answer", "answer"] and large.cancelled == ["answer", "answer"]


# --- cancellation reaches the children --------------------------------------------------------------


async def _cancel_when_started(am: AutoMix, started: asyncio.Event) -> asyncio.Task[AutoMixResult]:
    task = asyncio.ensure_future(am.arun("What is the answer?"))
    await asyncio.wait_for(started.wait(), HANG_LIMIT)
    await asyncio.sleep(0.01)  # let every concurrent child start
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, HANG_LIMIT)
    return task


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_cancelling_arun_cancels_the_verification_samples(timeout: float | None) -> None:
    async def main() -> None:
        started = asyncio.Event()
        small = FaultyModel("small", verdict_reply("correct", "small answer"), then="hang", only="verify",
                            n_supported=False, started=started)
        large = FaultyModel("large", verdict_reply("correct", "large answer"))
        am = AutoMix([small, large], prices=PRICES, k=4, timeout=timeout)
        task = await _cancel_when_started(am, started)
        assert task.cancelled()
        assert small.cancelled == ["verify"] * 4  # all k concurrent samples were cancelled
        assert large.calls == []

    asyncio.run(main())


def test_cancelling_arun_cancels_the_answer_call() -> None:
    async def main() -> None:
        started = asyncio.Event()
        small = FaultyModel("small", verdict_reply("correct", "x"), then="hang", started=started)
        am = AutoMix([small, FaultyModel("large", verdict_reply("correct", "y"))], prices=PRICES, k=2)
        await _cancel_when_started(am, started)
        assert small.cancelled == ["answer"]

    asyncio.run(main())


def test_cancelling_averify_cancels_samples_and_a_failed_sample_cancels_its_siblings() -> None:
    async def main() -> None:
        started = asyncio.Event()
        model = FaultyModel("small", verdict_reply("correct", "x"), then="hang", n_supported=False, started=started)
        task = asyncio.ensure_future(Verifier(model, k=3).averify("q", "a"))
        await asyncio.wait_for(started.wait(), HANG_LIMIT)
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled() and model.cancelled == ["verify"] * 3

        failing = FaultyModel("small", verdict_reply("correct", "x"), faults=["hang", "hang", "raise"],
                              n_supported=False)
        with pytest.raises(Exception, match="injected 503"):
            await asyncio.wait_for(Verifier(failing, k=3).averify("q", "a"), HANG_LIMIT)
        assert failing.cancelled == ["verify"] * 2

    asyncio.run(main())


class HangingVerifier(BaseChatModel):
    """A LangChain chat model whose first call fails and whose later calls hang until cancelled."""

    _calls: int = PrivateAttr(default=0)
    _cancelled: list[int] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "hanging"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        raise AssertionError("async only")

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        self._calls += 1
        n = self._calls
        if n == 3:
            await asyncio.sleep(0.02)
            raise ConnectionError("verifier down")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self._cancelled.append(n)
            raise
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="never"))])


def test_langchain_failed_sample_cancels_its_siblings() -> None:
    verifier = HangingVerifier()
    model = AutoMixChatModel(
        tiers=[ScriptedChatModel(model_name="small", answer="small"), ScriptedChatModel(model_name="large",
                                                                                       answer="large")],
        verifiers=[verifier, None], prices=PriceTable(default=Price(input_per_million=0, output_per_million=0)),
        k=3, retries=0, timeout=HANG_LIMIT)

    async def main() -> None:
        out = await asyncio.wait_for(model.ainvoke("q?"), HANG_LIMIT)
        assert isinstance(out, AIMessage) and out.content == "large"
        # checked before the loop closes (asyncio.run would cancel orphans itself at shutdown)
        assert sorted(verifier._cancelled) == [1, 2]  # the two hanging samples were cancelled, not orphaned
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []

    asyncio.run(main())


# --- budgets ---------------------------------------------------------------------------------------------


def test_overall_budget_runs_out_mid_run_and_stops_escalation_cleanly() -> None:
    ledger = Ledger()
    small = FaultyModel("small", verdict_reply("incorrect", "small answer"))  # always escalates
    large = FaultyModel("large", verdict_reply("correct", "large answer"))
    probe = AutoMix([FaultyModel("small", small.reply), FaultyModel("large", large.reply)], prices=PRICES, k=2)
    one = probe.run("Question number 0000?").cost  # one escalated request, both tiers
    cap = 10.5 * one  # about ten escalated requests fit
    am = AutoMix([small, large], prices=PRICES, k=2, ledger=ledger, answer_max_tokens=8,
                 budget=Budget(max_total_usd=cap, ledger=ledger))
    results = [am.run(f"Question number {i:04d}?") for i in range(60)]
    escalated = [r.escalated for r in results]
    assert any(escalated) and not all(escalated)
    first_stop = escalated.index(False)
    assert all(escalated[:first_stop]) and not any(escalated[first_stop:])  # once out, it stays out
    for r in results[first_stop:]:
        assert r.tier == 0 and r.answer == "small answer"
        assert r.trace[0].decision == "accept" and "budget: escalation to tier 1" in (r.trace[0].note or "")
        assert r.trace[0].to_dict()["note"] == r.trace[0].note
    large_spend = ledger.by_model()["large"].cost
    assert large_spend <= cap  # no escalation went past the cap
    assert len(large.calls) == first_stop and 5 <= first_stop <= 11
    ledger_matches(ledger, [t for r in results for t in r.trace])


def test_budget_blocks_escalation_after_a_failure() -> None:
    ledger = Ledger()
    small, large = tiers([], then="raise")
    am = AutoMix([small, large], prices=PRICES, k=2, ledger=ledger, retries=0,
                 budget=Budget(max_request_usd=1e-9))
    with pytest.raises(AllTiersFailedError) as info:
        am.run("q?")
    assert "tier 1 (large): ModelError: large: not tried, the budget would be exceeded" in str(info.value)
    assert "budget" in (info.value.trace[0].note or "") and large.calls == []
    # with an earlier answer in hand, a failure at a tier the budget cannot leave keeps that answer
    small = FaultyModel("small", verdict_reply("incorrect", "small answer"))
    mid = FaultyModel("mid", verdict_reply("incorrect", "x"), then="raise", only="answer")
    prices = PRICES.with_prices({"mid": Price(input_per_million=1.0, output_per_million=1.0)})
    am = AutoMix([small, mid, large], prices=prices, k=2, retries=0, answer_max_tokens=4,
                 budget=Budget(max_request_usd=0.0004))
    res = am.run("q?")
    assert (res.answer, res.tier) == ("small answer", 0) and large.calls == []
    assert "budget" in (res.trace[1].note or "") and "kept an earlier answer" in (res.trace[1].note or "")
