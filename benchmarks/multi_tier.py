"""Three and more tiers: the N-tier POMDP frontier against every two-tier pair's (tier 0 -> tier j).

    python benchmarks/multi_tier.py [RECORDS] [--json out.json]

For each task and group of the cascade data (5 models for `llama`, 4 for `qwen_oai`), unit costs =
each model's mean cost relative to the cheapest, 2-fold cross-validation x 2 repeats. Score: the
normalized AUC of the test cost-quality curve over [always tier 0, call every tier], against the
same references (tier 0 and the last tier) for every curve, so the numbers compare directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automix_core import read_records
from automix_core.calibration import RecordArrays, auc_normalized, to_arrays
from automix_core.calibration.evaluate import cost_range, cv_folds, refs
from automix_core.calibration.records import filter_records
from automix_core.router import frontier, measure

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "cascades-train.jsonl"


def pick(d: RecordArrays, cols: list[int]) -> RecordArrays:
    return RecordArrays(tuple(d.models[c] for c in cols), d.ids, d.score[:, cols], d.confidence[:, cols],
                        d.cost[:, cols], d.verifier_cost[:, cols])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="?", default=str(DEFAULT))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    if not Path(a.records).exists():
        print(f"records not found: {a.records}; skipping")
        return 0
    recs = read_records(a.records)
    rows = []
    for group in ("llama", "qwen_oai"):
        for task in ("triviaqa", "truthfulqa", "mmlu", "medmcqa", "gsm8k"):
            sel = filter_records(recs, task=task, group=group)
            if not sel:
                continue
            arr = to_arrays(sel, sel[0].models)
            arr = arr.with_unit_costs(list(arr.cost.mean(0) / arr.cost[:, 0].mean()))
            m = len(arr.models)
            scores: dict[str, list[float]] = {}
            for rep in range(a.repeats):
                folds = cv_folds(arr.ids, 2, seed=rep)
                for f in range(2):
                    tr, te = arr.subset(folds != f), arr.subset(folds == f)
                    s, big = refs(te)
                    for label, cols in [("all", list(range(m)))] + [(f"0-{j}", [0, j]) for j in range(1, m)]:
                        cands = frontier("pomdp", pick(tr, cols), grid=60)
                        pts = [measure(c, pick(te, cols)) for c in cands]
                        scores.setdefault(label, []).append(auc_normalized(pts, s, big, cost_range(te)))
            row = {"group": group, "task": task, **{k: float(np.mean(v)) for k, v in scores.items()}}
            best_pair = max(v for k, v in row.items() if k.startswith("0-"))  # type: ignore[type-var]
            row["best_pair"] = best_pair
            rows.append(row)
            print(f"{group:9s} {task:11s} all tiers {row['all']:.3f}   best pair {best_pair:.3f}   "
                  + " ".join(f"{k} {v:.3f}" for k, v in row.items() if isinstance(k, str) and k.startswith("0-")),
                  flush=True)
    wins = sum(r["all"] >= r["best_pair"] - 1e-9 for r in rows)
    print(f"N-tier frontier >= best two-tier pair in {wins}/{len(rows)} cases; mean AUC all "
          f"{np.mean([r['all'] for r in rows]):.3f} vs best pair {np.mean([r['best_pair'] for r in rows]):.3f}")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
