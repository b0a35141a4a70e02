"""AUROC of the shipped PubMedQA continue recording's confidences, old verifier vs new (issue 24).

    python benchmarks/pubmedqa_auroc_shift.py

``automix_core/data/pubmedqa_qwen_pair_continue.jsonl`` holds each tier's logprob/continue confidence of its
own answer as the old verifier gave it; ``benchmarks/results/pubmedqa_qwen_pair_continue_new.jsonl`` is the
same recording with the queries whose verification prompt changed re-verified by the claim verifier (see
docs/verifier.md). Prints the AUROC of confidence vs the recorded score for the new one, per tier and pooled,
beside the old one and their paired difference, with 95% bootstrap intervals over questions
(``verification_blind.auroc_band``: 2,000 resamples, seed 0).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from verification_blind import auroc_band  # noqa: E402

OLD = ROOT / "automix_core" / "data" / "pubmedqa_qwen_pair_continue.jsonl"
NEW = ROOT / "benchmarks" / "results" / "pubmedqa_qwen_pair_continue_new.jsonl"
Row = tuple[str, float, bool]


def load(path: Path) -> dict[tuple[str, str], Row]:
    """(question id, tier) -> (question id, confidence, correct)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {(r["id"], m): (r["id"], r["outputs"][m]["confidence"], bool(r["outputs"][m]["score"]))
            for r in rows for m in r["models"]}


def main() -> None:
    old, new = load(OLD), load(NEW)
    keys = sorted(set(old) & set(new))
    print(f"{len(keys)} answers; confidences that differ: {sum(old[k][1] != new[k][1] for k in keys)}")
    for model in (None, *sorted({m for _, m in keys})):
        chosen = [k for k in keys if model is None or k[1] == model]
        print(f"{model or 'both tiers'}: new {auroc_band([new[k] for k in chosen], [old[k] for k in chosen])} (old)")


if __name__ == "__main__":
    main()
