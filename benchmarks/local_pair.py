"""The shipped recording of the local pair, scored on its test part.

    python benchmarks/local_pair.py [RECORDS] [--router FILE] [--json out.json]

Records: ``automix_core/data/pubmedqa_qwen_pair_continue.jsonl`` (PubMedQA, Qwen2.5-Coder 0.5B -> 1.5B, the 0.5B
verifying its answers by continuing its answer call and reading the verdict's logprobs: the method the
shipped router was calibrated on; ``automix_core/data/pubmedqa_qwen_pair.jsonl`` holds the same answers verified
with k=8 few-shot samples), split train/test by a hash of each id. AutoMix POMDP and threshold are each
calibrated on the train part (operating point by train ΔIBC, as ``automix calibrate`` does) with
paper-style costs: small 1, large 15 per call, verification not billed. On the test part, each row
gives the quality, the real cost per query at the documented local prices (answers and the 0.5B's
verification, as recorded), the share of queries escalated, and ΔIBC at the chosen point and its
mean over 5 cost regions under the paper-style costs. The shipped router (``--router``) is scored
the same way. One test part of 93 queries says little, so the mean ΔIBC over 5 regions is also given
for repeated 2-fold cross-validation over all the records (``--repeats``, default 20).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automix_core import Router, calibrate, read_records
from automix_core.calibration import Point, delta_ibc, evaluate, evaluate_cv, to_arrays
from automix_core.calibration.evaluate import refs
from automix_core.calibration.records import filter_records
from automix_core.shipped import shipped_path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = shipped_path("pubmedqa_qwen_pair_continue.jsonl")
ROUTER = shipped_path("router_pubmedqa_qwen_pair.json")
OUT = ROOT / "benchmarks" / "results" / "local_pair.json"
MODELS = ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
UNIT = [1.0, 15.0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="?", default=str(DEFAULT))
    ap.add_argument("--router", default=str(ROUTER))
    ap.add_argument("--json", default=str(OUT))
    ap.add_argument("--repeats", type=int, default=20, help="repeated 2-fold CV splits over all records (default 20)")
    a = ap.parse_args()
    if not Path(a.records).exists():
        print(f"records not found: {a.records}; skipping")
        return 0
    recs = read_records([a.records])
    train = to_arrays(filter_records(recs, split="train"), MODELS)
    test = to_arrays(filter_records(recs, split="test"), MODELS)
    tr_u, te_u = train.with_unit_costs(UNIT), test.with_unit_costs(UNIT)
    small_u, large_u = refs(te_u)
    regions = evaluate(tr_u, te_u, ["pomdp", "threshold"])
    print(f"PubMedQA, {MODELS[0]} -> {MODELS[1]}: {len(train)} train / {len(test)} test queries; test part")
    print(f"{'method':34s} {'quality':>8s} {'$/query (local)':>16s} {'escalated':>10s} {'ΔIBC (1:15)':>12s}"
          f" {'mean ΔIBC, 5 regions':>21s}")
    rows: dict[str, dict[str, Any]] = {}

    def row(name: str, real: Point, unit: Point, escalated: float | None, mean_regions: float | None) -> None:
        d = delta_ibc(unit, small_u, large_u) if escalated is not None else None
        rows[name] = {"quality": real.quality, "cost_usd": real.cost, "escalated": escalated,
                      "dibc": None if d is None or math.isnan(d) else d, "mean_dibc_regions": mean_regions}
        esc = "" if escalated is None else f"{escalated:.1%}"
        print(f"{name:34s} {real.quality:8.3f} {real.cost:16.8f} {esc:>10s}"
              f" {'' if d is None else f'{d:.1f}':>12s} {'' if mean_regions is None else f'{mean_regions:.1f}':>21s}")

    for t, model in enumerate(MODELS):
        cost = test.cost[:, t] + (test.verifier_cost[:, t] if t == 0 else 0.0)
        row(f"always {model}" + (" (+verify)" if t == 0 else ""),
            Point(float(cost.mean()), float(test.score[:, t].mean())),
            Point(float(te_u.cost[:, t].mean()), float(te_u.score[:, t].mean())), None, None)
    for policy in ("pomdp", "threshold"):
        router = calibrate(tr_u, policy)
        row(f"AutoMix {policy}", router.point(test), router.point(te_u), router.escalation_rate(test),
            regions[policy].mean_dibc)
    if Path(a.router).exists():
        shipped = Router.load(a.router)
        row("AutoMix (shipped router)", shipped.point(test), shipped.point(te_u), shipped.escalation_rate(test), None)
    both = to_arrays(recs, MODELS).with_unit_costs(UNIT)
    cv = evaluate_cv(both, 2, ["pomdp", "threshold"], repeats=a.repeats)
    cv_means = {name: r.mean_dibc for name, r in cv.items() if name in ("pomdp", "threshold", "random")}
    print(f"mean ΔIBC over 5 regions, 2-fold CV x {a.repeats} over all {len(both)} records (1:15): "
          + ", ".join(f"{name} {v:.1f}" for name, v in cv_means.items()))
    Path(a.json).write_text(json.dumps({"records": a.records, "train": len(train), "test": len(test),
                                        "unit_costs": UNIT, "rows": rows,
                                        "cv": {"repeats": a.repeats, "mean_dibc": cv_means}}, indent=1))
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
