"""Verification prompt layouts on the live local model: processed tokens against the answer, and AUROC.

    python benchmarks/verification_layouts.py [--items 40] [--heavy-items 8] [--threads 2]
    python benchmarks/verification_layouts.py --summarise      # re-read the per-item rows, print the table

For each PubMedQA item with its context (examples/data/pubmedqa_40.json) the tier-0 model answers
once, greedily, the prompt the engine sends (``build_answer_messages`` plus the task's instruction,
as ``automix collect`` does), and that answer is verified right after, as in the cascade. A first
pass runs the logprob configurations on every item (the continuation first, so it follows the answer
call as it would in the cascade); a second pass runs the sampling ones on the first ``--heavy-items``
items, again right after answering (that answer call is not counted: the first pass's is):

* ``fewshot-k8``:       the few-shot prompt, k=8 samples (today's default; with the server's default
                        4 slots, two requests of ``n=4``);
* ``fewshot-logprob``:  the few-shot prompt, one greedy call read from token logprobs;
* ``continue-logprob``: the ``continue`` layout (the answer call's messages, the answer, a short
                        instruction), one greedy logprob call;
* ``continue-k4``:      the ``continue`` layout, k=4 samples in one request with ``n=4``.

Processed tokens = (input - cached input) + output, as llama.cpp reports them (``timings.cache_n``);
for a continuation, cached tokens are capped at what the answer call left in the cache (its prompt and
reply), so a verification that follows another one is not credited with that one's tokens. The ratio
is a configuration's processed tokens over the answer's (its first, fresh call), summed over items.
AUROC is the verifier confidence against correctness (the answer names the PubMedQA label,
``label_scorer``), with a 95% bootstrap interval over items (2,000 resamples), paired differences
against a reference (``PAIRED``), and the AUROC of the shipped recording's k=8 few-shot confidences
(automix_core/data/pubmedqa_qwen_pair.jsonl, the same model on more PubMedQA queries). Rows go to
``benchmarks/results/verification_layouts.jsonl`` as each item finishes (a stopped run keeps what
it did: ``--summarise`` prints the table from them); the summary goes to ``verification_layouts.json`` and ``.txt``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automix_core import ChatModel, Generation, LocalServer, Message
from automix_core.backends.local import is_installed
from automix_core.calibration.collect import label_scorer, load_pubmedqa
from automix_core.shipped import shipped_path
from automix_core.verify import Verifier
from automix_core.verify.prompt import build_answer_messages

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data" / "pubmedqa_40.json"
RESULTS = ROOT / "benchmarks" / "results"
ROWS = RESULTS / "verification_layouts.jsonl"
CONFIGS = ("fewshot-k8", "fewshot-logprob", "continue-logprob", "continue-k4")
LIGHT = ("continue-logprob", "fewshot-logprob")
HEAVY = ("continue-k4", "fewshot-k8")
ANSWER_MAX_TOKENS = 512  # CascadeSettings.answer_max_tokens


def _processed(gens: Sequence[Generation]) -> tuple[int, int, int]:
    """(input, cached input, output) tokens over ``gens``."""
    return (sum(g.input_tokens or 0 for g in gens), sum(g.cached_input_tokens or 0 for g in gens),
            sum(g.output_tokens or 0 for g in gens))


def verifiers(model: ChatModel) -> dict[str, Verifier]:
    return {
        "fewshot-k8": Verifier(model, k=8),
        "fewshot-logprob": Verifier(model, mode="logprob"),
        "continue-logprob": Verifier(model, mode="logprob", layout="continue"),
        "continue-k4": Verifier(model, k=4, layout="continue"),
    }


def _config_row(v: Any, answer: dict[str, int], continued: bool, seconds: float) -> dict[str, Any]:
    inp, cached, outp = _processed(v.generations)
    if continued:  # count as cached only what the answer call left in the cache (its prompt and reply)
        cached = min(cached, answer["input"] + answer["output"])
    return {"confidence": v.confidence, "parsed": v.parsed, "mode": v.mode, "calls": len(v.generations),
            "input": inp, "cached": cached, "output": outp, "processed": inp - cached + outp, "seconds": seconds}


def run(a: argparse.Namespace) -> None:
    items = load_pubmedqa(DATA)[: a.items]
    score = label_scorer(("yes", "no", "maybe"))
    ROWS.parent.mkdir(parents=True, exist_ok=True)
    passes = [(LIGHT, items), (HEAVY, items[: a.heavy_items])]
    with LocalServer(a.model, threads=a.threads) as server, ROWS.open("w", encoding="utf-8") as out:
        model = server.model(a.model)
        vs = verifiers(model)
        for configs, chosen in passes:
            for i, item in enumerate(chosen):
                msgs: list[Message] = build_answer_messages(item.question, item.context)
                msgs[-1]["content"] += f"\n{item.instruction}"
                t0 = time.perf_counter()
                ans = model.generate(msgs, n=1, temperature=0.0, max_tokens=ANSWER_MAX_TOKENS)
                answer = ans.texts[0] if ans.texts else ""
                inp, cached, outp = _processed([ans])
                row: dict[str, Any] = {
                    "id": item.id, "reference": item.reference, "answer": answer,
                    "correct": score(answer, item.reference),
                    "answer_tokens": {"input": inp, "cached": cached, "output": outp,
                                      "processed": inp - cached + outp, "seconds": time.perf_counter() - t0},
                    "configs": {},
                }
                for cfg in configs:  # the continue layouts first, right after the answer call (as in the cascade)
                    t0 = time.perf_counter()
                    v = vs[cfg].verify(item.question, answer, item.context, messages=msgs)
                    row["configs"][cfg] = _config_row(v, row["answer_tokens"], cfg.startswith("continue"),
                                                      time.perf_counter() - t0)
                out.write(json.dumps(row) + "\n")
                out.flush()
                print(f"item {i + 1}/{len(chosen)} {item.id} correct={row['correct']:.0f} answer="
                      f"{row['answer_tokens']['processed']} ({outp} out) " + " ".join(
                          f"{c}={r['confidence']:.2f}/{r['processed']}" for c, r in row["configs"].items()),
                      flush=True)


def merge(lines: Sequence[str]) -> list[dict[str, Any]]:
    """One row per item: the configurations of every pass merged (the answer of the first pass kept)."""
    rows: dict[str, dict[str, Any]] = {}
    for line in lines:
        if line.strip():
            row = json.loads(line)
            rows.setdefault(row["id"], row)["configs"].update(row["configs"])
    return list(rows.values())


def auroc(scores: Sequence[float], labels: Sequence[float]) -> float | None:
    """P(score of a correct answer > score of an incorrect one), ties counting half; None if one class."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def _ci(values: list[float]) -> list[float] | None:
    if not values:
        return None
    values = sorted(values)
    return [values[int(0.025 * len(values))], values[min(len(values) - 1, int(0.975 * len(values)))]]


