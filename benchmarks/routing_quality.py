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

from automix_core.evaluate import DEFAULT_METHODS, cost_range, cv_folds, evaluate, evaluate_cv, refs
from automix_core.metrics import Point, region_dibc
from automix_core.records import RecordArrays, filter_records, read_records, to_arrays


def _paper_points(method: object, data: RecordArrays, params: list[object]) -> list[Point]:
    import pandas as pd

    df = pd.DataFrame({"p_ver": data.confidence[:, 0]})
    out = []
    for prm in params:
        retry = np.asarray(method.run(df, prm, verifier_column="p_ver"), dtype=bool)  # type: ignore[attr-defined]
        cost = data.cost[:, 0] + retry * data.cost[:, 1]
        quality = np.where(retry, data.score[:, 1], data.score[:, 0])
        out.append(Point(float(cost.mean()), float(quality.mean())))
    return out


def paper_pomdp(train: RecordArrays, test: RecordArrays, regions: int = 5) -> list[float]:
    """The paper's package (automix-llm, `POMDP(num_bins=8)` as in its example), fitted on train,
    its candidate action sequences scored by the same cost-region protocol (no mixing)."""
    import pandas as pd
    from automix import POMDP

    method = POMDP(num_bins=8, init_belief=False)
    s, big = train.score[:, 0], train.score[:, 1]
    cat = np.where(big > s, "NEEDY", np.where(s > 0, "GOOD", "HOPELESS"))
    # the package reads the scores under its own fixed column names
    df = pd.DataFrame({"p_ver": train.confidence[:, 0], "category": cat, "llama13b_f1": s, "llama70b_f1": big})
    params = list(method.generate_points(df, verifier_column="p_ver"))
    vals, _ = region_dibc(_paper_points(method, train, params), _paper_points(method, test, params),
                          refs(train), refs(test), cost_range(train), regions)
    return vals


def paper_cv(data: RecordArrays, k: int, repeats: int) -> float:
    per = []
    for rep in range(repeats):
        folds = cv_folds(data.ids, k, seed=rep)
        for f in range(k):
            per.append(paper_pomdp(data.subset(folds != f), data.subset(folds == f)))
    return float(np.mean(per))

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
    try:
        import automix  # noqa: F401  (the paper's package, automix-llm)

        cols = [*methods, "paper-pomdp"]
    except ImportError:
        print("automix-llm not installed (pip install automix-llm pandas): paper-pomdp column left out")
        cols = list(methods)
    rows = []
    print(f"{'task':11s} {'pair':30s}" + "".join(f"{m[:12]:>13s}" for m in cols))
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
            tr = full.with_unit_costs(unit)
            if has_test:
                te = arrays("test").with_unit_costs(unit)
                res = {k: v.mean_dibc for k, v in evaluate(tr, te, methods).items()}
                if "paper-pomdp" in cols:
                    res["paper-pomdp"] = float(np.mean(paper_pomdp(tr, te)))
            else:
                res = {k: v.mean_dibc for k, v in evaluate_cv(tr, a.cv, methods, repeats=a.repeats).items()}
                if "paper-pomdp" in cols:
                    res["paper-pomdp"] = paper_cv(tr, a.cv, a.repeats)
            row = {"task": task, "pair": f"{small}->{large}", "unit_costs": unit, **{m: res[m] for m in cols}}
            rows.append(row)
            print(f"{task:11s} {row['pair']:30s}" + "".join(f"{row[m]:13.1f}" for m in cols), flush=True)
    means = {m: float(np.mean([r[m] for r in rows])) for m in cols}
    print(f"{'mean':42s}" + "".join(f"{means[m]:13.1f}" for m in cols))
    if "paper-pomdp" in cols:
        wins = sum(r["pomdp"] > r["paper-pomdp"] for r in rows)
        print(f"our pomdp beats the paper's package in {wins}/{len(rows)} cases")
    if a.json:
        Path(a.json).write_text(json.dumps({"protocol": "test split" if has_test else f"{a.cv}-fold CV x {a.repeats}",
                                            "rows": rows, "mean": means}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
