"""The whole cascade end to end on a real local model: llama.cpp serving SmolLM2-135M.

Asserts behaviour, not a weak model's accuracy: samples come back, confidences are in [0, 1],
escalation happens exactly when the policy says so, and the ledger equals the usage of every call
made (as counted from the server's responses). Skips without xllamacpp or the weights
(`make test` installs both first).
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from automix_core import AutoMix, Generation, Ledger, Message, PriceTable
from automix_core.backends.local import MODELS, LocalServer
from automix_core.backends.openai_compat import OpenAICompatibleModel
from automix_core.calibration.records import read_records, to_arrays
from automix_core.policies import ThresholdPolicy

pytestmark = pytest.mark.local


class Recording:
    """Wraps a client and keeps every Generation it returned."""

    def __init__(self, inner: OpenAICompatibleModel) -> None:
        self.inner = inner
        self.seen: list[Generation] = []

    name = property(lambda self: self.inner.name)
    supports_n = property(lambda self: self.inner.supports_n)
    context_window = property(lambda self: self.inner.context_window)

    def generate(self, messages: Sequence[Message], **kw: Any) -> Generation:
        g = self.inner.generate(messages, **kw)
        self.seen.append(g)
        return g

    async def agenerate(self, messages: Sequence[Message], **kw: Any) -> Generation:
        g = await self.inner.agenerate(messages, **kw)
        self.seen.append(g)
        return g


def test_cascade_on_real_server(smollm_server: LocalServer) -> None:
    small = Recording(smollm_server.model(name="small"))
    large = Recording(smollm_server.model(name="large"))
    price = MODELS["smollm2-135m"].price
    prices = PriceTable(prices={"small": price, "large": price})
    ledger = Ledger()
    # threshold above 1: always escalate; threshold 0: never
    # verify_defence=False judges answers as written: this test counts verdict samples, and SmolLM2's
    # restatements of its own answers are not faithful (claims would escalate without a verdict)
    always = AutoMix([small, large], router=ThresholdPolicy(2, [1.1]), prices=prices, ledger=ledger, k=4,
                     answer_max_tokens=16, verify_max_tokens=24, verify_defence=False)
    res = always.run("Is the sky blue on a clear day?", context="On clear days the sky looks blue.")
    assert [t.tier for t in res.trace] == [0, 1] and res.tier == 1 and res.model == "large"
    conf = res.trace[0].confidence
    assert conf is not None and 0.0 <= conf <= 1.0
    assert len(res.trace[0].samples) == 4 and len(res.trace[0].verdicts) == 4
    never = AutoMix([small, large], router=ThresholdPolicy(2, [0.0]), prices=prices, ledger=ledger, k=2,
                    answer_max_tokens=16, verify_max_tokens=24, verify_defence=False)
    res2 = asyncio.run(never.arun("What is 2 + 2?"))
    assert [t.tier for t in res2.trace] == [0] and res2.tier == 0
    calls = small.seen + large.seen
    assert len(calls) == 2 + 1 + 2  # answer+verify+answer, then answer+verify
    assert all(g.input_tokens and g.output_tokens is not None for g in calls)
    assert ledger.total.calls == len(calls) and ledger.total.estimated_calls == 0
    assert ledger.total.input_tokens == sum(g.input_tokens or 0 for g in calls)
    assert ledger.total.output_tokens == sum(g.output_tokens or 0 for g in calls)
    assert ledger.total.cost == pytest.approx(res.cost + res2.cost)
    assert ledger.total.cost == pytest.approx(price.cost(ledger.total.input_tokens, ledger.total.output_tokens,
                                                         ledger.total.cached_input_tokens))


def test_collect_resumes_after_kill_9(tmp_path: Path) -> None:
    """`automix collect` on the real server, killed with SIGKILL mid-run, then resumed."""
    from tests.conftest import require_smollm

    require_smollm()
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(
        json.dumps({"id": f"q{i}", "question": f"Is {i} an even number? Answer yes or no.",
                    "answer": "yes" if i % 2 == 0 else "no"}) + "\n" for i in range(3)))
    out = tmp_path / "records.jsonl"
    cmd = [sys.executable, "-m", "automix_core.cli.main", "collect", str(data), "--models",
           "small=smollm2-135m,large=smollm2-135m", "-o", str(out), "--k", "2", "--concurrency", "1",
           "--labels", "yes,no"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = out.read_text().count("\n")
    assert 1 <= before <= 3
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = out.read_text().splitlines()
    ids = [json.loads(line)["id"] for line in lines]  # every line parses
    assert sorted(ids) == [f"q{i}" for i in range(3)]  # every record exactly once
    recs = read_records(out)
    arr = to_arrays(recs, ["small", "large"])
    assert ((arr.confidence >= 0) & (arr.confidence <= 1)).all()
    assert f"skipped (already done) {before}" in done.stdout


def test_continuation_verification_reuses_the_answer_prefix(smollm_server: LocalServer) -> None:
    """The ``continue`` layout sends the answer call's messages first: llama.cpp serves them from its cache."""
    small = Recording(smollm_server.model(name="small"))
    price = MODELS["smollm2-135m"].price
    mix = AutoMix([small, small], router=ThresholdPolicy(2, [0.0]), prices=PriceTable(prices={"small": price}),
                  verify_prompt="continue", verify_mode="logprob", answer_max_tokens=16, verify_max_tokens=24)
    context = " ".join(f"Fact {i}: the lighthouse on island {i} is painted white and red." for i in range(20))
    res = mix.run("What colours is the lighthouse on island 7 painted?", context=context)
    answer_gen, *verify_gens = small.seen
    assert verify_gens, "the answer was verified"
    answer_usage, *verify_usage = res.trace[0].usage
    assert answer_usage.purpose == "answer" and all(u.purpose == "verify" for u in verify_usage)
    # the verification prompt extends the answer prompt, so most of it came from the server's cache
    assert verify_gens[0].input_tokens is not None and answer_gen.input_tokens is not None
    assert verify_gens[0].input_tokens > answer_gen.input_tokens
    cached = verify_gens[0].cached_input_tokens
    assert cached is not None and cached >= answer_gen.input_tokens // 2
    assert verify_usage[0].cached_input_tokens == cached


