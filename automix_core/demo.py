"""``automix demo``: AutoMix live on real local models, no API key.

Qwen2.5-Coder-0.5B answers and verifies itself (k samples in one request); the untrained default
policy (accept when most verdicts say "correct") escalates to Qwen2.5-Coder-1.5B when not. Each
question is also sent to the large model directly, for the "always large" comparison.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from .engine import AutoMix
from .ledger import Ledger
from .local import MODELS, LocalModelError, LocalServer, install_model
from .prices import PriceTable

__all__ = ["QUESTIONS", "run_demo"]

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


def run_demo(k: int = 4, n_questions: int = len(QUESTIONS)) -> int:
    small_name, large_name = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"
    for name in (small_name, large_name):
        install_model(name, progress=lambda m: print(m, flush=True))
    prices = PriceTable(prices={small_name: MODELS[small_name].price, large_name: MODELS[large_name].price})
    print("starting llama.cpp servers (2 threads each) ...", flush=True)
    with LocalServer(small_name, parallel=k) as s_srv, LocalServer(large_name, parallel=1) as l_srv:
        small, large = s_srv.model(timeout=300), l_srv.model(timeout=300)
        ledger = Ledger()
        am = AutoMix([small, large], prices=prices, ledger=ledger, k=k, answer_max_tokens=48, verify_max_tokens=96)
        direct_cost = 0.0
        direct_right = 0
        right = 0
        head = f"{'#':>2} {'small answer':28s} {'conf':>5s} {'decision':9s} {'final answer':28s} ok  {'tokens':>6s} "
        print(head + f"{'cost $':>10s} {'s':>5s}")
        for i, (ctx, q, gold) in enumerate(QUESTIONS[:n_questions], 1):
            t0 = time.perf_counter()
            res = am.run(q, context=ctx)
            dt = time.perf_counter() - t0
            ok = gold in res.answer.lower()
            right += ok
            t0_trace = res.trace[0]
            print(f"{i:>2} {_fmt(t0_trace.answer, 28)} {t0_trace.confidence or 0:5.2f} "
                  f"{_fmt(t0_trace.decision, 9)} {_fmt(res.answer, 28)} {'yes' if ok else 'no ':3s} "
                  f"{res.input_tokens + res.output_tokens:6d} {res.cost:10.7f} {dt:5.1f}", flush=True)
            direct = AutoMix([large, large], prices=prices, k=1, answer_max_tokens=48)
            d = direct.run(q, context=ctx, key=0.0)
            direct_cost += d.trace[0].usage[0].cost
            direct_right += gold in (d.trace[0].answer or "").lower()
        n = min(n_questions, len(QUESTIONS))
        print(f"\nAutoMix:      {right}/{n} right, ${ledger.total_cost:.7f} "
              f"({ledger.total.input_tokens} in / {ledger.total.output_tokens} out tokens, verification included)")
        print(f"always large: {direct_right}/{n} right, ${direct_cost:.7f} (answers only, no verification)")
        print("prices: local models at $0.10 per million tokens per billion parameters (automix_core.prices)")
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
