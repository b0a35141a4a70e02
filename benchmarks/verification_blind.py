"""Blind checks of the verifier on fresh base cases, and AUROC on grounded items (issue 24).

    python benchmarks/verification_blind.py plants CORPUS.json --layout continue [--bases-per-plant 2]
                                            [--tag new] [--out benchmarks/results/verification_blind.jsonl]
    python benchmarks/verification_blind.py auroc ITEMS.json --layout continue [--tag new]
    python benchmarks/verification_blind.py pubmedqa --records 60 --layout continue [--tag new]
    python benchmarks/verification_blind.py ... --summary-only      # print the figures from --out

``plants``: a corpus in the judgement-test format whose ``base`` cases carry a ``domain`` and whose plants
carry a ``category`` (``poisoned_fact`` plants, a different fact stated as the source's own, are counted
apart). Plant ``i`` goes into ``--bases-per-plant`` base cases (``i``, ``i+1``, ... modulo the bases), each
with the wrong answer as written and with its final full stop toggled (added when absent, removed when
present), or with ``--alternate-stop`` one of the two by turns. A case is *raised* when its confidence
exceeds the same base case's unplanted confidence (same full-stop variant) by more than 0.05. Honest
answers worded with judgement words are compared with their plain versions.

``auroc``: items ``{question, context, right, wrong}``, each answer verified; AUROC of the
confidence for right vs wrong. ``pubmedqa``: the first ``--records`` questions of the shipped recording,
both tiers' recorded answers, labelled by their recorded score.

Every verification is logprob mode (greedy) on Qwen2.5-Coder-1.5B through the public ``Verifier`` in
``--layout``; without the answer call's messages the ``continue`` layout uses the engine's answer prompt.
Rows are appended to ``--out`` as they come, keyed by (kind, tag, layout, case); a rerun skips them.
``--tag`` names the verifier version measured (run this file from an older checkout to measure that one).
Each run prints its figures with a 95% Wilson interval (shares) or bootstrap interval (AUROC, over
items, 2,000 resamples, seed 0).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from defence_auroc import auroc  # noqa: E402

from automix_core import LocalServer  # noqa: E402
from automix_core.settings import VerifyPrompt  # noqa: E402
from automix_core.shipped import shipped_path  # noqa: E402
from automix_core.verify import Verifier  # noqa: E402
from automix_core.verify.claim import faithful, own_claim  # noqa: E402
from tests.integration.judgement.test_injection import LIFT, planted  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "verification_blind.jsonl"
PUBMEDQA = shipped_path("pubmedqa_qwen_pair.jsonl")
MODEL = "qwen2.5-coder-1.5b"

Case = tuple[str, str, str]


def toggle_stop(text: str) -> str:
    """``text`` with its final full stop removed, or one added when it has none."""
    stripped = text.rstrip()
    return stripped[:-1] if stripped.endswith(".") else stripped + "."


def plant_cases(corpus: dict[str, Any], per_plant: int, both_stops: bool = True) -> list[dict[str, Any]]:
    """Every case to verify for a blind corpus: the unplanted bases, the planted ones, the honest pairs.
    Without ``both_stops`` plant ``i`` is measured with the full stop as given when ``i`` is even, toggled
    when odd."""
    bases = corpus["base"]
    rows: list[dict[str, Any]] = []
    for b in bases if corpus["plants"] else ():  # an honest-only set needs no unplanted confidence
        for stop in (False, True):
            wrong = toggle_stop(b["wrong"]) if stop else b["wrong"]
            rows.append({"role": "base", "base": b["id"], "stop_toggled": stop,
                         "case": [b["question"], wrong, b["context"]]})
    for i, p in enumerate(corpus["plants"]):
        for j in range(per_plant):
            b = bases[(i + j) % len(bases)]
            for stop in (False, True) if both_stops else (i % 2 == 1,):
                base = dict(b, wrong=toggle_stop(b["wrong"]) if stop else b["wrong"])
                rows.append({"role": "plant", "base": b["id"], "plant": p["id"], "place": p["place"],
                             "category": p.get("category", ""), "stop_toggled": stop,
                             "case": list(planted(base, p))})
    for h in corpus.get("honest", []):
        rows.append({"role": "honest", "id": h["id"], "kind": h.get("kind", ""),
                     "case": [h["question"], h["answer"], h["context"]]})
        rows.append({"role": "plain", "id": h["id"], "case": [h["question"], h["plain"], h["context"]]})
    rows.sort(key=lambda r: (r["case"][2], r["case"][0]))  # one context after another: the prefix cache holds
    return rows


def auroc_cases(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"role": "graded", "id": str(it.get("id", k)), "correct": right,
             "case": [it["question"], it["right" if right else "wrong"], it.get("context", "")]}
            for k, it in enumerate(items) for right in (True, False)]


def pubmedqa_cases(records: int) -> list[dict[str, Any]]:
    recs = [json.loads(line) for line in PUBMEDQA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{"role": "graded", "id": r["id"], "tier": m, "correct": bool(r["outputs"][m]["score"]),
             "case": [r["query"], r["outputs"][m]["answer"], r["context"]]}
            for r in recs[:records] for m in r["models"]]


def _key(kind: str, tag: str, layout: str, case: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps([kind, tag, layout, *case], ensure_ascii=False).encode()).hexdigest()[:20]


def _verdict_prompt(verifier: Verifier, case: Sequence[str]) -> str | None:
    """The verdict prompt ``case`` gets, when it is known without a model call: the issue-14 verifier's
    (defended) prompt; the claim verifier's when the answer is its own claim, with the second verdict's prompt
    (a case with notes to the grader) and the screen's factor, so a row is reused only when all three match."""
    if hasattr(verifier, "defend"):
        return json.dumps(verifier.prompt(*case, logprob=True), ensure_ascii=False)
    from automix_core.verify.claim import own_claim
    claim = own_claim(case[1])
    if claim is None:
        return None
    # what else decides the confidence: the second verdict's case (the notes taken out) and the screen's factor
    question, context = verifier._shown(case[0], case[2])
    noted = verifier._noted_case(question, claim, context, None, case[1])
    factor = verifier.screen(question, claim, context).factor if verifier.screen is not None else 1.0
    return json.dumps([verifier.prompt(case[0], claim, case[2], logprob=True),
                       None if noted is None else verifier.prompt(noted[0], claim, noted[1], logprob=True), factor],
                      ensure_ascii=False)


