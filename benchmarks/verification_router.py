"""The router on two kinds of confidence for the same answers: few-shot k=8 samples vs continue + logprob.

    python benchmarks/verification_router.py [--a automix_core/data/pubmedqa_qwen_pair.jsonl]
                                             [--b automix_core/data/pubmedqa_qwen_pair_continue.jsonl] [--boot 2000]

Both files hold the same recorded answers of the Qwen pair on PubMedQA (B made by ``automix collect
--reverify ... --verify-mode logprob --verify-prompt continue`` from A); only the tier-0 confidences
and their verification cost differ. Only the queries present in both are used (so a partial B can be
scored), with each query's own train/test split.

For each confidence source and each cost protocol:

* ``verification billed``: the records' own costs at the catalog's local prices, each route paying
  the verification it asked for (the references, always-small and always-large, pay none);
* ``paper``: unit costs 1 (small) and 15 (large) per call, verification free (the paper's protocol);

a router is calibrated on the train part as automix_core/data/README.md does (POMDP, operating point by train
ΔIBC, ``automix_core.calibrate``) and scored on the test part: its cost, quality and ΔIBC (the base
slope from the small model to the large model called alone, ``delta_ibc``). The difference B − A is
a paired bootstrap over test queries (the same resamples for both; the routers fixed as calibrated).
``automix_core.evaluate`` also gives each source's mean ΔIBC over 5 cost regions with its own
bootstrap interval (not paired), and over repeated 2-fold cross-validation of all shared queries (the
same folds for both sources). AUROC of the tier-0 confidence against the 0.5B's correctness over
all shared queries, with a paired interval. Output: ``benchmarks/results/verification_router.{json,txt}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automix_core import Router, calibrate, read_records
from automix_core.calibration import Point, RecordArrays, delta_ibc, evaluate, evaluate_cv, to_arrays
from automix_core.policies import Policy
from automix_core.shipped import shipped_path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
OUT = ROOT / "benchmarks" / "results" / "verification_router"


def per_query(router: Router, data: RecordArrays) -> tuple[np.ndarray, np.ndarray]:
    """Expected cost and quality of each query routed by ``router`` (a mixture counted at its probability):
    the calls of every visited tier plus the verification of every tier whose confidence the policy read."""

    def one(policy: Policy) -> tuple[np.ndarray, np.ndarray]:
        answer, visited = policy.route(data.confidence)
        observed = np.array(visited, dtype=bool)
        if not policy.observes_last:
            last = visited.shape[1] - 1 - np.argmax(visited[:, ::-1], axis=1)
            observed[np.arange(len(last)), last] = False
            observed[:, 0] = True
        cost = (visited * data.cost).sum(axis=1) + (observed * data.verifier_cost).sum(axis=1)
        return cost, data.score[np.arange(len(answer)), answer]

    c, q = one(router.policy)
    if router.mix is not None:
        c2, q2 = one(router.mix[0])
        p = router.mix[1]
        c, q = (1 - p) * c + p * c2, (1 - p) * q + p * q2
    return c, q


def _dibc(c: np.ndarray, q: np.ndarray, data: RecordArrays, idx: np.ndarray) -> float:
    small = Point(float(data.cost[idx, 0].mean()), float(data.score[idx, 0].mean()))
    large = Point(float(data.cost[idx, 1].mean()), float(data.score[idx, 1].mean()))
    return delta_ibc(Point(float(c[idx].mean()), float(q[idx].mean())), small, large)


def auroc(conf: np.ndarray, correct: np.ndarray) -> float:
    pos, neg = conf[correct > 0.5], conf[correct <= 0.5]
    if not len(pos) or not len(neg):
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def _ci(x: np.ndarray) -> list[float]:
    x = x[np.isfinite(x)]
    return [float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5))] if len(x) else [float("nan")] * 2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", default=str(shipped_path("pubmedqa_qwen_pair.jsonl")), help="reference confidences")
    ap.add_argument("--b", default=str(shipped_path("pubmedqa_qwen_pair_continue.jsonl")), help="new confidences")
    ap.add_argument("--labels", default="few-shot k=8,continue+logprob")
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=20, help="repeated 2-fold CV splits (default 20)")
    a = ap.parse_args()
    la, lb = a.labels.split(",")
    ra, rb = {r.id: r for r in read_records(a.a)}, {r.id: r for r in read_records(a.b)}
    ids = [i for i in ra if i in rb]
    out: dict[str, Any] = {"shared_queries": len(ids), "labels": [la, lb]}
    lines = [f"{len(ids)} shared queries; A = {la} ({a.a}), B = {lb} ({a.b})"]
    for split in ("train", "test"):
        out[f"n_{split}"] = sum(ra[i].split == split for i in ids)
    lines.append(f"train {out['n_train']} / test {out['n_test']}")
    rng = np.random.default_rng(0)
    # AUROC over all shared queries (tier-0 confidence vs the 0.5B's correctness)
    da_all, db_all = to_arrays([ra[i] for i in ids], MODELS), to_arrays([rb[i] for i in ids], MODELS)
    correct = da_all.score[:, 0]
    idx_all = rng.integers(0, len(ids), size=(a.boot, len(ids)))
    boot_auc = np.array([[auroc(d.confidence[ix, 0], correct[ix]) for d in (da_all, db_all)] for ix in idx_all])
    out["auroc"] = {la: auroc(da_all.confidence[:, 0], correct), lb: auroc(db_all.confidence[:, 0], correct),
                    "b_minus_a_ci95": _ci(boot_auc[:, 1] - boot_auc[:, 0])}
    lines.append(f"AUROC tier-0 confidence vs correctness: {la} {out['auroc'][la]:.3f}, {lb} {out['auroc'][lb]:.3f}; "
                 f"B - A {out['auroc'][lb] - out['auroc'][la]:+.3f} "
                 f"[{out['auroc']['b_minus_a_ci95'][0]:+.3f}, {out['auroc']['b_minus_a_ci95'][1]:+.3f}] (paired)")
    for protocol, unit in (("verification billed", None), ("paper (unit costs 1,15, verification free)", [1.0, 15.0])):
        res: dict[str, Any] = {}
        lines.append(f"\n{protocol}:")
        per: dict[str, tuple[np.ndarray, np.ndarray, RecordArrays]] = {}
        for label, recs in ((la, ra), (lb, rb)):
            tr = to_arrays([recs[i] for i in ids if recs[i].split == "train"], MODELS)
            te = to_arrays([recs[i] for i in ids if recs[i].split == "test"], MODELS)
            if unit is not None:
                tr, te = tr.with_unit_costs(unit), te.with_unit_costs(unit)
            router = calibrate(tr, "pomdp")
            c, q = per_query(router, te)
            idx = np.arange(len(te.score))
            ev = evaluate(tr, te, ["pomdp", "threshold"], bootstrap=200)
            res[label] = {
                "router_test_cost": float(c.mean()), "router_test_quality": float(q.mean()),
                "router_test_dibc": _dibc(c, q, te, idx), "escalation_rate": router.escalation_rate(te),
                "always_small": [float(te.cost[:, 0].mean()), float(te.score[:, 0].mean())],
                "always_large": [float(te.cost[:, 1].mean()), float(te.score[:, 1].mean())],
                "verify_cost_per_query": float(te.verifier_cost[:, 0].mean()),
                "region_mean_dibc": {m: {"mean": r.mean_dibc, "ci95": r.dibc_ci95, "regions": r.dibc_regions,
                                         "points": r.points} for m, r in ev.items()},
            }
            per[label] = (c, q, te)
        cv: dict[str, dict[str, float]] = {}
        for label, recs in ((la, ra), (lb, rb)):  # the same folds for both (by id)
            both = to_arrays([recs[i] for i in ids], MODELS)
            both = both.with_unit_costs(unit) if unit is not None else both
            r_cv = evaluate_cv(both, 2, ["pomdp", "threshold"], repeats=a.repeats)
            cv[label] = {m: r.mean_dibc for m, r in r_cv.items() if m in ("pomdp", "threshold", "random")}
        res["cv_mean_dibc"] = cv
        lines.append(f"  mean ΔIBC over 5 regions, 2-fold CV x {a.repeats} over all {len(ids)} shared queries: " +
                     "; ".join(f"{label}: " + ", ".join(f"{m} {v:.1f}" for m, v in cv[label].items())
                               for label in (la, lb)))
        n = len(per[la][2].score)
        boots = rng.integers(0, n, size=(a.boot, n))
        diffs = np.array([_dibc(*per[lb], ix) - _dibc(*per[la], ix) for ix in boots])
        dq = np.array([per[lb][1][ix].mean() - per[la][1][ix].mean() for ix in boots])
        dc = np.array([per[lb][0][ix].mean() - per[la][0][ix].mean() for ix in boots])
        res["b_minus_a"] = {"router_dibc": res[lb]["router_test_dibc"] - res[la]["router_test_dibc"],
                            "router_dibc_ci95": _ci(diffs), "quality_ci95": _ci(dq), "cost_ci95": _ci(dc)}
        out[protocol] = res
        for label in (la, lb):
            r = res[label]
            ev_txt = ", ".join(f"{m} {v['mean']:.1f}% [{v['ci95'][0]:.1f}, {v['ci95'][1]:.1f}]" if v["ci95"] else
                               f"{m} {v['mean']:.1f}%" for m, v in r["region_mean_dibc"].items())
            lines.append(f"  {label:18s} router on test: cost {r['router_test_cost']:.4g}, quality "
                         f"{r['router_test_quality']:.3f}, escalated {r['escalation_rate']:.0%}, ΔIBC "
                         f"{r['router_test_dibc']:.1f}%; verification {r['verify_cost_per_query']:.3g}/query; "
                         f"mean ΔIBC over 5 regions: {ev_txt}")
        s, l_ = res[la]["always_small"], res[la]["always_large"]
        lines.append(f"  always-small cost {s[0]:.4g} quality {s[1]:.3f}; always-large cost {l_[0]:.4g} "
                     f"quality {l_[1]:.3f}")
        d = res["b_minus_a"]
        lines.append(f"  B - A router ΔIBC {d['router_dibc']:+.1f} points [{d['router_dibc_ci95'][0]:+.1f}, "
                     f"{d['router_dibc_ci95'][1]:+.1f}]; quality [{d['quality_ci95'][0]:+.3f}, "
                     f"{d['quality_ci95'][1]:+.3f}]; cost [{d['cost_ci95'][0]:+.3g}, {d['cost_ci95'][1]:+.3g}] "
                     f"(paired bootstrap over test queries, {a.boot} resamples)")
    text = "\n".join(lines)
    print(text)
    OUT.with_suffix(".json").write_text(json.dumps(out, indent=1, default=float))
    OUT.with_suffix(".txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
