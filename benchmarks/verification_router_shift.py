"""The shipped router on the old and the new verifier's confidences (issue 24).

    python benchmarks/verification_router_shift.py

``automix_core/data/pubmedqa_qwen_pair_continue.jsonl`` holds the 0.5B's confidences as the issue-14 verifier made them
(``continue`` layout, logprob); ``benchmarks/results/pubmedqa_qwen_pair_continue_new.jsonl`` is the same file
with the queries whose verification prompt the claim verifier changes re-verified by it (``automix collect
--reverify``; every other query's prompt is byte-identical, so its greedy confidence is the same). Printed for
each, on the test split and on all records, at the paper's unit costs (1 and 15, verification free, as the
router was calibrated): the tier-0 AUROC (the 0.5B's confidence against its answer's score), the shipped
router's mean cost and quality and its escalation rate.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from defence_auroc import auroc  # noqa: E402

from automix_core.calibration import read_records, to_arrays  # noqa: E402
from automix_core.router import Router  # noqa: E402
from automix_core.shipped import shipped_path  # noqa: E402

OLD = shipped_path("pubmedqa_qwen_pair_continue.jsonl")
NEW = ROOT / "benchmarks" / "results" / "pubmedqa_qwen_pair_continue_new.jsonl"
ROUTER = shipped_path("router_pubmedqa_qwen_pair.json")


def main() -> int:
    router = Router.load(ROUTER)
    for name, path in (("old", OLD), ("new", NEW)):
        records = read_records(path)
        for split in ("test", None):
            sel = [r for r in records if split is None or r.split == split]
            data = to_arrays(sel, list(router.models)).with_unit_costs([1.0, 15.0])
            small = router.models[0]
            a = auroc([r.outputs[small].confidence for r in sel], [bool(r.outputs[small].score) for r in sel])
            p = router.point(data)
            print(f"{name} {split or 'all':4s} n={len(sel):3d} tier-0 AUROC {a:.3f}  router: cost {p.cost:.3f} "
                  f"quality {p.quality:.3f} escalated {router.escalation_rate(data):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