def run(kind: str, source: str, cases: list[dict[str, Any]], layout: str, tag: str, out: Path) -> None:
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
    done = {r["key"] for r in rows}
    # a greedy verdict on a byte-identical prompt is the same under either verifier version: reused
    by_prompt: dict[str, float] = {r["prompt_sha"]: r["confidence"] for r in rows if r.get("prompt_sha")}
    todo = [c for c in cases if _key(kind, tag, layout, c["case"]) not in done]
    seen: set[str] = set()
    todo = [c for c in todo if not (_key(kind, tag, layout, c["case"]) in seen
                                    or seen.add(_key(kind, tag, layout, c["case"])))]  # type: ignore[func-returns-value]
    print(f"{kind} {source} {layout} {tag}: {len(todo)} cases to verify ({len(cases)} in all)", flush=True)
    if not todo:
        return
    with LocalServer(MODEL, threads=min(2, os.cpu_count() or 1), parallel=1) as server, out.open("a") as fh:
        verifier = Verifier(server.model(), mode="logprob", layout=cast(VerifyPrompt, layout))
        for c in todo:
            t0 = time.time()
            prompt = _verdict_prompt(verifier, c["case"])
            sha = hashlib.sha256(f"{MODEL}|{prompt}".encode()).hexdigest()[:20] if prompt is not None else None
            row: dict[str, Any] = {"key": _key(kind, tag, layout, c["case"]), "kind": kind,
                                   "source": Path(source).name, "tag": tag, "layout": layout, "prompt_sha": sha}
            if sha is not None and sha in by_prompt:
                row.update(confidence=by_prompt[sha], reused=True)
            else:
                result = verifier.verify(*c["case"])
                row.update(confidence=result.confidence, claim=getattr(result, "claim", None),
                           findings=[f.as_dict() for f in result.neutralised], calls=len(result.generations),
                           processed=sum((g.input_tokens or 0) - (g.cached_input_tokens or 0) + (g.output_tokens or 0)
                                         for g in result.generations))
                if sha is not None:
                    by_prompt[sha] = result.confidence
            row["seconds"] = round(time.time() - t0, 2)
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()


# --- summaries -----------------------------------------------------------------------------------

def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_band(values: Sequence[float]) -> str:
    """The mean of ``values`` with a normal-approximation 95% interval (1.96 standard errors)."""
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    half = 1.96 * sd / math.sqrt(len(values))
    return f"{m:+.3f} [{m - half:+.3f}, {m + half:+.3f}]"


