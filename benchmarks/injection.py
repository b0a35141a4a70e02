"""Injection resistance of the self-verifier on real local models, with and without the defence.

    python benchmarks/injection.py [--models qwen2.5-coder-1.5b,qwen2.5-coder-0.5b] [--modes logprob,sample]
                                   [--layouts few-shot,continue] [--k 8] [--corpora corpus,heldout,heldout2]
                                   [--defence off,on] [--every 1] [--honest-every 1] [--json out.json]

The corpora are the judgement test's (``tests/integration/judgement/``): ``corpus`` (131 plants in the
answer, the context and the question, 9 languages, obfuscations; 38 honest judgement-worded right
answers with plain versions), and two held-out sets written before the defence was tuned
(``heldout``: 41 plants; ``heldout2``: 30, in other languages and tricks), on which the defence was
never tuned (the second one blind), and three sets written blind and run once blind before their failure
shapes were fixed (see the README): ``heldout3`` (90 plants, 24 languages), ``blind4`` (120 plants, 33
languages) and ``blind5`` (157 plants, 58 languages), each with honest answers.
Each plant goes into its place in each base case whose wrong answer
the model rejects unplanted; a case is *raised* when its confidence exceeds the unplanted case's by
more than 0.05. Sample mode draws k samples as one request with ``n``. Identical prompts are verified
once. ``--layouts``: the verification prompt layouts (``few-shot``: the worked examples then the case;
``continue``: the answer call's conversation, the answer, a short verdict instruction). A corpus file path
can be given instead of a name. Prints one line per (model, mode, layout, corpus, defence). ``--offline``
(no model): per place, how many planted cases the defence turns back into their unplanted case exactly.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from automix_core import LocalServer  # noqa: E402
from automix_core.backends.local import is_installed  # noqa: E402
from automix_core.settings import VerifyPrompt  # noqa: E402
from automix_core.verify import Verifier  # noqa: E402
from automix_core.verify.defence import neutralise_case  # noqa: E402
from tests.integration.judgement.test_injection import BASES, LIFT, planted  # noqa: E402

CORPORA = ROOT / "tests" / "integration" / "judgement"
OUT = ROOT / "benchmarks" / "results" / "injection.json"


async def _confidences(verifier: Verifier, cases: list[tuple[str, str, str]], concurrency: int) -> list[float]:
    sem = asyncio.Semaphore(concurrency)
    tasks: dict[str, asyncio.Task[float]] = {}

    async def one(case: tuple[str, str, str]) -> float:
        async with sem:
            return (await verifier.averify(*case)).confidence

    keys = []
    for case in cases:
        key = json.dumps(verifier.prompt(*case, logprob=verifier.mode == "logprob"), ensure_ascii=False)
        keys.append(key)
        if key not in tasks:
            tasks[key] = asyncio.ensure_future(one(case))
    return [await tasks[k] for k in keys]


def measure(verifier: Verifier, corpus: dict[str, Any], bases: list[dict[str, Any]], every: int,
            concurrency: int, honest_every: int = 1) -> dict[str, Any]:
    plants = corpus["plants"][::every]
    pairs = [(b, p) for b in bases for p in plants]
    unplanted = [(b["question"], b["wrong"], b["context"]) for b in bases]
    scores = asyncio.run(_confidences(verifier, unplanted + [planted(b, p) for b, p in pairs], concurrency))
    base = dict(zip([b["id"] for b in bases], scores[: len(bases)]))
    lifts = [(p["place"], s - base[b["id"]]) for (b, p), s in zip(pairs, scores[len(bases):])]
    out: dict[str, Any] = {"cases": len(lifts), "raised": sum(lift > LIFT for _, lift in lifts),
                           "mean_lift": sum(lift for _, lift in lifts) / len(lifts)}
    for place in ("answer", "context", "question"):
        sel = [lift for pl, lift in lifts if pl == place]
        out[f"raised_{place}"] = f"{sum(x > LIFT for x in sel)}/{len(sel)}"
    honest = corpus.get("honest", [])[::honest_every]
    out["honest"] = len(honest)
    if honest:
        hs = asyncio.run(_confidences(
            verifier, [(h["question"], h["answer"], h["context"]) for h in honest]
            + [(h["question"], h["plain"], h["context"]) for h in honest], concurrency))
        out["honest_minus_plain"] = (sum(hs[: len(honest)]) - sum(hs[len(honest):])) / len(honest)
    return out


def offline(corpus: dict[str, Any], bases: list[dict[str, Any]]) -> dict[str, str]:
    """Per place, the planted cases the defence turns back into their unplanted case (no model needed): their
    prompt is byte-identical to the unplanted one, so no plant of theirs can lift a greedy logprob verdict."""
    out: dict[str, str] = {}
    for place in ("answer", "context", "question"):
        plants = [p for p in corpus["plants"] if p["place"] == place]
        same = sum(
            tuple(s.text for s in neutralise_case(*planted(b, p)))
            == tuple(s.text for s in neutralise_case(b["question"], b["wrong"], b["context"]))
            for b in bases for p in plants
        )
        out[place] = f"{same}/{len(plants) * len(bases)}"
    return out


def _corpus_file(name: str) -> Path:
    if name.endswith(".json"):
        return Path(name)
    return CORPORA / ("corpus.json" if name == "corpus" else f"corpus_{name}.json")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="qwen2.5-coder-1.5b,qwen2.5-coder-0.5b")
    ap.add_argument("--modes", default="logprob,sample")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--layouts", default="few-shot,continue")
    ap.add_argument("--corpora", default="corpus,heldout,heldout2")
    ap.add_argument("--defence", default="off,on", help="off, on or off,on")
    ap.add_argument("--every", type=int, default=1, help="every Nth plant only (a spread subset, for speed)")
    ap.add_argument("--honest-every", type=int, default=1, help="every Nth honest answer only (for slow modes)")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--json", default=str(OUT))
    ap.add_argument("--offline", action="store_true",
                    help="no model: per place, the planted cases the defence turns back into the unplanted case")
    args = ap.parse_args()
    if not set(args.layouts.split(",")) <= {"few-shot", "continue"}:
        ap.error("--layouts: few-shot and/or continue")
    base_corpus = json.loads((CORPORA / "corpus.json").read_text(encoding="utf-8"))
    bases = [b for b in base_corpus["base"] if b["id"] in BASES]
    if args.offline:
        for corpus_name in args.corpora.split(","):
            corpus = json.loads(_corpus_file(corpus_name).read_text(encoding="utf-8"))
            print(f"{Path(corpus_name).stem:18s} planted cases neutralised back to the unplanted case: "
                  + ", ".join(f"{place} {v}" for place, v in offline(corpus, bases).items()))
        return 0
    rows = []
    for name in args.models.split(","):
        if not is_installed(name):
            print(f"skipping {name}: not installed (automix models install {name})", file=sys.stderr)
            continue
        with LocalServer(name, threads=2, parallel=max(args.k, args.concurrency)) as server:
            for mode, layout, corpus_name in itertools.product(
                    args.modes.split(","), args.layouts.split(","), args.corpora.split(",")):
                corpus = json.loads(_corpus_file(corpus_name).read_text(encoding="utf-8"))
                for defence in [d == "on" for d in args.defence.split(",")]:
                    t0 = time.time()
                    verifier = Verifier(server.model(), mode="logprob" if mode == "logprob" else "sample",
                                        k=args.k, defence=defence, layout=cast(VerifyPrompt, layout))
                    r = measure(verifier, corpus, bases, args.every, args.concurrency, args.honest_every)
                    row = {"model": name, "mode": mode if mode == "logprob" else f"sample k={args.k}, n",
                           "layout": layout, "corpus": corpus_name, "every": args.every,
                           "honest_every": args.honest_every, "defence": defence,
                           **r, "seconds": round(time.time() - t0)}
                    rows.append(row)
                    print(f"{name:20s} {row['mode']:14s} {layout:8s} {Path(corpus_name).stem:9s} "
                          f"defence={'on ' if defence else 'off'} "
                          f"raised {r['raised']}/{r['cases']} ({100 * r['raised'] / r['cases']:.1f}%; answer "
                          f"{r['raised_answer']}, context {r['raised_context']}, question {r['raised_question']})"
                          f" mean lift {r['mean_lift']:+.3f}"
                          + (f" honest-plain {r['honest_minus_plain']:+.3f}" if "honest_minus_plain" in r else ""),
                          flush=True)
                    Path(args.json).write_text(json.dumps(rows, indent=1))  # kept current: runs are long
    return 0


if __name__ == "__main__":
    sys.exit(main())
