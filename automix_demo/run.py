"""``automix demo``: AutoMix live on real local models, no API key.

Qwen2.5-Coder-0.5B answers and verifies itself (k samples in one request). A router decides whether
to escalate to Qwen2.5-Coder-1.5B: the router shipped in ``data/`` when present, else the untrained
default (accept when most verdicts say "correct"). The tiers are ``ChatOpenAI`` clients of a local
llama.cpp server, wrapped in ``AutoMixChatModel``: the same code path as with a hosted provider.
Each question also goes to the large model directly, for the "always large" comparison. Then the
shipped recorded dataset (if present) is scored: always-small, always-large and AutoMix on its test part.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from automix_core import LocalModelError, LocalServer, PriceTable, Router, evaluate
from automix_core.backends.local import MODELS, install_model
from automix_core.calibration.records import filter_records, read_records, to_arrays

__all__ = ["QUESTIONS", "run_demo"]

DATA = Path(__file__).resolve().parents[1] / "data"  # the repository's data/ (an editable install)
RECORDS = DATA / "pubmedqa_qwen_pair.jsonl"
ROUTER = DATA / "router_pubmedqa_qwen_pair.json"
SMALL, LARGE = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"

# our own short reading-comprehension items: (context, question, gold answer word)
QUESTIONS: list[tuple[str, str, str]] = [
    ("The Danube flows through ten countries, more than any other river in the world, and ends in the Black Sea.",
     "Into which sea does the Danube flow? Answer in a few words.", "black"),
    ("Marie Curie won the Nobel Prize in Physics in 1903 and the Nobel Prize in Chemistry in 1911.",
     "In which year did Marie Curie win the Nobel Prize in Chemistry? Answer with the year.", "1911"),
    ("A trial gave 120 adults vitamin D or placebo for a year; bone density did not differ between the groups.",
     "Did vitamin D improve bone density in this trial? Answer yes or no.", "no"),
    ("Python lists are mutable, while tuples cannot be changed after they are created.",
     "Can a Python tuple be modified after creation? Answer yes or no.", "no"),
    ("The train left at 9:40 and the journey took 2 hours and 35 minutes.",
     "At what time did the train arrive? Answer with the time.", "12:15"),
]


def _fmt(x: Any, width: int) -> str:
    s = " ".join(str(x).split())
    return (s[: width - 1] + "…") if len(s) > width else s.ljust(width)


def _say(msg: str) -> None:
    print(msg, flush=True)


def live(k: int, n_questions: int) -> None:
    try:
        from langchain_core.messages import HumanMessage, SystemMessage
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        from automix_langchain import AutoMixChatModel
    except ImportError as exc:
        raise LocalModelError(f"{exc}; install: pip install -e '.[local,langchain,test]'") from None
    for name in (SMALL, LARGE):
        install_model(name, progress=_say)
    prices = PriceTable(prices={SMALL: MODELS[SMALL].price, LARGE: MODELS[LARGE].price})
    router: str | None = str(ROUTER) if ROUTER.exists() else None
    _say(f"router: {ROUTER.name if router else 'untrained default (majority of verdicts)'}")
    _say("starting the llama.cpp server (2 threads) ...")
    with LocalServer([SMALL, LARGE], parallel=max(k, 1), threads=2) as srv:

        def chat(name: str) -> Any:
            return ChatOpenAI(model=name, base_url=srv.url(name) + "/v1", api_key=SecretStr("local"), temperature=0,
                              max_completion_tokens=48, extra_body={"max_tokens": 48}, timeout=600, max_retries=0)

        small, large = chat(SMALL), chat(LARGE)
        llm = AutoMixChatModel(tiers=[small, large], router=router, prices=prices, k=k, context_from="system")
        direct_cost = 0.0
        direct_right = right = 0
        _say(f"{'#':>2} {'small answer':26s} {'conf':>5s} {'decision':9s} {'final answer':26s} ok  "
             f"{'tokens':>6s} {'cost $':>10s} {'s':>5s}")
        items = QUESTIONS[: max(1, n_questions)]
        for i, (ctx, q, gold) in enumerate(items, 1):
            msgs = [SystemMessage(f"Answer from this context.\n\n{ctx}"), HumanMessage(q)]
            t0 = time.perf_counter()
            msg = llm.invoke(msgs)
            dt = time.perf_counter() - t0
            answer = str(msg.content)
            trace = msg.response_metadata["automix"]
            first = trace["trace"][0]
            ok = gold in answer.lower()
            right += ok
            usage = msg.usage_metadata or {"total_tokens": 0}
            _say(f"{i:>2} {_fmt(first['answer'], 26)} {first['confidence'] or 0:5.2f} {_fmt(first['decision'], 9)} "
                 f"{_fmt(answer, 26)} {'yes' if ok else 'no ':3s} {usage['total_tokens']:6d} {trace['cost']:10.7f} "
                 f"{dt:5.1f}")
            d = large.invoke(msgs)
            du = d.usage_metadata or {"input_tokens": 0, "output_tokens": 0}
            direct_cost += prices.cost(LARGE, du["input_tokens"], du["output_tokens"])
            direct_right += gold in str(d.content).lower()
        n = len(items)
        tot = llm.ledger.total
        _say(f"\nAutoMix:      {right}/{n} right, ${tot.cost:.7f} ({tot.input_tokens} in / {tot.output_tokens} out "
             f"tokens, {tot.calls} calls, verification included)")
        _say(f"always large: {direct_right}/{n} right, ${direct_cost:.7f} (answers only)")
        _say("local prices: $0.10 per million tokens per billion parameters (automix_core.local_price)")


def recorded() -> None:

    if not RECORDS.exists():
        _say(f"\n(no recorded dataset at {RECORDS}; skipping the recorded comparison)")
        return
    recs = read_records(RECORDS)
    train = filter_records(recs, split="train")
    test = filter_records(recs, split="test")
    if len(train) < 20 or len(test) < 10:
        _say(f"\n(recorded dataset too small so far: {len(train)} train / {len(test)} test records)")
        return
    tr, te = to_arrays(train, [SMALL, LARGE]), to_arrays(test, [SMALL, LARGE])
    _say(f"\nRecorded PubMedQA ({len(train)} train / {len(test)} test queries, k=8 samples from the 0.5B), test part:")
    _say(f"{'method':34s} {'quality':>8s} {'cost $/query':>13s} {'escalated':>10s}")
    for t, name in enumerate((SMALL, LARGE)):
        _say(f"{'always ' + name:34s} {te.score[:, t].mean():8.3f} {te.cost[:, t].mean():13.8f} {'':>10s}")
    if ROUTER.exists():
        router = Router.load(ROUTER)
        pt = router.point(te)
        _say(f"{'AutoMix (shipped router)':34s} {pt.quality:8.3f} {pt.cost:13.8f} {router.escalation_rate(te):10.1%}")
    small_verified = float((te.cost[:, 0] + te.verifier_cost[:, 0]).mean())
    if small_verified >= te.cost[:, 1].mean():
        _say(f"at these local prices, answering and verifying with the 0.5B (${small_verified:.8f}/query) already "
             "costs more than always calling the 1.5B: escalation cannot pay for itself, so ΔIBC is undefined here")
    else:
        res = evaluate(tr, te, ["pomdp", "threshold"])
        for name in ("pomdp", "threshold"):
            _say(f"mean ΔIBC over 5 cost regions, {name:10s}: {res[name].mean_dibc:7.1f}%")
    unit = [1.0, 15.0]
    res = evaluate(tr.with_unit_costs(unit), te.with_unit_costs(unit), ["pomdp", "threshold"])
    _say("with paper-style costs (small 1, large 15 per call, verification not billed):")
    for name in ("pomdp", "threshold"):
        _say(f"  mean ΔIBC over 5 cost regions, {name:10s}: {res[name].mean_dibc:7.1f}%")


def run_demo(k: int = 4, n_questions: int = len(QUESTIONS)) -> int:
    live(k, n_questions)
    recorded()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="automix demo")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--questions", type=int, default=len(QUESTIONS))
    a = ap.parse_args(argv)
    try:
        return run_demo(a.k, a.questions)
    except LocalModelError as exc:
        print(f"automix demo: {exc}", file=sys.stderr)
        return 1
