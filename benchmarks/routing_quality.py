"""Routing quality on real cascade data: mean ΔIBC over 5 cost regions, per policy, per case.

    python benchmarks/routing_quality.py [RECORDS ...] [--cv 5] [--json out.json]

Cases: tasks triviaqa, truthfulqa, mmlu, medmcqa x pairs llama3.1-8b->llama3.1-405b,
llama3.2-3b->llama3.1-70b, gpt-4o-mini->gpt-4o; unit costs 1 and the data's mean cost ratio;
verifier cost 0. With a `test` split in the records it fits on `train` and scores on `test`
(what `automix eval` does); otherwise repeated k-fold cross-validation inside the records
(default 2 folds x 4 repeats: the split changes the figures by several points, so one split says little).
Default RECORDS: ../shared/data/cascades-train.jsonl (skips cleanly when absent).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automix_core.evaluate import DEFAULT_METHODS, evaluate, evaluate_cv
from automix_core.records import filter_records, read_records, to_arrays

TASKS = ("triviaqa", "truthfulqa", "mmlu", "medmcqa")
PAIRS = (("llama3.1-8b", "llama3.1-405b"), ("llama3.2-3b", "llama3.1-70b"), ("gpt-4o-mini", "gpt-4o"))
DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "cascades-train.jsonl"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="*", default=[str(DEFAULT)])
    ap.add_argument("--cv", type=int, default=2, help="folds (default 2: train and test of equal size)")
    ap.add_argument("--repeats", type=int, default=4, help="repeated cross-validation splits (default 4)")
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    if not all(Path(p).exists() for p in a.records):
        print(f"records not found: {a.records} (the cascade data lives in ../shared/data); skipping")
        return 0
    recs = read_records(a.records)
    methods = a.methods.split(",")
    has_test = any(r.split == "test" for r in recs)
    rows = []
    print(f"{'task':11s} {'pair':30s}" + "".join(f"{m[:12]:>13s}" for m in methods))
    for task in TASKS:
        for small, large in PAIRS:
            sel = [r for r in filter_records(recs, task=task) if {small, large} <= set(r.models)]
            if not sel:
                continue

            def arrays(split: str | None, sel: list = sel, small: str = small, large: str = large):  # type: ignore[no-untyped-def]
                part = [r for r in sel if split is None or r.split == split]
                return to_arrays(part, [small, large])

            full = arrays("train" if has_test else None)
            ratio = float(full.cost[:, 1].mean() / full.cost[:, 0].mean())
            unit = [1.0, ratio]
            if has_test:
                res = evaluate(full.with_unit_costs(unit), arrays("test").with_unit_costs(unit), methods)
            else:
                res = evaluate_cv(full.with_unit_costs(unit), a.cv, methods, repeats=a.repeats)
            row = {"task": task, "pair": f"{small}->{large}", "unit_costs": unit,
                   **{m: res[m].mean_dibc for m in methods}}
            rows.append(row)
            print(f"{task:11s} {row['pair']:30s}" + "".join(f"{row[m]:13.1f}" for m in methods), flush=True)
    means = {m: float(np.mean([r[m] for r in rows])) for m in methods}
    print(f"{'mean':42s}" + "".join(f"{means[m]:13.1f}" for m in methods))
    if a.json:
        Path(a.json).write_text(json.dumps({"protocol": "test split" if has_test else f"{a.cv}-fold CV x {a.repeats}",
                                            "rows": rows, "mean": means}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
