"""Calibration speed: fitting each policy on 1k, 10k, 100k records, ours against the paper's package.

    python benchmarks/calibration_speed.py [RECORDS] [--sizes 1000,10000,100000] [--repeats 3] [--json out.json]

Data: bootstrap resamples (with replacement, fresh ids) of one real pair of the cascade data
(MMLU, llama3.1-8b -> llama3.1-405b, unit costs 1 and the pair's mean cost ratio), or synthetic
records when the data is absent. Both sides do the same job: sweep the policy's operating points on
the records and pick the best one.

* ours:  ``automix_core.router.calibrate(data, policy)`` (the whole frontier, grid 200, then the
  ΔIBC-best point), and ``fit 1`` = building the policy at one operating point (benchmarks/speed.py);
* paper: ``automix.Automix(method, costs=[1, ratio], verifier_cost=0).train(df)`` of ``automix-llm``
  with ``POMDP(num_bins=8)``, ``Threshold(num_bins=8)``, ``DoubleThreshold(num_bins=8)``,
  ``SelfConsistency(num_bins=8)``.

Times are medians of ``--repeats`` runs (one run at 100k); the machine is shared, so
they are noisy. Target: ours >= 50x faster at 10k.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed import synthetic, time_fit

from automix_core import calibrate, read_records
from automix_core.calibration import RecordArrays, to_arrays
from automix_core.calibration.records import filter_records

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "cascades-train.jsonl"
OUT = ROOT / "benchmarks" / "results" / "calibration_speed.json"
PAIRS = (("pomdp", "POMDP"), ("threshold", "Threshold"), ("double-threshold", "DoubleThreshold"),
         ("self-consistency", "SelfConsistency"), ("greedy", None))


def base_data(path: str) -> tuple[RecordArrays, str]:
    if Path(path).exists():
        recs = [r for r in filter_records(read_records([path]), task="mmlu")
                if {"llama3.1-8b", "llama3.1-405b"} <= set(r.models)]
        if recs:
            d = to_arrays(recs, ["llama3.1-8b", "llama3.1-405b"])
            ratio = float(d.cost[:, 1].mean() / d.cost[:, 0].mean())
            return d.with_unit_costs([1.0, ratio]), f"resampled MMLU llama3.1-8b -> llama3.1-405b ({len(d)} records)"
    return synthetic(1000), "synthetic (cascade data absent)"


def resample(d: RecordArrays, n: int, seed: int = 0) -> RecordArrays:
    idx = np.random.default_rng(seed).integers(0, len(d), size=n)
    return RecordArrays(d.models, tuple(f"r{i}" for i in range(n)), d.score[idx], d.confidence[idx], d.cost[idx],
                        d.verifier_cost[idx])


def paper_train(method_name: str, d: RecordArrays) -> Callable[[], None]:
    import automix  # type: ignore[import-untyped]
    import pandas as pd  # type: ignore[import-untyped]

    s, big = d.score[:, 0], d.score[:, 1]
    df = pd.DataFrame({"p_ver": d.confidence[:, 0], "llama13b_f1": s, "llama70b_f1": big,
                       "category": np.where(big > s, "NEEDY", np.where(s > 0, "GOOD", "HOPELESS"))})
    ratio = float(d.cost[:, 1].mean() / d.cost[:, 0].mean())

    def run() -> None:
        method = getattr(automix, method_name)(num_bins=8)
        automix.Automix(method, verifier_column="p_ver", costs=[1, ratio], verifier_cost=0).train(df)

    return run


def timed(fn: Callable[[], object], repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="?", default=str(DEFAULT))
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=str(OUT))
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    try:
        import automix  # noqa: F401  (the paper's package, automix-llm)

        have_paper = True
    except ImportError:
        print("automix-llm not installed (pip install automix-llm pandas): paper column left out")
        have_paper = False
    base, desc = base_data(a.records)
    print(f"calibration time (s), medians of {a.repeats}; data: {desc}; noisy shared machine")
    print(f"{'policy':17s} {'records':>8s} {'ours fit 1':>11s} {'ours calibrate':>15s} {'paper train':>12s}"
          f" {'paper/ours':>11s}")
    rows: list[dict[str, Any]] = []
    for ours, theirs in PAIRS:
        for n in sizes:
            d = resample(base, n)
            reps = 1 if n >= 100_000 else a.repeats
            fit1 = timed(lambda: time_fit(ours, d), reps)  # noqa: B023
            cal: float | None = timed(lambda: calibrate(d, ours), reps)  # noqa: B023
            paper = None
            if have_paper and theirs is not None:
                paper = timed(paper_train(theirs, d), reps)
            row: dict[str, Any] = {"policy": ours, "paper_method": theirs, "records": n, "ours_fit_one_s": fit1,
                                   "ours_calibrate_s": cal, "paper_train_s": paper,
                                   "ratio": None if paper is None or cal is None else paper / cal}
            rows.append(row)
            ratio = "-" if paper is None or cal is None else f"{paper / cal:.3g}x"
            cal_s = "skipped" if cal is None else f"{cal:.4f}"
            print(f"{ours:17s} {n:8d} {fit1:11.4f} {cal_s:>15s} {'-' if paper is None else f'{paper:.4f}':>12s}"
                  f" {ratio:>11s}", flush=True)
    growth = {}
    for ours, _ in PAIRS:
        sel = [r for r in rows if r["policy"] == ours and r["ours_calibrate_s"] is not None]
        if len(sel) >= 2:
            lo, hi = sel[0], sel[-1]
            scale = hi["records"] / lo["records"]
            g = {"ours_x": hi["ours_calibrate_s"] / lo["ours_calibrate_s"], "records_x": scale}
            if lo["paper_train_s"] and hi["paper_train_s"]:
                g["paper_x"] = hi["paper_train_s"] / lo["paper_train_s"]
            growth[ours] = g
    print("time growth (ours calibrate; paper train) over a records_x-fold size increase: " + "; ".join(
        f"{k} x{v['records_x']:.0f} records: ours {v['ours_x']:.1f}x"
        + (f", paper {v['paper_x']:.1f}x" if "paper_x" in v else "")
        for k, v in growth.items()))
    Path(a.json).write_text(json.dumps({"data": desc, "repeats": a.repeats, "rows": rows, "growth": growth},
                                       indent=1))
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
