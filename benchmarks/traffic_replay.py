"""Traffic replay: the router ``automix calibrate --from-traffic`` fits without labels against the router
fitted on the same shadowed requests with gold labels, both scored on held-out requests with gold labels.

    python benchmarks/traffic_replay.py [RECORDS] [--shadow-rate 0.5] [--repeats 8] [--boot 300] [--json out.json]
    python benchmarks/traffic_replay.py --traffic DIR     # recorded traffic whose outputs carry gold scores

Default: the cascade train records (../shared/data/cascades-train.jsonl), the routing benchmark's 12
cases (task x pair). Per case and repeat, the records are split in halves by id hash: the first half is
replayed as traffic (:func:`~automix_core.calibration.from_traffic.records_to_traffic`: the untrained
live cascade decides each request, a uniform ``--shadow-rate`` share is shadowed, i.e. every tier's
answer kept), the second half is the test set. On the shadowed requests (weighted as ``calibrate
--from-traffic`` weighs them) two routers are fitted with ``automix calibrate``'s defaults (POMDP, the
operating point that recovers half the gap at least cost on its own labels): **label-free** (agreement
with the large tier's answer, rule auto) and **gold**.
Each is scored on the test half's gold labels at its chosen operating point: ΔIBC (%), quality and
cost per request, and both as shares of always calling the large tier; costs as recorded (USD,
verification included). A single operating point's ΔIBC is heavy-tailed (it divides by the cost
added over the small model, which can be tiny): read it with its interval and beside the shares.
Intervals: the test requests resampled (the same resamples for both routers: a paired difference),
95% percentile intervals; a case's figure is the mean over its repeats, the pooled one the mean over
cases.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from routing_quality import DEFAULT, cases

from automix_core import Record, read_records
from automix_core.calibration import RecordArrays, to_arrays
from automix_core.calibration.agreement import label_by_agreement
from automix_core.calibration.evaluate import ref_outcomes
from automix_core.calibration.from_traffic import records_to_traffic, router_outcome, shadowed, traffic_arrays
from automix_core.calibration.uncertainty import boot_region_dibc, interval, resample_counts
from automix_core.router import Router, calibrate

KINDS = ("label-free", "gold")
METRICS = ("dibc", "quality", "cost", "q_rel", "c_rel")


def _half(rid: str, seed: int) -> bool:
    return int(hashlib.sha256(f"replay{seed}:{rid}".encode()).hexdigest()[:8], 16) % 2 == 0


def fit_pair(traffic: list[Record], models: list[str]) -> dict[str, Router]:
    """The label-free and the gold router fitted on the shadowed records of ``traffic``, weighted as
    ``calibrate --from-traffic`` weighs them."""
    used = shadowed(traffic, models)
    free, _ = label_by_agreement(used, reference=models[-1])
    out = {}
    for kind, recs in (("label-free", free), ("gold", used)):
        data, w = traffic_arrays(recs, models)
        reps = np.clip(np.rint(w / w.min()), 1, 100).astype(int)
        out[kind] = calibrate(data.subset(np.repeat(np.arange(len(data)), reps)), "pomdp")
    return out


def score(routers: dict[str, Router], test: RecordArrays, boot: int, seed: int) -> dict[str, Any]:
    """Each router's ΔIBC, quality and cost on ``test`` and their resamples (the same for both)."""
    counts = np.vstack([np.ones(len(test)), resample_counts(len(test), boot, seed)])
    small, large = ref_outcomes(test)
    out: dict[str, Any] = {}
    for kind, router in routers.items():
        cost, quality = router_outcome(router, test)
        dibc = boot_region_dibc([(cost, quality)], small, large, counts)[:, 0]
        out[kind] = {"dibc": dibc, "quality": counts @ quality / len(test), "cost": counts @ cost / len(test),
                     "q_rel": (counts @ quality) / (counts @ large[1]), "c_rel": (counts @ cost) / (counts @ large[0])}
    return out


def run_case(recs: list[Record], models: list[str], rate: float, repeats: int, boot: int, seed: int) -> dict[str, Any]:
    per: list[dict[str, Any]] = []
    shadow_n = []
    for rep in range(repeats):
        fit_recs = [r for r in recs if _half(r.id, seed * 100 + rep)]
        test_recs = [r for r in recs if not _half(r.id, seed * 100 + rep)]
        traffic = [Record.model_validate(t) for t in
                   records_to_traffic(fit_recs, models, shadow_rate=rate, seed=seed * 100 + rep)]
        shadow_n.append(len(shadowed(traffic, models)))
        per.append(score(fit_pair(traffic, models), to_arrays(test_recs, models), boot, seed * 100 + rep))
    return {k: {m: np.mean([p[k][m] for p in per], axis=0) for m in METRICS} for k in KINDS} | {
        "shadowed": float(np.mean(shadow_n))}