PAIRED = {"continue-logprob": "fewshot-logprob", "continue-k4": "fewshot-k8", "fewshot-logprob": "fewshot-k8"}
"""Paired AUROC differences reported (configuration minus its reference, on the items both ran)."""


def _boot_aucs(rows: list[dict[str, Any]], c: str, boots: list[list[int]]) -> list[float | None]:
    conf = [r["configs"][c]["confidence"] for r in rows]
    labels = [r["correct"] for r in rows]
    return [auroc([conf[j] for j in b], [labels[j] for j in b]) for b in boots]


def _boots(n: int, resamples: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(n) for _ in range(n)] for _ in range(resamples)]


def summarise(rows: list[dict[str, Any]], resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"items": len(rows), "accuracy": sum(r["correct"] for r in rows) / len(rows),
                           "answer_processed_per_item": sum(r["answer_tokens"]["processed"] for r in rows) / len(rows),
                           "configs": {}}
    for c in CONFIGS:
        sub = [r for r in rows if c in r["configs"]]
        if not sub:
            continue
        rs = [r["configs"][c] for r in sub]
        answer = sum(r["answer_tokens"]["processed"] for r in sub)
        boots = _boots(len(sub), resamples, seed)
        ratios = [sum(rs[j]["processed"] for j in b) / max(1, sum(sub[j]["answer_tokens"]["processed"] for j in b))
                  for b in boots]
        aucs = _boot_aucs(sub, c, boots)
        row: dict[str, Any] = {
            "items": len(sub), "accuracy": sum(r["correct"] for r in sub) / len(sub),
            "answer_processed_per_item": answer / len(sub),
            "input_per_item": sum(x["input"] for x in rs) / len(rs),
            "cached_per_item": sum(x["cached"] for x in rs) / len(rs),
            "output_per_item": sum(x["output"] for x in rs) / len(rs),
            "tokens_per_item": sum(x["input"] + x["output"] for x in rs) / len(rs),
            "processed_per_item": sum(x["processed"] for x in rs) / len(rs),
            "ratio_processed_vs_answer": sum(x["processed"] for x in rs) / max(1, answer),
            "ratio_ci95": _ci(ratios),
            "ratio_first8": (sum(x["processed"] for x in rs[:8])
                             / max(1, sum(r["answer_tokens"]["processed"] for r in sub[:8]))),
            "auroc": auroc([x["confidence"] for x in rs], [r["correct"] for r in sub]),
            "auroc_ci95": _ci([x for x in aucs if x is not None]),
            "parsed_share": sum(x["parsed"] for x in rs) / len(rs),
            "accepted_at_half": sum(x["confidence"] > 0.5 for x in rs) / len(rs),
            "accuracy_accepted_at_half": (sum(r["correct"] for r, x in zip(sub, rs) if x["confidence"] > 0.5)
                                          / max(1, sum(x["confidence"] > 0.5 for x in rs))),
            "fell_back_to_sample": sum(x["mode"] == "sample" and "logprob" in c for x in rs),
            "median_seconds": sorted(x["seconds"] for x in rs)[len(rs) // 2],
            "paired": None,
        }
        ref = PAIRED.get(c)
        both = [r for r in rows if c in r["configs"] and ref in r["configs"]] if ref else []
        if len(both) >= 4:
            pb = _boots(len(both), resamples, seed + 1)
            diffs = [x - y for x, y in zip(_boot_aucs(both, c, pb), _boot_aucs(both, str(ref), pb))
                     if x is not None and y is not None]
            mine = auroc([r["configs"][c]["confidence"] for r in both], [r["correct"] for r in both])
            theirs = auroc([r["configs"][ref]["confidence"] for r in both], [r["correct"] for r in both])
            row["paired"] = {"against": ref, "items": len(both),
                             "diff": None if mine is None or theirs is None else mine - theirs,
                             "diff_ci95": _ci(diffs)}
        out["configs"][c] = row
    out["recording_fewshot_k8"] = recording_auroc(resamples, seed)
    return out


def recording_auroc(resamples: int, seed: int) -> dict[str, Any] | None:
    """AUROC of the shipped recording's k=8 few-shot confidences (the same 0.5B, PubMedQA, more items)."""
    path = shipped_path("pubmedqa_qwen_pair.jsonl")
    if not path.exists():
        return None
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            o = json.loads(line)["outputs"].get("qwen2.5-coder-0.5b")
            if o is not None:
                rows.append({"correct": o["score"], "configs": {"k8": {"confidence": o["confidence"]}}})
    if not rows:
        return None
    aucs = _boot_aucs(rows, "k8", _boots(len(rows), resamples, seed))
    return {"items": len(rows), "auroc": auroc([r["configs"]["k8"]["confidence"] for r in rows],
                                                [r["correct"] for r in rows]),
            "auroc_ci95": _ci([x for x in aucs if x is not None])}


def table(s: dict[str, Any], model: str) -> str:
    def ci(v: list[float] | None) -> str:
        return "" if v is None else f"[{v[0]:.2f}, {v[1]:.2f}]"

    lines = [f"verification layouts, {model} (tier 0 answering and self-verifying) on PubMedQA items with contexts",
             "processed = (input - cached) + output tokens per verification; ratio = verification processed over "
             "the tier-0 answer's, summed over the items",
             f"{'config':17s} {'items':>5s} {'input':>6s} {'cached':>7s} {'output':>7s} {'processed':>10s}"
             f" {'answer':>7s} {'ratio':>6s} {'ratio 95% CI':>13s} {'AUROC':>6s} {'AUROC 95% CI':>13s}"
             f" {'median s':>9s} {'conf>0.5':>9s}"]
    for c, r in s["configs"].items():
        auc = "" if r["auroc"] is None else f"{r['auroc']:.2f}"
        lines.append(f"{c:17s} {r['items']:5d} {r['input_per_item']:6.0f} {r['cached_per_item']:7.0f}"
                     f" {r['output_per_item']:7.0f} {r['processed_per_item']:10.0f}"
                     f" {r['answer_processed_per_item']:7.0f} {r['ratio_processed_vs_answer']:6.2f}"
                     f" {ci(r['ratio_ci95']):>13s} {auc:>6s} {ci(r['auroc_ci95']):>13s} {r['median_seconds']:9.1f}"
                     f" {r['accepted_at_half']:9.0%}")
    lines.append(f"tier-0 accuracy {s['accuracy']:.2f} on {s['items']} items; conf>0.5: share the untrained default "
                 "router (majority of verdicts) would accept")
    for c, r in s["configs"].items():
        p = r["paired"]
        if p and p["diff"] is not None:
            lines.append(f"paired ΔAUROC {c} - {p['against']} on {p['items']} items: {p['diff']:+.2f} "
                         f"(95% CI {ci(p['diff_ci95'])})")
    rec = s.get("recording_fewshot_k8")
    if rec:
        lines.append("few-shot k=8 in the shipped recording (automix_core/data/pubmedqa_qwen_pair.jsonl, "
                     f"{rec['items']} items): "
                     f"AUROC {rec['auroc']:.2f} (95% CI {ci(rec['auroc_ci95'])})")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=40, help="PubMedQA items (default 40, all shipped)")
    ap.add_argument("--model", default="qwen2.5-coder-0.5b")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--heavy-items", type=int, default=8,
                    help="items for the sampling configurations, run after the logprob ones (default 8)")
    ap.add_argument("--summarise", action="store_true", help="only summarise the rows already written")
    a = ap.parse_args()
    if not a.summarise:
        if not is_installed(a.model):
            print(f"{a.model} is not installed (automix models install {a.model}); skipping")
            return 0
        run(a)
    rows = merge(ROWS.read_text(encoding="utf-8").splitlines())
    s = summarise(rows)
    s["model"] = a.model
    (RESULTS / "verification_layouts.json").write_text(json.dumps(s, indent=1) + "\n", encoding="utf-8")
    text = table(s, a.model)
    (RESULTS / "verification_layouts.txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