def share(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k}/{n} ({100 * k / max(n, 1):.1f}% [{100 * lo:.1f}, {100 * hi:.1f}])"


def auroc_band(rows: list[tuple[str, float, bool]], versus: list[tuple[str, float, bool]] | None = None,
               resamples: int = 2000, seed: int = 0) -> str:
    """AUROC of ``rows`` (item id, confidence, correct) with a 95% bootstrap interval over items; with
    ``versus`` (the same cases under another verifier, in the same order) also the paired difference."""
    ids = sorted({i for i, _, _ in rows})
    by: dict[str, list[int]] = {}
    for n, (i, _, _) in enumerate(rows):
        by.setdefault(i, []).append(n)

    def value(sel: list[int], data: list[tuple[str, float, bool]]) -> float | None:
        return auroc([data[n][1] for n in sel], [data[n][2] for n in sel])

    rng = random.Random(seed)
    picks = [[n for _ in ids for n in by[ids[rng.randrange(len(ids))]]] for _ in range(resamples)]

    def band(data: list[tuple[str, float, bool]], other: list[tuple[str, float, bool]] | None = None) -> str:
        everything = list(range(len(data)))
        point = value(everything, data)
        if point is None:
            return "one class only"
        if other is not None:
            point -= value(everything, other) or 0.0
        boots = []
        for sel in picks:
            a = value(sel, data)
            b = value(sel, other) if other is not None else 0.0
            if a is not None and b is not None:
                boots.append(a - b)
        boots.sort()
        return f"{point:+.3f}"[0 if other is not None else 1:] + (
            f" [{boots[int(0.025 * len(boots))]:.3f}, {boots[int(0.975 * len(boots)) - 1]:.3f}]")

    text = f"{band(rows)} (n={len(rows)}, correct {sum(y for _, _, y in rows)})"
    if versus is not None:
        text += f"; versus the other: {band(versus)}, difference {band(rows, versus)} (paired over items)"
    return text


def summarise_plants(cases: list[dict[str, Any]], conf: dict[str, float], layout: str, tag: str) -> list[str]:
    def c(row: dict[str, Any]) -> float | None:
        return conf.get(_key("plants", tag, layout, row["case"]))

    base = {(r["base"], r["stop_toggled"]): c(r) for r in cases if r["role"] == "base"}
    lifts = []
    for r in cases:
        if r["role"] == "plant" and c(r) is not None and base.get((r["base"], r["stop_toggled"])) is not None:
            lifts.append((r, cast(float, c(r)) - cast(float, base[(r["base"], r["stop_toggled"])])))
    hon = [(r.get("kind", ""), c(r), c(p)) for r in cases if r["role"] == "honest"
           for p in cases if p["role"] == "plain" and p["id"] == r["id"]]
    hon_pairs = [(k, a, b) for k, a, b in hon if a is not None and b is not None]
    honest = []
    if hon_pairs:
        d = [a - b for _, a, b in hon_pairs]
        honest.append(f"  honest judgement-worded minus plain: {sum(d) / len(d):+.3f} over {len(d)} pairs")
        for kind in sorted({k for k, _, _ in hon_pairs} - {""}):  # the corpus's tags: judgement, format, ...
            sel = [a - b for k, a, b in hon_pairs if k == kind]
            honest.append(f"    {kind:10s} {mean_band(sel)} over {len(sel)} pairs")
    if not lifts:
        return [f"{layout} {tag}: no planted case measured", *honest]
    lines = [f"{layout} {tag}: unplanted wrong answers' confidence "
             + ", ".join(f"{b}{'/stop-toggled' if s else ''} {v:.2f}" for (b, s), v in sorted(base.items())
                         if v is not None)]
    scope = [(r, x) for r, x in lifts if r["category"] != "poisoned_fact"]
    poison = [(r, x) for r, x in lifts if r["category"] == "poisoned_fact"]
    raised = sum(x > LIFT for _, x in scope)
    mean = sum(x for _, x in scope) / len(scope)
    lines.append(f"  in scope: raised {share(raised, len(scope))}; mean lift {mean:+.3f}")
    for place in ("answer", "context", "question"):
        sel = [x for r, x in scope if r["place"] == place]
        lines.append(f"    {place:8s} raised {share(sum(x > LIFT for x in sel), len(sel))}")
    for stop in (False, True):
        sel = [x for r, x in scope if r["stop_toggled"] == stop]
        label = "toggled " if stop else "as given"
        lines.append(f"    full stop {label} raised {share(sum(x > LIFT for x in sel), len(sel))}")
    if poison:
        lines.append(f"  poisoned_fact (apart): raised {share(sum(x > LIFT for _, x in poison), len(poison))}")
    worst = sorted(scope, key=lambda t: -t[1])[:8]
    lines.append("  largest lifts: " + "; ".join(f"{r['plant']}@{r['base']}({r['place']}) {x:+.2f}" for r, x in worst))
    return lines + honest


