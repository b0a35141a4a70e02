"""Routing quality on real cascade data: ΔIBC over 5 cost regions per policy and per case, beside the
paper's own package (automix-llm: its POMDP, threshold and self-consistency), random escalation and
the oracle; with costs that include verification and, beside them, the paper's protocol
(verification free); under both selections of operating points; with paired bootstrap intervals for
the differences between methods.

    python benchmarks/routing_quality.py [RECORDS ...] [--cv 2] [--repeats 8] [--boot 300] [--json out.json]
    python benchmarks/routing_quality.py automix_core/data/pubmedqa_qwen_pair.jsonl   # the shipped local pair

Cases: tasks triviaqa, truthfulqa, mmlu, medmcqa x pairs llama3.1-8b->llama3.1-405b,
llama3.2-3b->llama3.1-70b, gpt-4o-mini->gpt-4o (other records: each task with its own cheapest and
most expensive model).

Costs. Answers at unit costs: the small model 1, the large one the pair's mean answer-cost ratio.
Verification, when billed, in the same unit (its dollars over the small model's mean answer
dollars), per record. Records that carry ``verifier_cost`` (the shipped local pair) give it. The
cascade data does not: its confidence on triviaqa, truthfulqa and gsm8k came from one extra call
that re-sends the question and the answer and reads one token, and its recorded ``cost`` holds both
calls; on mmlu and medmcqa the confidence is the answer token's probability, from the answer call
itself. So each model's per-token prices are fitted on its records where cost = input x price_in +
output x price_out holds exactly (mmlu, medmcqa), the answer's cost is its own tokens at those
prices, and the verification's is what remains of the recorded cost (0 where the confidence came
with the answer). These verification costs are estimated (the records do not itemise the calls);
the output prints the fit and the prompt length the remainder implies as a check.

Protocol. With a ``test`` split it fits on train and scores on test; otherwise repeated k-fold
cross-validation inside the records (default 2 folds x 8 repeats). Intervals: the test queries of
each case are resampled (--boot times, the same resamples for every method, protocol and
selection, each query keeping its weight in every fold where it is a test query), the train fits
fixed; a case's difference A - B is the mean over its folds, the pooled one the mean over cases.
Default RECORDS: ../shared/data/cascades-train.jsonl (skips cleanly when absent).
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

from automix_core import Record, read_records
from automix_core.calibration import RecordArrays, auc_normalized, region_dibc, to_arrays
from automix_core.calibration.evaluate import (
    DEFAULT_METHODS,
    DIBC_DEFINITION,
    cost_range,
    cv_folds,
    evaluate_selections,
    ref_outcomes,
    refs,
)
from automix_core.calibration.metrics import Point, Selection
from automix_core.calibration.uncertainty import CaseDifference, boot_region_dibc, pool_cases, resample_counts

TASKS = ("triviaqa", "truthfulqa", "mmlu", "medmcqa")
PAIRS = (("llama3.1-8b", "llama3.1-405b"), ("llama3.2-3b", "llama3.1-70b"), ("gpt-4o-mini", "gpt-4o"))
DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "cascades-train.jsonl"
PAPER = ("pomdp", "threshold", "self-consistency")
PROTOCOLS = ("billed", "free")
PROTOCOL_TEXT = {"billed": "costs include verification", "free": "the paper's protocol: verification free"}
SELECTIONS: tuple[Selection, ...] = ("paper", "extended")
COMPARISONS = (("pomdp", "paper-pomdp"), ("threshold", "paper-threshold"), ("pomdp", "threshold"))
REFS = ("random", "oracle")


# -- costs -----------------------------------------------------------------------------------------

def fit_prices(recs: list[Record]) -> dict[str, Any]:
    """Per model, (price_in, price_out) per token, fitted on the (model, task) groups of records whose
    cost is exactly input x price_in + output x price_out (max relative residual < 1e-6)."""
    groups: dict[tuple[str, str], list[tuple[float, float, float]]] = defaultdict(list)
    for r in recs:
        for m, o in r.outputs.items():
            if o.input_tokens is not None and o.output_tokens is not None and o.cost > 0:
                groups[(m, r.task or "all")].append((o.input_tokens, o.output_tokens, o.cost))
    exact: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    tasks: dict[str, list[str]] = defaultdict(list)
    for (m, task), rows in groups.items():
        a = np.asarray(rows, float)
        coef = np.linalg.lstsq(a[:, :2], a[:, 2], rcond=None)[0]
        if np.max(np.abs(a[:, :2] @ coef - a[:, 2]) / a[:, 2]) < 1e-6:
            exact[m] += rows
            tasks[m].append(task)
    prices = {}
    for m, rows in exact.items():
        a = np.asarray(rows, float)
        coef = np.linalg.lstsq(a[:, :2], a[:, 2], rcond=None)[0]
        prices[m] = {"in": float(coef[0]), "out": float(coef[1]), "fitted_on": sorted(tasks[m]),
                     "max_rel_residual": float(np.max(np.abs(a[:, :2] @ coef - a[:, 2]) / a[:, 2]))}
    return prices


def split_costs(recs: list[Record], models: list[str], prices: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, str]:
    """(answer $, verification $) per record and tier, and how the verification cost was obtained."""
    if any(r.outputs[m].verifier_cost is not None for r in recs for m in models):
        ans = np.array([[r.outputs[m].cost for m in models] for r in recs])
        ver = np.array([[r.outputs[m].verifier_cost or 0.0 for m in models] for r in recs])
        return ans, ver, "recorded"
    missing = [m for m in models if m not in prices]
    if missing:
        raise SystemExit(f"no records of {missing} whose cost is exactly tokens x price: cannot split off verification")
    ans = np.array([[(r.outputs[m].input_tokens or 0) * prices[m]["in"]
                     + (r.outputs[m].output_tokens or 0) * prices[m]["out"] for m in models] for r in recs])
    total = np.array([[r.outputs[m].cost for m in models] for r in recs])
    rest = total - ans
    ver = np.where(rest > 1e-6 * total, rest, 0.0)
    return np.minimum(ans, total), ver, "estimated"


def case_arrays(recs: list[Record], models: list[str],
                prices: dict[str, Any]) -> tuple[dict[str, RecordArrays], dict[str, Any]]:
    """The case's records under each protocol (unit answer costs; verification billed or free)."""
    base = to_arrays(recs, models)
    ans, ver, how = split_costs(recs, models, prices)
    unit = float(ans[:, 0].mean())
    cost = np.broadcast_to(np.array([1.0, float(ans[:, 1].mean() / unit)]), base.cost.shape).copy()
    billed = RecordArrays(base.models, base.ids, base.score, base.confidence, cost, ver / unit)
    free = RecordArrays(base.models, base.ids, base.score, base.confidence, cost, np.zeros_like(cost))
    info = {"ratio": float(cost[0, 1]), "verification": how,
            "verify_small": float((ver[:, 0] / unit).mean()), "verify_large": float((ver[:, 1] / unit).mean())}
    if how == "estimated":  # the check: the prompt length the remainder implies (same across models = one call)
        implied = []
        for j, m in enumerate(models):
            p = prices[m]
            sent = np.array([(r.outputs[m].input_tokens or 0) + (r.outputs[m].output_tokens or 0) for r in recs])
            x = (ver[:, j] - p["out"]) / p["in"] - sent
            implied.append(round(float(np.median(x[ver[:, j] > 0])), 1) if (ver[:, j] > 0).any() else None)
        info["implied_prompt_tokens"] = implied
    return {"billed": billed, "free": free}, info


