"""What the injection defence changes in honest inputs (no model).

    python benchmarks/defence_honest.py [--show]

``benchmarks/honest_cases.py`` holds 219 realistic honest verification cases with no plant in them (RAG over
news, legal text, manuals, API docs, exam keys, fact checks, reviews, tables, e-mails, transcripts; code
answers; multi-step math; chat; twelve languages and mixed-language cases), written for an audit of the
defence. Each is run through ``neutralise_case``; printed: how many cases have a question, answer or context
changed (whitespace aside), per category and per place, and with ``--show`` every change with the rules
that made it and the text removed. A change is not always damage (a short unrelated sentence at a context's
edge goes by design); the README says which kinds of change lose what the verifier needs.
"""

from __future__ import annotations

import argparse
import collections
import difflib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from honest_cases import CASES  # noqa: E402

from automix_core.verify.defence import neutralise_case  # noqa: E402


def _norm(text: str) -> str:
    return " ".join(text.split())


def _removed(before: str, after: str) -> list[str]:
    a, b = before.split(), after.split()
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            out.append(" ".join(a[i1:i2]) + (f"  ->  {' '.join(b[j1:j2])}" if op == "replace" else ""))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--show", action="store_true", help="print every change")
    args = ap.parse_args()
    changed: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    places: collections.Counter[str] = collections.Counter()
    n = 0
    for cid, cat, question, answer, context in CASES:
        total[cat] += 1
        out = neutralise_case(question, answer, context)
        diffs = [(place, before, s) for place, before, s in zip(("question", "answer", "context"),
                                                                 (question, answer, context), out)
                 if _norm(before) != _norm(s.text)]
        if not diffs:
            continue
        n += 1
        changed[cat] += 1
        for place, before, s in diffs:
            places[place] += 1
            if args.show:
                print(f"{cid} [{place}] rules={sorted({f.rule for f in s.findings})}")
                for r in _removed(before, s.text):
                    print(f"    - {r[:200]}")
    print(f"{n} of {len(CASES)} honest cases changed; by place: "
          + ", ".join(f"{p} {places[p]}" for p in ("question", "answer", "context")))
    for cat in sorted(total):
        print(f"  {cat:14s} {changed[cat]:3d} / {total[cat]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
