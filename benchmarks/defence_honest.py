"""What the verifier does to honest inputs: is anything the verifier needs lost? (issues 14, 24)

    python benchmarks/defence_honest.py [--show]                       # no model
    python benchmarks/defence_honest.py --live [--every 3] [--show]    # restatements by Qwen2.5-Coder-1.5B

``benchmarks/honest_cases.py`` holds 219 realistic honest verification cases with no plant in them (RAG over
news, legal text, manuals, API docs, exam keys, fact checks, reviews, tables, e-mails, transcripts; code
answers; multi-step math; chat; twelve languages and mixed-language cases), written for an audit of the
defence.

The claim verifier (issue 24) judges the answer's claim (``automix_core.verify.claim``) in place of the answer.
Both layouts show the question and context as given; the screen (``LexicalScreen``) reads the claim, and a question
or context in which the defence rules find grader-directed text, verdicts or fake turns gets a second verdict
without them, the lower confidence counting (``Verifier._noted_case``). Without a model this prints, per
category: answers judged as written (their own claim), answers the model restates, honest cases the screen lowers
(own claims), and honest cases that get the second verdict, with how many of those lose a unit sharing a content
word with the answer (a rough count of evidence the second verdict does not see); ``--show`` lists each. With
``--live`` the restatements are made (logprob-free greedy calls through the public ``Verifier`` on the local 1.5B;
every ``--every``-th restated case) and each claim is checked for what it may lose: a claim that is empty, or that
shares no word or number with the answer, counts as *lost*, and a claim the screen escalates as *lowered*;
``--show`` prints every claim for reading. Rows are appended to ``benchmarks/results/defence_honest_claims.jsonl``
(a rerun resumes). ``--second`` verifies every case that gets the second verdict on the 1.5B (logprob, few-shot
and ``continue`` layouts), once with the defence and once without, and counts those whose confidence the
defence lowers by more than 0.05: honest content that the verdict lost (rows in
``benchmarks/results/defence_honest_second.jsonl``, keyed by ``--tag``, the verifier version).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from honest_cases import CASES  # noqa: E402

from automix_core.testing import ScriptedModel  # noqa: E402
from automix_core.verify import Verifier  # noqa: E402
from automix_core.verify.claim import RESTATE_INSTRUCTION, own_claim  # noqa: E402
from automix_core.verify.defence import Finding  # noqa: E402
from automix_core.verify.defence.language import _content_words  # noqa: E402
from automix_core.verify.screen import LexicalScreen  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "defence_honest_claims.jsonl"
SECOND = ROOT / "benchmarks" / "results" / "defence_honest_second.jsonl"
_FIRST_INSTRUCTION = "fe344801569b"
"""The rows written before rows named their restatement instruction were made with session 10's (its digest)."""
_FIRST_SECOND_TAG = "r12"
"""The ``--second`` rows written before rows named their verifier version are session 12's."""
_TOKEN = re.compile(r"\w+")


def shares_content(claim: str, answer: str) -> bool:
    """Whether ``claim`` keeps a word or number of ``answer`` (case-folded)."""
    return bool({t.casefold() for t in _TOKEN.findall(claim)} & {t.casefold() for t in _TOKEN.findall(answer)})


def removes_evidence(findings: Sequence[Finding], answer: str) -> bool:
    """Whether a removed span shares a content word (3+ letters, or a number) with the honest ``answer``: a rough
    sign that the few-shot cleaning took away evidence the verdict rests on (read them with ``--show``)."""
    return _removes_evidence_text([f.excerpt for f in findings], answer)


def _removes_evidence_text(excerpts: Sequence[str], answer: str) -> bool:
    words = {w for w in _content_words(answer) if len(w) > 2 or w.isdigit()}
    return any(words & _content_words(e) for e in excerpts)