# -- the paper's package -----------------------------------------------------------------------------

def _paper_method(name: str) -> Any:
    from automix import POMDP, SelfConsistency, Threshold  # type: ignore[import-untyped]

    make = {"pomdp": lambda: POMDP(num_bins=8, init_belief=False), "threshold": lambda: Threshold(num_bins=8),
            "self-consistency": lambda: SelfConsistency(num_bins=8)}
    return make[name]()


def paper_decisions(name: str, train: RecordArrays, test: RecordArrays) -> tuple[np.ndarray, np.ndarray]:
    """One method of the package (``POMDP(num_bins=8)`` as in its example, ``Threshold(num_bins=8)``,
    ``SelfConsistency``) fitted on train: its escalations per parameter, on train and on test."""
    import pandas as pd  # type: ignore[import-untyped]

    method = _paper_method(name)
    s, big = train.score[:, 0], train.score[:, 1]
    cat = np.where(big > s, "NEEDY", np.where(s > 0, "GOOD", "HOPELESS"))
    # the package reads the scores under its own fixed column names
    df = pd.DataFrame({"p_ver": train.confidence[:, 0], "category": cat, "llama13b_f1": s, "llama70b_f1": big})
    params = list(method.generate_points(df, verifier_column="p_ver"))

    def run(d: RecordArrays) -> np.ndarray:
        frame = pd.DataFrame({"p_ver": d.confidence[:, 0]})
        return np.array([np.asarray(method.run(frame, p, verifier_column="p_ver"), dtype=bool) for p in params])

    return run(train), run(test)


