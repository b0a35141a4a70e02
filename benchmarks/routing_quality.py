"""Routing quality on real cascade data: mean ΔIBC over 5 cost regions, normalized AUC and the
cost to recover 50% / 80% of the small-to-large gap, per policy, per case, beside the paper's own
package (automix-llm: its POMDP, threshold and self-consistency), random mixing and the oracle.

    python benchmarks/routing_quality.py [RECORDS ...] [--cv 5] [--json out.json]
    python benchmarks/routing_quality.py data/pubmedqa_qwen_pair.jsonl   # the shipped local pair

Cases: tasks triviaqa, truthfulqa, mmlu, medmcqa x pairs llama3.1-8b->llama3.1-405b,
llama3.2-3b->llama3.1-70b, gpt-4o-mini->gpt-4o (other records: each task with its own cheapest and
most expensive model); unit costs 1 and the data's mean cost ratio; verifier cost 0. With a
`test` split in the records it fits on `train` and scores on `test` (what `automix eval` does);
otherwise repeated k-fold cross-validation inside the records (default 2 folds x 8 repeats: the
split changes the figures by several points, so one split says little).
Default RECORDS: ../shared/data/cascades-train.jsonl (skips cleanly when absent).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automix_core import (
    Point,
    Record,
    RecordArrays,
    auc_normalized,
    cost_to_recover,
    evaluate,
    evaluate_cv,
    read_records,
    region_dibc,
    to_arrays,
)
from automix_core.calibration.evaluate import DEFAULT_METHODS, cost_range, cv_folds, refs


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


PAPER = ("pomdp", "threshold", "self-consistency")


def _paper_method(name: str) -> object:
    from automix import POMDP, SelfConsistency, Threshold

    make = {"pomdp": lambda: POMDP(num_bins=8, init_belief=False), "threshold": lambda: Threshold(num_bins=8),
            "self-consistency": lambda: SelfConsistency(num_bins=8)}
    return make[name]()


def paper_result(name: str, train: RecordArrays, test: RecordArrays, regions: int = 5) -> dict[str, Any]:
    """One method of the paper's package (automix-llm; ``POMDP(num_bins=8)`` as in its example,
    ``Threshold(num_bins=8)``, ``SelfConsistency``), fitted on train, its candidate points scored by
    the same cost-region protocol (no mixing) and the same test-curve metrics."""
    import pandas as pd

    method = _paper_method(name)
    s, big = train.score[:, 0], train.score[:, 1]
    cat = np.where(big > s, "NEEDY", np.where(s > 0, "GOOD", "HOPELESS"))
    # the package reads the scores under its own fixed column names
    df = pd.DataFrame({"p_ver": train.confidence[:, 0], "category": cat, "llama13b_f1": s, "llama70b_f1": big})
    params = list(method.generate_points(df, verifier_column="p_ver"))  # type: ignore[attr-defined]
    te_pts = _paper_points(method, test, params)
    vals, _ = region_dibc(_paper_points(method, train, params), te_pts, refs(train), refs(test),
                          cost_range(train), regions)
    te_refs = refs(test)
    return {"mean_dibc": float(np.mean(vals)), "auc": auc_normalized(te_pts, *te_refs, cost_range(test)),
            "cost_to_50": cost_to_recover(te_pts, *te_refs, 0.5), "cost_to_80": cost_to_recover(te_pts, *te_refs, 0.8)}


def paper_cv(name: str, data: RecordArrays, k: int, repeats: int) -> dict[str, Any]:
    per = []
    for rep in range(repeats):
        folds = cv_folds(data.ids, k, seed=rep)
        for f in range(k):
            per.append(paper_result(name, data.subset(folds != f), data.subset(folds == f)))
    out: dict[str, Any] = {"mean_dibc": float(np.mean([p["mean_dibc"] for p in per])),
                           "auc": float(np.nanmean([p["auc"] for p in per]))}
    for key in ("cost_to_50", "cost_to_80"):
        known = [p[key] for p in per if p[key] is not None]
        out[key] = float(np.mean(known)) if known else None
    return out


TASKS = ("triviaqa", "truthfulqa", "mmlu", "medmcqa")
PAIRS = (("llama3.1-8b", "llama3.1-405b"), ("llama3.2-3b", "llama3.1-70b"), ("gpt-4o-mini", "gpt-4o"))
DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "cascades-train.jsonl"
REFS = ("random", "oracle")


def cases(recs: list[Record]) -> list[tuple[str, str, str]]:
    """(task, small, large): the cascade data's 12 cases, or each task of other records with its own pair."""
    out = [(t, s, b) for t in TASKS for s, b in PAIRS
           if any(r.task == t and {s, b} <= set(r.models) for r in recs)]
    if out:
        return out
    seen: dict[tuple[str, str, str], None] = {}
    for r in recs:
        if len(r.models) >= 2:
            seen.setdefault((r.task or "all", r.models[0], r.models[-1]), None)
    return list(seen)