def _live(cases: list[tuple[str, str, str, str, str]], show: bool) -> dict[str, dict[str, object]]:
    from automix_core import LocalServer
    from automix_core.verify import Verifier

    instruction = hashlib.sha256(RESTATE_INSTRUCTION.encode()).hexdigest()[:12]  # rows of this instruction only
    done = {}
    if OUT.exists():
        for line in OUT.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("instruction", _FIRST_INSTRUCTION) == instruction:
                done[row["id"]] = row
    todo = [c for c in cases if c[0] not in done]
    if todo:
        with LocalServer("qwen2.5-coder-1.5b", threads=min(2, os.cpu_count() or 1), parallel=1) as server, \
                OUT.open("a", encoding="utf-8") as fh:
            verifier = Verifier(server.model(), mode="logprob", layout="continue")
            for cid, _, question, answer, context in todo:
                result = verifier.verify(question, answer, context)
                row = {"id": cid, "instruction": instruction, "claim": result.claim, "confidence": result.confidence,
                       "findings": [f.as_dict() for f in result.neutralised]}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()
                done[cid] = row
    if show:
        for cid, _, _, answer, _ in cases:
            print(f"{cid}: {answer[:90]!r}\n    -> {done[cid]['claim']!r}")
    return done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--show", action="store_true", help="print what each case becomes")
    ap.add_argument("--live", action="store_true", help="make the restatements with the local 1.5B")
    ap.add_argument("--every", type=int, default=1, help="with --live: every Nth restated case only")
    ap.add_argument("--second", action="store_true", help="verify the second-verdict cases with the local 1.5B")
    ap.add_argument("--tag", default=_FIRST_SECOND_TAG, help="with --second: the verifier version the rows are of")
    args = ap.parse_args()
    screen = LexicalScreen()
    total: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    lowered: collections.Counter[str] = collections.Counter()
    cleaned: collections.Counter[str] = collections.Counter()
    evidence: list[str] = []
    restated = []
    second: list[tuple[str, str, str, str, str]] = []
    noting = Verifier(ScriptedModel("rules only"))  # only its rules are used: no model call
    for case in CASES:
        cid, cat, question, answer, context = case
        total[cat] += 1
        claim = own_claim(answer)
        if claim is None:
            restated.append(case)
        else:
            own[cat] += 1
        found = screen(question, claim or "", context).findings
        if found:
            lowered[cat] += 1
            if args.show:
                print(f"{cid}: lowered by the screen: {[(f.place, f.rule, f.excerpt) for f in found]}")
        noted = noting._noted_case(question, claim or answer, context, None, answer)
        if noted is not None:
            second.append(case)
            cleaned[cat] += 1
            if removes_evidence(noted[3], answer):
                evidence.append(cid)
            if args.show:
                print(f"{cid}: second verdict without: {[(f.place, f.rule, f.excerpt) for f in noted[3]]}")
    print(f"{len(CASES)} honest cases: {sum(own.values())} answers judged as written, {len(restated)} restated by the "
          f"model; {sum(lowered.values())} lowered by the screen (own claims; claims restated live only with --live); "
          f"{sum(cleaned.values())} get a second verdict without a part of the question or context, {len(evidence)} "
          f"of them without a unit that shares a content word with the honest answer")
    for cat in sorted(total):
        print(f"  {cat:14s} {total[cat]:3d} cases: {own[cat]:3d} as written, {lowered[cat]} lowered, "
              f"{cleaned[cat]} second verdicts")
    if args.live:
        sample = restated[:: args.every]
        rows = _live(sample, args.show)
        lost = [c[0] for c in sample if not shares_content(str(rows[c[0]]["claim"]), c[3])]
        low = [c[0] for c in sample if rows[c[0]]["findings"]]
        print(f"restated live: {len(sample)} of {len(restated)} (every {args.every}); claim lost the answer's content "
              f"(empty or no word in common): {len(lost)} {lost}; lowered by the screen: {len(low)} {low}")
    if args.second:
        _second(second, args.tag)
    return 0


def _second(cases: list[tuple[str, str, str, str, str]], tag: str) -> None:
    """Each case verified with and without the defence in both layouts (rows of version ``tag``); the lowered
    ones printed."""
    from automix_core import LocalServer

    done = {}
    if SECOND.exists():
        for line in SECOND.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("tag", _FIRST_SECOND_TAG) == tag:
                done[(row["id"], row["layout"])] = row
    layouts = ("few-shot", "continue")
    todo = [(c, lay) for c in cases for lay in layouts if (c[0], lay) not in done]
    if todo:
        with LocalServer("qwen2.5-coder-1.5b", threads=min(2, os.cpu_count() or 1), parallel=1) as server, \
                SECOND.open("a", encoding="utf-8") as fh:
            model = server.model(extra_body={"cache_prompt": False})
            for (cid, _, question, answer, context), layout in todo:
                on = Verifier(model, mode="logprob", layout=layout).verify(question, answer, context)
                off = Verifier(model, mode="logprob", layout=layout, defence=False).verify(question, answer, context)
                row = {"id": cid, "layout": layout, "tag": tag, "with": on.confidence, "without": off.confidence,
                       "claim": on.claim, "findings": [f.as_dict() for f in on.neutralised]}
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                fh.flush()
                done[(cid, layout)] = row
    answers = {c[0]: c[3] for c in cases}
    for layout in layouts:
        rows = [done[(c[0], layout)] for c in cases]
        lowered = [r for r in rows if r["without"] - r["with"] > 0.05]
        low = [f"{r['id']} {r['without']:.2f}->{r['with']:.2f}" for r in lowered]
        # lowered with a removed unit sharing a content word with the answer: evidence the verdict needed was lost
        # (lowered without one: the verdict moved when unrelated text went)
        needed = [r["id"] for r in lowered if _removes_evidence_text([f["excerpt"] for f in r["findings"]],
                                                                     answers[r["id"]])]
        print(f"second verdicts, {layout}: {len(low)} of {len(rows)} honest cases lowered by more than 0.05: {low}; "
              f"{len(needed)} of them lose a unit sharing a content word with the answer (evidence lost): {needed}")


if __name__ == "__main__":
    sys.exit(main())
