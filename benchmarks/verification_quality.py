"""What each verification mode gives the router, against what it costs, on the shipped recording.

    python benchmarks/verification_quality.py [RECORDS] [--logprob] [--repeats 8] [--kernel-scale S] [--json out.json]

The recorded dataset (``automix_core/data/pubmedqa_qwen_pair.jsonl``) holds, per query, the 8 verification
samples the 0.5B drew with ``n=8`` (their texts, parsed verdicts and the tokens of the request). Every
sampling mode is replayed from them, so all modes see the same samples:

* ``k=1``, ``k=2``, ``k=4``: the first 1, 2, 4 samples (one request with ``n=k``);
* ``k=8, n=8``: all 8 samples in one request (what was recorded);
* ``k=8, 8 requests``: the same samples, as 8 separate requests (the prompt billed 8 times);
* ``sequential``: the early-stopping verifier's rule (batches of 2, stop once the Beta posterior
  puts >= 0.95 on one side of 0.5) run over the recorded samples in order;
* ``logprob`` (with ``--logprob``): the single-call logprob verifier, run live on each query's
  recorded small answer with the local Qwen 0.5B (results cached in
  ``benchmarks/results/logprob_confidence.jsonl``, so an interrupted run resumes). With it, every
  mode is scored on the queries that have a logprob confidence, so the rows compare like with like.

Tokens: the prompt as the server reported it, once per request; output tokens of one sample are
the request's output split in proportion to each sample's length. Quality to the router: mean ΔIBC
over 5 cost regions and normalized AUC, in repeated 2-fold cross-validation, with paper-style costs
(small 1, large 15 per call; verification not billed, as in the paper's protocol), so the rows
differ only by the information in the confidence.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automix_core import Record, read_records
from automix_core.calibration import RecordArrays, evaluate_cv, to_arrays
from automix_core.shipped import shipped_path
from automix_core.verify.verifier import NO_PARSE_CONFIDENCE, posterior_correct

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = shipped_path("pubmedqa_qwen_pair.jsonl")
OUT = ROOT / "benchmarks" / "results" / "verification_quality.json"
LOGPROB_CACHE = ROOT / "benchmarks" / "results" / "logprob_confidence.jsonl"
SMALL, LARGE = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"
UNIT = (1.0, 15.0)


def _conf(verdicts: list[bool | None]) -> float:
    decided = [v for v in verdicts if v is not None]
    return sum(decided) / len(decided) if decided else NO_PARSE_CONFIDENCE


def _sequential(verdicts: list[bool | None], batch: int = 2, stop_at: float = 0.95) -> int:
    """Samples the early-stopping verifier would have drawn from this sequence."""
    used = 0
    while used < len(verdicts):
        used = min(len(verdicts), used + batch)
        c = sum(v is True for v in verdicts[:used])
        i = sum(v is False for v in verdicts[:used])
        p = posterior_correct(c, i)
        if max(p, 1 - p) >= stop_at:
            break
    return used


def _sample_tokens(out: dict[str, Any]) -> list[float]:
    """Output tokens of each recorded sample: the request's total split by sample length."""
    texts = [str(t) for t in out.get("verifier_samples") or []]
    total = float(out.get("verifier_output_tokens") or 0)
    lengths = np.array([max(1, len(t)) for t in texts], dtype=float)
    return (total * lengths / lengths.sum()).tolist() if len(texts) else []


