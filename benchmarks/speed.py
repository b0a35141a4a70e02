"""Calibration speed and routing-decision latency of every policy.

    python benchmarks/speed.py [--records 1000,10000,100000] [--json out.json]

Fitting = building the policy at one operating point from N records (for the POMDP: the
observation model, prior and quality table; for greedy: its kernel regression; for the threshold
family: its candidate grid); the full POMDP frontier sweep used by `automix calibrate` is timed
separately. A decision = one `Policy.decide` call after the first tier's observation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automix_core.calibration import RecordArrays
from automix_core.policies import POLICIES, GreedyPolicy, POMDPPolicy, get_policy_class


def synthetic(n: int, tiers: int = 2, seed: int = 0) -> RecordArrays:
    rng = np.random.default_rng(seed)
    d = rng.uniform(size=(n, 1))
    skill = np.linspace(0.3, 0.9, tiers)[None, :]
    right = rng.uniform(size=(n, tiers)) < np.clip(skill + 0.5 - d, 0.02, 0.98)
    conf = np.where(right, rng.beta(5, 2, size=(n, tiers)), rng.beta(2, 4, size=(n, tiers)))
    cost = np.broadcast_to(10.0 ** np.arange(tiers), (n, tiers)).copy()
    return RecordArrays(tuple(f"m{i}" for i in range(tiers)), tuple(map(str, range(n))), right.astype(float), conf,
                        cost, np.zeros((n, tiers)))


def time_fit(name: str, data: RecordArrays) -> float:
    t0 = time.perf_counter()
    if name == "pomdp":
        POMDPPolicy.fit(data, lam=0.01)
    elif name == "greedy":
        GreedyPolicy.fit(data, lam=0.01)
    else:  # threshold family: fitting is sweeping the quantile grid
        get_policy_class(name).candidates(data, grid=200)
    return time.perf_counter() - t0


def time_decisions(data: RecordArrays, tiers: int, n: int = 5000) -> dict[str, dict[str, float]]:
    out = {}
    confs = np.random.default_rng(1).uniform(size=n).tolist()
    for name in sorted(POLICIES):
        cands = get_policy_class(name).candidates(data, grid=40)
        pol = cands[len(cands) // 2]
        lat = []
        for c in confs:
            t0 = time.perf_counter_ns()
            pol.decide([(0, c)])
            lat.append((time.perf_counter_ns() - t0) / 1000)
        lat.sort()
        out[name] = {"p50_us": lat[len(lat) // 2], "p99_us": lat[int(len(lat) * 0.99)]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", default="1000,10000,100000")
    ap.add_argument("--tiers", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    sizes = [int(x) for x in a.records.split(",")]
    res: dict[str, object] = {"tiers": a.tiers, "fit_seconds": {}, "sweep_seconds": {}}
    print(f"fit at one operating point (s), {a.tiers} tiers")
    print(f"{'policy':18s}" + "".join(f"{n:>12d}" for n in sizes))
    for name in sorted(POLICIES):
        row = []
        for n in sizes:
            data = synthetic(n, a.tiers)
            row.append(statistics.median(time_fit(name, data) for _ in range(3)))
        res["fit_seconds"][name] = dict(zip(map(str, sizes), row))  # type: ignore[index]
        print(f"{name:18s}" + "".join(f"{t:12.4f}" for t in row))
    data = synthetic(10000, a.tiers)
    t0 = time.perf_counter()
    POMDPPolicy.candidates(data, grid=200)
    res["sweep_seconds"] = {"pomdp_10000": time.perf_counter() - t0}
    print(f"pomdp full frontier sweep on 10000 records: {res['sweep_seconds']['pomdp_10000']:.2f} s")  # type: ignore[index]
    dec = time_decisions(synthetic(2000, a.tiers), a.tiers)
    res["decision_us"] = dec
    print("decision latency (µs): " + ", ".join(f"{k} p50 {v['p50_us']:.1f} / p99 {v['p99_us']:.1f}"
                                                for k, v in dec.items()))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
