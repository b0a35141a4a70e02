"""Issue 16's target, live: the default settings on the embedded Qwen pair, tier-0 verification against the answer.

    python benchmarks/default_cascade.py [--items 8] [--router automix_core/data/router_pubmedqa_qwen_pair.json]
    python benchmarks/default_cascade.py --summarise      # re-read the per-item rows, print the table

``AutoMix([0.5B, 1.5B], router=<the shipped router>)`` with every cascade setting at its default, as
``automix serve --local qwen2.5-coder-0.5b,qwen2.5-coder-1.5b`` builds it (``LocalServer`` models,
catalog prices), runs the first ``--items`` PubMedQA items of examples/data/pubmedqa_40.json with their
abstracts as context (the question followed by the task's instruction, as ``automix collect`` asks
it). The verification method is whatever the defaults resolve to (the router's recorded method, see
``automix_core.verify.method``); it is printed.

Processed tokens = (input - cached input) + output, as llama.cpp reports them (``timings.cache_n``),
from the ledger's entries. The figure is tier 0's verification over tier 0's answer, summed over items,
with a 95% bootstrap interval over items (2,000 resamples of the items, seed 0). Costs per query are at
the catalog's local prices, with verification (what a user pays) and without it (the paper's protocol),
labelled. Rows go to ``benchmarks/results/default_cascade.jsonl`` as each item finishes (a rerun skips
the items done; ``--fresh`` starts again); the summary to ``default_cascade.json`` and ``.txt``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automix_core import AutoMix, Ledger, LocalServer, PriceTable
from automix_core.backends.local import MODELS, is_installed
from automix_core.calibration.collect import label_scorer, load_pubmedqa
from automix_core.shipped import shipped_path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data" / "pubmedqa_40.json"
ROUTER = shipped_path("router_pubmedqa_qwen_pair.json")
RESULTS = ROOT / "benchmarks" / "results"
ROWS = RESULTS / "default_cascade.jsonl"
SMALL, LARGE = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"


def _processed(entries: Sequence[Any], tier: int, purpose: str) -> dict[str, int]:
    es = [e for e in entries if e.tier == tier and e.purpose == purpose]
    inp, cached, out = (sum(e.input_tokens for e in es), sum(e.cached_input_tokens for e in es),
                        sum(e.output_tokens for e in es))
    return {"calls": len(es), "input": inp, "cached": cached, "output": out, "processed": inp - cached + out}


def run(a: argparse.Namespace) -> None:
    items = load_pubmedqa(DATA)[: a.items]
    score = label_scorer(("yes", "no", "maybe"))
    if a.fresh:
        ROWS.unlink(missing_ok=True)
    done = {json.loads(line)["id"] for line in ROWS.open(encoding="utf-8")} if ROWS.exists() else set()
    todo = [it for it in items if it.id not in done]
    if not todo:
        return
    prices = PriceTable(prices={SMALL: MODELS[SMALL].price, LARGE: MODELS[LARGE].price})
    RESULTS.mkdir(parents=True, exist_ok=True)
    with LocalServer([SMALL, LARGE], threads=a.threads) as srv, ROWS.open("a", encoding="utf-8") as out:
        tiers = [srv.model(SMALL), srv.model(LARGE)]
        for item in todo:
            ledger = Ledger()
            mix = AutoMix(tiers, router=a.router, prices=prices, ledger=ledger)
            t0 = time.perf_counter()
            res = mix.run(f"{item.question}\n{item.instruction}", context=item.context)
            entries = ledger.snapshot().entries
            row: dict[str, Any] = {
                "id": item.id, "method": [m.describe() for m in mix.methods], "tier": res.tier,
                "answer": res.answer, "correct": score(res.answer, item.reference),
                "small_answer": res.trace[0].answer, "small_correct": score(res.trace[0].answer or "", item.reference),
                "confidence": res.trace[0].confidence, "seconds": time.perf_counter() - t0,
                "answer0": _processed(entries, 0, "answer"), "verify0": _processed(entries, 0, "verify"),
                "answer1": _processed(entries, 1, "answer"),
                "cost": sum(e.cost for e in entries),
                "verify_cost": sum(e.cost for e in entries if e.purpose == "verify"),
                "small_answer_cost": sum(e.cost for e in entries if e.tier == 0 and e.purpose == "answer"),
            }
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(f"  {item.id}: tier {row['tier']} conf {row['confidence']:.3f} verify0/answer0 processed "
                  f"{row['verify0']['processed']}/{row['answer0']['processed']} ({row['seconds']:.0f} s)", flush=True)


def _ci(rows: list[dict[str, Any]], n: int = 2000) -> tuple[float, float]:
    rng = random.Random(0)
    vals = []
    for _ in range(n):
        pick = [rows[rng.randrange(len(rows))] for _ in rows]
        den = sum(r["answer0"]["processed"] for r in pick)
        vals.append(sum(r["verify0"]["processed"] for r in pick) / den if den else float("nan"))
    vals.sort()
    return vals[int(0.025 * n)], vals[int(0.975 * n) - 1]


def summarise(items: int) -> dict[str, Any]:
    rows = [json.loads(line) for line in ROWS.open(encoding="utf-8")][:items]
    n = len(rows)
    v0 = sum(r["verify0"]["processed"] for r in rows)
    a0 = sum(r["answer0"]["processed"] for r in rows)
    lo, hi = _ci(rows)
    summary = {
        "items": n, "method": sorted({" / ".join(r["method"]) for r in rows}),
        "verify0_processed": v0, "answer0_processed": a0, "ratio": v0 / a0, "ratio_ci95": [lo, hi],
        "verify0_input": sum(r["verify0"]["input"] for r in rows),
        "verify0_cached": sum(r["verify0"]["cached"] for r in rows),
        "escalated": sum(r["tier"] > 0 for r in rows), "correct": sum(r["correct"] for r in rows),
        "small_correct": sum(r["small_correct"] for r in rows),
        "cost_per_query_with_verification": sum(r["cost"] for r in rows) / n,
        "cost_per_query_verification_free": sum(r["cost"] - r["verify_cost"] for r in rows) / n,
        "always_small_cost_per_query": sum(r["small_answer_cost"] for r in rows) / n,
    }
    lines = [
        f"default settings on {SMALL} -> {LARGE}, {n} PubMedQA items with abstracts; verification: "
        f"{', '.join(summary['method'])}",
        f"tier-0 verification / tier-0 answer, processed tokens ((input - cached) + output): {v0}/{a0} = "
        f"{summary['ratio']:.2f}x [95% bootstrap over items {lo:.2f}, {hi:.2f}] (target <= 0.5x)",
        f"  verification input {summary['verify0_input']} tokens, of which cached {summary['verify0_cached']}",
        f"escalated {summary['escalated']}/{n}; right {summary['correct']}/{n} (the 0.5B alone "
        f"{summary['small_correct']}/{n})",
        f"cost per query at local prices: ${summary['cost_per_query_with_verification']:.3g} with verification, "
        f"${summary['cost_per_query_verification_free']:.3g} verification free (the paper's protocol); "
        f"the 0.5B's answer alone ${summary['always_small_cost_per_query']:.3g}",
    ]
    text = "\n".join(lines)
    print(text)
    (RESULTS / "default_cascade.json").write_text(json.dumps(summary, indent=1))
    (RESULTS / "default_cascade.txt").write_text(text + "\n")
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--router", default=str(ROUTER))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fresh", action="store_true", help="forget the rows of an earlier run")
    ap.add_argument("--summarise", action="store_true", help="only print the table from the rows")
    a = ap.parse_args()
    if not a.summarise:
        if not (is_installed(SMALL) and is_installed(LARGE)):
            print(f"needs {SMALL} and {LARGE} (make models); skipping")
            return 0
        run(a)
    summarise(a.items)
    return 0


if __name__ == "__main__":
    sys.exit(main())