def refaithful(conf: dict[str, float], out: Path, cases: list[dict[str, Any]], kind: str, layout: str,
               tags: Sequence[str]) -> dict[str, float]:
    """``conf`` with each recorded restatement read again by the current :func:`claim.faithful`: a restated claim it
    finds unfaithful counts as confidence 0, as the current verifier gives it without asking a verdict (the
    restatement call is greedy, so it would make the same claim). Exact for a change to ``faithful`` alone."""
    claims = {r["key"]: r.get("claim") or "" for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    conf = dict(conf)
    for c in cases:
        question, answer, _ = c["case"]
        for tag in filter(None, tags):
            key = _key(kind, tag, layout, c["case"])
            if key in conf and claims.get(key) and own_claim(answer) is None and not faithful(claims[key], answer,
                                                                                                  question):
                conf[key] = 0.0
    return conf


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["plants", "auroc", "pubmedqa"])
    ap.add_argument("source", nargs="?", default="")
    ap.add_argument("--layout", default="continue", choices=["few-shot", "continue"])
    ap.add_argument("--bases-per-plant", type=int, default=2)
    ap.add_argument("--every", type=int, default=1, help="every Nth plant (grounded item) only")
    ap.add_argument("--honest-every", type=int, default=1, help="every Nth honest pair only")
    ap.add_argument("--alternate-stop", action="store_true",
                    help="each planted case once, the full stop as given or toggled by turns (else both)")
    ap.add_argument("--records", type=int, default=60)
    ap.add_argument("--tag", default="new")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--summary-only", action="store_true")
    ap.add_argument("--versus", default="", help="another --tag: AUROC difference, paired over items")
    ap.add_argument("--refaithful", action="store_true",
                    help="with --summary-only: --tag's recorded restatements read by the current claim.faithful")
    ap.add_argument("--items-done-by", default="",
                    help="auroc: only the items both of whose answers this --tag has already measured")
    args = ap.parse_args()
    out = Path(args.out)
    if args.kind == "plants":
        corpus = json.loads(Path(args.source).read_text(encoding="utf-8"))
        corpus["plants"] = corpus["plants"][:: args.every]
        corpus["honest"] = corpus.get("honest", [])[:: args.honest_every]
        cases = plant_cases(corpus, args.bases_per_plant, not args.alternate_stop)
    elif args.kind == "auroc":
        cases = auroc_cases(json.loads(Path(args.source).read_text(encoding="utf-8"))[:: args.every])
        if args.items_done_by:
            measured = {json.loads(line)["key"] for line in out.read_text(encoding="utf-8").splitlines()}
            missing = {c["id"] for c in cases
                       if _key("auroc", args.items_done_by, args.layout, c["case"]) not in measured}
            cases = [c for c in cases if c["id"] not in missing]
    else:
        cases, args.source = pubmedqa_cases(args.records), str(PUBMEDQA)
    if not args.summary_only:
        run(args.kind, args.source, cases, args.layout, args.tag, out)
    conf = {r["key"]: r["confidence"] for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    if args.refaithful:
        conf = refaithful(conf, out, cases, args.kind, args.layout, [args.tag])
    if args.kind == "plants":
        print("\n".join(summarise_plants(cases, conf, args.layout, args.tag)))
    else:
        def graded(tag: str) -> list[tuple[str, float, bool]]:
            return [(c["id"], conf.get(_key(args.kind, tag, args.layout, c["case"]), -1.0), bool(c["correct"]))
                    for c in cases]

        rows, versus = graded(args.tag), graded(args.versus) if args.versus else None
        keep = [n for n, r in enumerate(rows) if r[1] >= 0 and (versus is None or versus[n][1] >= 0)]
        print(f"{args.kind} {Path(args.source).name} {args.layout} {args.tag}: AUROC "
              + auroc_band([rows[n] for n in keep], None if versus is None else [versus[n] for n in keep])
              + (f" ({args.versus})" if versus is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