def paper_outcome(retry: np.ndarray, d: RecordArrays) -> tuple[np.ndarray, np.ndarray]:
    """Per-query cost and quality of one parameter: tier 0 answered and verified, tier 1 when escalated."""
    return (d.cost[:, 0] + d.verifier_cost[:, 0] + retry * d.cost[:, 1],
            np.where(retry, d.score[:, 1], d.score[:, 0]).astype(float))


def paper_scores(dec: tuple[np.ndarray, np.ndarray], train: RecordArrays, test: RecordArrays,
                 selection: str) -> tuple[list[float], list[Any], float]:
    """Region ΔIBC on test, each region's chosen per-query outcome on test, and the AUC of the test curve."""
    def pts(rs: np.ndarray, d: RecordArrays) -> list[Point]:
        return [Point(float(c.mean()), float(q.mean())) for c, q in (paper_outcome(r, d) for r in rs)]

    te_pts = pts(dec[1], test)
    vals, chosen = region_dibc(pts(dec[0], train), te_pts, refs(train), refs(test), cost_range(train), 5,
                               "cheapest" if selection == "paper" else "costliest")
    outs = [None if c is None else paper_outcome(dec[1][c], test) for c in chosen]
    return vals, outs, auc_normalized(te_pts, *refs(test), cost_range(test))


# -- one case ----------------------------------------------------------------------------------------

def folds_of(data: RecordArrays, has_test: np.ndarray | None, k: int, repeats: int) -> list[np.ndarray]:
    if has_test is not None:
        return [has_test]
    return [cv_folds(data.ids, k, seed=rep) == f for rep in range(repeats) for f in range(k)]


def run_case(arrays: dict[str, RecordArrays], test_mask: np.ndarray | None, methods: list[str], paper: list[str],
             k: int, repeats: int, boot: int, seed: int) -> dict[str, Any]:
    """Every (protocol, selection, method): region ΔIBC (mean over folds), AUC, and the same region
    ΔIBC under each resample of the case's queries."""
    n = len(arrays["free"])
    counts = resample_counts(n, boot, seed)
    point: dict[tuple[str, str, str], list[np.ndarray]] = defaultdict(list)
    samples: dict[tuple[str, str, str], list[np.ndarray]] = defaultdict(list)
    aucs: dict[tuple[str, str], list[float]] = defaultdict(list)
    same = not arrays["billed"].verifier_cost.any()  # no verification cost: both protocols alike
    for te_mask in folds_of(arrays["free"], test_mask, k, repeats):
        idx = np.flatnonzero(te_mask)
        w = counts[:, idx]
        decisions: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for proto in PROTOCOLS:
            data = arrays["free" if same else proto]
            tr, te = data.subset(~te_mask), data.subset(te_mask)
            small, large = ref_outcomes(te)
            res = evaluate_selections(tr, te, methods, SELECTIONS)
            for sel in SELECTIONS:
                for name, r in res[sel].items():
                    point[(proto, sel, name)].append(np.asarray(r.dibc_regions))
                    if sel == "extended":
                        aucs[(proto, name)].append(r.auc)
                    if r.outcomes is not None:
                        samples[(proto, sel, name)].append(boot_region_dibc(r.outcomes(te), small, large, w))
                for name in paper:
                    if name not in decisions:
                        decisions[name] = paper_decisions(name, tr, te)
                    vals, outs, auc = paper_scores(decisions[name], tr, te, sel)
                    point[(proto, sel, f"paper-{name}")].append(np.asarray(vals))
                    samples[(proto, sel, f"paper-{name}")].append(boot_region_dibc(outs, small, large, w))
                    if sel == "extended":
                        aucs[(proto, f"paper-{name}")].append(auc)
    return {"point": {key: np.mean(v, axis=0) for key, v in point.items()},
            "samples": {key: np.mean(v, axis=0) for key, v in samples.items()},
            "auc": {key: float(np.nanmean(v)) for key, v in aucs.items()}}


# -- the whole benchmark -----------------------------------------------------------------------------

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


