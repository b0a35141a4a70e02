"""AUROC of the shipped PubMedQA continue recording's confidences, old verifier vs new (issue 24).

    python benchmarks/pubmedqa_auroc_shift.py

``automix_core/data/pubmedqa_qwen_pair_continue.jsonl`` holds each tier's logprob/continue confidence of its
own answer as the old verifier gave it; ``benchmarks/results/pubmedqa_qwen_pair_continue_new.jsonl`` is the
same recording with the queries whose verification prompt changed re-verified by the claim verifier (see
docs/verifier.md). Prints the AUROC of confidence vs the recorded score for both, per tier and pooled,
with 95% bootstrap intervals over questions (2,000 resamples, seed 0), and the paired difference.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from defence_auroc import auroc  # noqa: E402

OLD = ROOT / "automix_core" / "data" / "pubmedqa_qwen_pair_continue.jsonl"
NEW = ROOT / "benchmarks" / "results" / "pubmedqa_qwen_pair_continue_new.jsonl"
Key = tuple[str, str]


def load(path: Path) -> dict[Key, tuple[float, bool]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {(r["id"], m): (r["outputs"][m]["confidence"], bool(r["outputs"][m]["score"]))
            for r in rows for m in r["models"]}


def score(data: dict[Key, tuple[float, bool]], keys: list[Key]) -> float:
    value = auroc([data[k][0] for k in keys], [data[k][1] for k in keys])
    return float("nan") if value is None else value


def interval(values: list[float]) -> str:
    ordered = sorted(values)
    return f"[{ordered[int(0.025 * len(ordered))]:.3f}, {ordered[int(0.975 * len(ordered)) - 1]:.3f}]"


def main() -> None:
    old, new = load(OLD), load(NEW)
    keys = sorted(set(old) & set(new))
    print(f"{len(keys)} answers; confidences that differ: {sum(old[k][0] != new[k][0] for k in keys)}")
    for model in (None, *sorted({m for _, m in keys})):
        chosen = [k for k in keys if model is None or k[1] == model]
        by_question: dict[str, list[Key]] = {}
        for k in chosen:
            by_question.setdefault(k[0], []).append(k)
        rng = random.Random(0)
        boot_old, boot_new, boot_diff = [], [], []
        for _ in range(2000):
            sample = [k for q in rng.choices(list(by_question), k=len(by_question)) for k in by_question[q]]
            a, b = score(old, sample), score(new, sample)
            boot_old.append(a)
            boot_new.append(b)
            boot_diff.append(b - a)
        a, b = score(old, chosen), score(new, chosen)
        print(f"{model or 'both tiers'} ({len(chosen)} answers): old {a:.3f} {interval(boot_old)}, "
              f"new {b:.3f} {interval(boot_new)}, new - old {b - a:+.4f} {interval(boot_diff)}")


if __name__ == "__main__":
    main()
