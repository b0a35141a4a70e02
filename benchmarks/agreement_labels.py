"""Routing without labels: the POMDP fitted on agreement labels against the POMDP fitted on gold labels,
over the 12 cases of benchmarks/routing_quality.py (same cases, same folds: 2-fold CV x 8 repeats, the
paper's protocol: unit answer costs, verification free), both scored on the gold labels of the test
fold. Train split only (../shared/data/cascades-train.jsonl).

    python benchmarks/agreement_labels.py [RECORDS] [--boot 200] [--json out.json] [--schemes a,b,...]

A scheme labels each training record from the pair's own answers and confidences only (never gold,
never the other models of the group):

* ``gold``: the records' scores (the target).
* ``exact`` / ``contain`` / ``f1@T`` / ``auto``: the small answer's agreement with the large one under that
  rule (:mod:`automix_core.calibration.agreement`); the large answer scored 1.
* ``soft-RULE``: the large model's own confidence c (its recorded self-verification or answer-token
  probability) used as the chance that it is right: large = c, small = agree * c; i.e. a small answer
  that agrees is right when the reference is, one that disagrees is counted wrong.
* ``soft3-RULE``: as ``soft`` but a disagreeing small answer keeps the chance (1 - c) / 3 of being right
  where the reference is wrong (a 4-option question answered at random among the other options).

Prints per case and pooled mean ΔIBC (regions 1-5) per scheme and selection, the ratio of each
scheme's pooled mean to gold's with a 95% bootstrap interval (test queries resampled, the same
resamples for every scheme), and how often each scheme's hard label equals gold per task.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from routing_quality import DEFAULT, case_arrays, cases, fit_prices, folds_of

from automix_core import Record, read_records
from automix_core.calibration import RecordArrays
from automix_core.calibration.agreement import agree
from automix_core.calibration.evaluate import evaluate_selections, ref_outcomes
from automix_core.calibration.metrics import Selection
from automix_core.calibration.uncertainty import boot_region_dibc, interval, resample_counts

SELECTIONS: tuple[Selection, ...] = ("paper", "extended")
HARD = ("exact", "contain", "f1@0.1", "f1@0.2", "f1@0.3", "f1@0.5", "f1@0.7", "auto")
DEFAULT_SCHEMES = ("gold", *HARD, "soft-auto", "soft3-auto", "soft-contain")


def hard_labels(recs: list[Record], small: str, large: str, rule: str) -> np.ndarray:
    name, _, thr = rule.partition("@")
    kw: dict[str, Any] = {"f1_threshold": float(thr)} if thr else {}
    return np.array([agree(r.query, r.outputs[small].answer or "", r.outputs[large].answer or "", rule=name, **kw)
                     for r in recs], dtype=float)


def scheme_scores(scheme: str, recs: list[Record], small: str, large: str,
                  gold: np.ndarray, cache: dict[str, np.ndarray]) -> np.ndarray:
    """The (n, 2) training scores of ``scheme`` for one case."""
    if scheme == "gold":
        return gold
    kind, _, rule = scheme.partition("-") if scheme.startswith("soft") else ("hard", "", scheme)
    if rule not in cache:
        cache[rule] = hard_labels(recs, small, large, rule)
    a = cache[rule]
    if kind == "hard":
        return np.stack([a, np.ones_like(a)], axis=1)
    c = np.array([r.outputs[large].confidence or 0.0 for r in recs])
    wrong_right = (1 - c) / 3 if kind == "soft3" else 0.0
    return np.stack([a * c + (1 - a) * wrong_right, c], axis=1)


def relabel(data: RecordArrays, score: np.ndarray) -> RecordArrays:
    return RecordArrays(data.models, data.ids, score, data.confidence, data.cost, data.verifier_cost)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="?", default=str(DEFAULT))
    ap.add_argument("--schemes", default=",".join(DEFAULT_SCHEMES))
    ap.add_argument("--cv", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--boot", type=int, default=200)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    if not Path(a.records).exists():
        print(f"records not found: {a.records} (the cascade data lives in ../shared/data); skipping")
        return 0
    recs = read_records(a.records)
    schemes = a.schemes.split(",")
    prices = fit_prices(recs)
    print(f"agreement labels vs gold labels: {a.records}; {a.cv}-fold CV x {a.repeats}; POMDP; paper protocol "
          f"(unit answer costs, verification free); scored on gold test labels; {a.boot} bootstrap resamples")
    point: dict[tuple[str, str, int], float] = {}
    samples: dict[tuple[str, str, int], np.ndarray] = {}
    accuracy: dict[tuple[str, str], list[float]] = defaultdict(list)
    rows = cases(recs)
    for i, (task, small, large) in enumerate(rows):
        sel = [r for r in recs if r.task == task and {small, large} <= set(r.models)]
        arrays, _ = case_arrays(sel, [small, large], prices)
        data = arrays["free"]
        cache: dict[str, np.ndarray] = {}
        scores = {s: scheme_scores(s, sel, small, large, data.score, cache) for s in schemes}
        for s in schemes:
            hard = scores[s][:, 0] >= 0.5 * scores[s][:, 1] if s.startswith("soft") else scores[s][:, 0] >= 0.5
            accuracy[(task, s)].append(float(np.mean(hard == (data.score[:, 0] >= 0.5))))
        counts = resample_counts(len(data), a.boot, seed=i)
        acc_p: dict[tuple[str, str], list[float]] = defaultdict(list)
        acc_s: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
        for te_mask in folds_of(data, None, a.cv, a.repeats):
            te = data.subset(te_mask)
            w = counts[:, np.flatnonzero(te_mask)]
            small_o, large_o = ref_outcomes(te)
            for s in schemes:
                tr = relabel(data, scores[s]).subset(~te_mask)
                res = evaluate_selections(tr, te, ["pomdp"], SELECTIONS)
                for sl in SELECTIONS:
                    r = res[sl]["pomdp"]
                    acc_p[(s, sl)].append(r.mean_dibc)
                    assert r.outcomes is not None
                    acc_s[(s, sl)].append(boot_region_dibc(r.outcomes(te), small_o, large_o, w).mean(axis=1))
        for (s, sel_name), v in acc_p.items():
            point[(s, sel_name, i)] = float(np.mean(v))
            samples[(s, sel_name, i)] = np.mean(acc_s[(s, sel_name)], axis=0)
        print(f"  {task:10s} {small}->{large}: " + "  ".join(
            f"{s} {point[(s, 'paper', i)]:.1f}/{point[(s, 'extended', i)]:.1f}" for s in schemes), flush=True)
    out: dict[str, Any] = {"schemes": {}, "cases": [f"{t} {s}->{b}" for t, s, b in rows]}
    for sl in SELECTIONS:
        print(f"\nselection {sl!r}: pooled mean ΔIBC % over the {len(rows)} cases; ratio to gold [95% interval]")
        gold = np.mean([samples[("gold", sl, i)] for i in range(len(rows))], axis=0)
        gold_pt = float(np.mean([point[("gold", sl, i)] for i in range(len(rows))]))
        for s in schemes:
            pooled = float(np.mean([point[(s, sl, i)] for i in range(len(rows))]))
            boot = np.mean([samples[(s, sl, i)] for i in range(len(rows))], axis=0)
            lo, hi = interval(boot / gold)
            dlo, dhi = interval(boot - gold)
            print(f"  {s:14s} {pooled:6.1f}   {pooled / gold_pt:6.1%} [{lo:.1%}, {hi:.1%}]   "
                  f"minus gold {pooled - gold_pt:+5.1f} [{dlo:+.1f}, {dhi:+.1f}]")
            out["schemes"].setdefault(s, {})[sl] = {
                "mean_dibc": pooled, "ratio_to_gold": pooled / gold_pt, "ratio_ci95": [float(lo), float(hi)],
                "minus_gold": pooled - gold_pt, "minus_gold_ci95": [float(dlo), float(dhi)],
                "per_case": [point[(s, sl, i)] for i in range(len(rows))]}
    print("\nhard label equal to gold (small model's answer), mean over the task's 3 pairs")
    tasks = sorted({t for t, _ in accuracy})
    print(f"  {'scheme':14s}" + "".join(f"{t:>12s}" for t in tasks))
    for s in schemes:
        print(f"  {s:14s}" + "".join(f"{np.mean(accuracy[(t, s)]):12.1%}" for t in tasks))
    out["label_accuracy"] = {f"{t}/{s}": float(np.mean(v)) for (t, s), v in accuracy.items()}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