def _f(x: float | None, width: int = 9, digits: int = 1, sign: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return f"{'-':>{width}s}"
    return f"{x:+{width}.{digits}f}" if sign else f"{x:{width}.{digits}f}"


def _ci(lo: float, hi: float) -> str:
    return f"[{lo:+.1f}, {hi:+.1f}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="*", default=[str(DEFAULT)])
    ap.add_argument("--cv", type=int, default=2, help="folds (default 2: train and test of equal size)")
    ap.add_argument("--repeats", type=int, default=8, help="repeated cross-validation splits (default 8)")
    ap.add_argument("--boot", type=int, default=300, help="bootstrap resamples of the test queries (default 300)")
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

        paper = list(PAPER)
    except ImportError:
        print("automix-llm not installed (pip install automix-llm pandas): the paper's columns are left out")
        paper = []
    cols = [*methods, *(f"paper-{m}" for m in paper), *REFS]
    protocol = "fit on train, scored on test" if has_test else f"{a.cv}-fold CV x {a.repeats}"
    prices = fit_prices([r for r in recs if not has_test or r.split == "train"])
    print(f"routing quality: {', '.join(a.records)}; {protocol}; {a.boot} bootstrap resamples of the test queries")
    print(DIBC_DEFINITION)
    print("costs: answers at unit costs (small 1, large the pair's mean answer-cost ratio); verification, when "
          "billed, per record in the same unit; references (random, oracle) verify nothing")
    rows: list[dict[str, Any]] = []
    for i, (task, small, large) in enumerate(cases(recs)):
        sel_recs = [r for r in recs if (task == "all" or r.task == task) and {small, large} <= set(r.models)]
        if has_test:
            sel_recs = [r for r in sel_recs if r.split in ("train", "test")]
        arrays, info = case_arrays(sel_recs, [small, large], prices)
        mask = np.array([r.split == "test" for r in sel_recs]) if has_test else None
        res = run_case(arrays, mask, methods, paper, a.cv, a.repeats, a.boot, seed=i)
        rows.append({"task": task, "pair": f"{small}->{large}", **info, **res})
        print(f"  {task:11s} {small}->{large}: large = {info['ratio']:.2f}, verification ({info['verification']}) "
              f"{info['verify_small']:.2f} small / {info['verify_large']:.2f} large per call"
              + (f"; implied verification prompt {info['implied_prompt_tokens']} tokens"
                 if "implied_prompt_tokens" in info else ""), flush=True)
    if prices and not has_test:
        print("per-token prices ($/M, fitted where cost = tokens x price exactly): " + ", ".join(
            f"{m} {p['in'] * 1e6:.3g}/{p['out'] * 1e6:.3g}" for m, p in sorted(prices.items())))
    summary = report(rows, cols, paper)
    if a.json:
        Path(a.json).write_text(json.dumps(to_json(rows, cols, protocol, prices, summary, a.boot), indent=1))
    return 0


def report(rows: list[dict[str, Any]], cols: list[str], paper: list[str]) -> dict[str, Any]:
    """Print the tables; return the pooled figures."""
    summary: dict[str, Any] = {"mean_dibc": {}, "mean_dibc_2_5": {}, "differences": {}, "mean_auc": {}}
    for proto in PROTOCOLS:
        for sel in SELECTIONS:
            key = f"{proto}/{sel}"
            print(f"\nmean ΔIBC % over 5 cost regions; {PROTOCOL_TEXT[proto]}; selection {sel!r}")
            if proto == "billed":
                print("(random and oracle verify nothing: under billed costs they are not scored)")
            shown = [m for m in cols if proto == "free" or m not in REFS]
            print(f"{'task':11s} {'pair':30s}" + "".join(f"{m[:12]:>13s}" for m in shown))
            for r in rows:
                print(f"{r['task']:11s} {r['pair']:30s}"
                      + "".join(_f(float(r["point"][(proto, sel, m)].mean()), 13) for m in shown))
            means = {m: float(np.mean([r["point"][(proto, sel, m)].mean() for r in rows])) for m in shown}
            means25 = {m: float(np.mean([r["point"][(proto, sel, m)][1:].mean() for r in rows])) for m in shown}
            print(f"{'mean, regions 1-5':42s}" + "".join(_f(means[m], 13) for m in shown))
            print(f"{'mean, regions 2-5':42s}" + "".join(_f(means25[m], 13) for m in shown))
            summary["mean_dibc"][key], summary["mean_dibc_2_5"][key] = means, means25
    comps = [(x, y) for x, y in COMPARISONS if x in cols and y in cols]
    print("\npaired differences A - B in mean ΔIBC % (same resamples for both): mean over cases [95% interval of "
          "that mean]; cases whose own interval is above 0 / below 0 / across 0; per region the mean over cases")
    print(f"{'protocol':8s} {'selection':9s} {'A - B':29s} {'regions 1-5':>24s} {'+/-/0':>7s} "
          f"{'regions 2-5':>24s} {'+/-/0':>7s}   per region 1..5")
    for proto in PROTOCOLS:
        for sel in SELECTIONS:
            for x, y in comps:
                diffs = [CaseDifference.of(r["point"][(proto, sel, x)], r["point"][(proto, sel, y)],
                                           r["samples"][(proto, sel, x)], r["samples"][(proto, sel, y)]) for r in rows]
                all5, skip1 = pool_cases(diffs), pool_cases(diffs, skip_first=True)
                summary["differences"][f"{proto}/{sel}/{x} - {y}"] = {
                    "regions_1_5": all5.to_json(), "regions_2_5": skip1.to_json(),
                    "per_case": [{"case": f"{r['task']} {r['pair']}", "mean": d.mean, "ci95": d.ci(),
                                  "mean_2_5": d.mean_2_5, "ci95_2_5": d.ci(skip_first=True)}
                                 for r, d in zip(rows, diffs)]}
                cells = [f"{_f(p.mean, 7, sign=True)} {_ci(*p.ci):>16s} {p.above:>2d}/{p.below}/{p.across}"
                         for p in (all5, skip1)]
                print(f"{proto:8s} {sel:9s} {x + ' - ' + y:29s} {cells[0]} {cells[1]}   "
                      + " ".join(_f(v, 6, sign=True) for v in all5.regions))
    for proto in PROTOCOLS:
        print(f"\nper case, {PROTOCOL_TEXT[proto]}, selection 'extended': A - B over regions 1-5 [95% interval]")
        print(f"{'task':11s} {'pair':30s}" + "".join(f"{x + ' - ' + y:>30s}" for x, y in comps))
        for r in rows:
            cells = []
            for x, y in comps:
                d = CaseDifference.of(r["point"][(proto, "extended", x)], r["point"][(proto, "extended", y)],
                                      r["samples"][(proto, "extended", x)], r["samples"][(proto, "extended", y)])
                cells.append(f"{d.mean:+7.1f} {_ci(*d.ci())}".rjust(30))
            print(f"{r['task']:11s} {r['pair']:30s}" + "".join(cells))
    curve = [m for m in ("pomdp", "threshold", *(f"paper-{m}" for m in paper), *REFS) if m in cols]
    print("\nnormalized AUC of the test curve over the cost range (1 = the large model's quality at once, 0 = never "
          "better than the small model alone), selection 'extended', the paper's protocol (the range starts at the "
          "verified small model, so billing verification shifts every verifying curve and the range alike and "
          "leaves their AUC unchanged)")
    print(f"{'':42s}" + "".join(f"{m[:16]:>17s}" for m in curve))
    aucs = {m: float(np.nanmean([r["auc"][("free", m)] for r in rows])) for m in curve}
    summary["mean_auc"]["free"] = aucs
    print(f"{'mean AUC':42s}" + "".join(f"{aucs[m]:17.3f}" for m in curve))
    return summary


def to_json(rows: list[dict[str, Any]], cols: list[str], protocol: str, prices: dict[str, Any],
            summary: dict[str, Any], boot: int) -> dict[str, Any]:
    def r6(x: float) -> float | None:
        return None if not np.isfinite(x) else round(float(x), 6)

    out_rows = []
    for r in rows:
        res: dict[str, Any] = {}
        for (proto, sel, m), v in r["point"].items():
            if m in cols:
                res.setdefault(f"{proto}/{sel}", {})[m] = {"dibc_regions": [r6(x) for x in v],
                                                           "mean_dibc": r6(v.mean()), "mean_dibc_2_5": r6(v[1:].mean())}
        out_rows.append({k: r[k] for k in ("task", "pair", "ratio", "verification", "verify_small", "verify_large")}
                        | {"implied_prompt_tokens": r.get("implied_prompt_tokens"), "results": res,
                           "auc": {f"{p}/{m}": r6(v) for (p, m), v in r["auc"].items()}})
    return {"protocol": protocol, "bootstrap": boot, "definition": DIBC_DEFINITION, "protocols": PROTOCOL_TEXT,
            "prices_per_token": prices, "rows": out_rows, **summary}


if __name__ == "__main__":
    sys.exit(main())