def _fmt(samples: np.ndarray, pct: bool = False) -> str:
    lo, hi = interval(samples[1:])
    f = "{:.1%}" if pct else "{:.1f}"
    return f"{f.format(samples[0])} [{f.format(lo)}, {f.format(hi)}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="?", default=str(DEFAULT))
    ap.add_argument("--traffic", default=None, help="recorded traffic (with gold scores) instead of RECORDS")
    ap.add_argument("--shadow-rate", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--boot", type=int, default=300)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    if a.traffic:
        from automix_core.calibration.from_traffic import read_traffic

        traffic = read_traffic(a.traffic)
        models = list(traffic[0].models)
        used = shadowed(traffic, models)
        test_recs = [r for r in used if not _half(r.id, 0)]
        routers = fit_pair([r for r in traffic if _half(r.id, 0)], models)
        rows = [("traffic", "->".join(models), score(routers, traffic_arrays(test_recs, models)[0], a.boot, 0))]
        print(f"traffic replay: {a.traffic}; {len(used)} shadowed records of {len(traffic)}: fitted on the half by id "
              f"hash, scored on the other half's gold scores ({len(test_recs)}); {a.boot} bootstrap resamples")
    else:
        if not Path(a.records).exists():
            print(f"records not found: {a.records} (the cascade data lives in ../shared/data); skipping")
            return 0
        recs = read_records(a.records)
        rows = []
        print(f"traffic replay: {a.records}; shadow rate {a.shadow_rate}; {a.repeats} repeats of a half/half split; "
              f"{a.boot} bootstrap resamples of the test half; costs as recorded (USD, verification included)")
        for i, (task, small, large) in enumerate(cases(recs)):
            sel = [r for r in recs if r.task == task and {small, large} <= set(r.models)]
            res = run_case(sel, [small, large], a.shadow_rate, a.repeats, a.boot, i)
            rows.append((task, f"{small}->{large}", res))
            print(f"  {task:10s} {small}->{large} ({res['shadowed']:.0f} shadowed): ΔIBC label-free "
                  f"{_fmt(res['label-free']['dibc'])}, gold {_fmt(res['gold']['dibc'])}; difference "
                  f"{_fmt(res['label-free']['dibc'] - res['gold']['dibc'])}", flush=True)
    out: dict[str, Any] = {"shadow_rate": a.shadow_rate, "repeats": a.repeats, "cases": []}
    pooled = {k: {m: np.mean([r[2][k][m] for r in rows], axis=0) for m in METRICS} for k in KINDS}
    print("\npooled over the cases (mean), at each router's chosen operating point, on gold test labels [95% interval]")
    for kind in KINDS:
        p = pooled[kind]
        print(f"  {kind:10s} ΔIBC {_fmt(p['dibc'])}%  quality {_fmt(p['quality'], pct=True)}; against always-large: "
              f"quality {_fmt(p['q_rel'], pct=True)} at cost {_fmt(p['c_rel'], pct=True)}")
    diff = pooled["label-free"]["dibc"] - pooled["gold"]["dibc"]
    ratio = pooled["label-free"]["dibc"] / pooled["gold"]["dibc"]
    ratio_text = _fmt(ratio, pct=True) if pooled["gold"]["dibc"][0] > 0 else "- (gold ΔIBC <= 0)"
    print(f"  label-free - gold: ΔIBC {_fmt(diff)} points; ratio {ratio_text}; quality "
          f"{_fmt(pooled['label-free']['quality'] - pooled['gold']['quality'], pct=True)}")
    for task, pair, res in rows:
        out["cases"].append({"task": task, "pair": pair, **{k: {m: float(res[k][m][0]) for m in ("dibc", "quality",
                                                                                                   "cost")}
                                                            for k in KINDS}})
    out["pooled"] = {k: {m: float(pooled[k][m][0]) for m in METRICS} for k in KINDS}
    out["difference_dibc"] = {"mean": float(diff[0]), "ci95": list(interval(diff[1:]))}
    out["ratio_dibc"] = {"mean": float(ratio[0]), "ci95": list(interval(ratio[1:]))}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
