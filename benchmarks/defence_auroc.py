"""Does the injection defence cost the verifier discrimination on real data? (issue 14)

    python benchmarks/defence_auroc.py [--records 100] [--layout few-shot] [--model qwen2.5-coder-1.5b]
                                       [--out benchmarks/results/defence_auroc.jsonl]

On the shipped PubMedQA recording (``automix_core/data/pubmedqa_qwen_pair.jsonl``: per question an abstract as context
and the 0.5B's and the 1.5B's recorded answers, ``outputs[model].answer`` / ``.score``), the verifier
(``--model``, logprob mode, ``--layout``) rates each recorded answer with the defence on and off.

First, without a model, every one of the recording's inputs (both tiers' answers) is run through the
defence: the count it changes is printed. Live, the first ``--records`` questions in file order are
verified, plus every question where the defence changes an input. When the defence changes nothing, the
prompt sent is byte-identical with and without it (checked), so it is verified once and the confidence
stands for both (logprob mode is greedy); a changed input is verified both ways. Reported: the AUROC of
the confidence against the recorded correctness per tier and pooled, with and without the defence, and the
paired difference, with 95% bootstrap CIs over questions; and the confidences on the changed inputs.
Results are appended to ``--out`` as they come (a rerun resumes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from automix_core import LocalServer  # noqa: E402
from automix_core.backends.local import is_installed  # noqa: E402
from automix_core.settings import VerifyPrompt  # noqa: E402
from automix_core.shipped import shipped_path  # noqa: E402
from automix_core.verify import Verifier  # noqa: E402
from automix_core.verify.defence import neutralise_case  # noqa: E402

DATA = shipped_path("pubmedqa_qwen_pair.jsonl")
OUT = ROOT / "benchmarks" / "results" / "defence_auroc.jsonl"


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """P(a correct answer scores above an incorrect one), ties counting half; None with one class only."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return None
    return sum((p > q) + 0.5 * (p == q) for p in pos for q in neg) / (len(pos) * len(neg))


