"""The judge rule on real answers: how often a local model's "same answer?" verdict equals the gold label,
beside the offline rules on the same pairs.

    python benchmarks/agreement_judge.py [RECORDS] [--task truthfulqa] [--n 60] [--model qwen2.5-coder-1.5b]

Pairs: the small model's answer and the large model's, from the routing benchmark's 3 pairs of the task
(../shared/data/cascades-train.jsonl, train split), drawn at random (seed 0) among those whose texts are
not identical after normalisation (identical ones agree under every rule). "Correct" for a rule: its
agreement label equals the gold label of the small answer (the large one's own errors count against every
rule alike). Wilson 95% intervals. The judge runs on the project's llama.cpp server, logprob mode.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from routing_quality import DEFAULT, PAIRS

from automix_core import LocalServer, read_records
from automix_core.calibration.agreement import Judge, agree, normalize
from automix_core.calibration.uncertainty import wilson


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="?", default=str(DEFAULT))
    ap.add_argument("--task", default="truthfulqa")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    a = ap.parse_args()
    if not Path(a.records).exists():
        print(f"records not found: {a.records}; skipping")
        return 0
    recs = read_records(a.records)
    pairs = []
    for small, large in PAIRS:
        for r in recs:
            if r.task == a.task and {small, large} <= set(r.models):
                x, y = r.outputs[small].answer or "", r.outputs[large].answer or ""
                if normalize(x) != normalize(y):
                    pairs.append((r.query or "", x, y, (r.outputs[small].score or 0.0) >= 0.5))
    rng = np.random.default_rng(0)
    chosen = [pairs[i] for i in rng.choice(len(pairs), size=min(a.n, len(pairs)), replace=False)]
    rules = {"exact": [], "contain": [], "f1@0.2 (auto)": [], "judge": []}  # type: dict[str, list[bool]]
    t0 = time.perf_counter()
    with LocalServer(a.model, threads=min(2, os.cpu_count() or 1), parallel=1) as server:
        judge = Judge(server.model(a.model, timeout=600))
        for q, x, y, gold in chosen:
            rules["exact"].append(agree(q, x, y, rule="exact") == gold)
            rules["contain"].append(agree(q, x, y, rule="contain") == gold)
            rules["f1@0.2 (auto)"].append(agree(q, x, y, rule="auto") == gold)
            rules["judge"].append(judge.judge(q, x, y).agrees == gold)
    secs = time.perf_counter() - t0
    tokens = sum((g.input_tokens or 0) + (g.output_tokens or 0) for g in judge.calls)
    print(f"{a.task}: {len(chosen)} pairs whose texts differ (of {len(pairs)}), judge {a.model} (logprob); "
          f"{secs:.0f} s, {tokens} tokens")
    for name, hits in rules.items():
        lo, hi = wilson(sum(hits), len(hits))
        print(f"  {name:14s} label equals gold on {sum(hits)}/{len(hits)} = {np.mean(hits):.1%} [{lo:.1%}, {hi:.1%}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