def modes_for(rec: Record, raw: dict[str, Any], logprob: dict[str, Any] | None) -> dict[str, tuple[float, float, int]]:
    """mode -> (confidence, verification tokens, requests) for one record's small answer."""
    out = raw["outputs"][SMALL]
    verdicts: list[bool | None] = list(out["verdicts"])
    per = _sample_tokens(out)
    prompt = float(out["verifier_input_tokens"])
    res: dict[str, tuple[float, float, int]] = {}
    for k in (1, 2, 4):
        res[f"k={k}"] = (_conf(verdicts[:k]), prompt + sum(per[:k]), 1)
    res["k=8, n=8"] = (_conf(verdicts), prompt + sum(per), 1)
    res["k=8, 8 requests"] = (_conf(verdicts), 8 * prompt + sum(per), 8)
    used = _sequential(verdicts)
    res["sequential"] = (_conf(verdicts[:used]), (used + 1) // 2 * prompt + sum(per[:used]), (used + 1) // 2)
    if logprob is not None:
        res["logprob"] = (float(logprob["confidence"]), float(logprob["input_tokens"] + logprob["output_tokens"]), 1)
    return res


def live_logprob(raws: list[dict[str, Any]], limit: int | None) -> dict[str, dict[str, Any]]:
    """Logprob confidences for the records' small answers, from the cache and then the local server."""
    done: dict[str, dict[str, Any]] = {}
    if LOGPROB_CACHE.exists():
        for line in LOGPROB_CACHE.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[row["id"]] = row
    todo = [r for r in raws if r["id"] not in done][: None if limit is None else max(0, limit - len(done))]
    if not todo:
        return done
    from automix_core import LocalServer
    from automix_core.backends.local import is_installed
    from automix_core.verify import Verifier

    if not is_installed(SMALL):
        print(f"{SMALL} not installed (automix models install {SMALL}); logprob mode left out")
        return done
    with LocalServer(SMALL, parallel=1) as server, LOGPROB_CACHE.open("a") as fh:
        v = Verifier(server.model(name=SMALL), k=1, mode="logprob")
        for i, r in enumerate(todo):
            out = r["outputs"][SMALL]
            res = v.verify(r["query"], out["answer"], r.get("context") or "")
            gens = res.generations
            row = {"id": r["id"], "confidence": res.confidence, "mode": res.mode,
                   "input_tokens": sum(g.input_tokens or 0 for g in gens),
                   "output_tokens": sum(g.output_tokens or 0 for g in gens)}
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            done[r["id"]] = row
            print(f"  logprob {i + 1}/{len(todo)}: {r['id']} conf {res.confidence:.3f} ({res.mode})", flush=True)
    return done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("records", nargs="?", default=str(DEFAULT))
    ap.add_argument("--logprob", action="store_true", help="also run the logprob verifier live (local Qwen 0.5B)")
    ap.add_argument("--logprob-limit", type=int, default=None, help="at most this many queries with logprob")
    ap.add_argument("--repeats", type=int, default=8, help="repeated 2-fold CV splits (default 8)")
    ap.add_argument("--kernel-scale", type=float, default=None,
                    help="POMDP observation kernel width (default: the library's, 3x Silverman's rule)")
    ap.add_argument("--json", default=str(OUT))
    a = ap.parse_args()
    path = Path(a.records)
    if not path.exists():
        print(f"records not found: {path}; skipping")
        return 0
    raws = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    raws = [r for r in raws if "verdicts" in r["outputs"].get(SMALL, {})]
    lp = live_logprob(raws, a.logprob_limit) if a.logprob else {}
    if a.logprob:
        raws = [r for r in raws if r["id"] in lp]
    recs = read_records([path])
    by_id = {r.id: r for r in recs}
    rows = [modes_for(by_id[r["id"]], r, lp.get(r["id"])) for r in raws]
    base = to_arrays([by_id[r["id"]] for r in raws], [SMALL, LARGE]).with_unit_costs(list(UNIT))
    n = len(rows)
    print(f"verification modes on {n} recorded PubMedQA queries ({SMALL} -> {LARGE}); ΔIBC: 2-fold CV x "
          f"{a.repeats}, costs small 1 / large 15 per call, verification not billed")
    print(f"{'mode':18s} {'requests':>8s} {'tokens':>8s} {'x k=1':>6s} {'pomdp ΔIBC':>11s} {'threshold ΔIBC':>15s}"
          f" {'pomdp AUC':>10s}")
    result: dict[str, Any] = {"records": str(path), "queries": n, "unit_costs": UNIT, "repeats": a.repeats, "modes": {}}
    one = float(np.mean([r["k=1"][1] for r in rows]))
    for mode in rows[0]:
        conf = np.array([r[mode][0] for r in rows])
        tokens = float(np.mean([r[mode][1] for r in rows]))
        requests = float(np.mean([r[mode][2] for r in rows]))
        data = RecordArrays(base.models, base.ids, base.score, np.stack([conf, base.confidence[:, 1]], axis=1),
                            base.cost, base.verifier_cost)
        options = {} if a.kernel_scale is None else {"pomdp": {"kernel_scale": a.kernel_scale}}
        res = evaluate_cv(data, 2, ["pomdp", "threshold"], repeats=a.repeats, options=options)
        row = {"requests": requests, "tokens": tokens, "tokens_vs_k1": tokens / one,
               "pomdp_mean_dibc": res["pomdp"].mean_dibc, "threshold_mean_dibc": res["threshold"].mean_dibc,
               "pomdp_auc": res["pomdp"].auc, "threshold_auc": res["threshold"].auc}
        result["modes"][mode] = row
        print(f"{mode:18s} {requests:8.1f} {tokens:8.0f} {tokens / one:6.2f} {row['pomdp_mean_dibc']:11.1f}"
              f" {row['threshold_mean_dibc']:15.1f} {row['pomdp_auc']:10.3f}", flush=True)
    Path(a.json).write_text(json.dumps(result, indent=1))
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