def _fmt(x: float | None, width: int = 13, digits: int = 1) -> str:
    return f"{'-':>{width}s}" if x is None else f"{x:{width}.{digits}f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="*", default=[str(DEFAULT)])
    ap.add_argument("--cv", type=int, default=2, help="folds (default 2: train and test of equal size)")
    ap.add_argument("--repeats", type=int, default=8, help="repeated cross-validation splits (default 8)")
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

        paper = [m for m in PAPER if m in methods or m == "pomdp"]
    except ImportError:
        print("automix-llm not installed (pip install automix-llm pandas): the paper's columns are left out")
        paper = []
    cols = [*methods, *(f"paper-{m}" for m in paper), *REFS]
    protocol = "fit on train, scored on test" if has_test else f"{a.cv}-fold CV x {a.repeats}"
    print(f"mean ΔIBC over 5 cost regions ({protocol}); unit costs 1 and the pair's mean cost ratio")
    print(f"{'task':11s} {'pair':30s}" + "".join(f"{m[:12]:>13s}" for m in cols))
    rows = []
    for task, small, large in cases(recs):
        sel = [r for r in recs if (task == "all" or r.task == task) and {small, large} <= set(r.models)]

        def arrays(split: str | None, sel: list[Record] = sel, small: str = small, large: str = large) -> RecordArrays:
            return to_arrays([r for r in sel if split is None or r.split == split], [small, large])

        full = arrays("train" if has_test else None)
        ratio = float(full.cost[:, 1].mean() / full.cost[:, 0].mean())
        unit = [1.0, ratio]
        tr = full.with_unit_costs(unit)
        if has_test:
            te = arrays("test").with_unit_costs(unit)
            res = {k: v.to_json() for k, v in evaluate(tr, te, methods).items()}
            res.update({f"paper-{m}": paper_result(m, tr, te) for m in paper})
        else:
            res = {k: v.to_json() for k, v in evaluate_cv(tr, a.cv, methods, repeats=a.repeats).items()}
            res.update({f"paper-{m}": paper_cv(m, tr, a.cv, a.repeats) for m in paper})
        keep = ("mean_dibc", "auc", "cost_to_50", "cost_to_80")
        row = {"task": task, "pair": f"{small}->{large}", "unit_costs": unit,
               "large_cost": ratio, **{m: {k: res[m].get(k) for k in keep} for m in cols}}
        rows.append(row)
        print(f"{task:11s} {row['pair']:30s}" + "".join(_fmt(row[m]["mean_dibc"]) for m in cols), flush=True)
    means = {m: float(np.mean([r[m]["mean_dibc"] for r in rows])) for m in cols}
    print(f"{'mean':42s}" + "".join(_fmt(means[m]) for m in cols))
    summary: dict[str, Any] = {"mean_dibc": means}
    if paper:
        print("ours / theirs (mean ΔIBC over the cases): " + ", ".join(
            f"{m} {means[m] / means[f'paper-{m}']:.2f}x" for m in paper if means[f"paper-{m}"] > 0))
        wins = sum(r["pomdp"]["mean_dibc"] > r["paper-pomdp"]["mean_dibc"] for r in rows)
        print(f"our pomdp beats the paper's package in {wins}/{len(rows)} cases")
        summary["pomdp_wins_over_paper"] = wins
    curve = [m for m in ("pomdp", "threshold", *(f"paper-{m}" for m in paper), *REFS) if m in cols]
    print("\nnormalized AUC of the test curve, and the cost (x always-small) to recover 50% / 80% of the "
          "small-to-large gap (mean over folds that reach it; large = the pair's cost ratio)")
    print(f"{'task':11s} {'pair':30s}" + "".join(f"{m[:16]:>17s}" for m in curve))
    for r in rows:
        cells = []
        for m in curve:
            v = r[m]
            c50 = "-" if v["cost_to_50"] is None else f"{v['cost_to_50']:.1f}"
            c80 = "-" if v["cost_to_80"] is None else f"{v['cost_to_80']:.1f}"
            cells.append(f"{_fmt(v['auc'], 0, 2)} {c50}/{c80}".rjust(17))
        print(f"{r['task']:11s} {r['pair']:30s}" + "".join(cells))
    aucs = {m: float(np.nanmean([r[m]["auc"] for r in rows])) for m in curve}
    print(f"{'mean AUC':42s}" + "".join(f"{aucs[m]:17.3f}" for m in curve))
    summary["mean_auc"] = aucs
    if a.json:
        Path(a.json).write_text(json.dumps({"protocol": protocol, "rows": rows, **summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