def test_restatement_call_is_billed_as_the_server_reports(smollm_server: LocalServer) -> None:
    """Claims on (the default): an answer longer than a few words is restated by the verifying model in one
    extra greedy call, billed like any verification call; the ledger equals what the server reported."""
    small = Recording(smollm_server.model(name="small"))
    large = Recording(smollm_server.model(name="large"))
    price = MODELS["smollm2-135m"].price
    ledger = Ledger()
    mix = AutoMix([small, large], router=ThresholdPolicy(2, [1.1]), prices=PriceTable(prices={"small": price,
                  "large": price}), ledger=ledger, k=2, answer_max_tokens=24, verify_max_tokens=24)
    res = mix.run("Describe the colour of the sky on a clear day in one sentence.")
    first = res.trace[0]
    assert first.answer and len(first.answer.split()) > 4 and first.claim  # restated: its claim recorded
    verify = [u for u in first.usage if u.purpose == "verify"]
    # the restatement, its claim restated again on its own when faithful (one more call), then the 2 verdict
    # samples (one request with n, or one each) or none (a claim that does not restate the answer's value, either
    # time, escalates unjudged)
    assert (len(verify) in (1, 2) and not first.verdicts) or (len(verify) in (2, 3, 4) and len(first.verdicts) == 2)
    assert verify[0].output_tokens <= 24  # the restatement comes first: a short greedy call
    calls = small.seen + large.seen
    assert ledger.total.calls == len(calls) == 1 + len(verify) + 1 and ledger.total.estimated_calls == 0
    assert ledger.total.input_tokens == sum(g.input_tokens or 0 for g in calls)
    assert ledger.total.output_tokens == sum(g.output_tokens or 0 for g in calls)