def changed_inputs(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(question id, tier) of every recorded input the defence changes."""
    out = []
    for r in records:
        for m in r["models"]:
            q, a, c = neutralise_case(r["query"], r["outputs"][m]["answer"], r["context"])
            if q.changed or a.changed or c.changed:
                out.append((r["id"], m))
    return out


def run(args: argparse.Namespace, records: list[dict[str, Any]], selected: list[dict[str, Any]]) -> None:
    out = Path(args.out)
    # a row stands only while the defended prompt it was measured on is the one sent now: a changed
    # defence re-measures the inputs it now treats differently (rows record the prompt's digest)
    done: dict[tuple[str, str, str, str], str] = {}
    if out.exists():
        for line in out.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            done[(row["id"], row["tier"], row["layout"], row["verifier"])] = row.get("prompt_sha", "")
    layout = cast(VerifyPrompt, args.layout)
    with LocalServer(args.model, threads=min(2, os.cpu_count() or 1), parallel=1) as server, out.open("a") as fh:
        on = Verifier(server.model(), mode="logprob", layout=layout, defence=True)
        off = Verifier(server.model(), mode="logprob", layout=layout, defence=False)
        for r in selected:
            for m in r["models"]:
                case = (r["query"], r["outputs"][m]["answer"], r["context"])
                prompt_on = on.prompt(*case, logprob=True)
                sha = hashlib.sha256(repr(prompt_on).encode()).hexdigest()[:16]
                if done.get((r["id"], m, args.layout, args.model)) == sha:
                    continue
                same = prompt_on == off.prompt(*case, logprob=True)
                t0 = time.time()
                res_on = on.verify(*case)
                conf_off = res_on.confidence if same else off.verify(*case).confidence
                row = {"id": r["id"], "tier": m, "layout": args.layout, "verifier": args.model,
                       "correct": bool(r["outputs"][m]["score"]), "on": res_on.confidence, "off": conf_off,
                       "changed": not same, "prompt_sha": sha, "findings": [f.as_dict() for f in res_on.neutralised],
                       "seconds": round(time.time() - t0, 1)}
                fh.write(json.dumps(row) + "\n")
                fh.flush()
                print(f"{r['id']:22s} {m:20s} on {row['on']:.3f} off {row['off']:.3f}"
                      + (" (changed)" if not same else ""), flush=True)


def summarise(rows: list[dict[str, Any]], resamples: int = 2000, seed: int = 0) -> None:
    ids = sorted({r["id"] for r in rows})
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_id.setdefault(r["id"], []).append(r)
    rng = random.Random(seed)
    boots = [[rng.randrange(len(ids)) for _ in ids] for _ in range(resamples)]
    tiers = sorted({r["tier"] for r in rows})
    for tier in [*tiers, "pooled"]:
        def pick(sample: list[int], tier: str = tier) -> list[dict[str, Any]]:
            return [r for i in sample for r in by_id[ids[i]] if tier == "pooled" or r["tier"] == tier]

        sel = pick(list(range(len(ids))))
        labels = [r["correct"] for r in sel]
        a_on, a_off = auroc([r["on"] for r in sel], labels), auroc([r["off"] for r in sel], labels)
        if a_on is None or a_off is None:
            print(f"{tier}: one class only")
            continue
        ci: dict[str, list[float]] = {"on": [], "off": [], "diff": []}
        for b in boots:
            s = pick(b)
            y = [r["correct"] for r in s]
            x_on, x_off = auroc([r["on"] for r in s], y), auroc([r["off"] for r in s], y)
            if x_on is not None and x_off is not None:
                ci["on"].append(x_on)
                ci["off"].append(x_off)
                ci["diff"].append(x_on - x_off)

        def band(v: list[float]) -> str:
            v = sorted(v)
            return f"[{v[int(0.025 * len(v))]:.3f}, {v[min(len(v) - 1, int(0.975 * len(v)))]:.3f}]"

        print(f"{tier:20s} n={len(sel):3d} (correct {sum(labels)}) AUROC defence on {a_on:.3f} {band(ci['on'])}, "
              f"off {a_off:.3f} {band(ci['off'])}, on-off {a_on - a_off:+.3f} {band(ci['diff'])}; "
              f"inputs changed {sum(r['changed'] for r in sel)}")
    for r in rows:
        if r["changed"]:
            print(f"changed: {r['id']} {r['tier']} on {r['on']:.3f} off {r['off']:.3f} correct={r['correct']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100, help="first N questions, plus every one the defence changes")
    ap.add_argument("--layout", default="few-shot", choices=["few-shot", "continue"])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--summary-only", action="store_true", help="summarise --out without running")
    args = ap.parse_args()
    records = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    changed = changed_inputs(records)
    n_inputs = sum(len(r["models"]) for r in records)
    print(f"defence changes {len(changed)} of {n_inputs} recorded inputs ({len({i for i, _ in changed})} questions)")
    changed_ids = {i for i, _ in changed}
    # the questions whose inputs the defence changes first (both ways), then the first --records in file order
    selected = [r for r in records if r["id"] in changed_ids]
    selected += [r for k, r in enumerate(records) if k < args.records and r["id"] not in changed_ids]
    if not args.summary_only:
        if not is_installed(args.model):
            print(f"{args.model} is not installed: automix models install {args.model}", file=sys.stderr)
            return 1
        run(args, records, selected)
    wanted = {r["id"] for r in selected}
    rows = [json.loads(line) for line in Path(args.out).read_text(encoding="utf-8").splitlines() if line.strip()]
    latest: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for row in rows:  # a re-measured row replaces the earlier one
        latest[(row["id"], row["tier"], row["layout"], row["verifier"])] = row
    rows = list(latest.values())
    summarise([r for r in rows if r["layout"] == args.layout and r["verifier"] == args.model and r["id"] in wanted])
    return 0


if __name__ == "__main__":
    sys.exit(main())
