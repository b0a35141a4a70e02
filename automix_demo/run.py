"""``automix demo``: AutoMix live on real local models, no API key.

Qwen2.5-Coder-0.5B answers and verifies itself; a router decides whether to escalate to
Qwen2.5-Coder-1.5B: the router shipped in the package (``Router.shipped("pubmedqa-qwen-pair")``, package
data found with ``importlib.resources``, so the demo runs the same from any folder and any install).
The cascade runs with its default settings, as ``automix serve
--local`` runs it: ``AutoMix`` over the two models served by llama.cpp (``LocalServer``), verifying
the way the router was calibrated (its JSON records the method; see
``automix_core.verify.method``). Each question also goes to the 1.5B alone, for "always large";
"always small" is the 0.5B's own answer in the cascade (its answer call, without verification).
The totals say what each costs with verification (what a user pays), the verification-free figure
of the paper's protocol beside it, and the share of prompt tokens served from llama.cpp's cache.
Then the shipped recorded dataset is scored: always-small, always-large and AutoMix on its test part
(``automix demo --recorded-only`` runs this part alone: no model, no download). Last, the learning loop
(:mod:`.loop`): serve with shadowing, learn a router from that traffic without labels, before/after,
the report (``--learn-questions N``; -1 skips it; with ``--recorded-only`` it learns from the replayed
recordings alone).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from automix_core import AutoMix, CascadeSettings, Ledger, LocalServer, PriceTable, Router
from automix_core.backends.local import MODELS, install_model
from automix_core.calibration import evaluate
from automix_core.calibration.records import filter_records, read_records, to_arrays
from automix_core.calibration.reverify import records_method
from automix_core.errors import LocalModelError
from automix_core.shipped import shipped_records, shipped_router_path

__all__ = ["QUESTIONS", "run_demo"]

RECORDS = shipped_records("pubmedqa-qwen-pair-continue")  # verified as the shipped router was calibrated
ROUTER = shipped_router_path("pubmedqa-qwen-pair")
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


def _sum(entries: Any, attr: str, **match: Any) -> float:
    return float(sum(getattr(e, attr) for e in entries if all(getattr(e, k) == v for k, v in match.items())))


def live(k: int | None, n_questions: int) -> None:
    for name in (SMALL, LARGE):
        install_model(name, progress=_say)
    prices = PriceTable(prices={SMALL: MODELS[SMALL].price, LARGE: MODELS[LARGE].price})
    router = Router.load(ROUTER)
    _say(f"router: {ROUTER.name} (shipped, {ROUTER})")
    _say("starting the llama.cpp server (2 threads) ...")
    with LocalServer([SMALL, LARGE], threads=2) as srv:
        ledger, direct = Ledger(), Ledger()
        tiers = [srv.model(SMALL), srv.model(LARGE)]
        mix = AutoMix(tiers, router=router, prices=prices, ledger=ledger,
                      settings=CascadeSettings(answer_max_tokens=48, k=k))
        alone = AutoMix(tiers, router=router, prices=prices, ledger=direct, answer_max_tokens=48)
        _say(f"verification: {mix.methods[0].describe()} (the router's method unless --k/settings say otherwise)")
        right = small_right = large_right = 0
        _say(f"{'#':>2} {'small answer':26s} {'conf':>5s} {'decision':9s} {'final answer':26s} ok  "
             f"{'tokens':>6s} {'cost $':>10s} {'s':>5s}")
        items = QUESTIONS[: max(1, n_questions)]
        for i, (ctx, q, gold) in enumerate(items, 1):
            before = ledger.total
            t0 = time.perf_counter()
            res = mix.run(q, context=ctx)
            dt = time.perf_counter() - t0
            spent = ledger.total
            first = res.trace[0]
            ok = gold in res.answer.lower()
            right += ok
            small_right += gold in (first.answer or "").lower()
            tokens = spent.input_tokens + spent.output_tokens - before.input_tokens - before.output_tokens
            _say(f"{i:>2} {_fmt(first.answer, 26)} {first.confidence or 0:5.2f} {_fmt(first.decision, 9)} "
                 f"{_fmt(res.answer, 26)} {'yes' if ok else 'no ':3s} {tokens:6d} {spent.cost - before.cost:10.7f} "
                 f"{dt:5.1f}")
            large_right += gold in alone.run(q, context=ctx, tier=1).answer.lower()
        n = len(items)
        entries = ledger.snapshot().entries
        tot = ledger.total
        verify = _sum(entries, "cost", purpose="verify")
        small_cost = _sum(entries, "cost", purpose="answer", tier=0)
        large_cost = direct.total.cost
        cached = tot.cached_input_tokens / tot.input_tokens if tot.input_tokens else 0.0
        v_in = _sum(entries, "input_tokens", purpose="verify")
        v_cached = _sum(entries, "cached_input_tokens", purpose="verify") / v_in if v_in else 0.0
        _say(f"\nAutoMix:      {right}/{n} right, ${tot.cost:.7f} with verification (net: every call; "
             f"{tot.input_tokens} in / {tot.output_tokens} out tokens, {tot.calls} calls, {tot.processed_tokens} "
             f"processed), of which verification ${verify:.7f}")
        _say(f"              ${tot.cost - verify:.7f} verification free (the paper's protocol)")
        _say(f"              cached prompt tokens: {cached:.0%} of all input, {v_cached:.0%} of the verification's "
             "(llama.cpp's prefix cache; priced at 0 locally)")
        _say(f"always small: {small_right}/{n} right, ${small_cost:.7f} (the 0.5B's answers, unverified)")
        _say(f"always large: {large_right}/{n} right, ${large_cost:.7f} (the 1.5B alone)")
        if large_cost > 0:
            _say(f"AutoMix costs {tot.cost / large_cost:.2f}x always-large with verification, "
                 f"{(tot.cost - verify) / large_cost:.2f}x without (paper's protocol)")
        _say("local prices: $0.10 per million tokens per billion parameters (automix_core.local_price)")


def recorded() -> None:
    recs = read_records(RECORDS)
    train = filter_records(recs, split="train")
    test = filter_records(recs, split="test")
    if len(train) < 20 or len(test) < 10:
        _say(f"\n(recorded dataset too small so far: {len(train)} train / {len(test)} test records)")
        return
    tr, te = to_arrays(train, [SMALL, LARGE]), to_arrays(test, [SMALL, LARGE])
    method = records_method(recs, [SMALL])
    _say(f"\nRecorded PubMedQA ({len(train)} train / {len(test)} test queries, {RECORDS.name}; the 0.5B verified "
         f"with {method.describe() if method else 'mixed methods'}), test part, costs with verification:")
    _say(f"{'method':34s} {'quality':>8s} {'cost $/query':>13s} {'escalated':>10s}")
    for t, name in enumerate((SMALL, LARGE)):
        _say(f"{'always ' + name:34s} {te.score[:, t].mean():8.3f} {te.cost[:, t].mean():13.8f} {'':>10s}")
    router = Router.load(ROUTER)
    pt = router.point(te)
    _say(f"{'AutoMix (shipped router)':34s} {pt.quality:8.3f} {pt.cost:13.8f} {router.escalation_rate(te):10.1%}")
    small_verified = float((te.cost[:, 0] + te.verifier_cost[:, 0]).mean())
    if small_verified >= te.cost[:, 1].mean():
        _say(f"at these local prices, answering and verifying with the 0.5B (${small_verified:.8f}/query) already "
             "costs more than always calling the 1.5B: escalation cannot pay for itself, and every policy's ΔIBC "
             "(which bills verification) is below 0 here")
    else:
        res = evaluate(tr, te, ["pomdp", "threshold"])
        for name in ("pomdp", "threshold"):
            _say(f"mean ΔIBC over 5 cost regions, {name:10s}: {res[name].mean_dibc:7.1f}%")
    unit = [1.0, 15.0]
    res = evaluate(tr.with_unit_costs(unit), te.with_unit_costs(unit), ["pomdp", "threshold"])
    _say("with paper-style costs (small 1, large 15 per call, verification not billed):")
    for name in ("pomdp", "threshold"):
        _say(f"  mean ΔIBC over 5 cost regions, {name:10s}: {res[name].mean_dibc:7.1f}%")


def run_demo(k: int | None = None, n_questions: int = len(QUESTIONS), *, recorded_only: bool = False,
             learn_questions: int = 10, workdir: str = "automix-demo") -> int:
    if not recorded_only:
        live(k, n_questions)
    recorded()
    if learn_questions >= 0:  # the learning loop; recorded-only: from replayed recordings alone, no model
        from .loop import learn_loop

        learn_loop(workdir, 0 if recorded_only else learn_questions)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="automix demo")
    ap.add_argument("--k", type=int, default=None, help="verification samples (default: the router's method)")
    ap.add_argument("--questions", type=int, default=len(QUESTIONS))
    ap.add_argument("--recorded-only", action="store_true",
                    help="only score the shipped recorded dataset (no model is started or downloaded)")
    ap.add_argument("--learn-questions", type=int, default=10,
                    help="questions served with shadowing for the learning loop (default 10; -1: no loop)")
    ap.add_argument("--workdir", default="automix-demo", help="folder for the loop's traffic, router and report")
    a = ap.parse_args(argv)
    try:
        return run_demo(a.k, a.questions, recorded_only=a.recorded_only, learn_questions=a.learn_questions,
                        workdir=a.workdir)
    except LocalModelError as exc:
        print(f"automix demo: {exc}", file=sys.stderr)
        return 1
